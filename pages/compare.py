"""Compare & tune: every run side by side, loss curves overlaid, and cross-validated sweeps."""

import pandas as pd
import streamlit as st

from dashboard import state, urlstate
from dashboard.challenge import TRAINING_KIND, all_challenges, blind_to_held_out
from dashboard.charts import overlaid_curves, sweep_figure
from dashboard.data import active_data
from dashboard.jobs import SweepTurn, check_sweep_work, like_a_trainer, max_trainers, sweep_memory, sweep_turn
from dashboard.navigation import inside_app
from dashboard.recs import served_name, serving_choice
from dashboard.runs import (
    DEFAULT_SPLIT,
    RANKED_USERS,
    algorithms,
    auto_name,
    from_store,
    model_store,
    runs_bytes,
    stored_by,
    train_now,
)  # fmt: skip
from dashboard.ui import engine_errors
from dashboard.widgets import ADVANCED, candidate_values, default_sweep
from recengine.data.dataset import RatingsDataset
from recengine.evaluation.tuning import grid_search
from recengine.models.base import ParamSpec

inside_app()

METRIC_COLUMNS = ("rmse", "mae", "precision@10", "recall@10", "ndcg@10", "coverage")
CURVES = ("valid_rmse", "train_rmse", "total_loss", "reconstruction_loss", "regularization_loss")
MAX_SWEEP_FITS = 60


def runs_table(runs: list[state.Run]) -> pd.DataFrame:
    rows = []
    for run in runs:
        rows.append(
            {
                "run": run.title,
                "group": state.GROUPS[run.group].split("'")[0].replace("your runs", "yours"),
                "algorithm": run.algo,
                "split": run.split,
                "epochs": len(run.history),
                "fit s": round(run.fit_seconds, 2),
                **{name: run.metrics.get(name) for name in METRIC_COLUMNS},
                "from cache": run.from_cache,
            }
        )
    return pd.DataFrame(rows)


def details_table(runs: list[state.Run]) -> pd.DataFrame:
    """Every setting of every run, with its id (the model cache's key)."""
    return pd.DataFrame(
        [
            {"run": run.title, "id": run.run_id, "seed": run.params.get("seed"),
             "settings": ", ".join(f"{k}={v}" for k, v in run.params.items() if k != "seed"),
             "ended": run.diverged or (f"stopped at epoch {run.stopped_at}" if run.stopped_at else "as set")}
            for run in runs
        ]
    )  # fmt: skip


def rename_runs(runs: list[state.Run]) -> None:
    pick_column, name_column = st.columns([1, 1], vertical_alignment="bottom")
    by_title = {run.title: run for run in runs}
    pick = pick_column.selectbox("Rename a run", list(by_title), index=None, key="compare_rename_pick")
    if pick is None:
        return
    run = by_title[pick]
    name = name_column.text_input(
        "New name", value=run.name, key=f"compare_name_{run.run_id}", max_chars=state.MAX_RUN_NAME
    )
    if name.strip() and name != run.name:
        state.rename(run.run_id, name)
        st.rerun()


def remove_runs(runs: list[state.Run]) -> None:
    """Forget runs no longer needed: each keeps its model in the server's memory, within a limit per person."""
    by_title = {run.title: run for run in runs}
    pick_column, button_column = st.columns([3, 1], vertical_alignment="bottom")
    chosen = pick_column.multiselect("Remove runs", list(by_title), key="compare_remove_pick",
                                     help=f"Your runs keep {runs_bytes(runs) / 1e6:,.0f} MB of models here.")  # fmt: skip
    if button_column.button("Remove", key="compare_remove", disabled=not chosen):
        state.remove_runs([by_title[title].run_id for title in chosen])
        st.rerun()


