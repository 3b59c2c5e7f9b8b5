"""Evaluate: a run of yours beside the baseline and most-popular; rating accuracy against ranking quality."""

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from dashboard import state
from dashboard.charts import accuracy_vs_ranking, error_by, error_histogram, rounded_errors
from dashboard.data import active_data, cache_key, split
from dashboard.navigation import inside_app
from dashboard.recs import serving_choice
from dashboard.runs import K, train_now
from dashboard.ui import engine_errors, need_model
from recengine.data.dataset import RatingsDataset
from recengine.evaluation.metrics import error_analysis

inside_app()

REFERENCES = ("baseline", "popular", "als")  # biases only; the same list for all; a rating factorization
AUTO_REFERENCES = 2_000_000  # ratings; above this the references train when asked (a button)
TABLE_COLUMNS = (
    "rmse",
    "mae",
    f"precision@{K}",
    f"recall@{K}",
    f"ndcg@{K}",
    f"map@{K}",
    f"hit_rate@{K}",
    "coverage",
    "novelty",
    "mean_popularity",
)


COLUMN_HELP = {
    "novelty": st.column_config.TextColumn(
        help="How unexpected the recommended films are: mean −log₂(share of users who rated each). Higher: "
        "less popular films."
    ),
    "mean_popularity": st.column_config.TextColumn(
        help="Mean number of training ratings of a recommended film."
    ),
    "coverage": st.column_config.TextColumn(help="Share of all films that appear in someone's top list."),
}


def references(data: RatingsDataset, run: state.Run) -> list[state.Run]:
    """The baseline, most-popular and a rating factorization (ALS) on the active run's split (trained once,
    then from the cache). On a large data set only when asked: ALS alone takes minutes there."""
    if data.n_ratings > AUTO_REFERENCES and not st.session_state.get("evaluate_references_asked"):
        st.info(
            f"With {data.n_ratings:,} ratings, training the references (baseline, most popular and ALS) takes "
            "a few minutes; they are kept in the model cache afterwards."
        )
        if not st.button("Train the references", key="evaluate_train_references"):
            return []
        st.session_state["evaluate_references_asked"] = True
    seed = int(run.params.get("seed", 0))
    with st.spinner("Training the reference models (once)…"):
        return [train_now(data, algo, {"seed": seed}, run.split) for algo in REFERENCES]


def chosen_run(data: RatingsDataset) -> state.Run | None:
    """The run to evaluate, among those measured on a split: the person's own first (the one serving their
    lists, else the one Train shows, is offered first), lessons' and sweeps' after them."""
    measured = [r for r in state.runs_on(data.fingerprint) if r.split != "none" and r.metrics]
    if not measured:
        return None
    order = {"mine": 0, "sweeps": 1, "lessons": 2}
    measured.sort(key=lambda r: order[r.group])
    by_id = {r.run_id: r for r in measured}
    preferred = (serving_choice(data)[0], state.train_run(data.fingerprint))
    first = next((r for r in preferred if r is not None and r.run_id in by_id), measured[0])
    picked = st.selectbox(
        "Evaluate", list(by_id), index=list(by_id).index(first.run_id), key="evaluate_run",
        format_func=lambda i: by_id[i].title + ("" if by_id[i].group == "mine" else f" ({state.GROUPS[by_id[i].group]})"),
    )  # fmt: skip
    return by_id[picked]


def comparison(runs: list[state.Run], references: list[state.Run]) -> pd.DataFrame:
    rows = []
    seen = set()
    kept = {run.run_id for run in references}
    for run in runs:
        if run.run_id in seen:
            continue
        seen.add(run.run_id)
        title = run.title + (" · reference" if run.run_id in kept else "")
        title += f" ({state.GROUPS[run.group]})" if run.group != "mine" and run.run_id not in kept else ""
        rows.append({"model": title, **{c: run.metrics.get(c) for c in TABLE_COLUMNS}})
    return pd.DataFrame(rows).astype({c: float for c in TABLE_COLUMNS})


