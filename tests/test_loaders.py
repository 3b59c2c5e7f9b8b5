"""Loaders: every format on small files the tests write, spec resolution, filters, train/test files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import recengine.data.reading as reading
from recengine.data import (
    FORMATS,
    detect_format,
    filter_min_ratings,
    load,
    load_bundled,
    load_train_test,
)
from recengine.data.dataset import RatingScale, RatingsDataset
from recengine.data.loading import BUNDLED
from recengine.errors import DataError, DataFormatError, DownloadError, EmptyDataError, ParameterError

GENRES_100K = (
    "unknown|0\nAction|1\nAdventure|2\nAnimation|3\nChildren's|4\nComedy|5\nCrime|6\nDocumentary|7\n"
    "Drama|8\nFantasy|9\nFilm-Noir|10\nHorror|11\nMusical|12\nMystery|13\nRomance|14\nSci-Fi|15\n"
    "Thriller|16\nWar|17\nWestern|18\n"
)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path


def flags(*on: int) -> str:
    return "|".join("1" if i in on else "0" for i in range(19))


@pytest.fixture
def ml100k_like(tmp_path: Path) -> Path:
    """A 3-user, 3-item MovieLens 100k folder with u1 split files and a Latin-1 title."""
    folder = tmp_path / "ml-100k"
    rows = ["1\t1\t5\t881250949", "1\t2\t3\t881250950", "2\t1\t4\t881250951", "2\t3\t1\t881250952",
            "3\t2\t2\t881250953", "3\t3\t4\t881250954"]  # fmt: skip
    write(folder / "u.data", "\n".join(rows) + "\n")
    write(folder / "u1.base", "\n".join(rows[:4]) + "\n")
    write(folder / "u1.test", "\n".join(rows[4:]) + "\n")
    write(
        folder / "u.item",
        f"1|Toy Story (1995)|01-Jan-1995||http://x|{flags(3, 4, 5)}\n"
        f"2|Café Society (1997)|||http://y|{flags(8)}\n"
        f"3|Heat (1995)|15-Dec-1995||http://z|{flags(1, 6, 16)}\n",
        encoding="latin-1",
    )
    write(folder / "u.genre", GENRES_100K + "\n")
    write(folder / "u.user", "1|24|M|technician|85711\n2|53|F|other|94043\n3|23|M|writer|32067\n")
    return folder


@pytest.fixture
def movielens_csv(tmp_path: Path) -> Path:
    """A MovieLens 20M/25M-style folder: ratings.csv with timestamps, movies.csv with an unrated movie."""
    folder = tmp_path / "ml-25m"
    write(
        folder / "ratings.csv",
        "userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n2,1,0.5,964982224\n"
        "2,2,3.0,964983815\n",
    )
    write(
        folder / "movies.csv",
        'movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,"American President, The (1995)",'
        "Comedy|Drama|Romance\n3,Babylon 5,Sci-Fi\n4,Unrated (2001),(no genres listed)\n"
        "5,Cosmos (1980–1981),(no genres listed)\n",
    )
    return folder


def test_bundled_set_has_the_published_sizes_and_metadata():
    data = load()
    assert (data.n_users, data.n_items, data.n_ratings) == (610, 9742, 100_836)
    assert data.scale == RatingScale(0.5, 5.0, 0.5)
    assert (data.item_counts() == 0).sum() == 18  # catalogue movies nobody rated keep their codes
    toy = data.items.iloc[data.item_code(1)]
    assert toy["title"] == "Toy Story (1995)" and toy["year"] == 1995
    assert toy["genres"] == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    no_genres = data.items.iloc[data.item_code(114335)]  # "La cravate (1957)", "(no genres listed)"
    assert no_genres["genres"] == [] and no_genres["year"] == 1957
    assert data.timestamps is not None and data.name == "ml-latest-small"


def test_bundled_set_is_loaded_once_per_process():
    assert load_bundled() is load_bundled() is load()


def test_movielens_csv_folder(movielens_csv: Path):
    data = load(movielens_csv)
    assert detect_format(movielens_csv) == detect_format(movielens_csv / "ratings.csv") == "movielens"
    assert (data.n_users, data.n_items, data.n_ratings) == (2, 5, 4)
    assert data.scale == RatingScale(0.5, 5.0, 0.5) and data.name == "ml-25m"
    items = data.items.set_index("item")
    assert items.loc[2, "title"] == "American President, The (1995)"
    assert np.isnan(items.loc[3, "year"]) and items.loc[5, "year"] == 1980
    assert items.loc[4, "genres"] == [] and items.loc[2, "genres"] == ["Comedy", "Drama", "Romance"]
    assert data.timestamps.tolist() == [964982703, 964981247, 964982224, 964983815]


def test_movielens_100k_folder_with_metadata(ml100k_like: Path):
    data = load(ml100k_like)
    assert detect_format(ml100k_like) == "movielens-100k"
    assert (data.n_users, data.n_items, data.n_ratings) == (3, 3, 6)
    assert data.scale == RatingScale(1, 5, 1)
    items = data.items.set_index("item")
    assert items.loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    assert items.loc[3, "genres"] == ["Action", "Crime", "Thriller"]
    assert items.loc[2, "title"] == "Café Society (1997)"  # Latin-1 decoded
    assert items.loc[2, "year"] == 1997 and items.loc[3, "year"] == 1995  # from title, from date
    assert data.users["occupation"].tolist() == ["technician", "other", "writer"]


def test_movielens_100k_on_the_real_files(ml100k_path: Path):
    data = load(ml100k_path)
    assert (data.n_users, data.n_items, data.n_ratings) == (943, 1682, 100_000)
    assert data.items.set_index("item").loc[1, "genres"] == ["Animation", "Children's", "Comedy"]
    train, test = load_train_test(ml100k_path / "u1.base", ml100k_path / "u1.test")
    assert (train.n_ratings, test.n_ratings) == (80_000, 20_000)
    assert train.n_items == test.n_items == 1682 and train.title(0) == "Toy Story (1995)"


def test_train_and_test_files_share_one_id_space(ml100k_like: Path):
    train, test = load_train_test(ml100k_like / "u1.base", ml100k_like / "u1.test")
    assert (train.n_ratings, test.n_ratings) == (4, 2)
    assert train.user_ids.tolist() == test.user_ids.tolist() == [1, 2, 3]
    assert train.item_ids.tolist() == test.item_ids.tolist() == [1, 2, 3]
    # user 3 appears only in the test file, yet has a code both sides agree on
    assert test.user_ids[test.user_codes].tolist() == [3, 3]
    assert test.item_ids[test.item_codes].tolist() == [2, 3]
    assert train.title(test.item_codes[0]) == "Café Society (1997)"
    assert train.fingerprint != test.fingerprint


def test_train_and_test_generic_files_take_metadata_from_a_sibling_movies_csv(movielens_csv: Path):
    write(movielens_csv / "train.csv", "userId,movieId,rating\n1,1,4\n2,2,3\n")
    write(movielens_csv / "test.csv", "userId,movieId,rating\n1,2,5\n")
    train, test = load_train_test(movielens_csv / "train.csv", movielens_csv / "test.csv", format="csv")
    assert train.n_items == 5 and test.title(test.item_codes[0]) == "American President, The (1995)"


def test_a_pair_in_both_train_and_test_is_refused(ml100k_like: Path):
    with pytest.raises(DataError, match="4 .user, item. pairs are in both u1.base and u.data"):
        load_train_test(ml100k_like / "u1.base", ml100k_like / "u.data")


def test_movielens_1m_dat_files(tmp_path: Path):
    folder = tmp_path / "ml-1m"
    write(folder / "ratings.dat", "1::1193::5::978300760\n1::661::3::978302109\n2::1193::4::978298413\n")
    write(
        folder / "movies.dat",
        "661::James and the Giant Peach (1996)::Animation|Children's|Musical\n"
        "1193::One Flew Over the Cuckoo's Nest (1975)::Drama\n2::Señor: A Title (1990)::Comedy\n",
        encoding="latin-1",
    )
    write(folder / "users.dat", "1::F::1::10::48067\n2::M::56::16::70072\n")
    data = load(folder)
    assert detect_format(folder) == "movielens-dat"
    assert (data.n_users, data.n_items, data.n_ratings) == (2, 3, 3)
    assert data.scale == RatingScale(1, 5, 1)
    items = data.items.set_index("item")
    assert items.loc[2, "title"] == "Señor: A Title (1990)" and items.loc[1193, "year"] == 1975
    assert items.loc[661, "genres"] == ["Animation", "Children's", "Musical"]
    assert data.users["gender"].tolist() == ["F", "M"] and data.timestamps[0] == 978300760


def test_movielens_10m_dat_files_have_half_stars_and_no_users(tmp_path: Path):
    folder = tmp_path / "ml-10M100K"
    write(folder / "ratings.dat", "1::122::5::838985046\n1::185::4.5::838983525\n2::122::0.5::868245777\n")
    write(folder / "movies.dat", "122::Boomerang (1992)::Comedy|Romance\n185::Net, The (1995)::Action\n")
    data = load(folder / "ratings.dat")
    assert data.scale == RatingScale(0.5, 5.0, 0.5) and data.users is None
    assert data.ratings.tolist() == [5.0, 4.5, 0.5]


def test_netflix_kaggle_csvs(tmp_path: Path):
    folder = tmp_path / "netflix"
    write(
        folder / "Netflix_Dataset_Rating.csv",
        "User_ID,Rating,Movie_ID\n712664,5,3\n1331154,4,3\n712664,2,8\n",
    )
    write(
        folder / "Netflix_Dataset_Movie.csv",
        "Movie_ID,Year,Name\n3,1997,Character\n8,2004,What the #$*! Do We Know!?\n",
    )
    data = load(folder)
    assert detect_format(folder) == detect_format(folder / "Netflix_Dataset_Rating.csv") == "netflix-kaggle"
    assert (data.n_users, data.n_items, data.n_ratings) == (2, 2, 3)
    assert data.user_ids.tolist() == [712664, 1331154] or data.user_ids.tolist() == [712664, 1331154][::-1]
    assert data.items.set_index("item").loc[3, "title"] == "Character"
    assert data.items.set_index("item").loc[8, "year"] == 2004 and data.scale == RatingScale(1, 5, 1)


def _netflix_prize(folder: Path) -> Path:
    write(
        folder / "combined_data_1.txt",
        "1:\n1488844,3,2005-09-06\n822109,5,2005-05-13\n2:\n885013,4,2005-10-19\n",
    )
    write(
        folder / "combined_data_2.txt", "3:\n1488844,1,2004-01-01\n822109,2,2004-01-02\n885013,3,2004-01-03\n"
    )
    write(
        folder / "movie_titles.csv",
        "1,2003,Dinosaur Planet\n2,NULL,Isle of Man TT 2004 Review\n3,1997,Character, Part 2, Extended\n",
        encoding="latin-1",
    )
    return folder


def test_netflix_prize_files(tmp_path: Path):
    folder = _netflix_prize(tmp_path / "netflix-prize")
    data = load(folder)
    assert detect_format(folder) == detect_format(folder / "combined_data_2.txt") == "netflix-prize"
    assert (data.n_users, data.n_items, data.n_ratings) == (3, 3, 6)
    frame = data.to_frame()
    assert frame["item"].tolist() == [1, 1, 2, 3, 3, 3]
    assert frame["user"].tolist() == [1488844, 822109, 885013, 1488844, 822109, 885013]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2005-09-06").timestamp()
    items = data.items.set_index("item")
    assert items.loc[3, "title"] == "Character, Part 2, Extended" and np.isnan(items.loc[2, "year"])


def test_netflix_prize_movie_ids_carry_across_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(reading, "CHUNK_ROWS", 2)
    data = load(_netflix_prize(tmp_path / "netflix-prize") / "combined_data_1.txt")
    assert data.to_frame()["item"].tolist() == [1, 1, 2]


def test_generic_csv_with_guessed_names_and_dates(tmp_path: Path):
    path = write(
        tmp_path / "books.csv",
        "User_ID,item_id,stars,date\nu1,b1,4,2020-01-02\nu2,b1,5,2020-01-03T10:00:00\nu1,b2,2,2021-05-01\n",
    )
    data = load(path)
    assert detect_format(path) == "csv"
    assert data.user_ids.tolist() == ["u1", "u2"] and data.item_ids.tolist() == ["b1", "b2"]
    assert data.timestamps.tolist()[0] == pd.Timestamp("2020-01-02", tz="UTC").timestamp()
    assert data.scale == RatingScale(2, 5, 1)


def test_generic_csv_with_a_column_mapping(tmp_path: Path):
    path = write(tmp_path / "x.csv", "reader,book,grade,when,extra\n7,1,4.5,100,a\n8,1,3,200,b\n")
    data = load(path, columns={"user": "reader", "item": "book", "rating": "grade", "timestamp": None})
    assert data.user_ids.tolist() == [7, 8] and data.timestamps is None
    data = load(path, columns={"user": "reader", "item": "book", "rating": "grade", "timestamp": "when"})
    assert data.timestamps.tolist() == [100, 200]


def test_tsv_semicolon_and_headerless_files(tmp_path: Path):
    tsv = write(tmp_path / "r.tsv", "user\titem\trating\n1\t2\t3\n2\t2\t4\n")
    assert detect_format(tsv) == "tsv" and load(tsv).n_ratings == 2
    semicolons = write(tmp_path / "r.csv", "user;item;rating\n1;2;3\n2;2;4\n")
    data = load(semicolons)
    assert data.n_ratings == 2 and any("semicolon" in note for note in data.report)
    headerless = write(tmp_path / "plain.txt", "1,10,4,1000\n2,10,5,1001\n")
    data = load(headerless)
    assert data.timestamps.tolist() == [1000, 1001] and any("no header" in n for n in data.report)


def test_parquet(tmp_path: Path):
    path = tmp_path / "r.parquet"
    pd.DataFrame({"uid": [5, 6, 5], "iid": ["a", "b", "b"], "score": [1.0, 2.0, 3.0]}).to_parquet(path)
    data = load(path)
    assert detect_format(path) == "parquet"
    assert data.user_ids.tolist() == [5, 6] and data.item_ids.tolist() == ["a", "b"]
    assert data.user_codes.dtype == np.int32 and data.ratings.dtype == np.float32


def test_a_parquet_file_whose_text_inflates_is_refused_before_it_fills_memory(tmp_path: Path):
    """The re-probe's 529 KB file: a million rows whose user is one 1,000-letter value stored once in a
    dictionary page took 3.7 GB to load. Values that long are refused as the first batch arrives, and a
    column of shorter ones that together exceed the budget is refused by it."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = 1_000_000
    long_user = pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["u" * 1001])
    )
    items, ratings = pa.array(np.arange(rows) % 50), pa.array(np.full(rows, 4.0))
    path = tmp_path / "bomb.parquet"
    pq.write_table(pa.table({"user": long_user, "item": items, "rating": ratings}), path)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(DataFormatError, match="a value of 1,001 characters in its column 'user'"):
        load(path)
    shorter = pa.DictionaryArray.from_arrays(pa.array(np.zeros(rows, dtype=np.int32)), pa.array(["u" * 900]))
    pq.write_table(pa.table({"user": shorter, "item": items, "rating": ratings}), path)
    with pytest.raises(DataError, match="memory"):
        load(path, memory_budget=500_000_000)


