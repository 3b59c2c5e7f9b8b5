"""Train: pick an algorithm and its hyperparameters, watch the loss curves grow, stop at will."""

import contextlib

import plotly.graph_objects as go
import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from dashboard import state, urlstate
from dashboard.charts import has_losses, loss_curves
from dashboard.data import active_data
from dashboard.jobs import DIVERGED, FAILED, STOPPED, TrainingJob
from dashboard.lessons import show_formulas
from dashboard.navigation import inside_app
from dashboard.runs import (
    DEFAULT_ALGO,
    DEFAULT_SPLIT,
    algorithms,
    collect_finished_job,
    model_store,
    same_settings,
    settings_key,
    start,
)
from dashboard.ui import engine_errors
from dashboard.widgets import log_grid, param_widget, param_widgets
from recengine.data.dataset import RatingsDataset
from recengine.errors import ParameterError

inside_app()

REFRESH_SECONDS = 0.4
SPLITS = {
    "user": "per user: a share of each user's ratings",
    "random": "random: a share of all ratings",
    "temporal": "temporal: each user's latest ratings",
    "none": "none: train on everything (no test metrics)",
}
SHOWN_METRICS = (
    ("rmse", "Test RMSE", "{:.4f}"),
    ("mae", "Test MAE", "{:.4f}"),
    ("precision@10", "P@10", "{:.3f}"),
    ("recall@10", "R@10", "{:.3f}"),
    ("ndcg@10", "NDCG@10", "{:.3f}"),
    ("coverage", "Coverage", "{:.1%}"),
)


def link_values(query: dict[str, str]) -> dict[str, object]:
    """Widget values from a shared link's settings (``algo``, hyperparameters, ``split``); unknown or
    disallowed ones are left out."""
    models = algorithms()
    algo = query.get("algo")
    if algo not in models:
        return {}
    values: dict[str, object] = {"train_algo": algo}
    for spec in models[algo].Params.specs():
        if spec.name in query:
            with contextlib.suppress(ValueError):
                value = urlstate.parse(spec, query[spec.name])
                if not spec.log or value in log_grid(spec):
                    values[f"train_{algo}_{spec.name}"] = value
    method, _, share = query.get("split", "").partition(":")
    if method in SPLITS:
        values["train_split"] = method
        with contextlib.suppress(ValueError):
            values["train_share"] = min(max(round(float(share) * 20) / 20, 0.05), 0.5)
    return values


def settings(data: RatingsDataset) -> tuple[str, dict, str, DeltaGenerator]:
    """The algorithm, its hyperparameters and the split spec, from the widgets (a shared link's first), and
    a place under the algorithm's description for the Train button: on the first screen, so the curves
    that appear at the top of the page after a click are in view."""
    urlstate.open_link(link_values(st.query_params.to_dict()))
    models = algorithms()
    algo = st.selectbox(
        "Algorithm", list(models), format_func=lambda name: models[name].label, key="train_algo"
    )
    cls = models[algo]
    st.markdown(cls.description)
    if cls.kind == "ranking":
        st.caption(
            "A ranking model: it scores movies for top-N lists and predicts no ratings, so it has no RMSE."
        )
    button_place = st.container()
    specs = {spec.name: spec for spec in cls.Params.specs()}
    st.subheader("Hyperparameters")
    params = param_widgets(list(specs.values()), prefix=f"train_{algo}", columns=2)
    st.subheader("Split and seed")
    method = st.selectbox("Hold out", list(SPLITS), format_func=SPLITS.get, key="train_split")
    share_column, seed_column = st.columns(2)
    share = share_column.slider(
        "Test share",
        0.05,
        0.5,
        0.2,
        0.05,
        key="train_share",
        disabled=method == "none",
        help="The share of ratings held out to measure the model; the rest trains it.",
    )
    with seed_column:
        params["seed"] = param_widget(specs["seed"], key=f"train_{algo}_seed")
    if "dtype" in specs:
        with st.expander("Advanced"):
            params["dtype"] = param_widget(specs["dtype"], key=f"train_{algo}_dtype")
    split_spec = "none" if method == "none" else f"{method}:{share:g}"
    query = urlstate.changed_settings(list(specs.values()), params)
    query |= {"split": split_spec} if split_spec != DEFAULT_SPLIT else {}
    urlstate.show_in_address(
        {"algo": algo, **query} if query or algo != DEFAULT_ALGO else {}
    )  # defaults: bare
    if data.timestamps is None and method == "temporal":
        st.warning("This data set has no timestamps: a temporal split is impossible. Choose another one.")
    return algo, params, split_spec, button_place


def refusal(algo: str, params: dict) -> str | None:
    """Why these settings cannot be trained together (each widget allows its own values, but some pairs
    are refused, such as more factors than the exact solver takes), or None."""
    try:
        algorithms()[algo].Params.from_dict(params)
    except ParameterError as error:
        return str(error)
    return None


