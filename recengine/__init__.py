"""recengine: matrix-factorization recommenders in NumPy and SciPy."""

from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.errors import DataError, ParameterError, RecEngineError, TrainingDiverged
from recengine.models import MODELS, make

__version__ = "0.1.0"

__all__ = [
    "MODELS",
    "DataError",
    "ParameterError",
    "RatingScale",
    "RatingsDataset",
    "RecEngineError",
    "TrainingDiverged",
    "make",
]