def test_format_colon_path_and_explicit_format(tmp_path: Path, ml100k_like: Path):
    path = write(tmp_path / "ratings.txt", "user,item,rating\n1,1,1\n")
    assert load(f"csv:{path}").n_ratings == 1
    assert load(ml100k_like / "u1.base", format="movielens-100k").n_ratings == 4
    with pytest.raises(DataFormatError, match="Unknown format 'excel'"):
        load(path, format="excel")
    with pytest.raises(DataFormatError, match="names the format"):
        load(f"tsv:{path}", format="csv")
    assert set(FORMATS) >= {"movielens", "movielens-100k", "movielens-dat", "netflix-kaggle", "netflix-prize"}


def test_a_zip_file_is_unpacked_once_into_the_cache(tmp_path: Path, movielens_csv: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    archive = tmp_path / "ml-25m.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for file in movielens_csv.iterdir():
            zf.write(file, f"ml-25m/{file.name}")
    assert load(archive).n_ratings == 4
    assert len(list((tmp_path / "cache" / "unzipped").iterdir())) == 1
    assert load(archive).n_ratings == 4


def test_names_resolve_to_the_cache(tmp_path: Path, ml100k_like: Path, monkeypatch):
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    with pytest.raises(DownloadError) as error:
        load("ml-100k")
    message = str(error.value)
    assert "recengine download ml-100k" in message and str(tmp_path / "cache" / "ml-100k") in message
    (tmp_path / "cache").mkdir()
    ml100k_like.rename(tmp_path / "cache" / "ml-100k")
    assert load("ml-100k").n_ratings == 6
    assert load("ml-latest-small").n_ratings == 100_836  # not cached: the bundled copy
    with pytest.raises(DownloadError, match="neither a file or folder nor a known data set"):
        load("ml-7m")
    with pytest.raises(DataError, match="no file or folder"):
        load(tmp_path / "missing.csv")


def test_progress_reports_bytes_up_to_the_file_size(movielens_csv: Path, monkeypatch):
    monkeypatch.setattr(reading, "NUMBERS_ONLY_BYTES", 0)  # a large file: read by pandas, in chunks
    monkeypatch.setattr(reading, "CHUNK_ROWS", 1)
    calls: list[tuple[int, int | None]] = []
    load(movielens_csv, progress=lambda done, total: calls.append((done, total)))
    size = (movielens_csv / "ratings.csv").stat().st_size
    assert len(calls) >= 2 and all(total == size for _, total in calls)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls) and calls[-1][0] == size


