"""Lessons: one-click demonstrations for a class, each saying what to look at; their runs stay for Compare."""

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import state, urlstate
from dashboard.charts import matrix_heatmap, overlaid_curves, train_valid_curves
from dashboard.data import active_data, split
from dashboard.lessons import LESSONS, one_change, train_runs
from dashboard.navigation import inside_app
from dashboard.runs import DEFAULT_SPLIT
from dashboard.ui import engine_errors
from recengine import lessons
from recengine.data.dataset import RatingsDataset
from recengine.models import MODELS
from recengine.serving.rerank import DEFAULT_WEIGHT

inside_app()

DONE = "lessons_done"  # {lesson: [run ids]}: the lessons run in this session, with their runs
PEOPLE = 100  # the person pickers offer the first people of the data set
OVERLAP_PEOPLE = 12


def pick_lesson() -> str:
    lesson = st.query_params.get("lesson")
    urlstate.open_link({"lessons_pick": lesson, "lessons_autorun": lesson} if lesson in LESSONS else {})
    names = list(LESSONS)
    name = st.radio(
        "Lesson", names, key="lessons_pick",
        format_func=lambda key: f"{names.index(key) + 1}. {LESSONS[key].title}",
    )  # fmt: skip
    urlstate.show_in_address({"lesson": name})
    return name


def run_lesson(data: RatingsDataset, name: str) -> None:
    lesson = LESSONS[name]
    if lesson.runs:
        count = len(lesson.runs)
        with st.spinner(f"Training {count} small models side by side (from the cache when trained before)…"):
            runs = train_runs(data, lesson)
        st.session_state.setdefault(DONE, {})[name] = [run.run_id for run in runs]
    else:
        st.session_state.setdefault(DONE, {})[name] = []


def lesson_runs(name: str) -> list[state.Run] | None:
    ids = st.session_state.get(DONE, {}).get(name)
    if ids is None:
        return None
    known = state.runs()
    return [known[run_id] for run_id in ids if run_id in known]


def person(data: RatingsDataset) -> object:
    return st.selectbox("Person", list(data.user_ids[:PEOPLE]), key="lessons_user",
                        format_func=lambda user: f"user {user}")  # fmt: skip


def metrics_line(run: state.Run) -> str:
    shown = {"rmse": "test RMSE {:.3f}", "precision@10": "P@10 {:.3f}"}
    parts = [fmt.format(run.metrics[key]) for key, fmt in shown.items() if run.metrics.get(key) is not None]
    return f"**{run.title}**: " + (" · ".join(parts) or "no test metrics")


# --- one drawing per lesson ------------------------------------------------------------------------------


def learning_rate(data: RatingsDataset, runs: list[state.Run]) -> None:
    st.latex(MODELS["gd"].formulas.step)
    figure = overlaid_curves({run.title: run.history for run in runs}, "total_loss")
    st.plotly_chart(figure, key="lessons_lr_chart")
    for run in runs:
        if run.diverged:
            st.warning(f"{run.title}: {run.diverged}", icon=":material/warning:")


def fitting(data: RatingsDataset, runs: list[state.Run]) -> None:
    st.plotly_chart(train_valid_curves({run.title: run.history for run in runs}), key="lessons_fit_chart")
    for run in runs:
        valid = [r["valid_rmse"] for r in run.history]
        best = int(np.argmin(valid))
        popularity = run.metrics.get("mean_popularity")
        listed = f" · its lists' films have {popularity:.0f} ratings each on average" if popularity else ""
        st.markdown(
            f"{metrics_line(run)} · lowest validation RMSE {valid[best]:.3f} at epoch {best + 1}{listed}"
        )


def factors(data: RatingsDataset, runs: list[state.Run]) -> None:
    people = list(data.user_ids[:OVERLAP_PEOPLE])
    columns = st.columns(len(runs))
    for column, run in zip(columns, runs, strict=True):
        overlap = lessons.list_overlap(run.model, data, people)
        column.metric(f"{run.title}: lists alike", f"{overlap:.0%}", help="Mean share of films two people's "
                      f"top-10 lists have in common (seen films included), over the first {len(people)} people.")  # fmt: skip
        lists = {f"user {user}": lessons.best_scored(run.model, data, user, n=5) for user in people[:3]}
        column.dataframe(pd.DataFrame(lists), hide_index=True, key=f"lessons_factors_{run.run_id}")


def two_lists(data: RatingsDataset, runs: list[state.Run]) -> None:
    user = person(data)
    columns = st.columns(len(runs))
    for column, run in zip(columns, runs, strict=True):
        column.markdown(metrics_line(run))
        table = lessons.top_items(run.model, data, user)
        column.dataframe(table, hide_index=True, key=f"lessons_list_{run.run_id}")
        column.caption(f"Median popularity: {int(table['ratings'].median()):,} ratings per film.")


