"""Issue 25, point 3: profiles are never destroyed by another student. A replace keeps every owner's last
version restorable by that owner, saves are atomic under concurrency, look-alike names are one profile,
and a name's length is counted in bytes, as the file system counts it."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from outcomes import tally

from dashboard.profiles import (
    MAX_NAME_BYTES,
    Profile,
    ProfileError,
    ProfileExists,
    backups,
    list_profiles,
    load_profile,
    restore_profile,
    save_profile,
)


def test_six_replaces_by_another_student_leave_the_owners_version_restorable(tmp_path: Path):
    """The issue: A saves "alice"; B saves "ALICE" and confirms Replace six times; afterwards alice.json and
    all five backups held B's ratings."""
    save_profile(tmp_path, Profile("alice", "s", {1: 5.0}), owner="A")
    for round_ in range(6):
        save_profile(tmp_path, Profile("ALICE", "s", {2: float(round_)}), replace=True, owner="B")
    assert load_profile(tmp_path, "alice").ratings == {2: 5.0}
    assert len(backups(tmp_path, "alice")) == 6  # A's own and B's five newest
    assert restore_profile(tmp_path, "alice", owner="A").ratings == {1: 5.0}
    assert load_profile(tmp_path, "alice").ratings == {1: 5.0}
    assert restore_profile(tmp_path, "alice", owner="B").ratings == {2: 5.0}  # B gets theirs back too
    tally("profiles", "six replaces by another owner", "owner's version restorable")


def parallel(count: int, action) -> list[object]:
    """``action(index)`` in ``count`` threads released at once; what each returned or raised."""
    start, outcomes = threading.Barrier(count), [None] * count

    def run(index: int) -> None:
        start.wait()
        try:
            outcomes[index] = action(index)
        except Exception as error:  # the outcome is what is checked
            outcomes[index] = error

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return outcomes


@pytest.mark.parametrize("trial", range(15))
def test_sessions_saving_one_new_name_at_once_get_one_saved_and_the_others_asked(tmp_path: Path, trial: int):
    """The issue: in 6 of 15 trials both sessions were told "Saved", no question asked, one profile lost."""
    outcomes = parallel(6, lambda i: save_profile(tmp_path, Profile("Bob", "s", {i: 1.0}), owner=str(i)))
    saved = [i for i, outcome in enumerate(outcomes) if isinstance(outcome, Path)]
    assert len(saved) == 1, outcomes
    assert all(isinstance(o, ProfileExists) for i, o in enumerate(outcomes) if i not in saved)
    assert load_profile(tmp_path, "bob").ratings == {saved[0]: 1.0}
    tally("profiles", "six sessions save one new name at once", "one saved, five asked")


def test_parallel_replaces_lose_no_version(tmp_path: Path):
    save_profile(tmp_path, Profile("carol", "s", {0: 1.0}), owner="first")
    outcomes = parallel(
        8, lambda i: save_profile(tmp_path, Profile("carol", "s", {i + 1: 1.0}), replace=True, owner=str(i))
    )
    assert all(isinstance(outcome, Path) for outcome in outcomes), outcomes
    kept = [load_profile(tmp_path, "carol").ratings] + [
        restore_profile(tmp_path, "carol", owner=owner).ratings for owner in ["first", *map(str, range(8))]
    ]
    assert sorted(next(iter(r)) for r in kept[1:]) == list(range(9))  # every version, each by its owner


@pytest.mark.parametrize(
    "look_alike",
    [
        "\u0430lice",  # Cyrillic а
        "ali\u0441e",  # Cyrillic с
        "\uff41\uff4c\uff49\uff43\uff45",  # fullwidth
        "\U0001d41a\U0001d425\U0001d422\U0001d41c\U0001d41e",  # mathematical bold
        "ΑLΙCΕ",  # Greek capitals
        "Alicé",
        "aIice",  # a capital I, drawn as an l (the fifth re-probe: case was folded first)
        "ALICE",
        "alice\u0650",  # an Arabic kasra below the e (probe8: combining marks of other scripts passed)
        "alice\u1a7f",  # a Tai Tham combining sign
    ],
)
def test_look_alike_names_are_the_same_profile(tmp_path: Path, look_alike: str):
    save_profile(tmp_path, Profile("alice", "s", {1: 5.0}))
    with pytest.raises(ProfileExists, match="`alice`"):
        save_profile(tmp_path, Profile(look_alike, "s", {2: 1.0}))
    assert list_profiles(tmp_path) == ["alice"]
    tally("profiles", "look-alike names", "the same profile")


# The re-probe: letters outside the folding table read as Latin ones (Unicode's confusables, UTS #39).
LOOK_ALIKES_OF_ADA = {
    "Cherokee": "\u13aa\u13a0\u13aa",  # ᎪᎠᎪ
    "Lisu": "\ua4ee\ua4d3\ua4ee",  # ꓮꓓꓮ
    "Canadian syllabics": "\u15c5\u15de\u15c5",  # ᗅᗞᗅ
    "small capitals": "\u1d00\u1d05\u1d00",  # ᴀᴅᴀ
    "Cherokee small letters": "\uab7a\uab70\uab7a",  # ꭺꭰꭺ
}


@pytest.mark.parametrize("script", LOOK_ALIKES_OF_ADA)
def test_look_alikes_from_unicodes_confusables_are_the_same_profile(tmp_path: Path, script: str):
    save_profile(tmp_path, Profile("ADA", "s", {1: 5.0}))
    look_alike = LOOK_ALIKES_OF_ADA[script]
    with pytest.raises(ProfileExists, match=f"`{look_alike}` looks like the profile `ADA`"):
        save_profile(tmp_path, Profile(look_alike, "s", {2: 1.0}))
    assert list_profiles(tmp_path) == ["ADA"]
    tally("profiles", f"look-alike name in {script}", "the same profile")