def test_declared_scale_overrides_the_format(movielens_csv: Path):
    data = load(movielens_csv, scale=RatingScale(0, 10, 0.5))
    assert data.scale == RatingScale(0, 10, 0.5)


# --- filters --------------------------------------------------------------------------------------------


@pytest.fixture
def skewed() -> RatingsDataset:
    """Item 0 rated by everyone, item 1 by users 0-1, item 2 by user 0 only; user 3 rated item 0 only."""
    users = np.array([0, 1, 2, 3, 0, 1, 0, 2])
    items = np.array([0, 0, 0, 0, 1, 1, 2, 1])
    return RatingsDataset(users, items, np.arange(1.0, 9.0) % 5 + 1, np.array([10, 11, 12, 13]),
                          np.array([100, 101, 102]))  # fmt: skip


def test_min_item_ratings_drops_rare_items_and_renumbers(skewed: RatingsDataset):
    data = filter_min_ratings(skewed, min_item_ratings=2)
    assert data.item_ids.tolist() == [100, 101] and data.n_ratings == 7
    assert data.user_ids.tolist() == [10, 11, 12, 13]
    assert "dropped 1 ratings: 1 items with fewer than 2" in data.report[-1]
    kept = data.to_frame()
    assert kept.equals(skewed.to_frame().query("item != 102").reset_index(drop=True))


