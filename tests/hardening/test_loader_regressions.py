"""Each file the fuzzer found that ended in a raw exception, reduced by hand, now a clear DataError."""

from __future__ import annotations

import io
import shutil
import stat
import warnings
import zipfile
from pathlib import Path

import pandas as pd
import pytest
from malformed import marked_encrypted

from recengine.data import load
from recengine.data.download import unpack
from recengine.errors import ArchiveError, BadValuesError, DataFormatError, EmptyDataError

RATINGS_CSV = b"userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,3.5,2\n2,1,5.0,3\n"


def folder_with(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "data"
    folder.mkdir()
    for name, content in files.items():
        (folder / name).write_bytes(content)
    return folder


@pytest.mark.parametrize(
    ("name", "content", "detail"),
    [
        ("movies.csv", b"\x01\xb3Z^\x00g", "utf-8"),  # was UnicodeDecodeError
        ("movies.csv", b"", "empty"),  # was pandas' EmptyDataError
        ("movies.csv", b'movieId,title,genres\n1,"Heat,Action\n', "bad quoting"),  # was ParserError
        ("movies.csv", b"5\t1.5\t\t1\n2\t\t\\(\t9\n", "title"),  # was KeyError('title')
        ("movies.csv", b"movieId,title,genres\nabc,X,Drama\n", "abc"),  # was ValueError (int movieId)
    ],
)
def test_a_damaged_movies_csv_names_itself(tmp_path: Path, name: str, content: bytes, detail: str):
    folder = folder_with(tmp_path, {"ratings.csv": RATINGS_CSV, name: content})
    with pytest.raises(DataFormatError, match=rf"^{name}, beside the ratings, could not be read .*{detail}"):
        load(folder)


U_DATA = b"1\t1\t4\t1\n1\t2\t3\t2\n2\t1\t5\t3\n"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("u.item", b""),  # was pandas' EmptyDataError
        ("u.item", b"1|a\n2|b|c|d|e|f|g|h|i|j|k|l|m|n|o|p|q|r|s|t|u|v|w|x\n"),  # was ParserError (ragged)
        ("u.item", ("x|T|01-Jan-1995||u" + "|0" * 19 + "\n").encode()),  # was ValueError (int id)
        ("u.user", b"1|24|M\n1|2|3|4|5|6|7\n"),  # was ParserError
    ],
)
def test_damaged_100k_metadata_names_itself(tmp_path: Path, name: str, content: bytes):
    folder = folder_with(tmp_path, {"u.data": U_DATA, name: content})
    with pytest.raises(DataFormatError, match=rf"^{name}, beside the ratings, could not be read"):
        load(folder)


def test_damaged_dat_and_netflix_metadata_names_itself(tmp_path: Path):
    dat = folder_with(tmp_path, {"ratings.dat": b"1::1::4::1\n", "users.dat": b"x::y::z::w::v\n"})
    with pytest.raises(DataFormatError, match="users.dat, beside the ratings"):  # was ValueError
        load(dat)
    kaggle = tmp_path / "kaggle"
    kaggle.mkdir()
    (kaggle / "Netflix_Dataset_Rating.csv").write_bytes(b"User_ID,Rating,Movie_ID\n1,2,1\n")
    (kaggle / "Netflix_Dataset_Movie.csv").write_bytes(b"Movie_ID,Year,Name\n1,2003,A\n1,2,3,4,5,6\n")
    with pytest.raises(DataFormatError, match="Netflix_Dataset_Movie.csv, beside the ratings"):  # ParserError
        load(kaggle)
    prize = tmp_path / "prize"
    prize.mkdir()
    (prize / "combined_data_1.txt").write_bytes(b"1:\n1,3,2005-01-01\n")
    (prize / "movie_titles.csv").write_bytes(b"2000-03-13,1e18,X\n1,2003,Dinosaur Planet\n")
    with pytest.raises(DataFormatError, match="movie_titles.csv, beside the ratings"):  # was ValueError
        load(prize)


def test_repeated_users_in_users_dat_keep_the_last(tmp_path: Path):
    """Was ValueError: cannot reindex on an axis with duplicate labels."""
    folder = folder_with(
        tmp_path,
        {"ratings.dat": b"2::1::4::1\n1::1::3::2\n", "users.dat": b"2::F::1::10::1\n2::M::56::16::2\n"},
    )
    data = load(folder)
    assert data.n_users == 2 and data.users["gender"].tolist()[1] == "M"


def test_infinite_and_huge_item_ids_in_titles_are_ignored(tmp_path: Path):
    """Was IntCastingNaNError: 'inf' in movie_titles.csv became an item index that could not be cast."""
    folder = folder_with(
        tmp_path,
        {
            "combined_data_1.txt": b"7:\n1,1,1999-09-27\n",
            "movie_titles.csv": b"inf,2000,X\n1e300,2001,Y\n2,NULL,T\n",
        },
    )
    data = load(folder)
    assert sorted(data.item_ids.tolist()) == [2, 7]


@pytest.mark.parametrize("name", ["u.data", "ratings.dat", "combined_data_1.txt"])
def test_a_file_of_a_bom_and_blank_lines_is_empty(tmp_path: Path, name: str):
    """Was IndexError: the sample of lines was empty."""
    path = tmp_path / name
    path.write_bytes(b"\xef\xbb\xbf\r\n \n")
    with pytest.raises(EmptyDataError, match="only blank lines"):
        load(path)


def test_a_whitespace_first_line_is_a_layout_error(tmp_path: Path):
    """Was ValueError from pandas: usecols do not match columns (the first line has two empty fields)."""
    path = tmp_path / "ratings.csv"
    path.write_bytes(b"\t\r\n4\t9\t4.5\t1456976277\r\n5\t8\t4\t89687475\r\n")
    with pytest.raises(DataFormatError, match="could not be parsed as tab-separated text"):
        load(path)


