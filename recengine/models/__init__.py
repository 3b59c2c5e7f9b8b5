"""Every model, by name. ``make("als", n_factors=32)`` builds one; ``MODELS`` lists them all.

The registry is this list: the model modules import the base class and sibling helper modules, never the
registry, so importing goes one way. A new model is a module with a `Recommender` subclass (its
``Params``, ``_initialize``, ``_run_epoch``, ``_losses``) and one line here.
"""

from __future__ import annotations

from typing import Any

from recengine.errors import ParameterError
from recengine.models.als import ALS
from recengine.models.base import Hyperparameters, ParamSpec, Recommender, hyper
from recengine.models.baseline import Baseline
from recengine.models.bpmf import BPMF
from recengine.models.bsvdpp import BayesianSVDpp
from recengine.models.gradient import GD, Adam
from recengine.models.implicit import BPR, WALS
from recengine.models.nmf import NMF
from recengine.models.popular import MostPopular
from recengine.models.sgd import SGD, Minibatch
from recengine.models.svd import SVD
from recengine.models.svdpp import SVDpp

MODELS: dict[str, type[Recommender]] = {
    cls.name: cls
    for cls in (
        Baseline,
        WALS,
        BPR,
        MostPopular,
        GD,
        Adam,
        SGD,
        Minibatch,
        SVDpp,
        ALS,
        NMF,
        SVD,
        BPMF,
        BayesianSVDpp,
    )
}


def make(name: str, **params: Any) -> Recommender:
    """A model by name with hyperparameters; unknown names list the known ones."""
    if name not in MODELS:
        raise ParameterError("algo", name, "one of " + ", ".join(sorted(MODELS)))
    cls = MODELS[name]
    return cls(cls.Params.from_dict(params))


__all__ = ["MODELS", "Hyperparameters", "ParamSpec", "Recommender", "hyper", "make"]
