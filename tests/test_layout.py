"""The layout is a contract too: the core draws nothing, and every trained demo is split the same way. (Every Python
block of the README and the docs runs: tests/test_docs.py; imports point down: tests/test_layers.py.)"""
from __future__ import annotations

import importlib
import json
import subprocess
import sys

import pytest

from conftest import ROOT

DOMAINS = ("vision", "timeseries", "gpt_mini", "translate_mini", "induction_mini", "long_mini")


def run_python(code: str) -> str:
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_the_core_imports_neither_streamlit_nor_plotly():
    """Every module under attention/, imported in a fresh interpreter, pulls in no drawing or app library."""
    found = json.loads(run_python(
        "import json, pkgutil, importlib, sys, attention\n"
        "names = [m.name for m in pkgutil.walk_packages(attention.__path__, 'attention.')]\n"
        "for name in names: importlib.import_module(name)\n"
        "print(json.dumps({'modules': len(names), 'drawing': sorted(m for m in sys.modules "
        "if m.split('.')[0] in ('streamlit', 'plotly'))}))"))
    assert found["modules"] > 40 and found["drawing"] == []


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_trained_demo_is_split_into_data_model_train_and_cache(domain):
    """One shape for every demo (docs/architecture.md): data, model, train and cache modules, the cache keeping the
    model with store.py's one helper, and every name importable from the package itself."""
    folder = ROOT / "attention" / "domains" / domain
    assert {"__init__.py", "data.py", "model.py", "train.py", "cache.py"} <= {p.name for p in folder.glob("*.py")}
    assert "store.load_or_train(" in (folder / "cache.py").read_text()
    package = importlib.import_module(f"attention.domains.{domain}")
    for name in getattr(package, "__all__", ()):
        assert hasattr(package, name), f"{domain}.{name}"
    assert callable(package.load_or_train) and callable(package.is_cached) and callable(package.cache_path)


def test_a_trained_demo_names_its_nn_module_network_and_keeps_the_old_name():
    """The naming rule (docs/architecture.md): `model` is a name, an nn.Module is a `network`; `Trained.model` stays as
    the old name of the same object."""
    from attention.domains import vision

    fields = [vision.Trained._fields, *(importlib.import_module(f"attention.domains.{d}").Trained._fields for d in DOMAINS)]
    assert all(f[0] == "network" and "model" not in f for f in fields)
    trained = vision.Trained(object(), None, 0.0, 0.0, 0.0)
    assert trained.model is trained.network


def test_import_attention_loads_no_library_and_every_public_name_resolves():
    """`import attention` costs no torch (its public names load on first use), and each name in __all__ resolves to
    the object its module defines."""
    found = json.loads(run_python(
        "import json, sys, attention\n"
        "light = 'torch' not in sys.modules and 'transformers' not in sys.modules\n"
        "kinds = {name: type(getattr(attention, name)).__name__ for name in attention.__all__}\n"
        "print(json.dumps({'light': light, 'kinds': kinds, 'limits': attention.limits.__name__}))"))
    assert found["light"] and found["limits"] == "attention.run.limits"
    assert {name for name, kind in found["kinds"].items() if kind == "module"} == {"limits"}   # not `trace` the module
    assert found["kinds"]["trace"] == found["kinds"]["attend"] == "function" and found["kinds"]["Attention"] == "type"
