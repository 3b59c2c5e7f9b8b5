"""Lessons: one-click demonstrations for a class, each saying what to look at; their runs stay for Compare."""

import uuid

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import presentation, state, urlstate
from dashboard.charts import large_type, matrix_heatmap, overlaid_curves, train_valid_curves
from dashboard.data import active_data, split
from dashboard.lessons import IN_PLAIN_WORDS, LESSONS, QUESTIONS, class_answers, one_change, train_runs
from dashboard.navigation import inside_app
from dashboard.presentation import presenting
from dashboard.runs import DEFAULT_SPLIT
from dashboard.ui import engine_errors
from dashboard.widgets import shortened
from recengine import lessons
from recengine.data.dataset import RatingsDataset
from recengine.models import MODELS
from recengine.serving.rerank import DEFAULT_WEIGHT

inside_app()

DONE = "lessons_done"  # {lesson: [run ids]}: the lessons run in this session, with their runs
VOTER = "lessons_voter"  # this session's anonymous name in the class's tally
SAID = "lessons_said"  # {lesson: the choice guessed, or None}: the lessons whose answer was revealed
PEOPLE = 100  # the person pickers offer the first people of the data set
OVERLAP_PEOPLE = 12


SWITCH = "lessons_present"
CHART_HEIGHT = 500  # px, when presenting: the curves and their legend fit a 1280 × 720 screen


def open_from_link() -> None:
    lesson = st.query_params.get("lesson")
    chosen = {"lessons_pick": lesson, "lessons_autorun": lesson} if lesson in LESSONS else {}
    urlstate.open_link(chosen | presentation.link_values(SWITCH))


def pick_lesson(where=st) -> str:
    names = list(LESSONS)
    title = lambda key: f"{names.index(key) + 1}. {LESSONS[key].title}"  # noqa: E731
    if presenting():
        name = where.selectbox(
            "Lesson", names, key="lessons_pick", format_func=title, label_visibility="collapsed"
        )
    else:
        name = where.radio("Lesson", names, key="lessons_pick", format_func=title)
    urlstate.show_in_address({"lesson": name} | presentation.address())
    return name


def predict_then_reveal(name: str) -> bool:
    """The lesson's question with its choices, the answer hidden until the button; True once revealed. Each
    guess joins the class's tally on the server (no names), shown as a count, and spread out once revealed."""
    question, said = QUESTIONS[name], st.session_state.setdefault(SAID, {})
    tally, voter = class_answers(), st.session_state.setdefault(VOTER, uuid.uuid4().hex)
    counts = tally.counts(name, len(question.choices))
    if name in said:
        guess = said[name]
        verdict = "" if guess is None else " (your guess too)" if guess == question.answer else (
            f" (you guessed: {question.choices[guess]})")  # fmt: skip
        spread = " · ".join(
            f"{choice} **{count}**" for choice, count in zip(question.choices, counts, strict=True)
        )
        st.markdown(f"**{question.text}** Answer: **{question.choices[question.answer]}**{verdict}. "
                    f"The class: {spread}.")  # fmt: skip
        return True
    ask, reveal = st.columns([5, 1.3] if presenting() else [3, 1.4], vertical_alignment="bottom")
    guess_key = f"lessons_guess_{name}"
    guess = ask.radio(question.text, range(len(question.choices)), index=None, horizontal=True, key=guess_key,
                      format_func=question.choices.__getitem__)  # fmt: skip
    if guess is not None:
        tally.vote(name, voter, guess)
        counts = tally.counts(name, len(question.choices))
    reveal.markdown(f"{sum(counts)} {'guess' if sum(counts) == 1 else 'guesses'} so far")
    if reveal.button("Reveal the answer", key=f"lessons_reveal_{name}", icon=":material/visibility:"):
        said[name] = st.session_state.get(guess_key)  # kept: the radio is not drawn once revealed
        st.rerun()
    return False


def chart(figure, key: str, height: int = CHART_HEIGHT) -> None:
    """A lesson's chart; in large type and sized to the screen when presenting."""
    if presenting():
        large_type(figure, height=height)
        if not figure.layout.title.text:
            figure.update_layout(margin_t=10)
    st.plotly_chart(figure, key=key)


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


def person(data: RatingsDataset, where=st) -> object:
    """The person whose lists are compared ("user 1": when presenting, with no label above it)."""
    return where.selectbox("Person", list(data.user_ids[:PEOPLE]), key="lessons_user",
                           format_func=lambda user: f"user {user}",
                           label_visibility="collapsed" if presenting() else "visible")  # fmt: skip


