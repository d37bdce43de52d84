"""The Learn pages run the engine once per rerun: one traced pass of the sentence feeds every view (steps, heads,
the pattern comparison); an ablation adds only its gated pass; a rerun on the same text runs nothing again."""
from __future__ import annotations

import uuid

import pytest

from apptest_pages import open_page
from attention.engine.transformer import ScratchTransformer


@pytest.fixture
def passes(monkeypatch) -> list[bool]:
    """Every full pass of the project's engine: True when heads were gated (an intervention), False otherwise."""
    seen: list[bool] = []
    real = ScratchTransformer.run

    def counted(self, *args, **kwargs):
        if kwargs.get("stop_before") is None and kwargs.get("memory") is None:   # whole passes of the encoder stack
            seen.append(bool(kwargs.get("head_gates")))
        return real(self, *args, **kwargs)

    monkeypatch.setattr(ScratchTransformer, "run", counted)
    return seen


@pytest.mark.parametrize("page, gated", [("step_by_step", 0), ("multi_head", 1), ("efficient_attention", 0)])
def test_a_fresh_sentence_is_run_once_and_a_rerun_runs_nothing(passes, page, gated):
    text = f"Fresh words for one pass {uuid.uuid4().hex[:8]}."
    app = open_page(page, text=text, model="scratch")
    ungated = passes.count(False)
    # efficient attention: the patterned pass and the full pass it is compared with (two different computations)
    assert ungated == (2 if page == "efficient_attention" else 1) and passes.count(True) == gated, passes
    next(box for box in app.selectbox if box.label in ("Head", "Single head")).select(1).run()   # another head: no new pass
    assert not app.exception and passes.count(False) == ungated