def taste(data: RatingsDataset, runs: list[state.Run]) -> None:
    tastes = lessons.tastes_in(data)
    if not tastes:
        st.info("This lesson's people rated MovieLens films this data set does not have: choose the bundled "
                "data set on the Data page.")  # fmt: skip
        return
    name = st.selectbox("Person", list(tastes), key="lessons_taste")
    weight = st.slider("Follow the taste (λ)", 0.0, 1.0, DEFAULT_WEIGHT, 0.1, key="lessons_taste_weight")
    st.caption("Rated 5 stars: " + ", ".join(data.title(int(code)) for code in tastes[name]) + ".")
    plain, followed, gaps = lessons.taste_lists(runs[0].model, data, tastes[name], weight)
    shown = {
        "plain": ("By the scores alone", plain),
        "followed": (f"Following the taste, λ {weight:.1f}", followed),
    }
    for column, (key, (title, table)), gap in zip(st.columns(2), shown.items(), gaps, strict=True):
        column.metric(f"{title}: genre gap", f"{gap:.2f}", help="KL divergence between the genre mix of the "
                      "films rated and that of the list: 0 when they are the same.")  # fmt: skip
        column.dataframe(table, hide_index=True, key=f"lessons_taste_{key}", column_config={
            "title": st.column_config.TextColumn(width="medium"), "genres": st.column_config.TextColumn(width="medium"),
            "ratings": st.column_config.NumberColumn(width="small", help="How many people rated the film.")})  # fmt: skip


def nmf(data: RatingsDataset, runs: list[state.Run]) -> None:
    _, test = split(data, DEFAULT_SPLIT, 0)
    rows = []
    for run in runs:
        predicted = run.model.predict(test.user_codes, test.item_codes)
        rows.append({"run": run.title, "test RMSE": run.metrics.get("rmse"), "mean prediction": predicted.mean(),
                     "mean true rating": float(test.ratings.mean())})  # fmt: skip
    st.dataframe(pd.DataFrame(rows).round(3), hide_index=True, key="lessons_nmf_table")


def small_matrix(data: RatingsDataset, runs: list[state.Run]) -> None:
    cached = st.session_state.get("lessons_matrix")
    if cached is None or cached[0] != data.fingerprint:
        small = lessons.small_matrix(data)
        cached = (data.fingerprint, small, *lessons.filling_in(small))
        st.session_state["lessons_matrix"] = cached
    _, small, frames, errors = cached
    epoch = st.slider("Epoch", 1, len(frames), len(frames), key="lessons_epoch")
    people = [f"user {user}" for user in small.user_ids]
    films = [shortened(small.title(code)) for code in range(small.n_items)]
    observed = lessons.rating_grid(small)
    st.plotly_chart(matrix_heatmap(frames[epoch - 1], observed, people, films), key="lessons_matrix_chart")
    st.caption(f"Epoch {epoch}: train RMSE {errors[epoch - 1]:.3f} on the {small.n_ratings} rated cells.")


def shortened(title: str, length: int = 26) -> str:
    return title if len(title) <= length else title[: length - 1] + "…"


def gradient_check(data: RatingsDataset, runs: list[state.Run]) -> None:
    seed = st.session_state.setdefault("lessons_gradient_seed", 0)
    if st.button("Check other parameters", key="lessons_gradient_again"):
        seed = st.session_state["lessons_gradient_seed"] = seed + 1
    table = lessons.gradient_check(lessons.small_matrix(data), seed=seed)
    st.dataframe(table, hide_index=True, key="lessons_gradient_table",
                 column_config={"relative difference": st.column_config.NumberColumn(format="%.1e")})  # fmt: skip
    st.latex(
        r"\frac{\partial L}{\partial \theta} \approx \frac{L(\theta + h) - L(\theta - h)}{2h}, \quad h = 10^{-5}"
    )


DRAW = {
    "learning-rate": learning_rate,
    "fitting": fitting,
    "factors": factors,
    "rating-vs-ranking": two_lists,
    "nmf": nmf,
    "biases": two_lists,
    "taste": taste,
    "small-matrix": small_matrix,
    "gradient-check": gradient_check,
}


def main() -> None:
    st.title("Lessons")
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        menu, stage = st.columns([1, 3], gap="large")
        with menu:
            name = pick_lesson()
            st.caption("Each lesson trains small models on the active data set; their runs stay in Compare & tune. "
                       "The address of this page opens the same lesson: share it with the class.")  # fmt: skip
        lesson = LESSONS[name]
        with stage:
            st.subheader(lesson.title)
            st.markdown(lesson.shows)
            if change := one_change(lesson):
                st.markdown(f"**One change**: {change}; every other setting the same.")
            autorun = st.session_state.pop("lessons_autorun", None) == name
            if (
                st.button("Run this lesson", type="primary", key="lessons_run", icon=":material/play_arrow:")
                or autorun
            ):
                with engine_errors("Try again, or choose another data set."):
                    run_lesson(data, name)
            runs = lesson_runs(name)
            if runs is None:
                st.info("Press **Run this lesson**: it takes a few seconds.")
                return
            st.info(f"**What to look at.** {lesson.look_at}", icon=":material/visibility:")
            DRAW[name](data, runs)


main()
