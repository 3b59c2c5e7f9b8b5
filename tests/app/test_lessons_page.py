"""AppTest: the Lessons page runs every lesson from a shared link, keeps the runs for Compare, and names
runs by what they are."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from app_helpers import assert_no_exception, open_page
from streamlit.testing.v1 import AppTest

from dashboard.lessons import IN_PLAIN_WORDS, LESSONS, QUESTIONS, ClassAnswers, one_change, settings_of
from dashboard.runs import auto_name
from recengine.models import MODELS

ROOT = Path(__file__).resolve().parents[2]


def open_lesson(app, name: str):
    app.query_params["lesson"] = name
    app.switch_page("pages/lessons.py").run()
    assert_no_exception(app)
    assert app.radio(key="lessons_pick").value == name
    assert name in app.session_state["lessons_done"], "the lesson did not run from its link"
    assert not any("What to look at" in info.value for info in app.info), "the answer shows before the guess"
    app.button(key=f"lessons_reveal_{name}").click().run()
    assert any("What to look at" in info.value for info in app.info)
    runs = [app.session_state["runs"][run_id] for run_id in app.session_state["lessons_done"][name]]
    if len(runs) > 1:  # the runs as trained (settings, split, data) differ in the lesson's one setting only
        trained = [
            settings_of(run.algo, run.params) | {"split": run.split, "data": run.fingerprint} for run in runs
        ]
        if LESSONS[name].changes == "algorithm":  # each model at its own defaults, on the same split and data
            assert all(settings_of(run.algo, run.params) == settings_of(run.algo, {}) for run in runs)
            trained = [{"algorithm": run.algo, "split": run.split, "data": run.fingerprint} for run in runs]
        assert differing(trained) == {LESSONS[name].changes}, [run.title for run in runs]
    return runs


def differing(settings: list[dict]) -> set[str]:
    """The settings whose value is not the same in every one of ``settings`` (a setting one lacks: "unset")."""
    names = set().union(*settings)
    return {key for key in names if len({repr(s.get(key, "unset")) for s in settings}) > 1}


@pytest.mark.parametrize("name", [name for name, lesson in LESSONS.items() if len(lesson.runs) > 1])
def test_each_comparison_changes_the_one_setting_it_teaches(name):
    lesson = LESSONS[name]
    changed = differing([settings_of(algo, params) for algo, params, _ in lesson.runs])
    if lesson.changes == "algorithm":  # two models: each at its own defaults, nothing else changed
        assert all(params == {} for _, params, _ in lesson.runs)
        changed = {"algorithm"} if "algorithm" in changed else changed
    assert changed == {lesson.changes}, f"{name} changes {sorted(changed)}"
    assert one_change(lesson), "the page does not say what changed"


def test_learning_rate_too_high_keeps_a_rising_diverged_curve_beside_a_good_one(app):
    good, high = open_lesson(app, "learning-rate")
    assert not good.diverged and high.diverged
    losses = [record["total_loss"] for record in high.history]
    assert len(losses) >= 10 and all(np.diff(losses[-8:]) > 0), "no loss rising over several epochs"
    good_losses = [record["total_loss"] for record in good.history]
    assert all(np.diff(good_losses) < 0)
    assert any("diverged" in warning.value for warning in app.warning)
    assert "serving_run" not in app.session_state  # a lesson does not choose the model serving the person
    assert {good.group, high.group} == {"lessons"}
    app.switch_page("pages/compare.py").run()
    assert_no_exception(app)
    app.pills(key="compare_groups").set_value(["mine", "lessons"]).run()
    assert {good.title, high.title} <= set(app.multiselect(key="compare_runs").options)


def test_over_and_under_fitting(app):
    none, default, heavy = open_lesson(app, "fitting")
    valid = [record["valid_rmse"] for record in none.history]
    train = [record["train_rmse"] for record in none.history]
    assert int(np.argmin(valid)) < len(valid) - 5 and valid[-1] > min(valid) + 0.03  # turns and rises
    assert train[-1] < 0.5 * train[0]
    assert heavy.history[-1]["train_rmse"] > default.history[-1]["train_rmse"] + 0.1
    assert default.metrics["rmse"] < min(none.metrics["rmse"], heavy.metrics["rmse"])
    # the side figure the lesson explains: the over-fitted run's lists are of popular films, and its P@10 higher
    assert none.metrics["mean_popularity"] > 2 * default.metrics["mean_popularity"]
    assert none.metrics["precision@10"] > default.metrics["precision@10"]
    assert any("ratings each on average" in text.value for text in app.markdown)


@pytest.mark.slow
def test_too_few_factors_gives_everyone_one_list(app):
    open_lesson(app, "factors")
    alike = [metric.value for metric in app.metric]
    assert alike[0] == "100%" and int(alike[1].rstrip("%")) < 50


@pytest.mark.parametrize("name", ["rating-vs-ranking", "biases"])
def test_two_lists_side_by_side_with_popularity(app, name):
    open_lesson(app, name)
    tables = [frame.value for frame in app.table]  # plain tables: every column shows beside the menu
    assert len(tables) == 2 and all(len(t) == 10 and "ratings" in t for t in tables)
    assert list(tables[0]["title"]) != list(tables[1]["title"])
    if name == "rating-vs-ranking":  # the ranking model's films are the popular ones
        assert tables[1]["ratings"].median() > 3 * tables[0]["ratings"].median()


def test_zero_filled_nmf_predicts_far_too_low(app):
    open_lesson(app, "nmf")
    table = app.dataframe[0].value.set_index("run")
    zero_filled, observed = table.index
    assert table.at[zero_filled, "mean prediction"] < 0.5 * table.at[zero_filled, "mean true rating"]
    assert table.at[zero_filled, "test RMSE"] > 2 * table.at[observed, "test RMSE"]


def test_the_small_matrix_fills_in_under_a_slider(app):
    open_lesson(app, "small-matrix")
    slider = app.slider(key="lessons_epoch")
    assert slider.value == slider.max > 10
    slider.set_value(1).run()
    assert_no_exception(app)
    assert any("Epoch 1: train RMSE" in caption.value for caption in app.caption)
    assert app.get("plotly_chart")


def test_the_gradient_check_agrees_and_picks_other_parameters(app):
    open_lesson(app, "gradient-check")
    first = app.dataframe[0].value
    assert (first["relative difference"] < 1e-6).all()
    app.button(key="lessons_gradient_again").click().run()
    assert list(app.dataframe[0].value["parameter"]) != list(first["parameter"])


def test_runs_are_named_by_what_differs_from_the_defaults():
    sgd = MODELS["sgd"]
    assert auto_name(sgd, sgd.Params(lr=0.05, n_factors=2).to_dict()) == "SGD · 2 factors · lr 0.05"
    assert auto_name(sgd, sgd.Params().to_dict()) == "SGD"
    nmf = MODELS["nmf"]
    assert auto_name(nmf, nmf.Params(mode="zero_filled").to_dict(), "random:0.1") == (
        "NMF · mode zero-filled · split random:0.1"
    )
    assert (
        auto_name(MODELS["wals"], MODELS["wals"].Params(n_factors=1).to_dict()) == "Weighted ALS · 1 factor"
    )
    assert all(lesson.look_at and lesson.shows for lesson in LESSONS.values())


def test_sweep_values_can_be_typed_freely(app):
    open_page(app, "compare")
    app.selectbox(key="sweep_algo").set_value("als").run()
    app.multiselect(key="sweep_params_als").set_value(["n_factors"]).run()
    app.multiselect(key="sweep_values_als_n_factors").set_value([2, "5"]).run()
    assert_no_exception(app)
    assert any(caption.value.startswith("6 fits") for caption in app.caption)  # 2 values × 3 folds
    app.multiselect(key="sweep_values_als_n_factors").set_value([2, "0.5"]).run()
    assert any("0.5 not allowed" in error.value for error in app.error)


def test_ratings_given_on_another_data_set_are_explained(app):
    app.session_state["my_ratings"] = {"upload:mine.csv": {1: 4.0, 2: 3.0}}
    app.run()
    captions = " ".join(caption.value for caption in app.sidebar.caption)
    assert "2 ratings on mine.csv belong to another data set" in captions


def test_a_diverged_training_keeps_its_curve_from_the_loss_before_training(app):
    open_page(app, "train")
    app.selectbox(key="train_algo").set_value("gd").run()
    app.select_slider(key="train_gd_lr").set_value(0.01).run()
    app.button(key="train_go").click().run()
    assert app.session_state["training_job"].join(120)
    app.run()
    assert_no_exception(app)
    assert any("before the first epoch" in warning.value for warning in app.warning)
    run = app.session_state["runs"][app.session_state["train_run"]]
    assert run.diverged and run.model is None and run.start_loss is not None
    assert run.history[-1]["total_loss"] > 1000 * run.start_loss  # the curve ends where the message says
    assert app.get("plotly_chart") and "serving_run" not in app.session_state


def test_a_new_persons_list_by_score_and_following_their_taste(app):
    assert len(open_lesson(app, "taste")) == 1
    assert app.selectbox(key="lessons_taste").value.startswith("Animation lover")
    gaps = {metric.label: float(metric.value) for metric in app.metric}
    plain, followed = (frame.value for frame in app.table)
    family = [sum("Animation" in g or "Children" in g for g in t["genres"]) for t in (plain, followed)]
    assert family[1] >= 8 > family[0] and len(plain) == len(followed) == 10
    assert gaps["By the scores alone: genre gap"] > 2 * gaps["Following the taste, λ 0.9: genre gap"]
    app.slider(key="lessons_taste_weight").set_value(0.0).run()
    assert_no_exception(app)
    same = [frame.value["title"].tolist() for frame in app.table]
    assert same[0] == same[1]  # λ 0: the model's own order


def test_a_present_link_turns_presentation_mode_on_and_the_switch_off(app):
    app.query_params["lesson"], app.query_params["present"] = "nmf", "1"
    app.switch_page("pages/lessons.py").run()
    assert_no_exception(app)
    assert app.selectbox(key="lessons_pick").value == "nmf"  # a compact picker: no menu down the side
    assert app.session_state["presenting"] and app.toggle(key="lessons_present").value
    assert len(app.table) == 1 and not app.dataframe  # a plain table in large type, every column shown
    assert not [title for title in app.main.title if title.value == "Lessons"]  # the lesson gets the room
    del app.query_params["present"]  # as the page leaves it in the browser's address once switched off
    app.toggle(key="lessons_present").set_value(False).run()
    assert_no_exception(app)
    assert not app.session_state["presenting"] and len(app.dataframe) == 1 and not app.table


def test_each_lesson_asks_first_and_reveals_on_a_click(app):
    assert set(QUESTIONS) == set(LESSONS)
    assert all(
        0 <= q.answer < len(q.choices) and len(set(q.choices)) == len(q.choices) for q in QUESTIONS.values()
    )
    app.query_params["lesson"] = "fitting"
    app.switch_page("pages/lessons.py").run()
    question = QUESTIONS["fitting"]
    assert app.radio(key="lessons_guess_fitting").label == question.text
    assert question.choices[question.answer] not in " ".join(
        m.value for m in app.markdown if "Answer" in m.value
    )
    app.radio(key="lessons_guess_fitting").set_value(1).run()  # a wrong guess: λ 0.1
    app.button(key="lessons_reveal_fitting").click().run()
    assert_no_exception(app)
    answer = next(m.value for m in app.markdown if "Answer:" in m.value)
    assert "**λ 0**" in answer and "you guessed: λ 0.1" in answer
    app.radio(key="lessons_pick").set_value("nmf").run()  # each lesson keeps its own question and answer
    assert app.radio(key="lessons_guess_nmf").value is None and "nmf" not in app.session_state["lessons_said"]


JARGON = (
    "gradient",
    "regulariz",
    "factor",
    "epoch",
    "bias",
    "KL",
    "NMF",
    "SGD",
    "ALS",
    "λ",
    "RMSE",
    "matrix",
)


def test_each_lesson_says_what_it_does_in_plain_words_first_and_precisely_on_demand(app):
    assert set(IN_PLAIN_WORDS) == set(LESSONS)
    for name, plain in IN_PLAIN_WORDS.items():
        assert not [word for word in JARGON if word in plain], f"{name}: jargon in the plain sentence"
        assert len(plain) <= 120, f"{name}: more than a line or two"
    app.query_params["lesson"] = "biases"
    app.switch_page("pages/lessons.py").run()
    assert_no_exception(app)
    assert any(m.value == IN_PLAIN_WORDS["biases"] for m in app.markdown)
    precisely = next(e for e in app.expander if e.label == "More precisely")
    assert precisely.markdown[0].value == LESSONS["biases"].shows


def test_the_class_guesses_are_counted_on_the_server_and_shown_with_the_answer(app):
    student = AppTest.from_file(
        str(ROOT / "app.py"), default_timeout=60
    ).run()  # another browser, same server
    for session, guess in ((app, 0), (student, 2), (student, 0)):  # the student changes their mind
        if "lessons_done" not in session.session_state:
            session.query_params["lesson"] = "fitting"
            session.switch_page("pages/lessons.py").run()
        session.radio(key="lessons_guess_fitting").set_value(guess).run()
        assert_no_exception(session)
    assert any(m.value == "2 guesses so far" for m in app.run().markdown)  # one each, no names
    app.button(key="lessons_reveal_fitting").click().run()
    answer = next(m.value for m in app.markdown if "Answer:" in m.value)
    assert answer.endswith("The class: λ 0 **2** · λ 0.1 **0** · λ 2 **0**.")
    tally = ClassAnswers(hours=1.0, limit=1)
    tally.vote("nmf", "a", 1)
    tally.vote("nmf", "b", 2)  # beyond the limit: not counted
    tally.vote("nmf", "a", 2)
    assert tally.counts("nmf", 3) == [0, 0, 1]