JOB_KEY = "train_job_key"  # the settings key of the job in state.JOB: its curves show only beside them


def on_train(data: RatingsDataset, algo: str, params: dict, split_spec: str) -> None:
    job = st.session_state.get(state.JOB)
    if job is not None and job.running:  # a second click before the page caught up
        return
    outcome = start(data, algo, params, split_spec)
    st.session_state[JOB_KEY] = settings_key(data, algo, params, split_spec)
    if isinstance(outcome, TrainingJob):
        st.session_state[state.JOB] = outcome
        st.session_state.pop(state.TRAIN_RUN, None)  # its card would read as this training's result
        st.rerun()  # draw the page again with Train disabled and the live curves
    else:
        state.add_run(outcome)
        st.session_state[state.JOB] = None
        st.session_state[state.TRAIN_RUN] = outcome.run_id
        st.session_state[FRESH] = outcome.run_id
        st.rerun()  # the sidebar, drawn before the click was handled, names the new model too


def draw_job() -> None:
    """The job's progress and curves; while it runs, a Stop button. Refreshed by a fragment."""
    job = st.session_state.get(state.JOB)
    if job is None:
        return
    epochs = job.epochs_done
    waiting = " (waiting for a free trainer)" if job.waiting else ""
    if job.running and epochs == job.n_epochs:
        waiting = " · measuring it on the test set"
    if job.status == STOPPED:
        waiting = " · stopped"
    if job.running or epochs:  # not for a job that found its model in the cache
        st.progress(
            epochs / max(job.n_epochs, 1), text=f"{job.label}: epoch {epochs} of {job.n_epochs}{waiting}"
        )
    if epochs and has_losses(job.records[:epochs]):
        st.plotly_chart(curves_until(job, epochs), key="train_live_chart")
    elif epochs:
        st.caption(f"{job.label} learns nothing (its objective is none), so it has no loss curves.")
    if job.running:
        st.button("Stop", key="train_stop", on_click=job.request_stop, icon=":material/stop_circle:")
        return
    if collect_finished_job():
        st.rerun()  # the whole page: sidebar, results


def curves_until(job: TrainingJob, epochs: int):
    """The loss curves of the first ``epochs`` epochs, built once per new epoch (a figure costs ~0.2 s)."""
    cached = st.session_state.get("train_figure")
    if cached is None or cached[0] is not job or cached[1] != epochs:
        cached = (job, epochs, loss_curves(job.records[:epochs]))
        st.session_state["train_figure"] = cached
    return cached[2]


live_job = st.fragment(run_every=REFRESH_SECONDS)(draw_job)


@st.cache_resource(max_entries=64, show_spinner=False)
def _run_curves(_run: state.Run, run_id: str) -> go.Figure:
    return loss_curves(_run.history, "Loss curves of this run")


def run_curves(run: state.Run) -> go.Figure:
    """A finished run's loss curves, drawn on every visit to the page: made once per model (its run id names
    the data, settings and split it was trained with) and shared, so read-only."""
    return _run_curves(run, run.run_id)


@st.cache_resource(show_spinner=False)
def empty_curves() -> go.Figure:
    """The axes before a first training (the same for everyone; read-only)."""
    return loss_curves([])


FRESH = "train_fresh"  # the run just taken from the cache by a click: "came from the cache" is said once


def shown_run(data: RatingsDataset, wanted: str | None) -> tuple[state.Run | None, state.Run | None]:
    """The run whose results the page shows for the settings on screen (key ``wanted``): the last one trained
    here when it has them, else the person's own run with them; and, when neither, the last run trained here
    (whose settings differ)."""
    last = state.train_run(data.fingerprint)
    if last is not None and same_settings(last, wanted):
        return last, None
    mine = next(
        (run for run in state.runs_on(data.fingerprint, diverged=True) if same_settings(run, wanted)), None
    )
    return mine, last