def metrics_line(run: state.Run) -> str:
    shown = {"rmse": "test RMSE {:.3f}", "precision@10": "P@10 {:.3f}"}
    parts = [fmt.format(run.metrics[key]) for key, fmt in shown.items() if run.metrics.get(key) is not None]
    return f"**{run.title}**: " + (" · ".join(parts) or "no test metrics")


# --- one drawing per lesson ------------------------------------------------------------------------------


def learning_rate(data: RatingsDataset, runs: list[state.Run]) -> None:
    if not presenting():
        st.latex(MODELS["gd"].formulas.step)
    chart(overlaid_curves({run.title: run.history for run in runs}, "total_loss"), "lessons_lr_chart")
    for run in runs:
        if run.diverged:
            st.warning(f"{run.title}: {run.diverged}", icon=":material/warning:")
    if presenting():
        st.latex(MODELS["gd"].formulas.step)


def fitting(data: RatingsDataset, runs: list[state.Run]) -> None:
    chart(train_valid_curves({run.title: run.history for run in runs}), "lessons_fit_chart")
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
    # side by side on a wide screen; one above the other beside the lesson menu, so all three people show
    columns = st.columns(len(runs)) if presenting() else [st.container() for _ in runs]
    for column, run in zip(columns, runs, strict=True):
        overlap = lessons.list_overlap(run.model, data, people)
        column.metric(f"{run.title}: lists alike", f"{overlap:.0%}", help="Mean share of films two people's "
                      f"top-10 lists have in common (seen films included), over the first {len(people)} people.")  # fmt: skip
        lists = {
            f"user {user}": [
                shortened(title, 30) for title in lessons.best_scored(run.model, data, user, n=5)
            ]
            for user in people[:3]
        }
        presentation.table(pd.DataFrame(lists), f"lessons_factors_{run.run_id}", column)


def two_lists(data: RatingsDataset, runs: list[state.Run]) -> None:
    user = person(data, st.columns([1, 3])[0] if presenting() else st)
    columns = st.columns(len(runs))
    for column, run in zip(columns, runs, strict=True):
        column.markdown(metrics_line(run))
        table = lessons.top_items(run.model, data, user)
        table["title"] = table["title"].map(lambda title: shortened(title, 34))
        presentation.table(table, f"lessons_list_{run.run_id}", column, precision=2, plain=True)
        column.caption(f"Median popularity: {int(table['ratings'].median()):,} ratings per film.")


def taste(data: RatingsDataset, runs: list[state.Run]) -> None:
    tastes = lessons.tastes_in(data)
    if not tastes:
        st.info("This lesson's people rated MovieLens films this data set does not have: choose the bundled "
                "data set on the Data page.")  # fmt: skip
        return
    who, how = st.columns(2)
    name = who.selectbox("Person", list(tastes), key="lessons_taste")
    weight = how.slider("Follow the taste (λ)", 0.0, 1.0, DEFAULT_WEIGHT, 0.1, key="lessons_taste_weight")
    st.caption("Rated 5 stars: " + ", ".join(data.title(int(code)) for code in tastes[name]) + ".")
    plain, followed, gaps = lessons.taste_lists(runs[0].model, data, tastes[name], weight)
    shown = {
        "plain": ("By the scores alone", plain),
        "followed": (f"Following the taste, λ {weight:.1f}", followed),
    }
    gap_help = "KL divergence between the genre mix of the films rated and that of the list: 0 when they are the same."
    for column, (key, (title, table)), gap in zip(st.columns(2), shown.items(), gaps, strict=True):
        if presenting():
            column.markdown(f"**{title}**: genre gap **{gap:.2f}**", help=gap_help)
        else:
            column.metric(f"{title}: genre gap", f"{gap:.2f}", help=gap_help)
        table = table.assign(title=table["title"].map(lambda t: shortened(t, 24)),
                             genres=table["genres"].map(first_genres))  # fmt: skip
        presentation.table(table, f"lessons_taste_{key}", column, plain=True)


def nmf(data: RatingsDataset, runs: list[state.Run]) -> None:
    _, test = split(data, DEFAULT_SPLIT, 0)
    rows = []
    for run in runs:
        predicted = run.model.predict(test.user_codes, test.item_codes)
        rows.append({"run": run.title, "test RMSE": run.metrics.get("rmse"), "mean prediction": predicted.mean(),
                     "mean true rating": float(test.ratings.mean())})  # fmt: skip
    presentation.table(pd.DataFrame(rows).round(3), "lessons_nmf_table")