def compare(data: RatingsDataset, every: list[state.Run]) -> None:
    st.subheader("Your runs on this data set")
    counts = {group: sum(run.group == group for run in every) for group in state.GROUPS}
    shown_groups = st.pills(
        "Show", list(state.GROUPS), selection_mode="multi", default=["mine"], key="compare_groups",
        format_func=lambda g: f"{state.GROUPS[g]} ({counts[g]})",
    )  # fmt: skip
    runs = [run for run in every if run.group in (shown_groups or [])]
    if not runs:
        st.info("No runs here yet: train a model, or run a sweep below.")
        st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")
        return
    st.dataframe(runs_table(runs), hide_index=True, key="compare_table")
    with st.expander("Details: every setting and id"):
        st.dataframe(details_table(runs), hide_index=True, key="compare_details")
        rename_runs(runs)
        remove_runs(runs)
    by_title = {run.title: run for run in runs}
    own = [run.title for run in runs if run.group == "mine"][-6:]
    runs_column, curve_column = st.columns([3, 1])
    chosen = runs_column.multiselect(
        "Overlay the curves of", list(by_title), default=own or list(by_title)[-3:], key="compare_runs"
    )
    metric = curve_column.selectbox(
        "Curve", CURVES, key="compare_curve", format_func=lambda c: c.replace("_", " "),
        help="Validation RMSE compares runs of any settings; losses grow with λ and the number of factors, "
        "so their curves compare runs that differ in nothing else.",
    )  # fmt: skip
    if chosen:
        histories = {t: by_title[t].history for t in chosen}
        if not any(record.get(metric) is not None for h in histories.values() for record in h):
            st.caption(
                f"None of these runs records a {metric.replace('_', ' ')} per epoch (ranking models predict no "
                "ratings): compare them by P@10 in the table above, or pick a loss to see how each learned."
            )
        else:
            st.plotly_chart(overlaid_curves(histories, metric), key="compare_chart")
    serve_with(data, runs)


def serve_with(data: RatingsDataset, runs: list[state.Run]) -> None:
    """Pick the run that serves the person's lists (Recommendations, Rate's preview, Embeddings)."""
    usable = {run.title: run for run in runs if not run.diverged and run.model.has_taste}
    if not usable:
        return
    current, _ = serving_choice(data)
    titles = list(usable)
    index = titles.index(current.title) if current is not None and current.title in titles else 0
    pick_column, button_column = st.columns([3, 1], vertical_alignment="bottom")
    pick = pick_column.selectbox("Serve my lists with", titles, index=index, key="compare_serving")
    if button_column.button("Use it for my lists", key="compare_use", disabled=usable[pick] is current):
        state.choose_serving(usable[pick])
        st.rerun()
    if current is not None:
        st.caption(f"Your lists now come from {served_name(current)}.")


def in_the_cache(data: RatingsDataset) -> None:
    """Models in the shared cache for this data set, trained in earlier sessions or by the command line."""
    entries = [e for e in model_store().list() if e.get("data_fingerprint") == data.fingerprint]
    mine = {run.run_id for run in state.runs_on(data.fingerprint)}
    # a model tested on an open challenge's held-out ratings is not shown: its metrics would score them
    entries = blind_to_held_out(data, [e for e in entries if e["key"] not in mine])
    on_challenge = state.data_choice().kind == TRAINING_KIND or any(
        c.train_fingerprint == data.fingerprint for c in all_challenges()
    )
    if on_challenge:  # classmates' models would show their settings before the reveal, and pass as one's own
        me = stored_by()
        entries = [e for e in entries if me and e.get("stored_by") == me]
    with st.expander(f"More models in the cache for this data set ({len(entries)})"):
        if on_challenge:
            st.caption(
                "On a challenge's training part only the models you trained are listed here: your "
                "classmates' settings stay hidden until the teacher reveals them."
            )
        if not entries:
            st.caption(
                "None: every model you stored for it is in your runs already."
                if on_challenge
                else "None: every cached model of this data set is in your runs already."
            )
            return
        st.dataframe(
            pd.DataFrame(
                {
                    "algorithm": [e["algorithm"] for e in entries],
                    "settings": [
                        ", ".join(f"{k}={v}" for k, v in e["params"].items() if k != "dtype") for e in entries
                    ],
                    "split": [e.get("extra", {}).get("split") for e in entries],
                    **{m: [e.get("metrics", {}).get(m) for e in entries] for m in METRIC_COLUMNS},
                    "fit s": [round(e.get("fit_seconds", 0.0), 2) for e in entries],
                }
            ),
            hide_index=True,
            key="compare_cache_table",
        )
        keys = [e["key"] for e in entries]
        key = st.selectbox("Add to your runs", keys, index=None, key="compare_cache_pick",
                           format_func=lambda k: cached_name(entries[keys.index(k)]))  # fmt: skip
        if key is not None and st.button("Add it to your runs", key="compare_cache_add"):
            state.add_run(from_store(key, data))
            st.rerun()


def typed_values(spec: ParamSpec, chosen: list) -> list:
    """The chosen sweep values, typed ones (text) read as the parameter's type; refused ones are named."""
    values, refused = [], []
    for value in chosen:
        try:
            values.append(urlstate.parse(spec, value) if isinstance(value, str) else value)
        except ValueError:
            refused.append(value)
    if refused:
        st.error(f"{spec.name}: {', '.join(map(str, refused))} not allowed; it must be {spec.allowed()}.")
    return sorted(set(values))


