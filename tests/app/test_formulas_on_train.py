"""AppTest: the Train page renders every registered model's objective and step, and opens a shared link."""

from __future__ import annotations

import pytest
from app_helpers import assert_no_exception

from recengine.models import MODELS


def test_every_model_states_its_formulas_and_symbols():
    for name, cls in MODELS.items():
        formulas = cls.formulas
        assert formulas is not None, name
        assert formulas.objective.strip() and formulas.step.strip(), name
        assert len(formulas.symbols) >= 1 and all(meaning for _, meaning in formulas.symbols), name
        assert formulas.objective.count("{") == formulas.objective.count("}"), name
        assert formulas.step.count("{") == formulas.step.count("}"), name
        assert formulas.text().splitlines()[0].startswith(formulas.objective_name), name
        assert formulas.text() in cls.__doc__, name


@pytest.mark.parametrize("algo", sorted(MODELS))
def test_train_page_renders_the_formulas_of(app, algo):
    app.query_params["algo"] = algo
    app.switch_page("pages/train.py").run()
    assert_no_exception(app)
    assert app.selectbox(key="train_algo").value == algo
    shown = [element.value for element in app.get("latex")]
    formulas = MODELS[algo].formulas
    assert any(formulas.objective in text for text in shown)
    assert any(formulas.step in text for text in shown)


def test_a_shared_link_opens_the_same_settings(app):
    for key, value in {"algo": "sgd", "lr": "0.05", "n_factors": "2", "split": "random:0.1"}.items():
        app.query_params[key] = value
    app.switch_page("pages/train.py").run()
    assert_no_exception(app)
    assert app.selectbox(key="train_algo").value == "sgd"
    assert app.session_state["train_sgd_lr"] == 0.05
    assert app.session_state["train_sgd_n_factors"] == 2
    assert app.selectbox(key="train_split").value == "random"
    app.number_input(key="train_sgd_n_factors").set_value(3).run()
    assert app.query_params["n_factors"] == "3" and app.query_params["lr"] == "0.05"
