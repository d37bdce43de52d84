# Attention Lens: `make run` starts the app, `make test` runs every test, `make docs` builds the documentation site
# (site/), `make wheel` the installable package (dist/). All set up .venv first.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# pytest workers (pytest-xdist); `make test TEST_JOBS=0` runs everything in one process
TEST_JOBS ?= 2

.PHONY: run test bench docs screenshots wheel setup clean

$(BIN)/activate:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/activate requirements.txt requirements-dev.txt pyproject.toml
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .    # this project, editable: the attention-lens command; imports without sys.path
	touch $@

setup: $(VENV)/.installed

run: setup
	$(BIN)/attention-lens run --server.port $(PORT)

test: setup
	$(BIN)/python -m pytest -n $(TEST_JOBS)

bench: setup
	$(BIN)/python bench/run_all.py

docs: setup
	$(BIN)/mkdocs build --strict

# docs/images/<page>.png: every page of the app in Chromium (commit them after a change to what a page shows)
screenshots: setup
	$(BIN)/python scripts/docs_screenshots.py

wheel: setup
	$(BIN)/python -m build --wheel --no-isolation

clean:
	rm -rf $(VENV) artifacts .pytest_cache site build dist
