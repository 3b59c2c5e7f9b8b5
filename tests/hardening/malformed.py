"""Hypothesis strategies that write malformed rating files in every layout the loaders read.

A case is a folder of files (``{name: bytes}``) and what to hand to ``load``: rows with damage mixed in
(truncated rows, wrong delimiters, mixed types, NaN and inf, huge ids, ratings off the scale, duplicate
pairs, empty files, bad encodings, random bytes), and fuzzed metadata files beside them.

Hypothesis draws the structure of each case (how many rows, how damaged, which delimiter, encoding and
byte-level damage); the field values come from a seeded ``random.Random`` that hypothesis also draws, which
keeps a case to a few dozen draws (fast to generate) and every case reproducible.
"""

from __future__ import annotations

import io
import random
import stat
import zipfile
from dataclasses import dataclass

import numpy as np
import pandas as pd
from hypothesis import strategies as st

# --- field values ---------------------------------------------------------------------------------------

WEIRD: dict[str, tuple[str, ...]] = {
    "id": (
        "", " ", "-1", "0", "2147483647", "2147483648", "-2147483649", "9223372036854775807",
        "9223372036854775808", "99999999999999999999999", "1e3", "1.5", "3.0", "nan", "NaN", "inf", "-inf",
        "abc", "é", '"1"', " 7 ", "0x10", "+5", "--", "null", "None", "\x00", "ü🙂", "1:", "::", "\\", "'",
        '"', "1\n2",
    ),
    "rating": (
        "", " ", "nan", "NaN", "inf", "-inf", "+inf", "Infinity", "-1", "0", "6", "11", "1e39", "-1e39",
        "4.25", "3,5", "five", "1e-50", "2.", ".5", "00004", "4.0000001", "1e308", "True", "\x00", "½", '"',
    ),
    "time": (
        "", "nan", "-1", "1.5", "abc", "1e18", "99999999999999999999", "2020-01-01", "2020-13-45",
        "9999-12-31", "1970-01-01T00:00:00Z", "-9223372036854775808", "0", "2020-01-01 25:00",
    ),
}  # fmt: skip
WEIRD["date"] = WEIRD["time"]
WEIRD["text"] = WEIRD["id"]
CHARACTERS = "abcxyz ,;|:\t'\"()-_.0123456789éüß—🙂\\/"
DELIMITERS = (",", "\t", ";", "|", "::", " ", ":")
ENCODINGS = ("utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252", "utf-32")
JUNK = (
    b"\x00",
    b"\xff\xfe",
    b"\xef\xbb\xbf",
    b"\x80\x81",
    b"\r",
    b"\n\n\n",
    b'"',
    b"PK\x03\x04",
    b"\x1f\x8b",
)
HALF = tuple(float(v) for v in np.arange(0.5, 5.01, 0.5))
WHOLE = (1.0, 2.0, 3.0, 4.0, 5.0)


@dataclass(frozen=True)
class Fields:
    """How to make one row's values: the kind of each field, the id range, the rating levels, the damage."""

    kinds: tuple[str, ...]
    n_ids: int = 8
    levels: tuple[float, ...] = HALF
    weird: float = 0.0  # chance that a field takes an odd value

    def value(self, kind: str, rng: random.Random) -> str:
        if rng.random() < self.weird:
            return rng.choice(WEIRD[kind])
        if kind == "id":
            return str(rng.randint(1, self.n_ids))
        if kind == "rating":
            return f"{rng.choice(self.levels):g}"
        if kind == "time":
            return str(rng.randint(0, 2_000_000_000))
        if kind == "date":
            return f"{rng.randint(1999, 2006)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
        return "".join(rng.choice(CHARACTERS) for _ in range(rng.randint(0, 8)))

    def row(self, rng: random.Random) -> list[str]:
        return [self.value(kind, rng) for kind in self.kinds]


@st.composite
def fields(draw, kinds: tuple[str, ...], levels: tuple[float, ...] = HALF) -> Fields:
    weird = draw(st.sampled_from([0.0, 0.0, 0.0, 0.01, 0.05, 0.2, 0.6]))
    return Fields(kinds, draw(st.integers(1, 40)), levels, weird)


# --- rows and text --------------------------------------------------------------------------------------