def test_small_capitals_read_as_their_letters(tmp_path: Path):
    save_profile(tmp_path, Profile("alice", "s", {1: 5.0}))
    with pytest.raises(ProfileExists, match="looks like the profile `alice`"):
        save_profile(tmp_path, Profile("\u1d00\u029f\u026a\u1d04\u1d07", "s", {2: 1.0}))  # ᴀʟɪᴄᴇ


@pytest.mark.parametrize(
    "first, second",
    [("Ada", "Adam"), ("Ada", "Ida"), ("Ali", "All"), ("Marie", "Maria"), ("Ada L", "Ada"),
     ("\u0410\u043d\u043d\u0430", "\u0410\u043d\u044f"), ("\u674e", "\u5b63")],  # Анна, Аня; 李, 季
)  # fmt: skip
def test_names_that_differ_to_the_eye_stay_apart(tmp_path: Path, first: str, second: str):
    """Ordinary names that merely share letters are two profiles. Accents are not told apart: "José" and
    "Jose" are one name, as they look alike at a glance on a projected board."""
    save_profile(tmp_path, Profile(first, "s", {1: 5.0}))
    save_profile(tmp_path, Profile(second, "s", {2: 1.0}))
    assert sorted(list_profiles(tmp_path)) == sorted([first, second])
    save_profile(tmp_path, Profile("José", "s", {1: 5.0}))
    with pytest.raises(ProfileExists, match="`Jose` looks like the profile `José`"):
        save_profile(tmp_path, Profile("Jose", "s", {2: 1.0}))


@pytest.mark.parametrize("invisible", ["\u034f", "\u200b", "\u3164", "\ufe0f", "\u2060", "\U000e0041"])
def test_names_with_invisible_characters_are_refused(tmp_path: Path, invisible: str):
    with pytest.raises(ProfileError, match="invisible"):
        save_profile(tmp_path, Profile(f"ali{invisible}ce", "s", {1: 5.0}))


@pytest.mark.parametrize("letter", ["a", "é", "ΐ", "名", "𐍈"])
def test_any_name_that_can_be_saved_can_be_replaced_and_restored(tmp_path: Path, letter: str):
    """The issue: a 64-letter name that could be saved could never be replaced (its backup's name, the
    case-folded name, grew past the file system's 255 bytes)."""
    name = letter * (MAX_NAME_BYTES // len(letter.encode()))
    save_profile(tmp_path, Profile(name, "s", {1: 5.0}), owner="A")
    save_profile(tmp_path, Profile(name, "s", {2: 1.0}), replace=True, owner="B")
    assert restore_profile(tmp_path, name, owner="A").ratings == {1: 5.0}
    with pytest.raises(ProfileError, match="bytes"):
        save_profile(tmp_path, Profile(name + letter, "s", {1: 5.0}))


def test_an_owner_walks_back_through_their_own_versions(tmp_path: Path):
    """Every earlier version stays restorable by its owner: others' replaces prune only their own copies."""
    save_profile(tmp_path, Profile("dora", "s", {1: 1.0}), owner="A")
    save_profile(tmp_path, Profile("dora", "s", {1: 2.0}), replace=True, owner="A")
    for round_ in range(12):
        save_profile(tmp_path, Profile("dora", "s", {9: float(round_)}), replace=True, owner="B")
    assert restore_profile(tmp_path, "dora", owner="A").ratings == {1: 2.0}
    assert restore_profile(tmp_path, "dora", owner="A").ratings == {1: 1.0}


def test_a_person_and_the_server_keep_a_limited_number_of_profiles(tmp_path: Path, monkeypatch):
    """The re-probe saved 300 profiles in 42 s. Here 3 per person and 5 on the server: A's fourth new name is
    refused, A may still replace one of theirs; B saves two (five in all), and C's first is refused."""
    from dashboard import profiles

    monkeypatch.setattr(profiles, "MAX_PROFILES_PER_OWNER", 3)
    monkeypatch.setattr(profiles, "MAX_PROFILES", 5)
    for name in ("a1", "a2", "a3"):
        save_profile(tmp_path, Profile(name, "s", {1: 5.0}), owner="A")
    with pytest.raises(ProfileError, match="You have saved 3 profiles, the most one person may keep"):
        save_profile(tmp_path, Profile("a4", "s", {1: 5.0}), owner="A")
    save_profile(tmp_path, Profile("a1", "s", {1: 4.0}), replace=True, owner="A")
    for name in ("b1", "b2"):
        save_profile(tmp_path, Profile(name, "s", {1: 5.0}), owner="B")
    with pytest.raises(ProfileError, match="The server keeps 5 profiles, its limit"):
        save_profile(tmp_path, Profile("c1", "s", {1: 5.0}), owner="C")
    assert list_profiles(tmp_path) == ["a1", "a2", "a3", "b1", "b2"]
    tally("profiles", "new profiles beyond the limits", "refused (per person and server-wide)")


def test_a_scripts_own_marks_still_tell_names_apart_and_a_refused_name_is_shown_as_code(tmp_path: Path):
    """Combining marks are dropped from a name's look only where they hide a copy (an Arabic kasra under a
    Latin e); a Devanagari vowel sign on a Devanagari letter tells two names apart. probe9 (low): a refused
    name was formatted as Markdown in its message (a link); it is shown as code."""
    from dashboard.names import look_alike

    assert look_alike("alice\u0650", "alice") and not look_alike("कुमार", "कमार")
    with pytest.raises(ProfileError) as refused:
        save_profile(tmp_path, Profile("[x](http://evil.test)", "s", {2: 1.0}))
    assert "`[x](http://evil.test)` cannot be a profile name" in str(refused.value)