def styled(table: pd.DataFrame):
    """Numbers to four places ("—" where a model has none), the best of each column in green."""
    lower_is_better = ("rmse", "mae")

    def best(column: pd.Series) -> list[str]:
        values = table[column.name]
        target = values.min() if column.name in lower_is_better else values.max()
        return ["background-color: #d3f9d8" if pd.notna(v) and v == target else "" for v in values]

    shown = table.assign(**{c: [f"{v:.4f}" if pd.notna(v) else "—" for v in table[c]] for c in TABLE_COLUMNS})
    return shown.style.apply(
        best, subset=[c for c in TABLE_COLUMNS if c not in ("novelty", "mean_popularity")]
    )


def made_error_charts(data: RatingsDataset, run: state.Run) -> dict[str, go.Figure]:
    train, test = split(data, run.split, int(run.params.get("seed", 0)))
    tables = error_analysis(run.model, train, test)
    return {
        "histogram": error_histogram(tables["histogram"]),
        "rounded": rounded_errors(tables["rounded"]),
        "users": error_by(
            tables["by_user_activity"], "user_ratings", title="By user activity (training ratings)"
        ),
        "items": error_by(
            tables["by_item_popularity"], "item_ratings", title="By movie popularity (training ratings)"
        ),
        "genres": error_by(tables["by_genre"], "genre", title="By genre"),
    }


@st.cache_resource(max_entries=16, show_spinner=False)
def _error_charts(_data: RatingsDataset, _run: state.Run, run_id: str, data_key: str) -> dict[str, go.Figure]:
    return made_error_charts(_data, _run)


def error_charts(data: RatingsDataset, run: state.Run) -> dict[str, go.Figure]:
    """The charts of where ``run``'s test errors fall: made once per model (its run id names it: the data,
    settings and split it was trained with) and data set (`cache_key`: its titles and genres, and whose an
    upload is), and shared, so read-only. A stopped run's model is the session's own: made for it alone."""
    if run.stopped_at is not None:
        return made_error_charts(data, run)
    return _error_charts(data, run, run.run_id, cache_key(data))


def errors(data: RatingsDataset, run: state.Run) -> None:
    st.subheader(f"Where the errors fall: {run.title}")
    charts = error_charts(data, run)
    left, right = st.columns(2)
    left.plotly_chart(charts["histogram"], key="evaluate_histogram")
    right.plotly_chart(charts["rounded"], key="evaluate_rounded")
    left, middle, right = st.columns(3)
    left.plotly_chart(charts["users"], key="evaluate_users")
    middle.plotly_chart(charts["items"], key="evaluate_items")
    right.plotly_chart(charts["genres"], key="evaluate_genres")


def main() -> None:
    st.title("Evaluate")
    with engine_errors("Train the model again, or choose another split."):
        data = active_data()
        run = chosen_run(data)
        if run is None:
            need_model()
            st.caption("Evaluation needs a model trained with a held-out test share (any split but none).")
            return
        st.markdown(
            f"**{run.title}**, tested on the held-out ratings of split `{run.split}`. "
            f"Ranking: top {K} among the movies each user did not rate in training; relevant = test rating ≥ 4."
        )
        known = references(data, run)
        same_split = [r for r in state.runs_on(data.fingerprint) if r.split == run.split and r.metrics]
        table = comparison([run, *known, *same_split], [r for r in known if r.run_id != run.run_id])
        st.dataframe(styled(table), hide_index=True, key="evaluate_table", column_config=COLUMN_HELP)
        st.plotly_chart(accuracy_vs_ranking(table, K), key="evaluate_accuracy_ranking")
        st.caption(
            "A model can predict ratings well (low RMSE: compare the factorization with the baseline) and still "
            "rank worse than simply recommending the most popular films. Ranking models have no RMSE: they "
            "predict no ratings. **Novelty** is how unexpected the recommended films are: the mean of "
            "−log₂(share of users who rated the film), so a list of films everyone saw scores low; **mean "
            "popularity** is how many training ratings a recommended film has on average. See the lesson "
            "'Rating model against ranking model' for the two lists side by side."
        )
        st.page_link(
            "pages/lessons.py",
            label="Lessons",
            icon=":material/school:",
            query_params={"lesson": "rating-vs-ranking"},
        )
        if run.kind == "rating":
            errors(data, run)
        elif known:
            factorization = known[-1]
            st.info(
                f"{run.label} predicts no ratings, so the error analysis below is {factorization.label}'s."
            )
            errors(data, factorization)
        else:
            st.info(f"{run.label} predicts no ratings: its error analysis needs the references' ALS.")


main()
