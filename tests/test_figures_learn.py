"""Learn-page and efficient-attention figures read cleanly: every token labelled, round ticks, outliers clipped."""
from __future__ import annotations

import math

import numpy as np

from figures.efficient import cost_figure
from figures.learn import matrices_grid, matrix_figure, softmax_row_figure
from attention.analyses.steps import toy_steps

TOKENS = [f"w{i}" for i in range(16)]


def test_short_token_axes_label_every_token_and_long_ones_let_plotly_thin_them():
    rng = np.random.default_rng(0)
    short = matrix_figure(rng.random((16, 16)), TOKENS, TOKENS, "short", signed=False)
    assert short.layout.xaxis.dtick == 1 and short.layout.yaxis.dtick == 1
    many = [f"w{i}" for i in range(100)]
    long = matrix_figure(rng.random((100, 100)), many, many, "long", signed=False)
    assert long.layout.xaxis.dtick is None and long.layout.yaxis.dtick is None
    grid = matrices_grid([rng.random((16, 16))] * 4, ["a", "b", "c", "d"], [TOKENS] * 4, [TOKENS] * 4)
    axes = [getattr(grid.layout, name) for name in dir(grid.layout) if name.startswith(("xaxis", "yaxis"))]
    assert len(axes) == 8 and all(axis.dtick == 1 for axis in axes)


def test_clip_ends_the_colour_scale_at_a_quantile_and_keeps_the_values():
    table = np.random.default_rng(1).normal(size=(40, 64))
    table[0, :3] = 50.0                                        # a few huge numbers, as in position 0 of a learned table
    plain = matrix_figure(table, None, None, "plain").data[0]
    clipped = matrix_figure(table, None, None, "clipped", clip=0.99).data[0]
    assert plain.zmax == 50.0
    assert clipped.zmax == -clipped.zmin
    assert abs(clipped.zmax - np.quantile(np.abs(table.astype(np.float32)), 0.99)) < 1e-5 and clipped.zmax < 5
    np.testing.assert_allclose(np.asarray(clipped.z, dtype=float), table.astype(np.float32))


def test_cell_numbers_are_whole_for_the_toy_and_two_decimals_otherwise():
    fig = matrix_figure(np.array([[2.0, -3.0], [0.3456, 1.0 / 3]]), ["a", "b"], ["c", "d"], numbers=True)
    assert fig.data[0].text.tolist() == [["2", "-3"], ["0.35", "0.33"]]


def test_softmax_weights_axis_ticks_at_round_steps():
    steps = toy_steps(False)
    fig = softmax_row_figure(steps, 0)
    axis = fig.layout.yaxis2
    step = axis.dtick
    mantissa = step / 10 ** math.floor(math.log10(step))
    assert round(mantissa, 9) in (1, 2, 5)
    assert 2 <= axis.range[1] / step <= 11


def test_cost_curves_label_powers_of_ten_only():
    rows = [{"pattern": p, "length": n, "ms": n / k, "mb": n / (10 * k)} for p, k in (("full", 1), ("sliding", 8))
            for n in (128, 512, 2048)]
    fig = cost_figure({"rows": rows, "exponents": {}})
    assert fig.layout.yaxis.type == fig.layout.yaxis2.type == "log"
    assert fig.layout.yaxis.dtick == fig.layout.yaxis2.dtick == 1


def test_token_columns_on_top_leave_room_for_the_title_above_labels_and_axis_title():
    matrix = np.full((3, 3), 0.3)
    short = matrix_figure(matrix, ["a", "b", "c"], ["a", "b", "c"], "t", signed=False)
    long = matrix_figure(matrix, ["a", "b", "c"], ["a", "b", "internationalization"], "t", signed=False)
    titled = matrix_figure(matrix, ["a", "b", "c"], ["a", "b", "internationalization"], "t", signed=False, column_title="key")
    numbered = matrix_figure(matrix, ["a", "b", "c"], None, "t")                # dimensions below: the plain margin
    reach = 0.55 * 12 * len("internationalization") * np.sin(np.radians(60))    # the longest label, slanted, at ~0.55 em
    assert short.layout.margin.t < long.layout.margin.t < titled.layout.margin.t
    assert long.layout.margin.t >= reach + 30 and numbered.layout.margin.t == 50
    assert long.layout.title.yref == "container" and long.layout.xaxis.side == "top"