def outcome(data: RatingsDataset, wanted: str | None) -> None:
    job = st.session_state.get(state.JOB)
    job_here = job is not None and st.session_state.get(JOB_KEY) == wanted
    if job_here and job.status == DIVERGED:
        st.warning(job.message, icon=":material/warning:")
        st.caption(
            "Nothing was cached. The curve is kept among your runs (overlay it on a good run in Compare & "
            "tune); change the setting the message names and train again."
        )
    elif job_here and job.status == FAILED:
        st.error(f"Training failed: {job.message}")
        st.caption("Your ratings are safe. Change the settings or the data set and train again.")
    run, other = shown_run(data, wanted)
    if run is None:
        if other is not None:
            st.info(
                f"Settings changed since the run shown before (**{other.title}**): press **Train** for the "
                "curves of these settings."
                + (
                    " They were trained before: Train takes them from the cache at once."
                    if wanted in model_store()
                    else ""
                ),
                icon=":material/tune:",
            )
        return
    just_now = st.session_state.pop(FRESH, None) == run.run_id or (job_here and job.result is run)
    if run.diverged:
        if not (job_here and job.status == DIVERGED):  # said above for the job just ended
            st.warning(run.diverged, icon=":material/warning:")
        name_field(run)
        chart = loss_curves(run.history, "The curve up to the divergence", start_loss=run.start_loss)
        st.plotly_chart(chart, key="train_diverged_chart")
        return
    if run.from_cache:
        if just_now:  # said once: when Train was pressed (or a waiting job found it trained meanwhile)
            st.success(
                f"**{run.title}** came from the cache: this configuration was trained before (in {run.fit_seconds:.2f} s)."
            )
        else:
            st.markdown(
                f"**{run.title}**: your run with these settings (trained in {run.fit_seconds:.2f} s)."
            )
        if has_losses(run.history):
            st.plotly_chart(run_curves(run), key="train_cached_chart")
    elif run.stopped_at is not None:
        st.info(f"Stopped at epoch {run.stopped_at}: this model is kept for this session only, not cached.")
    elif job_here and job.result is run:
        st.success(f"**{run.title}** trained in {run.fit_seconds:.2f} s and cached.")
        if job.timeline:
            steps = {
                "worker": "training process started",
                "first epoch": "first epoch",
                "received": "model back",
                "finished": "stored",
            }
            shown = [
                f"{label} {job.timeline[key]:.2f} s" for key, label in steps.items() if key in job.timeline
            ]
            st.caption("After the click: " + " · ".join(shown) + ".")
    else:
        st.markdown(f"**{run.title}**: your run with these settings (trained in {run.fit_seconds:.2f} s).")
        if has_losses(run.history):
            st.plotly_chart(run_curves(run), key="train_cached_chart")
    name_field(run)
    metrics_card(run)


def name_field(run: state.Run) -> None:
    """The run's name, editable: it names the run in the sidebar, Compare, Evaluate and every picker."""
    key = f"train_name_{run.run_id}"
    st.text_input(
        "Name of this run", value=run.name, key=key, max_chars=state.MAX_RUN_NAME,
        on_change=lambda: state.rename(run.run_id, st.session_state[key]),
        help="Made from the algorithm and the settings that differ from its defaults; write your own.",
    )  # fmt: skip


def metrics_card(run: state.Run) -> None:
    shown = [
        (label, fmt.format(run.metrics[key]))
        for key, label, fmt in SHOWN_METRICS
        if run.metrics.get(key) is not None
    ]
    shown.append(("Fit time", f"{run.fit_seconds:.2f} s"))
    with st.container(border=True):
        sampled = run.metrics.get("sampled_from")
        ranked = f", ranked for {run.metrics['users']:,} users of a sample of {sampled:,}" if sampled else ""
        st.markdown(f"**Test metrics** ({run.split}, top 10, relevant = rating ≥ 4{ranked})")
        cells = st.columns(min(len(shown), 4))
        for index, (label, value) in enumerate(shown):
            cells[index % len(cells)].metric(label, value)


def main() -> None:
    st.title("Train a model")
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        left, right = st.columns([2, 3], gap="large")
        with left:
            algo, params, split_spec, button_place = settings(data)
        problem = refusal(algo, params)
        job = st.session_state.get(state.JOB)
        running = job is not None and job.running
        with button_place:
            if problem:
                st.error(problem, icon=":material/block:")
            clicked = st.button(
                "Train",
                type="primary",
                key="train_go",
                disabled=running or problem is not None,
                icon=":material/play_arrow:",
            )
        wanted = settings_key(data, algo, params, split_spec)
        with right:
            if clicked:
                with engine_errors("Change the setting it names and try again."):
                    on_train(data, algo, params, split_spec)
            job = st.session_state.get(state.JOB)
            if job is not None and job.running:
                if st.session_state.get(JOB_KEY) != wanted:
                    st.info(
                        "Training the settings you pressed Train with; those on the left have changed since."
                    )
                live_job()
            else:
                if job is not None and st.session_state.get(JOB_KEY) == wanted:
                    draw_job()
                elif collect_finished_job():
                    st.rerun()
                outcome(data, wanted)
            if job is None and shown_run(data, wanted) == (None, None):
                st.info("Press **Train**: the loss curves appear here and grow with every epoch.")
                st.plotly_chart(empty_curves(), key="train_empty_chart")  # axes ready, the chart code loaded
            with st.container(border=True):
                st.markdown(f"#### The math of {algorithms()[algo].label}")
                show_formulas(algorithms()[algo].formulas, expanded=False)


main()
