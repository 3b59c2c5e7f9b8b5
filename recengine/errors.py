"""Every error the engine raises on purpose, under one base.

Messages are written for people: each says what is wrong and how to fix it, so a page or the command
line can show ``str(error)`` as it is, without a traceback.
"""

from __future__ import annotations


class RecEngineError(Exception):
    """Base of every error the engine raises on purpose."""


# --- data -----------------------------------------------------------------------------------------------


class DataError(RecEngineError):
    """A data set could not be loaded, or was refused as it is."""


class DataFormatError(DataError):
    """The file is not in the expected layout: unknown format, wrong delimiter, bad encoding."""


class MissingColumnsError(DataError):
    """Required columns are absent; the message lists the columns found and those expected."""


class BadValuesError(DataError):
    """Ratings or ids that are missing, non-numeric, not finite or off the rating scale."""


class EmptyDataError(DataError):
    """The file, or what is left of it after filters, holds no ratings."""


class ArchiveError(DataError):
    """A downloaded or given archive is truncated, corrupted, or has unsafe member paths."""


class TooLargeError(DataError):
    """Loading a file, training or a dense matrix would need more memory than the budget allows (see
    `recengine.memory`)."""


class DownloadError(DataError):
    """A download failed (offline, checksum mismatch, server error) or the data set name is unknown."""


# --- models ---------------------------------------------------------------------------------------------


class ParameterError(RecEngineError, ValueError):
    """A hyperparameter is out of its allowed range; the message names parameter, value and range."""

    def __init__(self, name: str, value: object, allowed: str):
        self.name, self.value, self.allowed = name, value, allowed
        super().__init__(f"{name}={value!r} is not allowed: {name} must be {allowed}.")


class TrainingDiverged(RecEngineError):
    """Training produced NaN, inf or an exploding loss; the message names the epoch and a fix."""

    def __init__(self, epoch: int, what: str, suggestion: str):
        self.epoch, self.what, self.suggestion = epoch, what, suggestion
        self.history: list[dict] = []  # the fit's epoch records up to and with the diverging one
        self.start_loss: float | None = None  # the total loss before the first epoch
        super().__init__(f"Training diverged at epoch {epoch}: {what}. {suggestion}")


class NotFittedError(RecEngineError):
    """A model was used before ``fit`` (or ``load``)."""


class ScoreOverflowError(RecEngineError):
    """A model's scores overflowed or are not finite numbers: its learned values are too large to use."""


class ModelFileError(RecEngineError):
    """A saved model is truncated, corrupted, from a newer format, or from another data set."""


class UnknownIdError(RecEngineError, KeyError):
    """A user or item id is not in the data set."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""
