"""Every model, by name. ``make("als", n_factors=32)`` builds one; ``MODELS`` lists them all."""

from __future__ import annotations

from typing import Any

from recengine.errors import ParameterError
from recengine.models.base import Hyperparameters, ParamSpec, Recommender, hyper

MODELS: dict[str, type[Recommender]] = {}


def register(cls: type[Recommender]) -> type[Recommender]:
    """Class decorator: make a model available by its ``name``."""
    MODELS[cls.name] = cls
    return cls


def make(name: str, **params: Any) -> Recommender:
    """A model by name with hyperparameters; unknown names list the known ones."""
    if name not in MODELS:
        raise ParameterError("algo", name, "one of " + ", ".join(sorted(MODELS)))
    cls = MODELS[name]
    return cls(cls.Params.from_dict(params))


# Importing a model module registers it.
from recengine.models import baseline  # noqa: E402, F401, I001
from recengine.models import implicit, popular  # noqa: E402, F401
from recengine.models import gradient, sgd, svdpp  # noqa: E402, F401
from recengine.models import als  # noqa: E402, F401
from recengine.models import nmf  # noqa: E402, F401
from recengine.models import svd  # noqa: E402, F401
from recengine.models import bpmf  # noqa: E402, F401

__all__ = ["MODELS", "Hyperparameters", "ParamSpec", "Recommender", "hyper", "make", "register"]