def test_a_dat_line_with_extra_colons_is_a_layout_error(tmp_path: Path):
    """Was ValueError from pandas: number of passed names did not match the header fields."""
    path = tmp_path / "ratings.dat"
    path.write_bytes(b"1:: ::5::1970-01-01T00:00:00Z\r\n28::35::4::1125929715\r\n")
    with pytest.raises(DataFormatError, match="could not be parsed"):
        load(path)


def test_damaged_parquet_pages_are_a_format_error(tmp_path: Path):
    """Was OSError, ArrowInvalid or KeyError from pyarrow while reading the columns."""
    buffer = io.BytesIO()
    pd.DataFrame({"user": range(40), "item": range(40), "rating": [3.0] * 40}).to_parquet(buffer, index=False)
    data = bytearray(buffer.getvalue())
    failures = 0
    for at in range(8, len(data) - 200, 7):  # damage the column pages, keep the footer readable
        damaged = bytearray(data)
        damaged[at] ^= 0xFF
        path = tmp_path / "r.parquet"
        path.write_bytes(bytes(damaged))
        try:
            load(path)
        except DataFormatError as error:
            failures += 1
            assert "not a readable Parquet file" in str(error), str(error)
        except Exception as error:  # pragma: no cover - the regression itself
            pytest.fail(f"byte {at}: {type(error).__name__}: {error}")
    assert failures > 0


def zip_of(members: list[tuple[zipfile.ZipInfo | str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members:
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "members",
    [
        [("ratings.csv", b"user,item,rating\n1,1,1\n"), ("ratings.csv/", b"")],  # was FileExistsError
        [("a", b"x"), ("a/b", b"y")],  # was NotADirectoryError / FileExistsError
        [("r.csv", b"u,i,r\n"), ("x" * 300 + ".csv", b"1")],  # was OSError: File name too long
    ],
)
def test_archives_whose_members_cannot_be_files_here(tmp_path: Path, members):
    archive = tmp_path / "data.zip"
    archive.write_bytes(zip_of(members))
    with pytest.raises(ArchiveError, match="could not be unpacked"):
        unpack(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_encrypted_member_is_an_archive_error(tmp_path: Path):
    """Was RuntimeError: File is encrypted, password required for extraction."""
    archive = tmp_path / "data.zip"
    archive.write_bytes(marked_encrypted(zip_of([("ratings.csv", b"user,item,rating\n1,1,1\n")])))
    with pytest.raises(ArchiveError, match="unencrypted"):
        unpack(archive, tmp_path / "out")


def test_symlink_members_are_written_as_plain_files(tmp_path: Path):
    link = zipfile.ZipInfo("data/link.csv")
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    archive = tmp_path / "data.zip"
    archive.write_bytes(zip_of([("data/ratings.csv", b"user,item,rating\n1,1,1\n"), (link, b"/etc/passwd")]))
    target = unpack(archive, tmp_path / "out")
    assert not (target / "link.csv").is_symlink() and (target / "link.csv").read_bytes() == b"/etc/passwd"


def test_an_archive_larger_than_the_free_disk_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    archive = tmp_path / "data.zip"
    archive.write_bytes(zip_of([("ratings.csv", b"user,item,rating\n1,1,1\n" * 100)]))
    monkeypatch.setattr(shutil, "disk_usage", lambda _: shutil._ntuple_diskusage(10**9, 10**9 - 1000, 1000))
    with pytest.raises(ArchiveError, match="would unpack to 2,300 bytes but .* has only 1,000 bytes free"):
        unpack(archive, tmp_path / "out")


def test_ratings_too_large_for_float32_are_named_not_turned_into_inf(tmp_path: Path):
    """Was: 1e300 in a float64 column (Parquet, or a frame) passed the finiteness check, became inf as
    float32 (a RuntimeWarning) and was then reported as a value off the scale."""
    frame = pd.DataFrame({"user": [1, 1], "item": [1, 2], "rating": [4.0, 1e300]})
    frame.to_parquet(tmp_path / "r.parquet", index=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            BadValuesError, match=r"1 rating values in column 'rating' are too large.*1e\+300"
        ):
            load(tmp_path / "r.parquet")


def test_parquet_text_that_is_not_utf8_is_a_format_error(tmp_path: Path):
    """Found by the thorough profile: damaged bytes in a Parquet text column read fine, then raised pyarrow's
    ArrowException ("Wrapping ... failed") when the ids were converted."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    users = pa.array([b"\xff\xfe\xf0\x9f", b"2"], pa.binary()).view(pa.string())
    table = pa.table({"user": users, "item": pa.array([1, 2]), "rating": pa.array([3.0, 4.0])})
    pq.write_table(table, tmp_path / "r.parquet")
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        load(tmp_path / "r.parquet")


def test_parquet_whose_pandas_metadata_renames_a_column_is_a_format_error(tmp_path: Path):
    """Found by the thorough profile: a damaged pandas metadata block renamed 'user' while reading, and the
    reader failed with KeyError('user')."""
    import json

    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pa.Table.from_pandas(pd.DataFrame({"user": [1, 2], "item": [1, 2], "rating": [3.0, 4.0]}))
    metadata = json.loads(table.schema.metadata[b"pandas"])
    for column in metadata["columns"]:
        if column["name"] == "user":
            column["name"] = "usex"
    pq.write_table(
        table.replace_schema_metadata({b"pandas": json.dumps(metadata).encode()}), tmp_path / "r.parquet"
    )
    with pytest.raises(DataFormatError, match=r"columns \['user'\] could not be read back"):
        load(tmp_path / "r.parquet")
