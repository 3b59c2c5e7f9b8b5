"""Widgets built from the engine's descriptions: hyperparameters from `ParamSpec`, ratings from the scale.

A widget only offers values its spec allows (bounds, open bounds, integer steps, choices), so an impossible
hyperparameter cannot be entered; the engine validates again when the model is made.
"""

from __future__ import annotations

import contextlib
import functools
import math
import re
from collections.abc import Sequence
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from dashboard import workspace
from dashboard.state import my_ratings
from recengine.data.dataset import RatingScale
from recengine.models.base import ParamSpec

SLIDER_MAX_STEPS = 400
ADVANCED = ("seed", "dtype")


def allowed_range(spec: ParamSpec) -> tuple[float | None, float | None]:
    """The inclusive bounds a widget may offer: open bounds move inwards by a small step."""
    low, high = spec.low, spec.high
    nudge = 1 if spec.kind == "int" else 1e-6
    if low is not None and spec.low_open:
        low = low + (nudge if spec.kind == "int" or low != 0 else 1e-6)
    if high is not None and spec.high_open:
        high = high - nudge
    return low, high


def log_grid(spec: ParamSpec, default: Any = None) -> list[float]:
    """Values 1, 2, 5 × 10^k inside the allowed range (and 0 when allowed), plus the default."""
    low, high = allowed_range(spec)
    top = high if high is not None else max(1.0, abs(spec.default or 1) * 1000)
    bottom = low if low is not None and low > 0 else max(top * 1e-6, 1e-6)
    values = {
        v
        for e in range(math.floor(math.log10(bottom)) - 1, math.ceil(math.log10(top)) + 1)
        for v in (1 * 10.0**e, 2 * 10.0**e, 5 * 10.0**e)
    }
    values = {float(f"{v:.6g}") for v in values if bottom <= v <= top}
    if low is not None and low <= 0 <= top:
        values.add(0.0)
    for extra in (spec.default, default):
        if isinstance(extra, (int, float)) and not isinstance(extra, bool):
            values.add(float(extra))
    grid = sorted(values)
    return [int(v) for v in grid] if spec.kind == "int" else grid


def param_widget(spec: ParamSpec, key: str) -> Any:
    """One widget for one hyperparameter; returns its value."""
    label, help_text = spec.name, f"{spec.help} Allowed: {spec.allowed()}.".strip()
    if spec.kind == "bool":
        return st.toggle(label, value=bool(spec.default), key=key, help=help_text)
    if spec.kind == "choice":
        choices = list(spec.choices or ())
        return st.selectbox(label, choices, index=choices.index(spec.default), key=key, help=help_text)
    low, high = allowed_range(spec)
    if spec.log:
        options = log_grid(spec)
        return st.select_slider(
            label, options=options, value=_as_kind(spec, spec.default), key=key, help=help_text
        )
    if spec.kind == "int" and low is not None and high is not None and high - low <= SLIDER_MAX_STEPS:
        return st.slider(label, int(low), int(high), int(spec.default), key=key, help=help_text)
    if spec.kind == "int":
        return st.number_input(
            label,
            min_value=None if low is None else int(low),
            max_value=None if high is None else int(high),
            value=int(spec.default),
            step=1,
            key=key,
            help=help_text,
        )
    return st.number_input(
        label,
        min_value=None if low is None else float(low),
        max_value=None if high is None else float(high),
        value=float(spec.default),
        step=_float_step(spec),
        format="%.6g",
        key=key,
        help=help_text,
    )


def param_widgets(specs: Sequence[ParamSpec], prefix: str, columns: int = 3) -> dict[str, Any]:
    """Widgets for every spec but ``seed`` and ``dtype`` in a grid; returns ``{name: value}``."""
    shown = [s for s in specs if s.name not in ADVANCED]
    values: dict[str, Any] = {}
    cells = st.columns(columns)
    for index, spec in enumerate(shown):
        with cells[index % columns]:
            values[spec.name] = param_widget(spec, f"{prefix}_{spec.name}")
    return values


def candidate_values(spec: ParamSpec) -> list[Any]:
    """Values a sweep may try for ``spec``: its choices, a log grid, or multiples of its default."""
    if spec.kind == "bool":
        return [False, True]
    if spec.kind == "choice":
        return list(spec.choices or ())
    if spec.log:
        return log_grid(spec)
    low, high = allowed_range(spec)
    default = float(spec.default)
    values = {default * f for f in (0.1, 0.25, 0.5, 1, 2, 4, 10)} if default else {0.0, 0.01, 0.1, 0.5, 1.0}
    values |= {
        v for v in (low, high) if v is not None and (not default or 0.1 * default <= abs(v) <= 10 * default)
    }
    inside = {v for v in values if (low is None or v >= low) and (high is None or v <= high)}
    if spec.kind == "int":
        return sorted({round(v) for v in inside if low is None or round(v) >= low})
    return sorted({float(f"{v:.3g}") for v in inside})