@st.composite
def rows(draw, spec: Fields, max_rows: int = 30) -> list[list[str]]:
    """Rows of values, some repeated (duplicate pairs), some cut short or given extra fields."""
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    body = [spec.row(rng) for _ in range(draw(st.integers(0, max_rows)))]
    if body and draw(st.integers(0, 99)) < 25:  # duplicate (user, item) pairs, some with another rating
        for _ in range(draw(st.integers(1, 5))):
            copy = list(rng.choice(body))
            if len(copy) > 2 and rng.random() < 0.5:
                copy[2] = spec.value(spec.kinds[2], rng)
            body.insert(rng.randint(0, len(body)), copy)
    if body and draw(st.integers(0, 99)) < 15:  # truncated rows and rows with extra fields
        for _ in range(draw(st.integers(1, 3))):
            index = rng.randrange(len(body))
            body[index] = (body[index] + ["9", "x"])[: rng.randint(0, len(body[index]) + 2)]
    return body


@st.composite
def table_text(draw, header: list[str] | None, spec: Fields, delimiter: str) -> str:
    """Delimited text: maybe a header (maybe misnamed), rows, maybe the wrong delimiter, blank lines, CRLF."""
    if draw(st.integers(0, 99)) < 8:
        delimiter = draw(st.sampled_from(DELIMITERS))
    lines = [delimiter.join(row) for row in draw(rows(spec))]
    if header is not None and draw(st.integers(0, 99)) < 92:
        names = list(header)
        if draw(st.integers(0, 99)) < 12:  # misnamed, missing, repeated or extra columns
            pool = [*header, "rating", "user", "x", "", " userId", "Rating "]
            names = draw(st.lists(st.sampled_from(pool), max_size=6))
        lines.insert(0, delimiter.join(names))
    if lines and draw(st.integers(0, 99)) < 8:
        lines.insert(draw(st.integers(0, len(lines))), draw(st.sampled_from(["", " ", "#", delimiter * 3])))
    newline = draw(st.sampled_from(["\n", "\n", "\n", "\r\n", "\r"]))
    return newline.join(lines) + (newline if draw(st.booleans()) else "")


@st.composite
def encoded(draw, text: str) -> bytes:
    """``text`` in some encoding, then maybe truncated, spliced with junk, with a bit flipped, or replaced."""
    encoding = "utf-8" if draw(st.integers(0, 99)) < 80 else draw(st.sampled_from(ENCODINGS))
    data = text.encode(encoding, errors="replace")
    choice = draw(st.integers(0, 99))
    if data and choice < 6:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif choice < 10:
        at = draw(st.integers(0, len(data)))
        data = data[:at] + draw(st.sampled_from(JUNK)) + data[at:]
    elif data and choice < 13:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    elif choice < 15:
        data = draw(st.binary(max_size=64))
    return data


@st.composite
def metadata_file(draw, good: str) -> bytes | None:
    """A metadata file beside the ratings: absent, as written (UTF-8 or Latin-1), damaged lines, or bytes."""
    choice = draw(st.integers(0, 99))
    if choice < 35:
        return None
    if choice < 80:
        return good.encode("latin-1", errors="replace") if draw(st.booleans()) else good.encode()
    if choice < 96:
        rng = random.Random(draw(st.integers(0, 2**32 - 1)))
        lines = good.splitlines()
        for _ in range(rng.randint(1, 3)):
            index = rng.randrange(len(lines) + 1)
            kinds = [rng.choice(["text", "id", "rating", "date"]) for _ in range(rng.randint(0, 25))]
            line = rng.choice([",", "|", "::", "\t"]).join(Fields(tuple(kinds), weird=0.5).row(rng))
            lines[index : index + rng.randint(0, 1)] = [line]
        if rng.random() < 0.1:
            lines = lines[:1]  # a header and nothing else
        return draw(encoded("\n".join(lines)))
    return draw(st.binary(max_size=80))


# --- one case per format --------------------------------------------------------------------------------


@dataclass
class Case:
    """Files to write in a fresh folder, and what to pass to ``load`` (relative to that folder)."""

    files: dict[str, bytes]
    target: str
    format: str | None  # None: let the loader detect it

    def __repr__(self) -> str:  # hypothesis prints this for a failing case
        return f"Case(target={self.target!r}, format={self.format!r}, files={self.files!r})"


def _files(named: dict[str, bytes | None]) -> dict[str, bytes]:
    return {name: content for name, content in named.items() if content is not None}


@st.composite
def _target(draw, fmt: str, file: str, folder_ok: bool = True) -> tuple[str, str | None]:
    """(the folder or the ratings file, an explicit format or None for detection)."""
    target = "." if folder_ok and draw(st.booleans()) else file
    return target, fmt if draw(st.booleans()) else None


