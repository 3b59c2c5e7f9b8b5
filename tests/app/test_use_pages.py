"""AppTest: Recommendations, Evaluate, Compare & tune and Embeddings render and their main actions work."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from app_helpers import assert_no_exception, open_page, wait_for_job

from dashboard.charts import sweep_figure
from dashboard.recs import REASON_CHARS, one_line_reason, served_name
from dashboard.runs import model_store
from recengine.data.synthetic import planted_low_rank
from recengine.evaluation.tuning import grid_search
from recengine.serving.recommend import Reader

HORROR = {1258: 5.0, 1387: 5.0, 1997: 5.0, 2710: 5.0, 1214: 5.0, 1350: 5.0, 2160: 5.0, 1333: 5.0}
# The Shining, Jaws, The Exorcist, The Blair Witch Project, Alien, The Omen, Rosemary's Baby, The Birds


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory):
    return tmp_path_factory.mktemp("models")


@pytest.fixture
def trained(app, shared_store, monkeypatch):
    """A session with the default ranking model from the Recommendations page (trained by the first test
    of this module, then taken from a model store the module's tests share)."""
    monkeypatch.setenv("RECENGINE_STORE", str(shared_store))
    model_store.clear()
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    assert_no_exception(app)
    assert app.session_state["runs"], "the default model was not trained"
    return app


def horror(recs) -> int:
    return sum("Horror" in genres for genres in recs["genres"])


def test_recommendations_for_you_follow_your_ratings(trained):
    before = horror(trained.dataframe[0].value)
    trained.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR)}
    trained.run()
    assert_no_exception(trained)
    recs = trained.dataframe[0].value
    assert len(recs) == 10
    personal = [why.startswith("Because you rated") for why in recs["why"]]
    general = [
        why.startswith(("Mostly for its general appeal", "Brought in for your genres")) for why in recs["why"]
    ]
    assert all(p or g for p, g in zip(personal, general, strict=True)) and sum(personal) >= 5
    assert horror(recs) >= before + 3
    assert any("far enough from everyone's to get the whole λ 0.90" in c.proto.help for c in trained.caption)
    moved = recs["model's rank"].tolist() != list(range(1, 11))
    assert moved == any("the model's #k" in c.proto.help for c in trained.caption)
    assert trained.get("download_button"), "no CSV export"


def test_each_reason_is_one_plain_line_and_the_whole_explanation_is_on_demand(trained):
    trained.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR)}
    trained.run()
    whole = trained.dataframe[0].value["why"].tolist()
    listed = [m for m in trained.markdown if m.value.startswith("**") and ". " in m.value[:6]]
    assert len(listed) == 10
    for shown, why in zip(listed, whole, strict=True):
        reason = re.sub(r"\\(.)", r"\1", shown.value.split("  \n")[1])  # the page escapes its punctuation
        assert len(reason) <= REASON_CHARS and "★" not in reason, reason
        assert why.startswith(re.split(r" rated |; ", reason)[0])  # the same reason, in short
        assert why in shown.proto.help  # the whole of it, on demand


def test_a_reason_names_as_many_rated_films_as_fit_on_its_line():
    lambs, long = "Silence of the Lambs, The (1991)", "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)"
    liked = [lambs, "Pulp Fiction (1994)", "Forrest Gump (1994)", "Matrix, The (1999)"]
    row = pd.Series({"because": liked, "model_rank": 1})
    reason = one_line_reason(row, Reader.you(), 10, True)
    assert reason == f"Because you rated {lambs}, Pulp Fiction (1994) and 2 more"
    assert one_line_reason(row, Reader.you(), 10, True, chars=64) == f"Because you rated {lambs} and 3 more"
    row["because"] = [long, "Pulp Fiction (1994)", "Forrest Gump (1994)"]
    assert one_line_reason(row, Reader.you(), 10, True) == f"Because you rated {long} and 2 more"
    row["because"] = [long * 2, "Alien (1979)"]
    reason = one_line_reason(row, Reader.user(414), 10, True)
    assert len(reason) <= REASON_CHARS and reason.startswith("Because user 414 rated Amelie")
    assert reason.endswith("… (2001) and 1 more")
    row = pd.Series(
        {"because": [], "model_rank": 14, "personal": 0.2, "explanation": "Predicted 4.1★. Mostly x"}
    )
    assert one_line_reason(row, Reader.you(), 10, True) == (
        "Brought in for your genres; otherwise mostly general appeal"
    )
    row["model_rank"] = 3
    assert one_line_reason(row, Reader.you(), 10, True) == "Mostly x"


