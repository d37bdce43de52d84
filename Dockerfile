# Attention Lens as a public demo: CPU-only, the bundled model inside, no network needed at run time.
#   docker build -t attention-lens .
#   docker run -p 8501:8501 attention-lens          # then open http://localhost:8501
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    ATTENTION_LENS_HOSTED=1 \
    PORT=8501 \
    ADDRESS=0.0.0.0

WORKDIR /app

# CPU build of PyTorch from PyTorch's CPU index (PyPI's Linux wheel is the multi-GB CUDA build),
# then the rest; requirements.txt pins the same torch==2.13.0, which the CPU wheel satisfies.
COPY requirements.txt .
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0 \
 && pip install -r requirements.txt

COPY . .
# the project itself, editable (no dependencies: installed above): the attention-lens command, package imports
RUN pip install --no-deps -e . \
 && useradd --create-home --uid 1000 lens \
 && chown -R lens /app \
 && chmod +x scripts/serve
USER lens

# Load the bundled model once at build time: proves it works offline and warms the file cache.
RUN python -c "from attention import attend; attend('Attention Lens builds.', 'minilm')"
# Train the demo models (gpt-mini, translate-mini, the ViT, the time-series models) into the image's cache folder
# (~/.cache/attention-lens of this user): their pages then open at once instead of training on a visitor's request.
RUN python -m attention.domains.pretrain --jobs 2

EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('PORT', '8501')}/_stcore/health\", timeout=4)"
ENTRYPOINT ["scripts/serve"]