def cached_name(entry: dict) -> str:
    """A cached model named as a run would be: its algorithm and the settings that differ from the defaults."""
    cls = algorithms().get(entry["algorithm"])
    if cls is None:
        return entry["algorithm"]
    return auto_name(cls, entry["params"], entry.get("extra", {}).get("split", DEFAULT_SPLIT))


def sweep(data: RatingsDataset) -> None:
    st.subheader("Sweep hyperparameters with cross-validation")
    models = algorithms()
    algo = st.selectbox("Algorithm", list(models), format_func=lambda n: models[n].label, key="sweep_algo")
    specs = {s.name: s for s in models[algo].Params.specs() if s.name not in ADVANCED}
    names = st.multiselect(
        "One or two hyperparameters", list(specs), max_selections=2, key=f"sweep_params_{algo}"
    )
    grid = {}
    for name in names:
        spec = specs[name]
        chosen = st.multiselect(
            f"Values of {name}",
            candidate_values(spec),
            default=default_sweep(spec),
            key=f"sweep_values_{algo}_{name}",
            help=f"{spec.help} Type any other allowed value ({spec.allowed()}) and press Enter.",
            accept_new_options=spec.kind in ("int", "float"),
        )
        grid[name] = typed_values(spec, chosen)
    folds = st.slider("Cross-validation folds", 2, 5, 3, key="sweep_folds")
    fits = folds
    for values in grid.values():
        fits *= max(len(values), 1)
    ready = bool(names) and all(grid.values()) and fits <= MAX_SWEEP_FITS
    st.caption(
        f"{fits} fits" + (f": at most {MAX_SWEEP_FITS}, choose fewer values" if fits > MAX_SWEEP_FITS else "")
    )
    if st.button("Run the sweep", key="sweep_go", disabled=not ready, type="primary"):
        run_sweep(data, algo, grid, folds)
    show_sweep(data)


def waiting_text(running: int, ahead: int) -> str:
    """What a sweep waiting for its turn shows, as the Train page does for a waiting training."""
    jobs = "1 training or sweep" if running == 1 else f"{running} trainings or sweeps"
    before = f", {ahead} more waiting before yours" if ahead else ""
    why = " (sweeps leave one trainer to trainings)" if max_trainers() > 1 else ""
    return f"Waiting for its turn: {jobs} running{before}{why}…"


def run_sweep(data: RatingsDataset, algo: str, grid: dict, folds: int) -> None:
    """Sweep in this page's thread once the trainers' line gives it a turn (a sweep is one training job of
    its owner there); Stop (or leaving) ends it while it waits or after the fit under way."""
    progress, stop = st.progress(0.0, text="Sweeping…"), st.empty()
    stop.button("Stop", key="sweep_stop", icon=":material/stop_circle:")  # its click reruns the page: the end

    def waiting(turn: SweepTurn, running: int, ahead: int) -> None:
        progress.progress(0.0, text=waiting_text(running, ahead))

    def advanced(turn: SweepTurn, done: int, total: int) -> None:
        turn.check()
        progress.progress(done / total, text=f"fit {done} of {total}")

    with engine_errors("Narrow the values, or choose other ones."):
        estimated = check_sweep_work(
            algo, grid, data, folds, RANKED_USERS
        )  # in class, its whole work is bounded
        turn = SweepTurn(f"sweep of {algo}", sweep_memory(algo, grid, data), estimated_seconds=estimated)
        with sweep_turn(turn, waiting), like_a_trainer():
            progress.progress(0.0, text="Sweeping…")
            table = grid_search(
                algo,
                grid,
                data,
                cv=folds,
                progress=lambda done, total: advanced(turn, done, total),
                max_users=RANKED_USERS,  # a seeded sample of users on a wide data set, as Train's metrics
            )
        st.session_state["sweep_result"] = (algo, list(grid), table)
    progress.empty()
    stop.empty()