def test_recommendations_with_no_ratings_are_labelled_popular(trained):
    recs = trained.dataframe[0].value
    assert all(why.startswith("Popular and well liked") for why in recs["why"])
    assert any("not rated anything in this data set yet" in i.value for i in trained.info)


def test_recommendations_for_a_user_with_filters(trained):
    trained.segmented_control(key="recs_who").set_value("a user in the data").run()
    trained.selectbox(key="recs_user").set_value(414).run()
    trained.multiselect(key="recs_genres").set_value(["Comedy"]).run()
    trained.slider(key="recs_n").set_value(20).run()
    assert_no_exception(trained)
    recs = trained.dataframe[0].value
    assert len(recs) == 20 and all("Comedy" in genres for genres in recs["genres"])


def test_more_like_this_movie(trained):
    toy_story = 0  # item code of movie id 1
    trained.selectbox(key="recs_like").set_value(toy_story).run()
    assert_no_exception(trained)
    similar = trained.dataframe[-1].value
    assert len(similar) == 10 and "Toy Story (1995)" not in set(similar["title"])
    assert similar["match"].is_monotonic_decreasing  # the column the list is ranked by
    assert (
        similar["match"] - similar["same people"] - 0.3 * similar["same genres"] / 100  # in percent
    ).abs().max() < 1e-6


def test_evaluate_puts_the_model_beside_the_references(trained):
    open_page(trained, "evaluate")
    frame = trained.dataframe[0].value
    assert len(frame) == 4
    assert frame["model"].str.contains("Weighted ALS").iloc[0]
    assert frame["model"].str.contains("Baseline").iloc[1] and frame["model"].str.contains("popular").iloc[2]
    # the baseline's test RMSE on the bundled set, user:0.2 with seeds 0-3: 0.869-0.875
    assert frame["rmse"].iloc[0] == "—" and float(frame["rmse"].iloc[3]) < float(frame["rmse"].iloc[1]) < 0.9
    precision = frame["precision@10"].astype(float)
    assert precision.iloc[0] > precision.iloc[2] > precision.iloc[3]  # ranks well > popular > predicts well
    assert (
        len(trained.get("plotly_chart")) >= 6
    )  # accuracy vs ranking, histogram, rounded, three error splits


def test_evaluate_without_a_model_says_what_to_do(app):
    open_page(app, "evaluate")
    assert any("not trained a model" in i.value for i in app.info)


def test_cluster_recommendations_for_you(trained):
    trained.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR)}
    trained.run()
    groups = trained.dataframe[1].value
    assert len(groups) == 10 and groups["group's ratings"].min() >= 3
    assert not set(groups["title"]) & {"Shining, The (1980)", "Jaws (1975)"}


@pytest.mark.slow
def test_compare_sweeps_and_trains_the_best_among_the_sweeps_runs(trained):
    """The best setting is trained where the person is, kept among the sweeps' runs, and serves nobody's
    lists until chosen: the person's own run still does."""
    open_page(trained, "compare")
    assert len(trained.dataframe[0].value) == 1  # the default model
    own = next(iter(trained.session_state["runs"].values()))
    trained.selectbox(key="sweep_algo").set_value("baseline").run()
    trained.multiselect(key="sweep_params_baseline").set_value(["reg_user", "reg_item"]).run()
    trained.multiselect(key="sweep_values_baseline_reg_user").set_value([7.5, 30.0]).run()
    trained.multiselect(key="sweep_values_baseline_reg_item").set_value([5.0, 20.0]).run()
    trained.slider(key="sweep_folds").set_value(2).run()
    trained.button(key="sweep_go").click().run()
    assert_no_exception(trained)
    keys = [chart.key for chart in trained.get("plotly_chart")]
    assert "sweep_chart_rmse" in keys and "sweep_chart_precision@10" in keys
    assert any("Best by" in s.label for s in trained.selectbox)
    trained.button(key="sweep_use_best").click().run()
    assert_no_exception(trained)
    best = trained.session_state["runs"][trained.session_state["sweep_trained"]]
    assert best.algo == "baseline" and best.params["reg_user"] in (7.5, 30.0) and best.group == "sweeps"
    assert any(best.title in s.value and "sweeps' runs" in s.value for s in trained.success)
    assert len(trained.dataframe[0].value) == 1  # the table shows the person's own runs unless asked
    trained.pills(key="compare_groups").set_value(["mine", "sweeps"]).run()
    assert len(trained.dataframe[0].value) == 2
    open_page(trained, "recommendations")
    assert trained.selectbox(key="recs_model").value == own.run_id


