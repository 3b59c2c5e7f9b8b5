"""Bad input: every refusal is a specific DataError subclass with a message a page can show as is."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import pytest

from recengine.data import load
from recengine.data.dataset import RatingScale
from recengine.data.download import unpack
from recengine.errors import (
    ArchiveError,
    BadValuesError,
    DataError,
    DataFormatError,
    EmptyDataError,
    MissingColumnsError,
    TooLargeError,
)


def write(path: Path, data: str | bytes) -> Path:
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


def test_every_data_error_is_a_data_error():
    for kind in (
        ArchiveError,
        BadValuesError,
        DataFormatError,
        EmptyDataError,
        MissingColumnsError,
        TooLargeError,
    ):
        assert issubclass(kind, DataError)


def test_missing_columns_say_what_was_found_and_what_was_expected(tmp_path: Path):
    path = write(tmp_path / "r.csv", "person,film,when\n1,2,3\n")
    with pytest.raises(MissingColumnsError) as error:
        load(path)
    message = str(error.value)
    assert "['person', 'film', 'when']" in message and "userId" in message and "movieId" in message
    assert "rating" in message and "columns=" in message


def test_a_mapped_column_that_is_not_there(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n")
    with pytest.raises(
        MissingColumnsError, match=r"no column 'stars' \(mapped to rating\).*\['user', 'item', 'rating'\]"
    ):
        load(path, columns={"rating": "stars"})
    with pytest.raises(MissingColumnsError, match="unknown roles"):
        load(path, columns={"score": "rating"})


def test_non_numeric_ratings_are_named(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,4\n1,3,four\n2,3,5\n")
    with pytest.raises(BadValuesError, match=r"1 rating values .* not numbers, for example \['four'\]"):
        load(path)


def test_missing_ratings_and_ids_are_counted(tmp_path: Path):
    with pytest.raises(BadValuesError, match="2 rows have no rating"):
        load(write(tmp_path / "a.csv", "user,item,rating\n1,2,\n1,3,4\n2,3,\n"))
    with pytest.raises(BadValuesError, match="1 rows have no 'user' id"):
        load(write(tmp_path / "b.csv", "user,item,rating\n,2,3\n1,3,4\n"))


def test_values_off_a_declared_scale(tmp_path: Path):
    folder = tmp_path / "ml-latest"
    folder.mkdir()
    write(folder / "ratings.csv", "userId,movieId,rating,timestamp\n1,1,4.0,1\n1,2,7.0,2\n1,3,3.25,3\n")
    with pytest.raises(BadValuesError, match=r"2 ratings are off the scale 0.5..5 \(step 0.5\)"):
        load(folder)
    generic = write(tmp_path / "g.csv", "user,item,rating\n1,1,4\n1,2,11\n")
    with pytest.raises(BadValuesError, match="off the scale 1..10"):
        load(generic, scale=RatingScale(1, 10, 1))


def test_duplicates_keep_the_latest_by_timestamp_and_are_reported(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating,timestamp\n1,1,2,300\n1,1,5,100\n1,2,3,1\n1,1,4,200\n")
    data = load(path)
    assert data.n_ratings == 2 and data.to_frame().set_index("item").loc[1, "rating"] == 2
    assert "2 duplicate (user, item) pairs found; kept the latest by timestamp." in data.report


def test_duplicates_without_timestamps_keep_the_last_row(tmp_path: Path):
    data = load(write(tmp_path / "r.csv", "user,item,rating\n1,1,2\n1,2,3\n1,1,4\n"))
    assert data.to_frame().set_index("item").loc[1, "rating"] == 4
    assert any("1 duplicate" in note and "last row" in note for note in data.report)


def test_empty_files(tmp_path: Path):
    with pytest.raises(EmptyDataError, match="empty"):
        load(write(tmp_path / "empty.csv", ""))
    with pytest.raises(EmptyDataError, match="empty"):
        load(write(tmp_path / "blank.csv", "\n\n  \n"))
    with pytest.raises(EmptyDataError, match="no data rows"):
        load(write(tmp_path / "header.csv", "userId,movieId,rating\n"))


def test_a_semicolon_file_read_with_the_wrong_delimiter_says_which_one_it_uses(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user;item;rating\n1;2;3\n2;2;4\n")
    with pytest.raises(DataFormatError) as error:
        load(path, format="tsv")
    message = str(error.value)
    assert "only 1 column" in message and "separated by semicolons" in message and "csv format" in message


def test_a_file_without_a_known_delimiter(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user item rating\n1 2 3\n")
    with pytest.raises(DataFormatError, match="only 1 column .*commas, tabs, semicolons or pipes"):
        load(path)


def test_ragged_lines_are_a_format_error_with_the_line_number(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n1,3,4,5,6\n")
    with pytest.raises(DataFormatError, match="line 3"):
        load(path)


def test_bad_encodings_and_binary_files(tmp_path: Path):
    utf16 = write(tmp_path / "u16.csv", "user,item,rating\n1,2,3\n".encode("utf-16"))
    with pytest.raises(DataFormatError, match="UTF-16.*save it as UTF-8"):
        load(utf16)
    binary = write(tmp_path / "r.csv", b"\x00\x01\x02garbage\x00" * 10)
    with pytest.raises(DataFormatError, match="not a text table"):
        load(binary)
    gz = write(tmp_path / "r2.csv", b"\x1f\x8b\x08\x00rest")
    with pytest.raises(DataFormatError, match="gzip"):
        load(gz)
    xlsx = write(tmp_path / "sheet.csv", b"PK\x03\x04rest-of-a-workbook")
    with pytest.raises(DataFormatError, match="Excel"):
        load(xlsx)


def test_latin1_text_is_read_with_a_note(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating\nJosé,Café,4\nAnn,Café,3\n".encode("latin-1"))
    data = load(path)
    assert "José" in data.user_ids.tolist() and any("Latin-1" in note for note in data.report)


def test_truncated_and_corrupted_archives(tmp_path: Path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("set/ratings.csv", "userId,movieId,rating\n" + "1,2,3.0\n" * 2000)
    data = archive.read_bytes()
    truncated = write(tmp_path / "truncated.zip", data[: len(data) // 2])
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        load(truncated)
    damaged = bytearray(data)
    damaged[60:70] = b"\xff" * 10  # inside the compressed member: CRC or inflate error on unpacking
    with pytest.raises(ArchiveError, match="truncated or corrupted"):
        unpack(write(tmp_path / "damaged.zip", bytes(damaged)), tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("member", ["../evil.csv", "/etc/evil.csv", "a/../../evil.csv", "C:/evil.csv"])
def test_archives_with_unsafe_paths_are_refused(tmp_path: Path, member: str):
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("ok.csv", "user,item,rating\n1,1,1\n")
        zf.writestr(member, "x")
    with pytest.raises(ArchiveError, match="unsafe path"):
        unpack(archive, tmp_path / "out" / "x")
    assert not (tmp_path / "evil.csv").exists() and not (tmp_path / "out" / "x").exists()


def test_too_large_for_the_memory_budget(tmp_path: Path):
    path = write(tmp_path / "r.csv", "userId,movieId,rating\n" + "1,2,3.0\n" * 1000)
    with pytest.raises(TooLargeError) as error:
        load(path, memory_budget=10_000)
    message = str(error.value)
    assert "about 1,00" in message and "ratings" in message and "10.0 KB" in message and "budget" in message
    assert load(path, memory_budget=10_000_000).n_ratings == 1


def test_netflix_prize_errors(tmp_path: Path):
    headless = write(tmp_path / "combined_data_1.txt", "1488844,3,2005-09-06\n")
    with pytest.raises(DataFormatError, match="'MovieID:' line"):
        load(headless)
    bad_date = write(tmp_path / "combined_data_2.txt", "1:\n1488844,3,06/09/2005\n")
    with pytest.raises(BadValuesError, match=r"not YYYY-MM-DD, for example \['06/09/2005'\]"):
        load(bad_date)


def test_wrong_layout_for_a_declared_format(tmp_path: Path):
    path = write(tmp_path / "r.csv", "user,item,rating\n1,2,3\n")
    with pytest.raises(DataFormatError, match="MovieLens 100k layout"):
        load(path, format="movielens-100k")
    with pytest.raises(DataFormatError, match="MovieLens 1M/10M layout"):
        load(path, format="movielens-dat")
    with pytest.raises(DataFormatError, match="not a readable Parquet file"):
        load(path, format="parquet")


def test_a_short_dat_line_is_named_without_a_pandas_deprecation(tmp_path):
    """Lines with fewer '::' fields used to be padded by pandas (deprecated: it will raise in pandas 4)."""
    (tmp_path / "ratings.dat").write_text("1::10::5::978300760\n2::11::4::978300761\n")
    (tmp_path / "movies.dat").write_text("10::Toy Story (1995)::Animation\n11::Broken\n")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(DataFormatError, match=r"3 fields separated by '::'.*for example '11::Broken'"):
            load(tmp_path)