def default_sweep(spec: ParamSpec) -> list[Any]:
    """Three candidate values around the default (or all of them when there are few)."""
    values = candidate_values(spec)
    if len(values) <= 3:
        return values
    where = values.index(_as_kind(spec, spec.default)) if _as_kind(spec, spec.default) in values else 1
    where = min(max(where, 1), len(values) - 2)
    return values[where - 1 : where + 2]


def _as_kind(spec: ParamSpec, value: Any) -> Any:
    if spec.kind == "int":
        return int(value)
    if spec.kind == "float":
        return float(value)
    return value


def _float_step(spec: ParamSpec) -> float:
    scale = abs(float(spec.default)) or (spec.high or 1.0) / 100
    return float(f"{10 ** math.floor(math.log10(scale)) / 10:.1g}") if scale > 0 else 0.01


# --- ratings --------------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=64)
def rating_levels(scale: RatingScale) -> tuple[float, ...] | None:
    """The values a person may give on ``scale``; None when it is continuous or too fine for buttons (once
    per scale: the Rate page asks for them for every one of its twenty-odd rating widgets)."""
    if scale.step is None:
        return None
    levels = scale.levels()
    return tuple(float(v) for v in levels) if len(levels) <= 11 else None


def level_label(value: float) -> str:
    whole, half = int(value), value - int(value)
    if abs(half - 0.5) < 1e-6:
        return f"{whole}½" if whole else "½"
    return f"{value:g}"


def level_button(value: float) -> str:
    """`level_label` as a button's Markdown in ASCII ("4&frac12;", shown as 4½): Streamlit looks for a leading
    emoji in every label of a button group that is not ASCII, 80 µs each, five per film on a page of ten."""
    return level_label(value).replace("½", "&frac12;")


def rating_input(
    item: object, scale: RatingScale, key: str, compact: bool = False, reruns: str | tuple[str, ...] = "app"
) -> None:
    """Your rating of ``item`` on the data set's scale: a row of buttons (a drop-down when ``compact``)
    on a scale with steps, a number otherwise. It shows what is in your ratings and writes changes back.
    After a change the whole app runs again, or with ``reruns`` (keys of fragments) only those fragments:
    the parts of the page that show your ratings, when the widget shows its own new value already.
    """
    st.session_state[key] = my_ratings().get(item)
    levels = rating_levels(scale)
    common = dict(key=key, on_change=_store_rating, args=(item, key, reruns), label_visibility="collapsed")
    if levels is not None and compact:
        st.selectbox("Your rating", levels, format_func=lambda v: f"{level_label(v)} ★", **common)
    elif levels is not None:
        st.segmented_control("Your rating", levels, format_func=level_button, **common)
    else:
        st.number_input("Your rating", min_value=scale.low, max_value=scale.high, value=None, **common)


def tight_rating_buttons(container_key: str) -> None:
    """The ten half-star buttons of `rating_input` in one row inside the container keyed ``container_key``, in
    a column of a 1280-pixel window (they wrapped "5", or "4½" and "5", onto a second row)."""
    button = f'.st-key-{container_key} [data-testid="stButtonGroup"] button'
    st.html(f"<style>{button} {{ padding-left: 0.4rem; padding-right: 0.4rem; min-width: 2.1rem; }}</style>")


def rating_column(scale: RatingScale) -> dict:
    """The rating column of a table of your ratings (`st.data_editor`), as `rating_input` offers them: a
    drop-down of the scale's levels, a number otherwise."""
    levels = rating_levels(scale)
    if levels is not None:
        return st.column_config.SelectboxColumn(
            "Rating", options=levels, format_func=lambda v: f"{level_label(v)} ★", width="small"
        )
    return st.column_config.NumberColumn("Rating", min_value=scale.low, max_value=scale.high, width="small")


def on_scale(value: object, scale: RatingScale) -> bool:
    """Whether ``value`` is a rating one may give on ``scale`` (one of its levels, when it has steps)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not scale.low <= value <= scale.high:
        return False
    levels = rating_levels(scale)
    return levels is None or any(abs(value - level) < 1e-9 for level in levels)


def _store_rating(item: object, key: str, reruns: str | tuple[str, ...]) -> None:
    value = st.session_state.get(key)
    ratings = my_ratings()
    if value is None:
        ratings.pop(item, None)
    else:
        ratings[item] = float(value)
    if reruns != "app":  # the end of a whole run keeps the workspace; a run of fragments does not get there
        workspace.save()
        with contextlib.suppress(StreamlitAPIException):  # not drawn in this session's last run: the app
            st.rerun(list(reruns))
    st.rerun()


def movie_title(title: object, year: object) -> str:
    """The title with its year, unless the title already ends with it (as MovieLens titles do)."""
    text = str(title)
    if year is None or year != year:  # None or NaN
        return text
    tag = f"({int(year)})"
    return text if tag in text else f"{text} {tag}"


def shortened(title: str, length: int = 26) -> str:
    """``title`` in at most ``length`` characters, its year kept: "Shawshank Redemption, T… (1994)"."""
    if len(title) <= length:
        return title
    name, year = (title[:-7], title[-7:]) if re.search(r" \(\d{4}\)$", title) else (title, "")
    return name[: max(length - len(year) - 1, 1)].rstrip(" ,") + "…" + year
