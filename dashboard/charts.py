"""Plotly figures for the pages: data overviews, loss curves, comparisons, maps. No Streamlit here."""

from __future__ import annotations

from collections.abc import Sequence
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from recengine.data.dataset import RatingsDataset

HEIGHT = 320
LOSS_PARTS = (
    ("total_loss", "total"),
    ("reconstruction_loss", "reconstruction"),
    ("regularization_loss", "regularization"),
)


def _tidy(figure: go.Figure, height: int = HEIGHT) -> go.Figure:
    """Size and margins; titles on the left, where the chart toolbar (top right) cannot cover them."""
    figure.update_layout(
        height=height,
        margin=dict(l=10, r=10, t=50, b=10),
        legend_title_text="",
        title_x=0,
        title_xanchor="left",
    )
    starts = [axis.domain[0] for axis in figure.select_xaxes() if axis.domain is not None]
    for annotation in figure.layout.annotations:
        if annotation.yanchor == "bottom" and annotation.xref == "paper" and annotation.xanchor == "center":
            # a subplot title, centred above its panel: move it to the panel's left edge
            left = max([start for start in starts if start <= annotation.x + 1e-9], default=0)
            annotation.update(x=left, xanchor="left")
    return figure


def large_type(figure: go.Figure, size: int = 18, height: int | None = None) -> go.Figure:
    """Every text of ``figure`` at least ``size`` px (ticks, legend, titles, labels in the plot), for a
    projector; ``height`` when the figure must fit a screen."""
    figure.update_layout(
        font_size=size, title_font_size=size + 4, legend_font_size=size, hoverlabel_font_size=size
    )
    figure.update_xaxes(tickfont_size=size, title_font_size=size)  # the Streamlit theme sets its own
    figure.update_yaxes(tickfont_size=size, title_font_size=size)
    figure.update_yaxes(dtick=1, selector={"type": "log"})  # plotly draws a log axis' 2s and 5s smaller
    for annotation in figure.layout.annotations:
        annotation.font.size = max(annotation.font.size or 0, size)
    for trace in figure.data:
        if "textfont" in trace:
            trace.textfont.size = max(trace.textfont.size or 0, size)
        if "colorbar" in trace:
            trace.colorbar.update(tickfont_size=size, title_font_size=size)
        if trace.type == "scatter" and "lines" in (trace.mode or "lines"):
            trace.line.width = 3
    if height is not None:
        figure.update_layout(height=height)
    return figure


# --- data -----------------------------------------------------------------------------------------------


def rating_distribution(data: RatingsDataset) -> go.Figure:
    values, counts = np.unique(data.ratings, return_counts=True)
    figure = px.bar(x=values, y=counts, labels={"x": "rating", "y": "ratings"}, title="Rating distribution")
    return _tidy(figure)


def popularity_long_tail(data: RatingsDataset) -> go.Figure:
    counts = np.sort(data.item_counts())[::-1]
    counts = counts[counts > 0]
    share = np.cumsum(counts) / max(counts.sum(), 1)
    head = int(np.searchsorted(share, 0.5)) + 1
    figure = px.area(
        x=np.arange(1, len(counts) + 1),
        y=counts,
        log_y=True,
        labels={"x": "movies, most rated first", "y": "ratings per movie"},
        title=f"The long tail: {head:,} of {len(counts):,} rated movies get half of all ratings",
    )
    figure.update_yaxes(dtick=1)  # labels at 1, 10, 100, ... only (plotly also labels 2 and 5 in between)
    return _tidy(figure)


def ratings_per_user(data: RatingsDataset) -> go.Figure:
    counts = data.user_counts()
    figure = px.histogram(
        x=counts[counts > 0],
        nbins=60,
        log_y=True,
        labels={"x": "ratings per user"},
        title="Ratings per user",
    )
    figure.update_yaxes(title="users", dtick=1)  # labels at 1, 10, 100, ... only
    return _tidy(figure)


def ratings_over_time(data: RatingsDataset) -> go.Figure | None:
    if data.timestamps is None or not len(data.timestamps):
        return None
    months = pd.to_datetime(data.timestamps, unit="s").to_period("M")
    counts = pd.Series(1, index=months).groupby(level=0).sum()
    figure = px.line(
        x=counts.index.to_timestamp(),
        y=counts.to_numpy(),
        labels={"x": "month", "y": "ratings"},
        title="Ratings over time",
    )
    return _tidy(figure)


