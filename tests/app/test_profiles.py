"""Rating profiles on disk and ratings CSV files: safe names, atomic writes, clear errors."""

from __future__ import annotations

import json

import pytest

from dashboard.profiles import (
    Profile,
    ProfileError,
    list_profiles,
    load_profile,
    match_to_data,
    ratings_from_csv,
    ratings_to_csv,
    safe_name,
    save_profile,
)


def test_profile_round_trip(tmp_path):
    profile = Profile("Ada's picks", "bundled:ml-latest-small", {1: 4.5, 318: 5.0, "x7": 2.0})
    path = save_profile(tmp_path, profile, {1: "Toy Story (1995)"})
    assert path.parent == tmp_path.resolve()
    loaded = load_profile(tmp_path, "Ada's picks")
    assert loaded.ratings == profile.ratings
    assert loaded.source == profile.source
    assert list_profiles(tmp_path) == [path.stem]


@pytest.mark.parametrize("name", ["../../etc/passwd", "/abs/path", "a/b\\c", "..", "x" * 500, "名前"])
def test_names_never_leave_the_folder(tmp_path, name):
    folder = tmp_path / "profiles"
    try:
        path = save_profile(folder, Profile(name, "s", {1: 3.0}))
    except ProfileError as error:
        assert "profile name" in str(error)
        return
    assert path.parent == folder.resolve()
    assert len(path.stem) <= 64


def test_empty_name_is_refused():
    with pytest.raises(ProfileError, match="cannot be a profile name"):
        safe_name(" ./ ")


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b"[]",
        json.dumps({"ratings": [{"item": 1, "rating": "five"}]}).encode(),
        json.dumps({"ratings": [{"item": [1], "rating": 3}]}).encode(),
        json.dumps({"ratings": [{"item": 1, "rating": float("nan")}]}).encode(),
        json.dumps({"format": 99, "ratings": []}).encode(),
    ],
)
def test_damaged_profiles_fail_clearly(tmp_path, content):
    (tmp_path / "bad.json").write_bytes(content)
    with pytest.raises(ProfileError, match=r"bad\.json"):
        load_profile(tmp_path, "bad")


def test_missing_profile_names_the_saved_ones(tmp_path):
    save_profile(tmp_path, Profile("kept", "s", {1: 1.0}))
    with pytest.raises(ProfileError, match="kept"):
        load_profile(tmp_path, "absent")


def test_a_failed_save_keeps_the_previous_file(tmp_path, monkeypatch):
    save_profile(tmp_path, Profile("p", "s", {1: 4.0}))

    def broken_replace(*args):
        raise OSError("disk full")

    monkeypatch.setattr("dashboard.profiles.os.replace", broken_replace)
    with pytest.raises(OSError):
        save_profile(tmp_path, Profile("p", "s", {1: 1.0, 2: 2.0}))
    monkeypatch.undo()
    assert load_profile(tmp_path, "p").ratings == {1: 4.0}
    assert [p.name for p in tmp_path.iterdir()] == ["p.json"]  # no temporary file left behind


def test_csv_round_trip_and_matching(tiny):
    content = ratings_to_csv({1: 4.0, 3: 2.0, 99: 5.0}, {1: "one"})
    read = ratings_from_csv(content)
    assert read == {"1": 4.0, "3": 2.0, "99": 5.0}
    kept, notes = match_to_data(read, tiny)
    assert kept == {1: 4.0, 3: 2.0}
    assert notes == ["1 rated items are not in this data set and were skipped."]


def test_off_scale_ratings_are_skipped(tiny):
    kept, notes = match_to_data({1: 9.0, 2: 3.0}, tiny)
    assert kept == {2: 3.0}
    assert "off this data set's scale" in notes[0]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"movie,stars\n1,4\n", "needs columns item and rating"),
        (b"item,rating\n1,good\n", "lack an item or a numeric rating"),
        (b"item,rating\n1,inf\n", "lack an item or a numeric rating"),
        (b"", "not a readable CSV"),
    ],
)
def test_bad_csv_files(content, message):
    with pytest.raises(ProfileError, match=message):
        ratings_from_csv(content)
