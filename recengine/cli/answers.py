"""A newcomer's answers in a file: ``item,rating`` lines, an empty rating meaning "haven't seen it".

Read by ``recengine ask --answers`` and ``recengine recommend --ratings``. A first line naming its columns
(``item,rating``, others such as ``title`` allowed, as the dashboard exports) is a header; without one the
first two fields of each line are the item id and the rating. A film listed twice counts as its last line
says. Ids the data set lacks are skipped and named (one unknown film should not cost the whole list).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from recengine.data.dataset import RatingsDataset
from recengine.errors import BadValuesError, DataError, MissingColumnsError, UnknownIdError
from recengine.serving.ask import Answers

COLUMNS = ("item", "rating")


@dataclass(frozen=True)
class AnswersFile:
    """The answers (item codes of ``data``) and the ids the data set lacks, in file order."""

    answers: Answers
    unknown: list[str]


def read_answers(path: str, data: RatingsDataset) -> AnswersFile:
    """The answers in ``path`` (see the module docstring), checked against ``data``'s items and scale."""
    rows = _rows(path)
    by_item: dict[str, float | None] = {}
    for line, item, text in rows:
        by_item.pop(item, None)  # the last line about a film is the answer
        by_item[item] = _rating(path, line, text, data)
    codes = {item: _known_code(data, item) for item in by_item}
    unknown = [item for item, code in codes.items() if code < 0]
    if by_item and len(unknown) == len(by_item):
        raise DataError(
            f"None of the {len(by_item)} item ids in {path} is in the data set: use the data set's own item "
            "ids (the movieId column for MovieLens)."
        )
    known = [(codes[item], value) for item, value in by_item.items() if codes[item] >= 0]
    rated = [(code, value) for code, value in known if value is not None]
    answers = Answers(
        np.array([code for code, _ in rated], np.int64),
        np.array([value for _, value in rated], np.float64),
        np.array([code for code, value in known if value is None], np.int64),
    )
    return AnswersFile(answers, unknown)


def _rows(path: str) -> list[tuple[int, str, str]]:
    """(line number, item id, rating text) of every line but a header and blank lines."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            lines = [(n, fields) for n, fields in enumerate(csv.reader(handle), start=1) if any(fields)]
    except FileNotFoundError:
        raise DataError(f"There is no answers file at {path}.") from None
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise DataError(f"{path} is not a readable text file of item,rating lines ({error}).") from None
    if not lines:
        return []
    item_at, rating_at = 0, 1
    first = [field.strip() for field in lines[0][1]]
    if _is_header(first):
        names = [name.casefold() for name in first]
        missing = [c for c in COLUMNS if c not in names]
        if missing:
            raise MissingColumnsError(
                f"{path} lacks the columns {missing} in its first line. Write a header line item,rating, or "
                "none and item,rating lines."
            )
        item_at, rating_at = names.index("item"), names.index("rating")
        lines = lines[1:]
    out = []
    for number, fields in lines:
        if len(fields) <= max(item_at, rating_at) or not fields[item_at].strip():
            raise BadValuesError(
                f"{path}, line {number}: write item,rating (an empty rating for a film not seen); this line "
                f"has {len(fields)} field{'s' if len(fields) != 1 else ''} or no item id."
            )
        out.append((number, fields[item_at].strip(), fields[rating_at].strip()))
    return out


def _is_header(fields: list[str]) -> bool:
    """A first line is a header when its second field is neither empty nor a number."""
    if len(fields) < 2 or not fields[1]:
        return False
    try:
        float(fields[1])
    except ValueError:
        return True
    return False


def _rating(path: str, line: int, text: str, data: RatingsDataset) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        raise BadValuesError(
            f"{path}, line {line}: the rating is not a number (leave it empty for a film not seen)."
        ) from None
    if not np.isfinite(value) or not data.scale.contains(np.array([value]))[0]:
        raise BadValuesError(
            f"{path}, line {line}: the rating is off the data set's scale "
            f"{data.scale.low:g}..{data.scale.high:g}."
        )
    return value


def _known_code(data: RatingsDataset, raw: str) -> int:
    try:
        return data.item_code(raw)
    except UnknownIdError:
        return -1