def genre_counts(data: RatingsDataset) -> go.Figure | None:
    exploded = pd.DataFrame({"genre": data.items["genres"], "ratings": data.item_counts()}).explode("genre")
    exploded = exploded.dropna(subset=["genre"])
    if not len(exploded):
        return None
    table = exploded.groupby("genre").agg(movies=("ratings", "size"), ratings=("ratings", "sum"))
    table = table.sort_values("ratings")
    figure = px.bar(table, x="ratings", y=table.index, orientation="h", hover_data=["movies"], title="Genres")
    figure.update_yaxes(title="", tickmode="linear")
    return _tidy(figure, height=max(HEIGHT, 60 + 22 * len(table)))


# --- training -------------------------------------------------------------------------------------------


GRADIENT_PANEL = "gradient norms ‖∇L‖: the objective's slope, 0 at a minimum"
BLOCK_NAMES = MappingProxyType(
    {
        "user_factors": "users P",
        "item_factors": "films Q",
        "user_bias": "user biases",
        "item_bias": "film biases",
    }
)


def has_losses(records: Sequence[dict[str, Any]]) -> bool:
    """Whether any epoch recorded a positive objective (most popular learns nothing: all zero)."""
    return any((record.get(column) or 0) > 0 for record in records for column, _ in LOSS_PARTS)


def loss_curves(
    records: Sequence[dict[str, Any]], title: str = "", start_loss: float | None = None
) -> go.Figure:
    """Stacked panels against the epoch: the objective's parts, RMSEs (rating models), gradient norms.

    ``start_loss`` (the total before the first epoch) is drawn at epoch 0 when given (a diverged run)."""
    records = list(records)  # a snapshot: a training thread may append while we draw
    frame = pd.DataFrame(records)
    has_rmse = any(r.get("train_rmse") is not None for r in records)
    has_grad = any(r.get("grad_norms") for r in records)
    panels = ["objective: total, reconstruction, regularization (log scale)"]
    panels += ["RMSE: train and validation"] if has_rmse else []
    panels += [GRADIENT_PANEL] if has_grad else []
    figure = make_subplots(
        rows=len(panels), cols=1, subplot_titles=panels, shared_xaxes=True, vertical_spacing=0.1
    )
    epochs = frame["epoch"] if len(frame) else []
    if start_loss is not None:
        start = go.Scatter(x=[0], y=[start_loss], name="before training", mode="markers", marker_symbol="x")
        figure.add_trace(start, 1, 1)
    for column, name in LOSS_PARTS:
        if column in frame and frame[column].notna().any():
            figure.add_trace(go.Scatter(x=epochs, y=frame[column], name=name, mode="lines+markers"), 1, 1)
    figure.update_yaxes(type="log", tickformat="~s", dtick="D2", row=1, col=1)
    if not records:  # empty axes before the first epoch: no ticks to read as 100m, 200m, ...
        figure.update_yaxes(showticklabels=False, showgrid=False)
        figure.update_xaxes(range=[1, 10])
    elif len(records) == 1 and start_loss is None:  # one point: an axis around it, not a dot on 0 to 2
        figure.update_xaxes(range=[0.5, 1.5], dtick=1)
    if has_rmse:
        for column, name in (("train_rmse", "train RMSE"), ("valid_rmse", "validation RMSE")):
            if frame[column].notna().any():
                figure.add_trace(go.Scatter(x=epochs, y=frame[column], name=name, mode="lines+markers"), 2, 1)
    if has_grad:
        norms = pd.DataFrame([r.get("grad_norms") or {} for r in records])
        for column in norms:
            name = f"‖∇‖ {BLOCK_NAMES.get(column, column)}"
            figure.add_trace(
                go.Scatter(x=epochs, y=norms[column], name=name, mode="lines+markers"), len(panels), 1
            )
        figure.update_yaxes(type="log", row=len(panels), col=1)
    figure.update_xaxes(title="epoch", row=len(panels), col=1)
    figure.update_layout(title=title)
    return _tidy(figure, height=110 + 170 * len(panels))


def overlaid_curves(histories: dict[str, Sequence[dict[str, Any]]], metric: str) -> go.Figure:
    """One line per run of ``metric`` against the epoch."""
    figure = go.Figure()
    colors = px.colors.qualitative.Plotly  # distinct hues: the theme's blues are hard to tell apart
    for index, (name, records) in enumerate(histories.items()):
        points = [(r["epoch"], r.get(metric)) for r in records if r.get(metric) is not None]
        if points:
            x, y = zip(*points, strict=True)
            line = dict(color=colors[index % len(colors)])
            figure.add_trace(go.Scatter(x=x, y=y, name=name, mode="lines+markers", line=line))
    figure.update_layout(
        xaxis_title="epoch", yaxis_title=metric.replace("_", " "), legend=dict(orientation="h", y=-0.25)
    )
    if metric.endswith("loss"):
        figure.update_yaxes(type="log")
    return _tidy(figure, height=360)


