"""Every hyperparameter of every model at its extremes, just outside them, NaN, infinite and of the wrong type:
each ends in a clean fit (finite state, finite scores), a ParameterError or TrainingDiverged, never another
exception and never a silent NaN model. Random in-range combinations (hypothesis) check the interactions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from outcomes import fuzz_settings, tally

from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import planted_low_rank
from recengine.errors import ParameterError, TrainingDiverged
from recengine.models import MODELS
from recengine.models.base import ParamSpec, Recommender

EPOCHS = 2  # every fit stops after this many epochs, whatever n_epochs says
COMBINATIONS_PER_MODEL = 40


@pytest.fixture(scope="module")
def small() -> RatingsDataset:
    return planted_low_rank(n_users=30, n_items=20, rank=2, density=0.4, seed=1)[0]


def extremes(spec: ParamSpec) -> list[tuple[str, Any]]:
    """(label, value) pairs: the bounds, just outside them, non-finite numbers and wrong types."""
    if spec.kind == "bool":
        return [
            ("true", True),
            ("false", False),
            ("int 1", 1),
            ("text", "true"),
            ("none", None),
            ("nan", math.nan),
        ]
    if spec.kind == "choice":
        choices = [(f"choice {c}", c) for c in spec.choices or ()]
        return [*choices, ("unknown", "nope"), ("none", None), ("int", 1), ("list", list(spec.choices or ()))]
    step = 1 if spec.kind == "int" else 1e-9
    values: list[tuple[str, Any]] = []
    if spec.low is not None:
        values += [
            ("low", spec.low + (step if spec.low_open else 0)),
            ("below low", spec.low - (0 if spec.low_open else step)),
        ]
        if spec.kind == "int":
            values[-2] = ("low", int(values[-2][1]))
    if spec.high is not None:
        values += [
            ("high", spec.high - (step if spec.high_open else 0)),
            ("above high", spec.high + (0 if spec.high_open else step)),
        ]
        if spec.kind == "int":
            values[-2] = ("high", int(values[-2][1]))
    values += [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf), ("text", str(spec.default))]
    values += [("none", None), ("bool", True), ("list", [spec.default])]
    if spec.high is not None:
        values.append(("huge", 10**30))
    if spec.kind == "int":
        values.append(("fraction", spec.default + 0.5))
    return values


def stop_early(record, model) -> bool:
    return record.epoch >= EPOCHS


def fit_outcome(cls: type[Recommender], params: dict[str, Any], data: RatingsDataset) -> str:
    """Make and fit a model; 'fit' (checked finite), 'ParameterError' or 'TrainingDiverged'."""
    try:
        model = cls(cls.Params.from_dict(params))
        model.fit(data, callbacks=[stop_early])
    except ParameterError as error:
        assert str(error).strip() and error.name
        return "ParameterError"
    except TrainingDiverged as error:
        assert error.epoch >= 1 and str(error).strip()
        return "TrainingDiverged"
    for name, array in model.state().items():
        assert np.isfinite(np.asarray(array, dtype=np.float64)).all(), (
            f"{name} holds NaN or inf after a clean fit"
        )
    assert np.isfinite(model.item_scores(0)).all()
    if model.kind == "rating":
        assert np.isfinite(model.predict(data.user_codes, data.item_codes)).all()
    return "fit"


def few_epochs(cls: type[Recommender], name: str) -> dict[str, Any]:
    has_epochs = any(spec.name == "n_epochs" for spec in cls.Params.specs())
    return {"n_epochs": EPOCHS} if has_epochs and name != "n_epochs" else {}


@pytest.mark.parametrize("algo", sorted(MODELS))
def test_every_hyperparameter_at_its_extremes(algo: str, small: RatingsDataset):
    cls = MODELS[algo]
    seen = set()
    for spec in cls.Params.specs():
        for label, value in extremes(spec):
            outcome = fit_outcome(cls, {**few_epochs(cls, spec.name), spec.name: value}, small)
            tally("extremes", algo, outcome)
            seen.add(outcome)
            inside = label in ("low", "high") or label.startswith(("choice", "true", "false"))
            if not inside:
                assert outcome == "ParameterError", f"{spec.name}={value!r} ({label}) was accepted"
    assert "fit" in seen


@st.composite
def in_range(draw, spec: ParamSpec) -> Any:
    """A value anywhere in the spec's allowed range, with the bounds themselves drawn often."""
    if spec.kind == "bool":
        return draw(st.booleans())
    if spec.kind == "choice":
        return draw(st.sampled_from(spec.choices))
    low = spec.low if spec.low is not None else -1e6
    high = spec.high if spec.high is not None else 1e6
    if spec.kind == "int":
        low, high = math.ceil(low + spec.low_open), math.floor(high - spec.high_open)
        return draw(st.one_of(st.sampled_from([low, high, spec.default]), st.integers(low, high)))
    values = st.floats(low, high, exclude_min=spec.low_open, exclude_max=spec.high_open)
    if spec.log and low >= 0:
        tiny = max(low, 1e-12)
        values = st.floats(math.log10(tiny), math.log10(high)).map(lambda e: min(max(10**e, tiny), high))
    edges = [v for v in (spec.low, spec.high) if v is not None]
    edges = [
        v for v in edges if not (v == spec.low and spec.low_open) and not (v == spec.high and spec.high_open)
    ]
    return draw(st.one_of(st.sampled_from([*edges, spec.default]), values))