@st.composite
def movielens_case(draw) -> Case:
    spec = draw(fields(("id", "id", "rating", "time"), HALF))
    text = draw(table_text(["userId", "movieId", "rating", "timestamp"], spec, ","))
    movies = draw(
        metadata_file(
            'movieId,title,genres\n1,Toy Story (1995),Animation|Comedy\n2,"Heat, The (1995)",Action\n'
            "3,X,(no genres listed)\n"
        )
    )
    files = _files({"ratings.csv": draw(encoded(text)), "movies.csv": movies})
    return Case(files, *draw(_target("movielens", "ratings.csv")))


U_ITEM = (
    "1|Toy Story (1995)|01-Jan-1995||http://x|0|0|0|1|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
    "2|GoldenEye (1995)|01-Jan-1995||http://y|0|1|1|0|0|0|0|0|0|0|0|0|0|0|0|0|1|0|0\n"
    "3|Caf\xe9 (1996)|bad-date||http://z|1|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0|0\n"
)


@st.composite
def movielens_100k_case(draw) -> Case:
    name = draw(st.sampled_from(["u.data", "u.data", "u1.base", "ua.test"]))
    spec = draw(fields(("id", "id", "rating", "time"), WHOLE))
    files = {
        name: draw(encoded(draw(table_text(None, spec, "\t")))),
        "u.item": draw(metadata_file(U_ITEM)),
        "u.genre": draw(metadata_file("unknown|0\nAction|1\nAdventure|2\n")),
        "u.user": draw(metadata_file("1|24|M|technician|85711\n2|53|F|other|94043\n")),
    }
    return Case(_files(files), *draw(_target("movielens-100k", name, folder_ok=name == "u.data")))


@st.composite
def movielens_dat_case(draw) -> Case:
    spec = draw(fields(("id", "id", "rating", "time"), draw(st.sampled_from([HALF, WHOLE]))))
    files = {
        "ratings.dat": draw(encoded(draw(table_text(None, spec, "::")))),
        "movies.dat": draw(metadata_file("1::Toy Story (1995)::Animation|Comedy\n2::Heat (1995)::Action\n")),
        "users.dat": draw(metadata_file("1::F::1::10::48067\n2::M::56::16::70072\n")),
    }
    return Case(_files(files), *draw(_target("movielens-dat", "ratings.dat")))


@st.composite
def netflix_kaggle_case(draw) -> Case:
    spec = draw(fields(("id", "rating", "id"), WHOLE))
    text = draw(table_text(["User_ID", "Rating", "Movie_ID"], spec, ","))
    movies = "Movie_ID,Year,Name\n1,2003,Dinosaur Planet\n2,2004,Isle of Man TT 2004 Review\n"
    files = {
        "Netflix_Dataset_Rating.csv": draw(encoded(text)),
        "Netflix_Dataset_Movie.csv": draw(metadata_file(movies)),
    }
    return Case(_files(files), *draw(_target("netflix-kaggle", "Netflix_Dataset_Rating.csv")))


@st.composite
def prize_text(draw) -> str:
    """``MovieID:`` blocks of ``CustomerID,Rating,Date`` lines, some headers or lines damaged."""
    spec = draw(fields(("id", "rating", "date"), WHOLE))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    blocks = []
    for _ in range(draw(st.integers(0, 4))):
        if rng.random() < 0.9:
            head = f"{rng.randint(1, 9)}:"
        else:
            head = rng.choice(["", ":", "x:", "1", "1::", " 2 :", "3:4", "99999999999999999999:", "-1:"])
        body = draw(rows(spec, 8))
        blocks.append("\n".join([head, *(",".join(r) for r in body)]))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    return newline.join(blocks) + newline


@st.composite
def netflix_prize_case(draw) -> Case:
    files = {
        "combined_data_1.txt": draw(encoded(draw(prize_text()))),
        "combined_data_2.txt": draw(encoded(draw(prize_text()))) if draw(st.integers(0, 99)) < 20 else None,
        "movie_titles.csv": draw(
            metadata_file("1,2003,Dinosaur Planet\n2,NULL,Title, with a comma\n3,1999,Caf\xe9\n")
        ),
    }
    return Case(_files(files), *draw(_target("netflix-prize", "combined_data_1.txt")))