# --- evaluation -----------------------------------------------------------------------------------------


def rmse_axis(rmses: pd.Series) -> tuple[float, float]:
    """An RMSE axis that shows the differences that matter (0.85 against 0.91): from near the lowest bar,
    up to the highest bar that is not an outlier (more than twice the spread of the others above their
    median; zero-filled NMF's 3.1 among models near 0.9), so one bad model does not squash the rest."""
    if not len(rmses):
        return 0.0, 1.0
    median = float(rmses.median())
    spread = max(float((rmses - median).abs().median()), 0.02)
    usual = rmses[rmses <= median + 6 * spread]
    floor = float(np.floor(rmses.min() * 0.95 * 20) / 20)
    return floor, float(usual.max()) * 1.06


def accuracy_vs_ranking(table: pd.DataFrame, k: int = 10) -> go.Figure:
    """Side by side, one horizontal bar per model, named on the axis (readable with twenty runs): RMSE
    (lower is better; an outlier is cut at the axis' end and labelled with its value) and P@k (higher is
    better). The same colour marks a model in both panels.

    ``table`` has columns ``model``, ``rmse`` (NaN for models that only rank) and ``precision@k``.
    """
    figure = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=(
            "Rating accuracy: RMSE (lower is better)",
            f"Ranking quality: P@{k} (higher is better)",
        ),
    )
    colors = px.colors.qualitative.Dark24
    floor, top = rmse_axis(table["rmse"].dropna())
    rows = table.reset_index(drop=True)
    names = rows["model"].tolist()
    shown_rmse, rmse_text = [], []
    for rmse in rows["rmse"]:
        if pd.isna(rmse):
            shown_rmse.append(floor)
            rmse_text.append("ranks only: no RMSE")
        else:
            shown_rmse.append(min(rmse, top))
            rmse_text.append(f"{rmse:.3f}" + (" ▸ off the axis" if rmse > top else ""))
    palette = [colors[i % len(colors)] for i in range(len(rows))]
    figure.add_trace(
        go.Bar(y=names, x=shown_rmse, orientation="h", marker_color=palette, text=rmse_text,
               textposition="auto", showlegend=False, hovertemplate="%{y}: %{text}<extra></extra>"),
        1, 1,
    )  # fmt: skip
    precision = rows[f"precision@{k}"]
    figure.add_trace(
        go.Bar(y=names, x=precision, orientation="h", marker_color=palette,
               text=[f"{p:.3f}" if pd.notna(p) else "" for p in precision], textposition="auto",
               showlegend=False, hovertemplate="%{y}: %{x:.3f}<extra></extra>"),
        1, 2,
    )  # fmt: skip
    figure.update_xaxes(range=[floor, top], row=1, col=1, title=f"RMSE (axis from {floor:g})")
    figure.update_xaxes(rangemode="tozero", row=1, col=2, title=f"P@{k}")
    figure.update_yaxes(autorange="reversed", automargin=True)
    return _tidy(figure, height=max(320, 90 + 28 * len(rows)))


def error_histogram(table: pd.DataFrame) -> go.Figure:
    """Bars of a histogram table with columns low, high, count (the engine's absolute-error histogram)."""
    labels = [f"{low:g}–{high:g}" for low, high in zip(table["low"], table["high"], strict=True)]
    figure = px.bar(x=labels, y=table["count"], labels={"x": "|prediction − rating|", "y": "test ratings"})
    figure.update_layout(title="Absolute errors on the test set")
    return _tidy(figure)


def rounded_errors(table: pd.DataFrame) -> go.Figure:
    figure = px.bar(
        table, x="error", y="count", labels={"error": "rounded prediction − rating", "count": "test ratings"}
    )
    figure.update_layout(title="Rounded predictions: how far off")
    return _tidy(figure)


def error_by(table: pd.DataFrame, by: str, value: str = "rmse", title: str = "") -> go.Figure:
    """Bars of ``value`` per group in the table's order (the engine gives count buckets in numeric order)."""
    table = table.assign(**{by: table[by].astype(str)})
    figure = px.bar(table, x=by, y=value, hover_data=list(table.columns), title=title,
                    category_orders={by: list(table[by])})  # fmt: skip
    figure.update_xaxes(tickmode="linear", title="")
    return _tidy(figure)