def test_min_user_ratings_and_repeating_until_stable(skewed: RatingsDataset):
    once = filter_min_ratings(skewed, min_item_ratings=3, min_user_ratings=2)
    # item 2 (1 rating) goes first; then users 0,1,2 keep 2,2,2 ratings... user 3 keeps 1 → dropped
    assert once.user_ids.tolist() == [10, 11, 12] and once.item_ids.tolist() == [100, 101]
    # without user 3, item 0 has 3 ratings and item 1 has 3: stable; make a case where it is not
    twice = filter_min_ratings(skewed, min_item_ratings=4, min_user_ratings=1, repeat=True)
    assert twice.item_ids.tolist() == [100] and twice.n_ratings == 4
    chain = filter_min_ratings(skewed, min_item_ratings=2, min_user_ratings=2, repeat=True)
    counts_ok = (chain.item_counts() >= 2).all() and (chain.user_counts() >= 2).all()
    assert counts_ok and "until stable" in chain.report[-1]


def test_filters_that_leave_nothing_or_take_bad_values_are_refused(skewed: RatingsDataset):
    with pytest.raises(EmptyDataError, match="Lower the minimums"):
        filter_min_ratings(skewed, min_item_ratings=50)
    with pytest.raises(ParameterError, match="min_user_ratings"):
        filter_min_ratings(skewed, min_user_ratings=-1)