GENERIC_NAMES = (
    "user", "userId", "User_ID", "item", "movieId", "product", "rating", "Rating", "stars", "score",
    "timestamp", "date", "time", "extra", "", "user ", "x",
)  # fmt: skip


@st.composite
def _generic_header(draw) -> tuple[list[str], tuple[str, ...]]:
    """Column names and the kind of value each column holds."""
    if draw(st.integers(0, 99)) < 75:
        roles = [
            ("user", "userId", "User_ID", "uid"),
            ("item", "movieId", "product"),
            ("rating", "Rating", "stars", "score"),
        ]
        header = [draw(st.sampled_from(names)) for names in roles]
        kinds = ["id", "id", "rating"]
        if draw(st.booleans()):
            header.append(draw(st.sampled_from(["timestamp", "date", "time"])))
            kinds.append(draw(st.sampled_from(["time", "date"])))
        if draw(st.integers(0, 99)) < 20:
            order = draw(st.permutations(range(len(header))))
            header, kinds = [header[i] for i in order], [kinds[i] for i in order]
        return header, tuple(kinds)
    header = draw(st.lists(st.sampled_from(GENERIC_NAMES), max_size=5))
    kinds = tuple(draw(st.sampled_from(["id", "rating", "time", "date", "text"])) for _ in header)
    return header, kinds


@st.composite
def _generic_case(draw, delimiter: str, names: tuple[str, ...], fmt: str) -> Case:
    header, kinds = draw(_generic_header())
    spec = draw(fields(kinds or ("id", "id", "rating"), draw(st.sampled_from([HALF, WHOLE]))))
    shown = header if header and draw(st.integers(0, 99)) < 85 else None
    name = draw(st.sampled_from(names))
    text = draw(table_text(shown, spec, delimiter))
    return Case({name: draw(encoded(text))}, name, fmt if draw(st.booleans()) else None)


@st.composite
def generic_csv_case(draw) -> Case:
    delimiter = draw(st.sampled_from([",", ",", ";", "|"]))
    return draw(_generic_case(delimiter, ("data.csv", "r.csv", "ratings.txt"), "csv"))


@st.composite
def generic_tsv_case(draw) -> Case:
    return draw(_generic_case("\t", ("data.tsv", "r.tab", "ratings.tsv"), "tsv"))


# --- Parquet --------------------------------------------------------------------------------------------