@pytest.mark.parametrize("algo", sorted(MODELS))
def test_random_in_range_combinations(algo: str, small: RatingsDataset):
    cls = MODELS[algo]
    strategy = st.fixed_dictionaries({spec.name: in_range(spec) for spec in cls.Params.specs()})

    @fuzz_settings(COMBINATIONS_PER_MODEL)
    @given(params=strategy)
    def run(params: dict[str, Any]) -> None:
        tally("combinations", algo, fit_outcome(cls, params, small))

    run()


# --- regressions found by the tests above ----------------------------------------------------------------


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_non_finite_integers_are_parameter_errors(value: float):
    """Was ValueError / OverflowError from round(): n_factors=nan reached int conversion."""
    for cls in MODELS.values():
        for spec in cls.Params.specs():
            if spec.kind == "int":
                with pytest.raises(ParameterError, match=spec.name):
                    cls.Params.from_dict({spec.name: value})


def test_a_singular_cholesky_system_is_reported_as_divergence(small: RatingsDataset):
    """Was SystemError from numba: reg 0 with more factors than items makes wals' k × k system singular."""
    model = MODELS["wals"](MODELS["wals"].Params(n_factors=30, reg=0, alpha=0, solver="cholesky", n_epochs=1))
    with pytest.raises(TrainingDiverged, match="singular.*Raise reg"):
        model.fit(small)


@pytest.mark.parametrize("algo", ["sgd", "minibatch", "svdpp"])
def test_a_learning_rate_decayed_to_nothing_still_fits(algo: str, small: RatingsDataset):
    """Was ZeroDivisionError: lr × lr_decay^(epoch − 1) underflowed to 0 and the gradient norms divide by it."""
    cls = MODELS[algo]
    model = cls(cls.Params(lr_decay=5e-324, n_epochs=3)).fit(small)
    assert model.history_[-1].extra["lr"] > 0
    assert all(math.isfinite(v) for v in model.history_[-1].grad_norms.values())


def test_row_solve_models_cap_their_factors():
    """Dense k × k solves per row grow as k³ (an als epoch on the bundled set: 9 s at 256 factors, minutes at
    1000), so als and bpmf stop at 256 factors and wals does with its Cholesky solver (CG allows 1024)."""
    for algo in ("als", "bpmf"):
        MODELS[algo].Params(n_factors=256)
        with pytest.raises(ParameterError, match="≤ 256"):
            MODELS[algo].Params(n_factors=257)
    with pytest.raises(ParameterError, match="solver='cholesky'"):
        MODELS["wals"].Params(n_factors=257, solver="cholesky")
    assert MODELS["wals"].Params(n_factors=1024, solver="cg").n_factors == 1024
