"""The app side's shared pieces: the page-state schema's parameter types (read from a URL, written back) and the
isolated patch of Streamlit's pages-directory mode."""
from __future__ import annotations

import math

import pytest
from streamlit.testing.v1 import AppTest

import ui


def test_index_reads_whole_numbers_and_says_what_it_shows_instead():
    layer = ui.Index("layer")
    assert layer.read(None) == (0, None) and layer.read(" 3 ") == (3, None)
    assert layer.read("x") == (0, "The link's layer 'x' is not a number; layer 0 is shown.")
    assert layer.read("-2") == (0, "The link asked for layer -2; layers count from 0, so layer 0 is shown.")
    token = ui.Index("query", None, noun="query token")          # absent: None, the picker chooses later
    assert token.read(None) == (None, None) and "query token" in token.read("?")[1]
    window = ui.Index("window", None, fallback=None)
    assert window.read("abc")[0] is None and window.read("192") == (192, None)
    assert ui.Index("head", 2).read(None) == (2, None)
    assert ui.Index("seed", hide_default=True).write(0) is None and ui.Index("seed", hide_default=True).write(5) == "5"
    assert ui.Index("layer").write(0) == "0"                      # shown in the link unless hide_default


def test_flags_choices_numbers_and_texts():
    assert ui.Flag("causal").read("yes") == (True, None) and ui.Flag("causal").read("0") == (False, None)
    assert ui.Flag("causal").write(True) == "1" and ui.Flag("causal").write(False) is None
    mode = ui.Choice("mode", ("heads", "mean"))
    assert mode.default == "heads" and mode.read("MEAN") == ("mean", None)
    assert mode.read("<x>") == ("heads", "The link's mode '<x>' is not one of heads, mean; heads is used.")
    assert ui.Choice("source", ("test", "draw"), noun="image source").read("x")[1].startswith("The link's image source")
    threshold = ui.Fraction("threshold", 0.1, 0.01, 1.0)
    assert threshold.read("0.25") == (0.25, None) and threshold.write(0.25) == "0.25"
    assert threshold.read("7")[0] == 1.0 and "outside 0.01–1.0" in threshold.read("7")[1]
    assert threshold.read("nan")[0] == 0.1 and threshold.read("abc") == (0.1, "The link's threshold 'abc' is not a number; 0.1 is used.")
    window = ui.Integer("window", 3, 1, 512)
    assert window.read("4.6") == (5, None) and window.read("0")[0] == 1 and window.read(None) == (3, None)
    assert ui.Sentence().read("  ") == (ui.DEFAULT_TEXT, None) and ui.Sentence().read(" hi ") == (" hi ", None)
    assert ui.Model().read(" minilm ") == ("minilm", None) and ui.Engine().read(None) == ("scratch:minilm", None)
    decoder = ui.Text("decoder", "", strip=True, keep_empty=True, limit=5)
    assert decoder.read(" gpt2-medium ") == ("gpt2-", None) and decoder.read("   ") == ("", None)
    assert ui.Text("target", "Das", hide_default=True).write("Das") is None
    pixels = ui.Custom("pixels", "", lambda raw: (raw.upper(), None) if raw else ("", None))
    assert pixels.read("ab") == ("AB", None) and pixels.read(None) == ("", None)
    assert not math.isnan(threshold.read("inf")[0])


def _page() -> None:
    import streamlit as st

    import ui

    state = ui.PageState("demo", ui.Sentence(), ui.Index("layer"), ui.Flag("words"), ui.Fraction("threshold", 0.1))
    state.load()
    ui.show_url_notices()
    state.clamp("layer", 3)
    st.write(f"text={state['text']} layer={state['layer']} words={state['words']} threshold={state['threshold']}")
    state.share(state["text"], text=state["text"], layer=state["layer"], words=state["words"], threshold=state["threshold"])


def test_a_page_state_reads_the_url_clamps_with_a_notice_and_writes_the_view_back():
    app = AppTest.from_function(_page)
    app.query_params.update({"layer": "7", "words": "on", "threshold": "2"})
    app.run()
    assert not app.exception
    notices = [w.value for w in app.warning]
    assert any("threshold 2 is outside" in n for n in notices)
    assert any("layer 7 does not exist, so layer 2 is shown" in n for n in notices)
    assert app.markdown[0].value == f"text={ui.DEFAULT_TEXT} layer=2 words=True threshold=1.0"
    assert dict(app.query_params) == {"text": ui.DEFAULT_TEXT, "layer": "2", "words": "1", "threshold": "1"}


def _pages_directory_page() -> None:
    import streamlit as st
    from streamlit.runtime.pages_manager import PagesManager

    from ui.streamlit_patch import leave_pages_directory_mode

    runs = st.session_state["runs"] = st.session_state.get("runs", 0) + 1
    if runs == 1:
        PagesManager.uses_pages_directory = True      # as on a fresh server's first visit straight to a page URL
    leave_pages_directory_mode()
    st.write(f"runs={runs} pages_directory={bool(PagesManager.uses_pages_directory)}")


def test_the_streamlit_patch_leaves_pages_directory_mode_and_runs_again():
    from streamlit.runtime.pages_manager import PagesManager

    assert hasattr(PagesManager, "uses_pages_directory"), "Streamlit renamed the internal the patch relies on"
    app = AppTest.from_function(_pages_directory_page)
    app.run()
    assert not app.exception
    assert app.markdown[0].value == "runs=2 pages_directory=False"   # the first run stopped and ran again, out of that mode
    app.run()
    assert app.markdown[0].value == "runs=3 pages_directory=False"   # nothing to do afterwards: no extra run


def test_every_name_pages_used_from_ui_py_is_still_there():
    names = ("DEFAULT_TEXT ENGINE_HELP LEARN_TOKENS MODEL_HELP OTHER_MODEL SCRATCH_ENGINES TEXT_HELP URL_TEXT_CAP MODELS "
             "Attention attend limits clamp_index deployment_note engine_picker engine_result figure_exports first_value "
             "held_heights inputs_and_result layer_and_head load_page_state md_escape model_picker open_clicked_head "
             "parse_index preset_models read_choice read_engine read_flag read_fraction read_model read_text read_token "
             "result_exports run_attend run_core share_box show_url_notices spacer stop_with_share sync_url "
             "text_and_model token_picker warn _engine_name _leave_pages_directory_mode").split()
    assert [name for name in names if not hasattr(ui, name)] == []


@pytest.mark.parametrize("raw", ["1e309", "-1", "NaN", "\x00"])
def test_hostile_numbers_never_raise(raw):
    for param in (ui.Index("layer"), ui.Fraction("threshold", 0.1), ui.Integer("u", 4, 1, 512), ui.Flag("words")):
        param.read(raw)
