"""Rating profiles on disk and ratings CSV files: safe names, atomic writes, clear errors."""

from __future__ import annotations

import errno
import json
import os

import pytest

from dashboard.profiles import (
    Profile,
    ProfileError,
    ProfileExists,
    backups,
    list_profiles,
    load_profile,
    match_to_data,
    ratings_from_csv,
    ratings_to_csv,
    restore_profile,
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


@pytest.mark.parametrize(
    "name", ["../../etc/passwd", "/abs/path", "a/b\\c", "..", "x" * 500, "alice!", "a\x00b"]
)
def test_names_that_cannot_be_one_are_refused_not_renamed(tmp_path, name):
    folder = tmp_path / "profiles"
    with pytest.raises(ProfileError, match="profile name"):
        save_profile(folder, Profile(name, "s", {1: 3.0}))
    assert not folder.exists() or list(folder.iterdir()) == []


@pytest.mark.parametrize("name", ["élève", "名前", "Ada's picks", "class 7A", "Zoë-2.b", "Ñandú"])
def test_names_of_any_script_are_kept_as_typed(tmp_path, name):
    path = save_profile(tmp_path, Profile(name, "s", {1: 3.0}))
    assert path.stem == name and list_profiles(tmp_path) == [name]
    assert load_profile(tmp_path, name).ratings == {1: 3.0}


def test_empty_name_is_refused():
    with pytest.raises(ProfileError, match="cannot be empty"):
        safe_name("   ")
    with pytest.raises(ProfileError, match="cannot be a profile name"):
        safe_name(" ./ ")


def test_the_issues_names_stay_distinct_and_nothing_is_overwritten_silently(tmp_path):
    save_profile(tmp_path, Profile("alice", "s", {1: 5.0}))
    for name in ("alice!", "../alice"):
        with pytest.raises(ProfileError, match="cannot be a profile name"):
            save_profile(tmp_path, Profile(name, "s", {2: 1.0}))
    for name in ("Alice ", "ALICE", "alice"):  # the same name: asks first
        with pytest.raises(ProfileExists, match="already a profile named `alice`"):
            save_profile(tmp_path, Profile(name, "s", {2: 1.0}))
    assert load_profile(tmp_path, "alice").ratings == {1: 5.0}
    save_profile(tmp_path, Profile("élève", "s", {3: 2.0}))
    assert list_profiles(tmp_path) == ["alice", "élève"]


def test_what_is_replaced_can_be_restored(tmp_path):
    save_profile(tmp_path, Profile("alice", "s", {1: 5.0}))
    save_profile(tmp_path, Profile("Alice", "s", {2: 1.0}), replace=True)
    assert load_profile(tmp_path, "alice").ratings == {2: 1.0} and list_profiles(tmp_path) == ["alice"]
    assert len(backups(tmp_path, "alice")) == 1
    assert restore_profile(tmp_path, "alice").ratings == {1: 5.0}
    assert load_profile(tmp_path, "alice").ratings == {1: 5.0}
    assert restore_profile(tmp_path, "alice").ratings == {2: 1.0}  # and back again
    for rating in range(8):
        save_profile(tmp_path, Profile("alice", "s", {1: float(rating)}), replace=True)
    assert len(backups(tmp_path, "alice")) == 5
    with pytest.raises(ProfileError, match="no earlier version"):
        restore_profile(tmp_path, "bob")


def test_a_read_only_profile_folder_gives_a_message(tmp_path, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr("dashboard.profiles.tempfile.mkstemp", read_only)
    with pytest.raises(ProfileError, match="read-only or full"):
        save_profile(tmp_path / "profiles", Profile("p", "s", {1: 1.0}))


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
    with pytest.raises(ProfileError, match="disk full"):
        save_profile(tmp_path, Profile("p", "s", {1: 1.0, 2: 2.0}), replace=True)
    monkeypatch.undo()
    assert load_profile(tmp_path, "p").ratings == {1: 4.0}
    assert sorted(p.name for p in tmp_path.iterdir()) == [".backups", "p.json"]  # no temporary file left


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
        (b"item,rating\n1,good\n", "an item or a numeric rating"),
        (b"item,rating\n1,inf\n", "an item or a numeric rating"),
        (b"", "not a readable CSV"),
    ],
)
def test_bad_csv_files(content, message):
    with pytest.raises(ProfileError, match=message):
        ratings_from_csv(content)
