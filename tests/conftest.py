"""Shared fixtures: tiny random models saved to temp folders, a live app server, a headless Chromium."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "artifacts"
from serving import CHROMIUM, CHROMIUM_ARGS, free_port, start_app, stop  # tests/serving, installed by pip install -e .

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never reach for the hub
if os.environ.get("PYTEST_XDIST_WORKER"):
    # One compute thread per test worker and per app server it starts: `make test` runs two workers (and their app
    # servers and the pretraining) on two cores, and torch's default of a thread per core per process made them
    # oversubscribe the cores (the default pair's explain(): 1.6 s alone, 59 s in a loaded run).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch
    torch.set_num_threads(1)


def save_with_tokenizer(model, folder) -> str:
    """Save a transformers model with MiniLM's tokenizer beside it: a model folder any loader here can open."""
    from transformers import AutoTokenizer

    from attention.run.models import _bundled_path

    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(folder)
    return str(folder)


@pytest.fixture
def offline_page(browser):
    """A page where any request that is not the file itself (file:, data:, blob:) is refused and recorded in
    `page.requested`; script errors are kept in `page.errors`."""
    import re

    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    requested: list[str] = []

    def refuse(route):
        requested.append(route.request.url)
        route.abort()

    context.route(re.compile(r"^(?!file:|data:|blob:)"), refuse)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.requested, page.errors = requested, errors
    yield page
    context.close()


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory) -> str:
    """A 2-layer, 4-head BERT with random weights and MiniLM's tokenizer, saved as a model folder."""
    import torch
    from transformers import AutoTokenizer, BertConfig, BertModel

    from attention.run.models import _bundled_path

    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("tiny-bert")
    config = BertConfig(vocab_size=30522, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=128)
    BertModel(config).save_pretrained(folder)
    AutoTokenizer.from_pretrained(_bundled_path()).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def app_url():
    """A live app server for the whole test session."""
    port = free_port()
    process = start_app(port)
    yield f"http://127.0.0.1:{port}"
    stop(process)


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright; skipped where it is not installed (CI installs it and requires it)."""
    if not shutil.which(CHROMIUM) and not Path(CHROMIUM).exists():
        if os.environ.get("REQUIRE_BROWSER"):
            pytest.fail(f"Chromium not found at {CHROMIUM}; install it with: apt-get install -y chromium")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        instance = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def trained_vit():
    """The Images page's vision transformer: trained once per machine (a fresh CI machine trains it here, in well under
    a minute on one thread) and kept in the cache folder, where the app and its test server find it."""
    from attention.domains import vision

    return vision.load_or_train()


@pytest.fixture(scope="session")
def trained_timeseries():
    """The Time series page's models at their default windows (synthetic, co2, rul): trained once per machine (a fresh
    machine trains them here, ~1.5 minutes on one thread) into the cache folder the test server reads, so no test
    waits on a page that trains. Every test that opens the page depends on it (or on TRAINED_PAGES below)."""
    from attention.domains import timeseries as ts

    return {dataset: ts.load_or_train(ts.make_config(dataset)) for dataset in ts.DATASETS}


TRAINED_FIXTURES = ("trained_vit", "trained_timeseries", "trained_gpt_mini", "trained_translate_mini", "trained_masks_models",
                    "trained_long_mini",
                    "trained_induction_mini")


def _pretrain(config) -> None:
    """A fresh machine trains the demo models (ViT, time series, gpt-mini, translate-mini) in the background, two at a
    time on one thread each, while the tests that need none of them run; a test that needs one waits on its file lock
    (attention/domains/store.py) and then reads the file. Models already on disk are not trained again."""
    import subprocess
    import sys

    if os.environ.get("ATTENTION_LENS_NO_PRETRAIN"):
        return
    ARTIFACTS.mkdir(exist_ok=True)
    log = open(ARTIFACTS / "pretrain.log", "a")
    config._pretrain = subprocess.Popen([sys.executable, "-m", "attention.domains.pretrain", "--jobs", "2"],
                                        stdout=log, stderr=subprocess.STDOUT, cwd=ROOT, start_new_session=True)


def pytest_sessionfinish(session, exitstatus) -> None:
    process = getattr(session.config, "_pretrain", None)
    if process is not None and process.poll() is None:
        import signal

        os.killpg(process.pid, signal.SIGTERM)   # a partial run: its training workers stop too (files are written atomically)


def _needs_training(item) -> bool:
    """Whether a test uses a trained demo model: through a fixture, or by opening a trained model's page."""
    if set(TRAINED_FIXTURES) & set(getattr(item, "fixturenames", ())) or item.get_closest_marker("trained"):
        return True
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(value in TRAINED_PAGES for value in params.values() if isinstance(value, str))