def failed_settings(table: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """One row per setting with a fold that could not be trained: its values, how many folds, the error."""
    failed = table[table["error"].notna()]
    return failed.groupby(names, as_index=False, sort=False).agg(
        folds=("fold", "size"), error=("error", "first")
    )


def show_failures(table: pd.DataFrame, names: list[str]) -> None:
    failed = failed_settings(table, names)
    if not len(failed):
        return
    settings = table["setting"].nunique()
    st.warning(
        f"{len(failed)} of {settings} settings could not be trained in every fold; they are left out of the "
        "charts and the best setting (the message says why and what to change)."
    )
    st.dataframe(
        failed,
        hide_index=True,
        column_config={"error": st.column_config.TextColumn(width="large")},
        key="sweep_failures",
    )


def show_sweep(data: RatingsDataset) -> None:
    result = st.session_state.get("sweep_result")
    if result is None:
        return
    algo, names, everything = result
    show_failures(everything, names)
    table = everything[~everything["setting"].isin(everything.loc[everything["error"].notna(), "setting"])]
    if not len(table):
        st.error("No setting could be trained in every fold: choose other values.")
        return
    metrics = [m for m in ("rmse", "precision@10") if m in table and table[m].notna().any()]
    if data.n_users > RANKED_USERS:
        st.caption(
            f"Ranking metrics: each fold ranks a seeded sample of {RANKED_USERS:,} of its users (the same for "
            "every setting), as Train's test metrics do."
        )
    columns = st.columns(len(metrics)) if metrics else []
    for column, metric in zip(columns, metrics, strict=True):
        column.plotly_chart(sweep_figure(table, names, metric), key=f"sweep_chart_{metric}")
    with st.expander("Every fold"):
        st.dataframe(everything, hide_index=True)
    choices = [m for m in ("rmse", "precision@10", "ndcg@10") if m in table and table[m].notna().any()]
    best_metric = st.selectbox("Best by", choices, key="sweep_best_by")
    setting, score = best_setting(table, names, best_metric)
    st.markdown(f"Best by {best_metric}: **{setting_text(setting)}** ({best_metric} {score:.4f})")
    disagreement(table, names)
    if st.button("Train the best setting", key="sweep_use_best"):
        with engine_errors("Try the next best setting."), st.spinner("Training…"):
            run = train_now(data, algo, setting, DEFAULT_SPLIT)
            state.add_run(run, group="sweeps")
            st.session_state[SWEEP_TRAINED] = run.run_id
    trained = state.runs().get(st.session_state.get(SWEEP_TRAINED, ""))
    if trained is not None and trained.fingerprint == data.fingerprint:
        shown = ", ".join(
            f"{k} {trained.metrics[k]:.4f}"
            for k in ("rmse", "precision@10")
            if trained.metrics.get(k) is not None
        )
        st.success(
            f"Trained **{trained.title}** on the {DEFAULT_SPLIT.replace(':', ' split, test share ')}"
            + (" (from the cache)" if trained.from_cache else "")
            + (f": {shown}." if shown else ".")
            + (
                " It is kept among the sweeps' runs above; to serve your lists with it, pick it under "
                "“Serve my lists with” (show the sweeps' runs first)."
                if trained.group == "sweeps"
                else f" These are the settings of one of {state.GROUPS[trained.group]} already: it is that run."
            )
        )


SWEEP_TRAINED = "sweep_trained"  # the run "Train the best setting" last made, shown under its button


def best_setting(table: pd.DataFrame, names: list[str], metric: str) -> tuple[dict, float]:
    """The setting with the best mean ``metric`` over the folds (lowest RMSE, else highest), and that mean."""
    means = table.groupby(names, as_index=False)[metric].mean()
    best = means.sort_values(metric, ascending=metric == "rmse").iloc[0]
    setting = {name: best[name].item() if hasattr(best[name], "item") else best[name] for name in names}
    return setting, float(best[metric])


def setting_text(setting: dict) -> str:
    return ", ".join(
        f"{name} = {value:g}" if isinstance(value, float) else f"{name} = {value}"
        for name, value in setting.items()
    )


def disagreement(table: pd.DataFrame, names: list[str]) -> None:
    """When RMSE and P@10 pick different settings, say so and why that happens."""
    if not all(m in table and table[m].notna().any() for m in ("rmse", "precision@10")):
        return
    by_rmse, _ = best_setting(table, names, "rmse")
    by_precision, _ = best_setting(table, names, "precision@10")
    if by_rmse == by_precision:
        st.caption(f"RMSE and P@10 agree: {setting_text(by_rmse)} is best by both.")
        return
    st.info(
        f"RMSE and P@10 disagree: the lowest RMSE is at {setting_text(by_rmse)}, the best P@10 at "
        f"{setting_text(by_precision)}. RMSE measures the ratings people gave, mostly to films they chose to "
        "watch; P@10 measures which films come first among all those a person did not rate. A setting can "
        "predict known ratings closely and still rank the whole catalogue worse (for example, strong "
        "regularisation shrinks every film toward its bias, which keeps RMSE low and fills the top 10 with "
        "films everyone rates well). Pick by what the model is for: ratings shown to people, or a list."
    )


def main() -> None:
    st.title("Compare & tune")
    with engine_errors("Choose another data set on the Data page."):
        data = active_data()
        compare(data, state.runs_on(data.fingerprint, diverged=True))
        in_the_cache(data)
        sweep(data)


main()
