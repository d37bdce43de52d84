"""The app side's Streamlit pieces, shared by the pages (`import ui; ui.<name>`). Lives outside pages/ because
Streamlit runs every file in pages/ as a page. The core (attention/) never imports streamlit; this package is the bridge.

    state.py            a page's URL parameters declared once (PageState of Index, Flag, Choice, Fraction, ...):
                        read with notices, clamped, written back, text and model carried across pages
    widgets.py          text box, model and engine pickers, layer/head/token pickers, share box, draw_first
    run.py              running the core (attend, trace, any analysis) with a spinner or progress bar, demo models
                        trained once; a ValueError becomes a message
    views.py            a figure as the pages draw it, clickable head maps, figures with exports, download buttons
    exports.py          download buttons for figures and results
    messages.py         escaping user text for Markdown; notices
    streamlit_patch.py  the one patch of a Streamlit internal (why: see there), applied on import
"""
from attention import MODELS, Attention, attend
from attention.run import limits
from ui.exports import figure_exports, result_exports
from ui.messages import md_escape, warn
from ui.run import (LEARN_TOKENS, engine_result, inputs_and_result, learn_trace, load_demo, run_attend, run_core, run_trace,
                    run_with_progress, stop_with_share, train_once)
from ui.state import (DEFAULT_TEXT, SCRATCH_ENGINES, URL_TEXT_CAP, Choice, Custom, Engine, Flag, Fraction, Index, Integer,
                      Model, OneOf, PageState, Param, Sentence, Text, clamp_index, first_value, load_page_state, parse_index,
                      read_choice, read_engine, read_flag, read_fraction, read_model, read_text, read_token,
                      show_url_notices, sync_url)
from ui.streamlit_patch import leave_pages_directory_mode as _leave_pages_directory_mode
from ui.widgets import (ENGINE_HELP, MODEL_HELP, OTHER_MODEL, TEXT_HELP, _engine_name, deployment_note, draw_first,
                        engine_picker, held_heights, hosted_allows, layer_and_head, model_picker, open_clicked_head, preset_models,
                        share_box, spacer, text_and_model, token_picker)
from ui.views import chart, chart_with_exports, download, head_map

__all__ = [
    "MODELS", "Attention", "attend", "limits", "figure_exports", "result_exports", "md_escape", "warn", "LEARN_TOKENS",
    "engine_result", "inputs_and_result", "learn_trace", "run_attend", "run_core", "run_trace", "stop_with_share",
    "DEFAULT_TEXT", "SCRATCH_ENGINES", "URL_TEXT_CAP", "Choice", "Custom", "Engine", "Flag", "Fraction", "Index", "Integer",
    "Model", "OneOf", "PageState", "Param", "Sentence", "Text", "clamp_index", "first_value", "load_page_state", "parse_index",
    "read_choice", "read_engine", "read_flag", "read_fraction", "read_model", "read_text", "read_token",
    "show_url_notices", "sync_url", "ENGINE_HELP", "MODEL_HELP", "OTHER_MODEL", "TEXT_HELP", "deployment_note",
    "draw_first", "engine_picker", "held_heights", "layer_and_head", "model_picker", "open_clicked_head",
    "preset_models", "share_box", "spacer", "text_and_model", "token_picker",
    "hosted_allows", "load_demo", "run_with_progress", "train_once", "chart", "chart_with_exports", "download", "head_map",
]

_leave_pages_directory_mode()   # on import, as before the split: the first thing any page run does (see streamlit_patch)