def _xdist_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _xdist_controller(config) -> bool:
    return not _xdist_worker(config) and bool(getattr(config.option, "numprocesses", 0))


def pytest_sessionstart(session) -> None:
    """Run with workers (`make test` runs `pytest -n 2`), the controller collects nothing: it starts the background
    training itself, once, for the workers to share through the models' file locks."""
    if _xdist_controller(session.config):
        _pretrain(session.config)


def pytest_collection_modifyitems(session, config, items) -> None:
    """Tests of trained models run last (in their usual order), so the background training has time to finish."""
    trained = [item for item in items if _needs_training(item)]
    items[:] = [item for item in items if not _needs_training(item)] + trained
    if trained and not _xdist_worker(config):
        _pretrain(config)


TRAINED_PAGES = {"images": "trained_vit", "time_series": "trained_timeseries", "generation": "trained_gpt_mini",
                 "masks": "trained_masks_models",
                 "induction_heads": "trained_induction_mini",
                 "patching": "trained_induction_mini"}   # page -> the fixture that trains its models


def choose(page, label: str, option: str) -> None:
    """Pick an option of a selectbox (a click may land while the page is still settling, so try again)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    box = page.get_by_label(label, exact=True).last
    if box.evaluate("node => node.tagName") == "SELECT":   # a component's own native box (the heatmap's Layer, Head)
        box.select_option(label=option)
        return
    for _ in range(3):
        box.click()
        try:
            page.get_by_role("option", name=option, exact=True).click(timeout=1_500)
            return
        except PlaywrightTimeout:  # the list did not open: click again
            continue
    raise AssertionError(f"could not choose {option!r} in {label!r}")


@pytest.fixture(scope="session")
def trained_translate_mini():
    """translate-mini, the date translator of the Masks page: trained once per machine (a few minutes on one thread)
    and kept in the cache folder, where the app and its test server find it."""
    from attention.domains import translate_mini

    return translate_mini.load_or_train()


@pytest.fixture(scope="session")
def trained_gpt_mini():
    """The Generation page's decoder: its weights ship with the package (attention/data/gpt-mini.pt), so this reads
    them; a changed recipe would train once per machine and keep the result in the cache folder."""
    from attention.domains import gpt_mini

    return gpt_mini.load_or_train()


@pytest.fixture(scope="session")
def trained_induction_mini():
    """The Induction heads page's decoder (and Patching's known case): trained once per machine (a fresh CI machine
    trains it here, about half a minute on one thread) and kept in the cache folder, where the app and its test server
    find it."""
    from attention.domains import induction_mini

    return induction_mini.load_or_train()


@pytest.fixture(scope="session")
def trained_long_mini():
    """long-mini, the long-context demo (a small Llama): trained once per machine (about a minute on one thread) and
    written as a transformers folder in the cache folder, where the app and its test server find it."""
    from attention.domains import long_mini

    return long_mini.load_or_train()


@pytest.fixture(scope="session")
def trained_masks_models(trained_gpt_mini, trained_translate_mini):
    """The Masks page's defaults: gpt-mini (its decoder) and translate-mini (its cross-attention), both trained first."""
    return trained_gpt_mini, trained_translate_mini