def test_load_applies_filters(movielens_csv: Path):
    data = load(movielens_csv, min_item_ratings=2)
    assert data.item_ids.tolist() == [1] and data.n_ratings == 2


# --- plain numbers read by NumPy ------------------------------------------------------------------------


def same_dataset(a: RatingsDataset, b: RatingsDataset) -> None:
    for name in ("user_codes", "item_codes", "ratings", "timestamps", "user_ids", "item_ids"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)
        assert getattr(a, name) is None or getattr(a, name).dtype == getattr(b, name).dtype, name
    pd.testing.assert_frame_equal(a.items, b.items)
    if a.users is None or b.users is None:
        assert a.users is b.users
    else:
        pd.testing.assert_frame_equal(a.users, b.users, check_dtype=False)
    assert (a.scale, a.name, a.report) == (b.scale, b.name, b.report)


def read_both_ways(monkeypatch, read) -> tuple:
    """``read()`` with small numeric files parsed by NumPy, then with every file read by pandas."""
    fast = read()
    monkeypatch.setattr(reading, "NUMBERS_ONLY_BYTES", 0)
    return fast, read()


@pytest.mark.parametrize("which", ["bundled", "movielens_csv", "ml100k_like", "ml100k_path"])
def test_numbers_read_by_numpy_make_the_dataset_pandas_makes(which, request, monkeypatch):
    folder = BUNDLED if which == "bundled" else request.getfixturevalue(which)
    fast, slow = read_both_ways(monkeypatch, lambda: load(folder))
    same_dataset(fast, slow)
    assert isinstance(fast.items.at[0, "genres"], list)


