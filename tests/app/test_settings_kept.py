"""Settings made on a page are still there after a visit to another page (Streamlit forgets the value of a
widget that a run does not draw)."""

from __future__ import annotations

import pytest
from app_helpers import assert_no_exception, open_page, wait_for_job


def test_train_settings_survive_a_visit_to_another_page(app):
    open_page(app, "train")
    app.selectbox(key="train_algo").set_value("svdpp").run()
    app.number_input(key="train_svdpp_n_epochs").set_value(37).run()
    app.slider(key="train_share").set_value(0.3).run()
    open_page(app, "recommendations")
    open_page(app, "train")
    assert app.selectbox(key="train_algo").value == "svdpp"
    assert app.number_input(key="train_svdpp_n_epochs").value == 37
    assert app.slider(key="train_share").value == 0.3


@pytest.mark.slow
def test_recommendation_filters_survive_a_visit_to_another_page(app):
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    open_page(app, "recommendations")
    app.slider(key="recs_min_ratings").set_value(20).run()
    app.slider(key="recs_n").set_value(25).run()
    open_page(app, "home")
    open_page(app, "recommendations")
    assert app.slider(key="recs_min_ratings").value == 20
    assert app.slider(key="recs_n").value == 25


@pytest.mark.slow
def test_settings_that_depend_on_the_data_are_forgotten_when_it_changes(app):
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()
    open_page(app, "recommendations")
    low, high = app.slider(key="recs_years").value
    app.slider(key="recs_years").set_value((low + 50, high)).run()
    open_page(app, "data")
    app.number_input(key="data_min_item").set_value(20)
    app.button(key="data_filters_apply").click().run()
    open_page(app, "recommendations")  # years of the filtered data start later: the old choice is gone
    app.button(key="recs_train_default").click().run()
    assert app.slider(key="recs_years").value[0] > low


def test_a_later_run_without_taste_factors_leaves_the_list_to_the_model_serving_it(app):
    """Weighted ALS serves the list; the baseline trained after it (no taste factors) is named as making no
    list for a person, and is offered for a user in the data, where picking it does not change who serves you."""
    open_page(app, "recommendations")
    app.button(key="recs_train_default").click().run()  # Weighted ALS, a ranking model
    open_page(app, "train")
    app.selectbox(key="train_algo").set_value("baseline").run()
    app.button(key="train_go").click().run()
    wait_for_job(app)
    open_page(app, "recommendations")
    runs = {run.algo: run for run in app.session_state["runs"].values()}
    assert app.selectbox(key="recs_model").value == runs["wals"].run_id
    assert any("Baseline" in c.value and "no taste factors" in c.value for c in app.caption)
    app.segmented_control(key="recs_who").set_value("a user in the data").run()
    app.selectbox(key="recs_model_user").set_value(runs["baseline"].run_id).run()
    assert_no_exception(app)
    app.segmented_control(key="recs_who").set_value("you").run()
    assert app.selectbox(key="recs_model").value == runs["wals"].run_id