def small_matrix(data: RatingsDataset, runs: list[state.Run]) -> None:
    cached = st.session_state.get("lessons_matrix")
    if cached is None or cached[0] != data.fingerprint:
        small = lessons.small_matrix(data)
        cached = (data.fingerprint, small, *lessons.filling_in(small))
        st.session_state["lessons_matrix"] = cached
    _, small, frames, errors = cached
    slider, error = st.columns([1, 1]) if presenting() else (st, st)
    epoch = slider.slider("Epoch", 1, len(frames), len(frames), key="lessons_epoch")
    people = [f"user {user}" for user in small.user_ids]
    films = [shortened(small.title(code), 34 if presenting() else 26) for code in range(small.n_items)]
    observed = lessons.rating_grid(small)
    caption = f"Epoch {epoch}: train RMSE {errors[epoch - 1]:.3f} on the {small.n_ratings} rated cells."
    if presenting():
        error.markdown(f"**{caption}** ● a rating the person gave; the other cells are the model's guesses.")
        numbers = [str(user) for user in small.user_ids]
        figure = matrix_heatmap(frames[epoch - 1], observed, numbers, films, films_as_rows=True, box=0)
        figure.update_xaxes(title="user", type="category").update_layout(margin_t=10)
        chart(figure, "lessons_matrix_chart", 455)  # its "user" axis title inside 720 px too
    else:
        st.plotly_chart(
            matrix_heatmap(frames[epoch - 1], observed, people, films), key="lessons_matrix_chart"
        )
        st.caption(caption)


def first_genres(genres: str, count: int = 3) -> str:
    """The first ``count`` of a comma-separated genre list, "…" when there were more."""
    names = genres.split(", ")
    return ", ".join(names[:count]) + (", …" if len(names) > count else "")


def gradient_check(data: RatingsDataset, runs: list[state.Run]) -> None:
    seed = st.session_state.setdefault("lessons_gradient_seed", 0)
    if st.button("Check other parameters", key="lessons_gradient_again"):
        seed = st.session_state["lessons_gradient_seed"] = seed + 1
    table = lessons.gradient_check(lessons.small_matrix(data), seed=seed)
    if presenting():
        table = table.assign(**{"relative difference": table["relative difference"].map("{:.1e}".format)})
    presentation.table(table, "lessons_gradient_table",
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
    presentation.apply()
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        open_from_link()
        if presenting():
            menu, button, toggle = st.columns([5, 1.4, 2], vertical_alignment="center")
            name = pick_lesson(menu)
            presentation.switch(SWITCH, toggle)
            stage = st.container()
        else:
            st.title("Lessons")
            menu, stage = st.columns([1, 3], gap="large")
            with menu:
                name = pick_lesson()
                presentation.switch(SWITCH)
                st.caption("Each lesson trains small models on the active data set; their runs stay in Compare & "
                           "tune. The address of this page opens the same lesson: share it with the class.")  # fmt: skip
            with stage:
                st.subheader(LESSONS[name].title)
                st.markdown(IN_PLAIN_WORDS[name])
                with st.expander("More precisely"):
                    st.markdown(LESSONS[name].shows)
            button = stage
        lesson = LESSONS[name]
        autorun = st.session_state.pop("lessons_autorun", None) == name
        pressed = button.button("Run this lesson" if not presenting() else "Run", type="primary",
                                key="lessons_run", icon=":material/play_arrow:")  # fmt: skip
        with stage:
            if change := one_change(lesson):
                st.markdown(f"**One change**: {change}; every other setting the same.")
            revealed = predict_then_reveal(name)
            if pressed or autorun:
                with engine_errors("Try again, or choose another data set."):
                    run_lesson(data, name)
            runs = lesson_runs(name)
            if runs is None:
                st.info("Press **Run this lesson**: it takes a few seconds.")
                return
            look_at = f"**What to look at.** {lesson.look_at}"
            if revealed and not presenting():
                st.info(look_at, icon=":material/visibility:")
            with st.container(key=f"lessons_evidence_{name}"):
                DRAW[name](data, runs)
            if revealed and presenting():  # below the evidence, which keeps its place on the screen
                st.info(look_at, icon=":material/visibility:")


main()