def test_compare_shows_the_settings_a_sweep_could_not_train(app):
    """A sweep where lr=1 diverged: the page names it with its error, leaves it out of the charts and the
    best setting, and keeps every fold in the table."""
    data = planted_low_rank(n_users=60, n_items=40, rank=2, density=0.4, seed=1)[0]
    table = grid_search("sgd", {"lr": [0.005, 0.01, 1.0]}, data, cv=2, k=10)
    app.session_state["sweep_result"] = ("sgd", ["lr"], table)
    open_page(app, "compare")
    assert any("1 of 3 settings could not be trained" in w.value for w in app.warning)
    failures = next(frame.value for frame in app.dataframe if "folds" in frame.value)
    assert failures["lr"].tolist() == [1.0] and failures["folds"].tolist() == [2]
    assert failures["error"].iloc[0].startswith("TrainingDiverged: Training diverged at epoch")
    assert any(m.value.startswith("Best by rmse: **lr = 0.01** (rmse ") for m in app.markdown)
    app.session_state["sweep_result"] = ("sgd", ["lr"], table[table["lr"] == 1.0])
    app.run()
    assert_no_exception(app)
    assert any("No setting could be trained" in e.value for e in app.error)


def test_a_failed_cell_of_a_two_parameter_sweep_says_so():
    table = pd.DataFrame(
        {
            "lr": [0.1, 0.1, 1.0],
            "reg": [0.0, 1.0, 0.0],
            "rmse": [0.9, 0.8, 0.7],
            "fit_seconds": [1.0, 1.0, 1.0],
        }
    )  # (lr 1.0, reg 1.0) failed and was left out
    text = sweep_figure(table, ["lr", "reg"], "rmse").data[0].text
    assert [list(row) for row in text] == [
        ["0.9000<br>1.00s", "0.8000<br>1.00s"],
        ["0.7000<br>1.00s", "failed"],
    ]


def test_embeddings_map_places_you_and_finds_neighbours(trained):
    trained.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR)}
    open_page(trained, "embeddings")
    figure = trained.get("plotly_chart")[0].proto.spec
    assert '"name":"you"' in figure.replace(" ", "")
    trained.selectbox(key="embed_search").set_value(0).run()  # Toy Story
    assert_no_exception(trained)
    assert len(trained.dataframe[0].value) == 10
    trained.radio(key="embed_colour").set_value("cluster").run()
    assert_no_exception(trained)
    groups = trained.dataframe[-1].value
    assert groups["users"].sum() == 610 and any("group" in m.value for m in trained.markdown)


def test_recommendations_on_filtered_data_skip_movies_it_left_out(trained):
    rare = 193609  # a movie with a single rating in the bundled set
    trained.session_state["my_ratings"] = {"bundled:ml-latest-small": dict(HORROR) | {rare: 5.0}}
    open_page(trained, "data")
    trained.number_input(key="data_min_item").set_value(20)
    trained.button(key="data_filters_apply").click().run()
    open_page(trained, "recommendations")
    trained.button(key="recs_train_default").click().run()
    assert_no_exception(trained)
    assert any("1 of your rated movies are not in the filtered data" in c.value for c in trained.caption)
    assert len(trained.dataframe[0].value) == 10