# --- tuning ---------------------------------------------------------------------------------------------


def sweep_figure(table: pd.DataFrame, params: Sequence[str], metric: str) -> go.Figure:
    """A line (one parameter) or a heatmap (two) of the mean of ``metric`` over folds, with fit times."""
    means = table.groupby(list(params), as_index=False).agg(
        value=(metric, "mean"), fit_seconds=("fit_seconds", "mean")
    )
    if len(params) == 1:
        figure = make_subplots(specs=[[{"secondary_y": True}]])
        figure.add_trace(go.Scatter(x=means[params[0]], y=means["value"], name=metric, mode="lines+markers"))
        figure.add_trace(
            go.Bar(x=means[params[0]], y=means["fit_seconds"], name="fit seconds", opacity=0.3),
            secondary_y=True,
        )
        figure.update_xaxes(title=params[0], type="category")
        figure.update_yaxes(title=metric, secondary_y=False)
        figure.update_yaxes(title="fit seconds", secondary_y=True)
        return _tidy(figure, height=360)
    grid = means.pivot(index=params[0], columns=params[1], values="value")
    seconds = means.pivot(index=params[0], columns=params[1], values="fit_seconds")
    text = [
        [f"{v:.4f}<br>{s:.2f}s" if np.isfinite(v) else "failed" for v, s in zip(vr, sr, strict=True)]
        for vr, sr in zip(grid.values, seconds.values, strict=True)
    ]
    figure = go.Figure(
        go.Heatmap(
            z=grid.values,
            x=[str(c) for c in grid.columns],
            y=[str(i) for i in grid.index],
            text=text,
            texttemplate="%{text}",
            colorscale="Viridis",
            colorbar_title=metric,
        )
    )
    figure.update_layout(
        xaxis_title=params[1], yaxis_title=params[0], title=f"{metric} (mean over folds) and fit time"
    )
    return _tidy(figure, height=380)


# --- maps -----------------------------------------------------------------------------------------------


GENRE_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf")  # far apart hues
YOURS = "#d6336c"


def item_map(
    points: pd.DataFrame,
    color: str,
    you: tuple[float, float] | None = None,
    chosen: pd.DataFrame | None = None,
    neighbours: pd.DataFrame | None = None,
    colors: dict[str, str] | None = None,
    yours: pd.DataFrame | None = None,
) -> go.Figure:
    """Movies as points (columns x, y, title, ``color``, and ``code``, given back when a point is clicked);
    your position and your list (``yours``: x, y, title, number), the chosen movie (labelled) with a line to
    each of its numbered neighbours, on top. ``colors`` fixes each category's colour (the same genre, the
    same colour whichever projection)."""
    figure = go.Figure()  # one WebGL trace per category, built directly: a move of your point redraws fast
    fixed = {"other": "#d9d9d9", **(colors or {})}
    palette = px.colors.qualitative.Bold
    for index, (category, group) in enumerate(points.groupby(color, sort=False)):
        hover = group["title"] + ("<br>" + group["genres"] if "genres" in group else "")
        figure.add_trace(
            go.Scattergl(
                x=group["x"], y=group["y"], mode="markers", name=str(category), hovertext=hover,
                hoverinfo="text", customdata=group["code"].to_numpy() if "code" in group else None,
                marker=dict(size=5, opacity=0.6, color=fixed.get(category, palette[index % len(palette)])),
            )
        )  # fmt: skip
    if neighbours is not None and len(neighbours):
        if chosen is not None and len(chosen):  # a spoke to each neighbour, wherever the map put it
            start = (float(chosen["x"].iloc[0]), float(chosen["y"].iloc[0]))
            spokes_x = [v for x in neighbours["x"] for v in (start[0], x, None)]
            spokes_y = [v for y in neighbours["y"] for v in (start[1], y, None)]
            figure.add_trace(
                go.Scatter(x=spokes_x, y=spokes_y, mode="lines", name="to its neighbours", hoverinfo="skip",
                           line=dict(color="#1c7ed6", width=1))
            )  # fmt: skip
        numbers = [str(n) for n in neighbours.get("number", range(1, len(neighbours) + 1))]
        figure.add_trace(
            go.Scatter(
                x=neighbours["x"], y=neighbours["y"], text=numbers, hovertext=neighbours["title"],
                hoverinfo="text", mode="markers+text", textposition="middle right", name="neighbours (numbered)",
                textfont=dict(size=11), marker=dict(size=11, color="black", symbol="circle-open"),
            )
        )  # fmt: skip
    if yours is not None and len(yours):
        figure.add_trace(
            go.Scatter(
                x=yours["x"], y=yours["y"], text=[str(n) for n in yours["number"]], hovertext=yours["title"],
                hoverinfo="text", mode="markers+text", textposition="middle left", name="your top 10 (numbered)",
                textfont=dict(size=11, color=YOURS), marker=dict(size=12, color=YOURS, symbol="circle-open",
                                                                 line=dict(width=2)),
            )
        )  # fmt: skip
    if chosen is not None and len(chosen):
        figure.add_trace(
            go.Scatter(
                x=chosen["x"], y=chosen["y"], text=chosen["title"], mode="markers+text",
                textposition="top center", name="chosen movie", textfont=dict(size=13, color="#1c7ed6"),
                marker=dict(size=16, color="#1c7ed6", symbol="diamond", line=dict(width=1, color="white")),
            )
        )  # fmt: skip
    if you is not None:
        figure.add_trace(
            go.Scatter(
                x=[you[0]],
                y=[you[1]],
                text=["you"],
                mode="markers+text",
                textposition="top center",
                name="you",
                marker=dict(size=18, color=YOURS, symbol="star"),
            )
        )
    figure.update_layout(  # the legend below the axis's numbers (at -0.05 it covered their lower half)
        xaxis_title="", yaxis_title="", legend=dict(orientation="h", y=-0.08, yanchor="top")
    )
    return _tidy(figure, height=560)


