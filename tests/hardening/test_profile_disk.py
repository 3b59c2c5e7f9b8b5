"""Probe 3, findings 2 and 5: profiles cannot fill the server's disk. A save whose file would exceed
`MAX_PROFILE_BYTES` is refused before anything is written, the titles and item ids a profile stores are
bounded, and the cap on profiles counts network addresses as well as cookies."""

from __future__ import annotations

from pathlib import Path

import pytest
from outcomes import tally

from dashboard import profiles
from dashboard.challenge import CLASS_SIZE
from dashboard.profiles import MAX_PROFILE_BYTES, Profile, ProfileError, load_profile, save_profile


def test_an_oversized_profile_is_refused_before_anything_is_written(tmp_path: Path):
    """The probe: 5,000 films with 20,000-letter titles made 100 MB profiles; here long ids and many
    ratings push the file past the limit without any title."""
    folder = tmp_path / "profiles"
    ratings = {f"{index:06d}" + "x" * 150: 4.0 for index in range(40_000)}
    with pytest.raises(ProfileError) as refused:
        save_profile(folder, Profile("big", "s", ratings), owner="A")
    message = str(refused.value)
    assert f"{MAX_PROFILE_BYTES:,} bytes" in message and "rate fewer" in message, message
    assert not folder.exists() or [p for p in folder.rglob("*") if p.is_file()] == []
    tally("profiles", "oversized save", "refused, nothing written")


def test_titles_are_cut_and_overlong_item_ids_refused(tmp_path: Path):
    path = save_profile(tmp_path, Profile("long titles", "s", {1: 4.0}), {1: "T" * 20_000}, owner="A")
    assert path.stat().st_size < 2 * profiles.MAX_TITLE_CHARS
    assert load_profile(tmp_path, "long titles").ratings == {1: 4.0}
    with pytest.raises(ProfileError, match="item id"):
        save_profile(tmp_path, Profile("long ids", "s", {"i" * 2_000: 4.0}), owner="A")
    assert not (tmp_path / "long ids.json").exists()


def test_new_cookies_from_one_address_cannot_pass_the_address_budget(tmp_path: Path, monkeypatch):
    """The probe: 50 saves per cookie, then a fresh cookie saved again; 40 cookies filled the server's 2,000.
    Each save here comes from a new owner (a new cookie) on one network address."""
    monkeypatch.setenv(profiles.PER_ADDRESS_ENV, "3")
    for index in range(3):
        save_profile(
            tmp_path, Profile(f"cookie {index}", "s", {1: 4.0}), owner=f"cookie {index}", address="a1"
        )
    with pytest.raises(ProfileError) as refused:
        save_profile(tmp_path, Profile("cookie 3", "s", {1: 4.0}), owner="cookie 3", address="a1")
    assert "3 profiles" in str(refused.value) and "network address" in str(refused.value)
    save_profile(tmp_path, Profile("cookie 0", "s", {2: 4.0}), owner="cookie 9", address="a1", replace=True)
    save_profile(tmp_path, Profile("other room", "s", {1: 4.0}), owner="cookie 3", address="b2")
    assert len(list(tmp_path.glob("*.json"))) == 4
    tally("profiles", "new cookies from one address", "refused beyond the address budget")


def test_the_address_budget_fits_a_class_behind_one_router(monkeypatch):
    monkeypatch.delenv(profiles.PER_ADDRESS_ENV, raising=False)
    assert profiles.profiles_per_address() >= 40 * 2
    assert profiles.profiles_per_address() < profiles.MAX_PROFILES / 4
    for text in ("0", "-3", "many", ""):
        monkeypatch.setenv(profiles.PER_ADDRESS_ENV, text)
        assert profiles.profiles_per_address() == CLASS_SIZE * profiles.PROFILES_PER_PERSON_IN_CLASS