@pytest.mark.parametrize("which", ["ml100k_like", "ml100k_path"])
def test_a_predefined_split_read_by_numpy_is_the_one_pandas_reads(which, request, monkeypatch):
    folder = request.getfixturevalue(which)
    fast, slow = read_both_ways(monkeypatch, lambda: load_train_test(folder / "u1.base", folder / "u1.test"))
    for fast_side, slow_side in zip(fast, slow, strict=True):
        same_dataset(fast_side, slow_side)
    assert fast[0].items.title.tolist()[:2] == [
        "Toy Story (1995)",
        "GoldenEye (1995)" if "path" in which else "Café Society (1997)",
    ]


def test_what_numpy_cannot_read_exactly_goes_to_pandas(tmp_path: Path):
    """Dates, fractional ids, empty fields and quotes fall back to pandas, which reads or names them."""
    dates = write(tmp_path / "dates.csv", "user,item,rating,timestamp\n1,1,4,2020-01-02\n2,1,3,2020-01-03\n")
    assert load(dates).timestamps.tolist() == [1577923200, 1578009600]
    quoted_ids = write(tmp_path / "quoted.csv", 'user,item,rating\n"1",1,4\n"2",1,3\n')
    assert load(quoted_ids).user_ids.tolist() == [1, 2]
    fraction = write(tmp_path / "fraction.csv", "user,item,rating\n1.5,1,4\n2,1,3\n")
    assert load(fraction).user_ids.tolist() == ["1.5", "2"]
    empty = write(tmp_path / "empty.csv", "user,item,rating\n1,1,\n2,1,3\n")
    with pytest.raises(DataError, match="rows have no rating"):
        load(empty)


def test_a_data_sets_name_never_opens_a_local_file_of_that_name(tmp_path: Path, monkeypatch):
    """The re-probe ran the command line in a folder holding a secrets file named ml-100k: `--data ml-100k`
    read it and quoted its first line. A known name means the data set (download cache or bundled copy);
    the local file is reached as ./ml-100k."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("RECENGINE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "ml-100k").write_text("API_KEY=sk-SECRET-123\n")
    with pytest.raises(DownloadError) as refused:
        load("ml-100k")
    assert "SECRET" not in str(refused.value) and "not downloaded yet" in str(refused.value)
    with pytest.raises(DataError) as local:
        load("./ml-100k")
    assert "ml-100k" in str(local.value)
