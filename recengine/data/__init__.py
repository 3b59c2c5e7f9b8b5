"""Data sets: loaders for every format we read, official downloads, filters, and the bundled sample.

    load()                          the bundled MovieLens latest-small (610 users, 9,742 items)
    load("path/to/ratings.csv")     a file or folder, format detected (see FORMATS)
    load("ml-100k")                 a known data set from the download cache (see KNOWN_DATASETS)
    load("csv:path/to/file.txt")    an explicit format
    load_train_test("u1.base", "u1.test")   predefined splits in one id space

Every refusal is a :class:`recengine.errors.DataError` subclass whose message can be shown as is.
"""

from recengine.data.download import KNOWN_DATASETS, KnownDataset, cache_dir, cached_datasets, download
from recengine.data.formats import FORMAT_DESCRIPTIONS, FORMATS, detect_format
from recengine.data.loading import BUNDLED, filter_min_ratings, load, load_bundled, load_train_test

__all__ = [
    "BUNDLED",
    "FORMATS",
    "FORMAT_DESCRIPTIONS",
    "KNOWN_DATASETS",
    "KnownDataset",
    "cache_dir",
    "cached_datasets",
    "detect_format",
    "download",
    "filter_min_ratings",
    "load",
    "load_bundled",
    "load_train_test",
]