def _parquet_column(rng: np.random.Generator, kind: str, n: int, n_ids: int) -> pd.Series:
    """A column of ``n`` values of one kind: ids (maybe huge), ratings with NaN and inf, text, dates..."""
    if kind == "id":
        values = rng.integers(1, n_ids + 1, n)
        if n and rng.random() < 0.2:
            values[rng.integers(0, n, 1 + n // 4)] = rng.choice([-(2**63), 2**63 - 1, -1, 0, 2**31])
        return pd.Series(values, dtype=np.int64)
    if kind == "rating":
        values = rng.choice(HALF, n)
        if n and rng.random() < 0.3:
            values[rng.integers(0, n, 1 + n // 4)] = rng.choice(
                [np.nan, np.inf, -np.inf, -1.0, 7.0, 1e300, 4.3]
            )
        if np.isfinite(values).all() and rng.random() < 0.2:
            return pd.Series(np.round(values).astype(np.int64))
        return pd.Series(values, dtype=np.float32 if rng.random() < 0.3 else np.float64)
    if kind == "text":
        return pd.Series([str(v) for v in rng.choice(np.array(WEIRD["id"], dtype=object), n)], dtype=object)
    if kind == "mixed":
        pool = np.array([*WEIRD["id"], "1", "2", "3", None], dtype=object)
        return pd.Series(rng.choice(pool, n), dtype=object)
    if kind == "bool":
        return pd.Series(rng.random(n) < 0.5)
    if kind == "date":
        return pd.Series(pd.to_datetime(rng.integers(0, 2_000_000_000, n), unit="s"))
    return pd.Series([None] * n, dtype=object)


@st.composite
def parquet_case(draw) -> Case:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    n = draw(st.integers(0, 30))
    header, kinds = draw(_generic_header())
    columns = {}
    for name, kind in zip(header, kinds, strict=True):
        if draw(st.integers(0, 99)) < 15:
            kind = draw(st.sampled_from(["text", "mixed", "bool", "date", "null", "rating", "id"]))
        columns.setdefault(
            name, _parquet_column(rng, "date" if kind == "time" else kind, n, draw(st.integers(1, 30)))
        )
    frame = pd.DataFrame(columns) if columns else pd.DataFrame(index=pd.RangeIndex(n))
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    data = buffer.getvalue()
    choice = draw(st.integers(0, 99))
    if choice < 8:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif choice < 16:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    elif choice < 19:
        data = b"user,item,rating\n1,2,3\n"  # a CSV under a Parquet name
    elif choice < 21:
        data = b""
    name = draw(st.sampled_from(["ratings.parquet", "r.pq"]))
    return Case({name: data}, name, "parquet" if draw(st.booleans()) else None)


# --- zip archives ---------------------------------------------------------------------------------------

UNSAFE_NAMES = (
    "../evil.csv", "../../evil.csv", "/tmp/evil.csv", "/evil.csv", "a/../../evil.csv", "..\\evil.csv",
    "C:\\evil.csv", "C:/evil.csv", "a/./../../evil.csv", "./../evil.csv", "a/b/../../../evil.csv",
)  # fmt: skip
ODD_NAMES = (
    "/", "a/", "./ratings.csv", "a//ratings.csv", "ratings.csv/", "x" * 300 + ".csv", "é/ratings.csv",
    "a/b", "a", "a/b/c", " ", "ratings.csv\x00.exe",
)  # fmt: skip


def _member(archive: zipfile.ZipFile, kind: int, top: str, inner: list[str], rng: random.Random) -> None:
    """Add one unsafe, symlink, odd, duplicate or directory member."""
    if kind < 35:
        archive.writestr(rng.choice(UNSAFE_NAMES), b"user,item,rating\n1,1,1\n")
    elif kind < 55:
        link = zipfile.ZipInfo(top + rng.choice(["link.csv", "ratings.csv", "up", "a/link"]))
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, rng.choice(["/etc/passwd", "../../evil", "/tmp", "../evil.csv"]))
    elif kind < 75:
        archive.writestr(rng.choice(ODD_NAMES), bytes(rng.randrange(256) for _ in range(rng.randint(0, 30))))
    elif kind < 90:
        archive.writestr(top + rng.choice(inner or ["x.csv"]), bytes(rng.randrange(256) for _ in range(20)))

    else:
        archive.writestr(zipfile.ZipInfo(top + rng.choice(inner or ["x.csv"]) + "/"), b"")  # a folder


def marked_encrypted(data: bytes) -> bytes:
    """The zip ``data`` with every member flagged as encrypted (zipfile clears the flag when writing)."""
    out = bytearray(data)
    for signature, flags_at in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = out.find(signature)
        while start >= 0:
            out[start + flags_at] |= 0x1
            start = out.find(signature, start + 4)
    return bytes(out)


@st.composite
def zip_case(draw) -> Case:
    """A zip of a rating table (maybe in a folder), with unsafe, symlink, odd, duplicate or broken members."""
    inner = draw(st.one_of(movielens_case(), generic_csv_case(), movielens_100k_case()))
    top = draw(st.sampled_from(["", "", "ml-x/", "a/b/"]))
    rng = random.Random(draw(st.integers(0, 2**32 - 1)))
    buffer = io.BytesIO()
    with zipfile.ZipFile(
        buffer, "w", draw(st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED]))
    ) as archive:
        for name, content in inner.files.items():
            archive.writestr(top + name, content)
        for _ in range(draw(st.sampled_from([0, 0, 0, 1, 2, 3]))):
            _member(archive, draw(st.integers(0, 99)), top, list(inner.files), rng)
    data = buffer.getvalue()
    choice = draw(st.integers(0, 99))
    if choice < 10:
        data = data[: draw(st.integers(0, len(data) - 1))]
    elif choice < 20:
        at = draw(st.integers(0, len(data) - 1))
        data = data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    elif choice < 22:
        data = b""
    elif choice < 25:
        data = marked_encrypted(data)
    name = draw(st.sampled_from(["data.zip", "ml-x.zip"]))
    return Case({name: data}, name, inner.format if draw(st.integers(0, 99)) < 20 else None)


CASES = {
    "movielens": movielens_case,
    "movielens-100k": movielens_100k_case,
    "movielens-dat": movielens_dat_case,
    "netflix-kaggle": netflix_kaggle_case,
    "netflix-prize": netflix_prize_case,
    "csv": generic_csv_case,
    "tsv": generic_tsv_case,
    "parquet": parquet_case,
    "zip": zip_case,
}
