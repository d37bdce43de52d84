"""Plotly figures for the Images page: pure functions of an image [height, width] and patch maps [patch row, patch column].

The picture is drawn in grey (ink dark); attention lies over it in red that fades to transparent at zero, each
patch's value filling its square of pixels, so the digit stays visible under what the model looked at.
"""
from __future__ import annotations

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from figures import safe_text
from attention.run.result import Attention

INK = [[0.0, "#ffffff"], [1.0, "#111111"]]                       # pixel value 0 white, 1 black
ATTENTION = [[0.0, "rgba(220,30,30,0)"], [1.0, "rgba(220,30,30,0.85)"]]  # no attention: see-through
_BARE = go.layout.Template(layout={"margin": {"l": 10, "r": 10, "t": 50, "b": 10}, "font": {"family": "sans-serif"}})


def _title(text: str) -> dict:
    return {"text": safe_text(text), "x": 0.0, "xref": "paper", "y": 0.995, "yref": "container", "yanchor": "top"}


def _picture(image: np.ndarray) -> go.Heatmap:
    return go.Heatmap(z=np.asarray(image, dtype=np.float32), colorscale=INK, zmin=0.0, zmax=1.0, showscale=False,
                      hovertemplate="pixel row %{y}, column %{x}<br>ink %{z:.2f}<extra></extra>")


def _overlay(patch_map: np.ndarray, patch_size: int, coloraxis: str = "coloraxis") -> go.Heatmap:
    """A patch map drawn over the picture: cell (row, column) covers that patch's pixels."""
    centre = (patch_size - 1) / 2
    return go.Heatmap(z=np.asarray(patch_map, dtype=np.float32), x0=centre, dx=patch_size, y0=centre, dy=patch_size,
                      coloraxis=coloraxis, hovertemplate="patch centre (%{y}, %{x})<br>attention %{z:.3f}<extra></extra>")


def _highlight(fig: go.Figure, patch: int | None, patch_size: int, grid: int, **where) -> None:
    if patch is None:
        return
    row, col = divmod(patch, grid)
    fig.add_shape(type="rect", x0=col * patch_size - 0.5, x1=(col + 1) * patch_size - 0.5, y0=row * patch_size - 0.5,
                  y1=(row + 1) * patch_size - 0.5, line={"color": "#1f5fbf", "width": 3}, **where)


def _square_axes(fig: go.Figure, size: int) -> None:
    bare = {"showticklabels": False, "ticks": "", "showgrid": False, "zeroline": False}
    fig.update_xaxes(range=[-0.5, size - 0.5], constrain="domain", **bare)
    fig.update_yaxes(range=[size - 0.5, -0.5], scaleanchor="x", **bare)


def digit_figure(image: np.ndarray, patch_size: int, title: str, patch: int | None = None, height: int = 360) -> go.Figure:
    """The picture with its patch grid; an invisible marker per patch (trace 1) carries hover and clicks."""
    image = np.asarray(image, dtype=np.float32)
    size, grid = image.shape[0], image.shape[0] // patch_size
    fig = go.Figure(_picture(image).update(hoverinfo="skip", hovertemplate=None))   # hover and clicks go to the markers
    rows, cols = np.divmod(np.arange(grid * grid), grid)
    centre = (patch_size - 1) / 2
    fig.add_trace(go.Scatter(
        x=cols * patch_size + centre, y=rows * patch_size + centre, customdata=np.arange(grid * grid), mode="markers",
        marker={"symbol": "square", "size": 40, "color": "rgba(0,0,0,0)"}, showlegend=False,
        hovertemplate="patch %{customdata} (row %{y}, column %{x} in pixels)<br>click: where does it look?<extra></extra>",
    ))
    for edge in np.arange(patch_size, size, patch_size) - 0.5:
        fig.add_shape(type="line", x0=edge, x1=edge, y0=-0.5, y1=size - 0.5, line={"color": "#8fb3e8", "width": 1})
        fig.add_shape(type="line", x0=-0.5, x1=size - 0.5, y0=edge, y1=edge, line={"color": "#8fb3e8", "width": 1})
    _highlight(fig, patch, patch_size, grid)
    _square_axes(fig, size)
    fig.update_layout(template=_BARE, title=_title(title), height=height, clickmode="event+select", dragmode=False)
    return fig