# --- lessons --------------------------------------------------------------------------------------------


def train_valid_curves(histories: dict[str, Sequence[dict[str, Any]]]) -> go.Figure:
    """Train RMSE (dotted) and validation RMSE (solid) of each run, one colour per run."""
    figure = go.Figure()
    colors = px.colors.qualitative.Plotly
    for index, (name, records) in enumerate(histories.items()):
        epochs = [r["epoch"] for r in records]
        for column, dash, what in (("train_rmse", "dot", "train"), ("valid_rmse", "solid", "validation")):
            values = [r.get(column) for r in records]
            line = dict(color=colors[index % len(colors)], dash=dash)
            figure.add_trace(go.Scatter(x=epochs, y=values, name=f"{name}: {what}", mode="lines", line=line))
    figure.update_layout(
        xaxis_title="epoch", yaxis_title="RMSE", title="RMSE: train (dotted) and validation (solid)",
        legend=dict(orientation="h", y=-0.2),
    )  # fmt: skip
    return _tidy(figure, height=460)


def matrix_heatmap(
    predicted: np.ndarray,
    observed: np.ndarray,
    people: Sequence[str],
    films: Sequence[str],
    films_as_rows: bool = False,
    box: int = 30,
) -> go.Figure:
    """The predicted ratings as colours; observed cells show their rating with a dot (and a ``box`` px
    frame, none when 0), the others the prediction, so the filled-in cells stand out. ``films_as_rows``
    turns the matrix so that long titles read across (for a projector)."""
    text = [
        [f"● {o:g}" if np.isfinite(o) else f"{p:.1f}" for p, o in zip(prow, orow, strict=True)]
        for prow, orow in zip(predicted, observed, strict=True)
    ]
    x, y = list(films), list(people)
    rated_rows, rated_columns = np.nonzero(np.isfinite(observed))
    if films_as_rows:
        predicted, text = predicted.T, [list(column) for column in zip(*text, strict=True)]
        x, y = y, x
        rated_rows, rated_columns = rated_columns, rated_rows
    figure = go.Figure(
        go.Heatmap(z=predicted, x=x, y=y, text=text, texttemplate="%{text}",
                   colorscale="RdYlGn", zmin=0.5, zmax=5, colorbar_title="predicted")
    )  # fmt: skip
    if box:
        figure.add_trace(
            go.Scatter(
                x=[x[i] for i in rated_columns], y=[y[u] for u in rated_rows], mode="markers",
                name="rated by the person", hoverinfo="skip",
                marker=dict(symbol="square-open", size=box, color="black", line=dict(width=2)),
            )
        )  # fmt: skip
    figure.update_yaxes(autorange="reversed")
    figure.update_xaxes(tickangle=0 if films_as_rows else -35)
    figure.update_layout(legend=dict(orientation="h", y=1.08, x=0))
    return _tidy(figure, height=560)