@pytest.mark.slow
def test_a_model_without_taste_makes_no_list_for_you(app, shared_store, monkeypatch):
    """Most popular ranks films the same way for everyone: "for you" says so and offers a model that can
    follow a taste; "a user in the data" still shows its list."""
    monkeypatch.setenv("RECENGINE_STORE", str(shared_store))
    open_page(app, "train")
    app.selectbox(key="train_algo").set_value("popular").run()
    app.button(key="train_go").click().run()
    wait_for_job(app)
    assert any("learns nothing" in c.value for c in app.caption) and not app.get("plotly_chart")
    open_page(app, "rate")
    assert any("once you have a model that follows a taste" in m.value for m in app.markdown)
    open_page(app, "recommendations")
    assert any("can follow a person's taste" in i.value for i in app.info)
    assert any("Most popular" in c.value and "no taste factors" in c.value for c in app.caption)
    assert app.button(key="recs_train_default") and not app.dataframe
    app.segmented_control(key="recs_who").set_value("a user in the data").run()
    app.selectbox(key="recs_like").set_value(0).run()
    assert_no_exception(app)
    assert any("has no movie factors to compare" in c.value for c in app.caption) and not app.error
    popular = next(run for run in app.session_state["runs"].values() if run.algo == "popular")
    assert app.selectbox(key="recs_model_user").value == popular.run_id and len(app.dataframe[0].value) == 10
    app.segmented_control(key="recs_who").set_value("you").run()
    app.button(key="recs_train_default").click().run()
    assert_no_exception(app)
    wals = next(run for run in app.session_state["runs"].values() if run.algo == "wals")
    assert app.selectbox(key="recs_model").options == [served_name(wals)]
    assert len(app.dataframe[0].value) == 10
    open_page(app, "rate")
    assert any(m.value.startswith("**Your top picks now** (Weighted ALS") for m in app.markdown)
    open_page(app, "recommendations")
    app.segmented_control(key="recs_who").set_value("a user in the data").run()
    app.selectbox(key="recs_model_user").set_value(popular.run_id).run()
    app.segmented_control(key="recs_who").set_value("you").run()
    assert_no_exception(app)
    assert app.selectbox(key="recs_model").value == wals.run_id and len(app.dataframe[0].value) == 10


@pytest.mark.slow
def test_a_typed_user_id_that_is_not_there_is_shown_as_typed_and_explained(app):
    """Above 5,000 users the id is typed: an unknown one gets a warning that quotes it in a code span (never
    as Markdown: a link or an image in it stays text) and says which ids exist."""
    rows = "".join(f"{u},{i},{(u + i) % 5 + 1}\n" for u in range(1, 5051) for i in (u % 40, 40 + u % 7, 50))
    open_page(app, "data")
    app.segmented_control(key="data_source").set_value("upload").run()
    app.file_uploader(key="data_upload").upload(
        "many.csv", ("user,item,rating\n" + rows).encode(), "text/csv"
    ).run()
    if app.button(key="data_upload_form_load"):  # the columns are named as expected: no form, or confirm it
        app.button(key="data_upload_form_load").click().run()
    assert app.session_state["data_choice"].kind == "upload"
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    app.segmented_control(key="recs_who").set_value("a user in the data").run()
    app.text_input(key="recs_user").input(
        "[click](https://example.com) ![x](https://example.com/x.png) `a`"
    ).run()
    assert_no_exception(app)
    warning = next(w.value for w in app.warning if "no user with id" in w.value)
    assert "`[click](https://example.com) ![x](https:`" in warning  # the first 40 characters, in a code span
    assert "from 1 to 5050" in warning and not app.dataframe
    app.text_input(key="recs_user").input("7").run()
    assert_no_exception(app)
    assert any(c.value == "User 7 rated 3 movies." for c in app.caption) and len(app.dataframe[0].value) == 10


def test_the_taste_slider_starts_at_the_models_own_default(trained):
    """Weighted ALS follows a distinct taste at λ 0.9 by default, the other models at 0.98: the slider starts
    where the model's list is served, and moving it for one does not move it for the other."""
    assert trained.slider(key="recs_taste_0.9").value == 0.9
    trained.slider(key="recs_taste_0.9").set_value(0.5).run()
    open_page(trained, "train")
    trained.selectbox(key="train_algo").set_value("svd").run()
    trained.button(key="train_go").click().run()
    wait_for_job(trained)
    open_page(trained, "recommendations")
    svd = next(run.run_id for run in trained.session_state["runs"].values() if run.algo == "svd")
    trained.selectbox(key="recs_model").set_value(svd).run()
    assert_no_exception(trained)
    assert trained.session_state["serving_run"] == {trained.session_state["runs"][svd].fingerprint: svd}
    assert trained.slider(key="recs_taste_0.98").value == 0.98
    assert "0.98" in trained.slider(key="recs_taste_0.98").help