def probability_figure(probabilities: np.ndarray, label: int | None = None, title: str = "What the model says") -> go.Figure:
    """One bar per digit; the prediction in red, the true digit (when known) outlined."""
    probabilities = np.asarray(probabilities, dtype=np.float32)
    best = int(probabilities.argmax())
    colours = ["#dc1e1e" if digit == best else "#9aa5b8" for digit in range(len(probabilities))]
    widths = [3 if digit == label else 0 for digit in range(len(probabilities))]
    fig = go.Figure(go.Bar(x=list(range(len(probabilities))), y=probabilities, marker={"color": colours, "line": {"color": "#111", "width": widths}},
                           hovertemplate="digit %{x}: %{y:.1%}<extra></extra>"))
    fig.update_layout(template=_BARE, title=_title(title), height=300, xaxis={"title": "digit", "dtick": 1, "automargin": True},
                      yaxis={"title": "probability", "range": [0, 1], "tickformat": ".0%", "automargin": True})
    return fig


def overlay_panels(images: list[np.ndarray], maps: list[np.ndarray], titles: list[str], columns: int, patch_size: int,
                   title: str = "", patch: int | None = None, panel_height: int = 190, scale: str = "weight") -> go.Figure:
    """Pictures with their patch maps over them, `columns` per row, on one colour scale from 0 to the largest value."""
    rows = -(-len(images) // columns)
    fig = make_subplots(rows=rows, cols=columns, subplot_titles=[safe_text(t) for t in titles],
                        horizontal_spacing=0.02, vertical_spacing=0.25 / rows)
    size, grid = np.asarray(images[0]).shape[0], np.asarray(images[0]).shape[0] // patch_size
    for index, (image, patch_map) in enumerate(zip(images, maps)):
        row, col = divmod(index, columns)
        fig.add_trace(_picture(image), row=row + 1, col=col + 1)
        fig.add_trace(_overlay(patch_map, patch_size), row=row + 1, col=col + 1)
        axis = "" if index == 0 else str(index + 1)
        _highlight(fig, patch, patch_size, grid, xref=f"x{axis}", yref=f"y{axis}")
    _square_axes(fig, size)
    for index in range(1, len(images)):   # every panel keeps its own square shape
        fig.update_yaxes(scaleanchor=f"x{index + 1}", row=index // columns + 1, col=index % columns + 1)
    top = float(max(np.max(m) for m in maps)) or 1.0
    fig.update_layout(template=_BARE, title=_title(title), height=60 + panel_height * rows,
                      coloraxis={"colorscale": ATTENTION, "cmin": 0.0, "cmax": top, "colorbar": {"thickness": 10, "title": {"text": scale}}})
    fig.update_annotations(font={"size": 12})
    return fig


def heads_overlay(image: np.ndarray, result: Attention, query: int, patch_size: int, patch: int | None = None) -> go.Figure:
    """Where token `query` looks in every layer (rows) and head (columns), over the picture; `patch` outlined."""
    maps = result.over_patches(query)                                   # [layer, head, patch row, patch column]
    titles = [f"layer {layer} · head {head}" for layer in range(result.n_layers) for head in range(result.n_heads)]
    return overlay_panels([image] * len(titles), list(maps.reshape(-1, *maps.shape[2:])), titles, result.n_heads, patch_size,
                          patch=patch)


def mistakes_figure(images: np.ndarray, found: list[tuple[int, int, int, np.ndarray]], patch_size: int) -> go.Figure:
    """Misread held-out digits (vision.mistake_rollouts: index, true, said, rollout map), each under its rollout."""
    return overlay_panels([images[i] for i, _, _, _ in found], [rolled for *_, rolled in found],
                          [f"#{i}: a {true} read as {said}" for i, true, said, _ in found], 6, patch_size, panel_height=170)
