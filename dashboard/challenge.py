"""Challenges and their submissions, kept on the server across restarts.

Each challenge is one JSON file, ``$RECENGINE_HOME/challenges/<id>.json``: its spec
(`recengine.evaluation.challenge.ChallengeSpec`), the data set it is on (bundled or downloaded, never an
upload, which is private to its session), whether the teacher revealed the settings and the private scores,
the display names taken, and every submission with both scores. Every change reads, changes and rewrites
the file under an exclusive flock on the folder (two students submitting at once both land, and one name
goes to one of them), and is written atomically (a temporary file in the folder, then ``os.replace``).

The held-out ratings are never stored here, shown or offered for download: the parts are rebuilt from the
data set, its split spec and seeds when a submission is scored. Both seeds are drawn here and never shown, so
nobody rebuilds the test side by splitting the whole data set. Students work on the challenge's training
part, a data set of its own (`working_choice`, ``DataChoice`` kind ``challenge``): every page trains,
validates, sweeps and evaluates on it alone, and only runs trained on it are accepted; the public part is
touched only by the board's scoring, the private part only by the teacher's view and the reveal. Owners are recorded as a digest
(`dashboard.profiles.current_owner`), never shown. A display name is unique in a challenge after
normalisation (`name_keys`: Unicode NFKC, case, accents, spaces and look-alike letters of any script, from
Unicode's confusables), and
each person submits under one name per challenge; a person may submit `MAX_PER_HOUR` times per hour. A
person is a browser that keeps a workspace (its cookie): a session without one could start afresh with
each new tab, so it may not submit. One network address (a class behind one router shares it) may submit
``RECENGINE_CLASS_SUBMISSIONS_PER_ADDRESS`` times per hour per challenge (`max_per_address`; by default
`CLASS_SIZE` people's `MAX_PER_HOUR`), recorded as a digest, and take ``RECENGINE_CLASS_NAMES_PER_ADDRESS``
display names per challenge (`max_names_per_address`, by default `CLASS_SIZE`): a cookie costs one GET, so
one script could otherwise be any number of people. A run picked from the model cache's list (`Run.taken_from`)
is accepted only from the person who trained it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import math
import os
import re
import secrets
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go

from dashboard import config
from dashboard.names import in_code, skeletons
from dashboard.profiles import ProfileError, locked_folder, owner_digest, safe_name
from dashboard.state import MAX_RUN_NAME, DataChoice, Run
from recengine.data.dataset import RatingsDataset
from recengine.errors import RecEngineError
from recengine.evaluation.challenge import (
    MEASURES,
    Challenge,
    ChallengeError,
    ChallengeSpec,
    WinnersCurse,
    better,
    beyond_chance,
    held_out_share,
    winners_curse,
)
from recengine.evaluation.split import split_by_spec

MAX_TITLE_CHARS = 100  # a challenge's title, as the teacher types it
MAX_PER_HOUR = 10  # submissions per person per challenge: enough to tune, too few to probe the public part
CLASS_SIZE = 40  # people behind one address a challenge expects at most (the per-address budget's default)
PER_ADDRESS_ENV = "RECENGINE_CLASS_SUBMISSIONS_PER_ADDRESS"
NAMES_PER_ADDRESS_ENV = "RECENGINE_CLASS_NAMES_PER_ADDRESS"
NEEDS_COOKIES = (
    "Submitting needs your browser to keep your work (a cookie of this site), so that each person has one "
    "name and one hourly limit: allow cookies for this site, then reload the page."
)
HOUR = 3600.0
MAX_NAME_LENGTH = 40
SHARED_KINDS = ("bundled", "download")  # data sets every session can load the same way
TRAINING_KIND = "challenge"  # a DataChoice of this kind is a challenge's training part (value: its id)
VERSION = 1


@dataclass
class Submission:
    name: str
    owner: str
    run_name: str
    algo: str
    params: dict[str, Any]
    submitted_at: float
    public: float
    private: float
    address: str = ""  # a digest of the network address it came from (`address_digest`)


@dataclass
class StoredChallenge:
    """A challenge as kept on disk: what it is, on which data, its names and submissions."""

    challenge_id: str
    spec: ChallengeSpec
    data: dict[str, Any]  # DataChoice fields (kind, value, filters)
    data_label: str
    fingerprint: str
    created_at: float
    train_fingerprint: str = ""  # of the training part: the data set every accepted run was trained on
    settings_revealed: bool = False
    private_revealed: bool = False
    # name key → owner when taken (a record: checks compare the submissions' names by today's name_keys)
    names: dict[str, str] = field(default_factory=dict)
    submissions: list[Submission] = field(default_factory=list)

    @property
    def title(self) -> str:
        return self.spec.title or f"{MEASURES[self.spec.measure]} on {self.data_label}"

    @property
    def choice(self) -> DataChoice:
        """The whole data set the challenge is on."""
        return DataChoice(**self.data)

    @property
    def working_choice(self) -> DataChoice:
        """The challenge's training part as the active data set of the pages (where students work)."""
        return DataChoice(
            kind=TRAINING_KIND,
            value=self.challenge_id,
            options=(("source", self.choice.source_key), ("title", self.title)),
        )

    def name_of(self, owner: str) -> str | None:
        """The display name ``owner`` submits under here, or None before their first submission."""
        return next((s.name for s in self.submissions if s.owner == owner), None)

    def recent(self, owner: str, now: float) -> list[Submission]:
        return [s for s in self.submissions if s.owner == owner and now - s.submitted_at < HOUR]

    def to_dict(self) -> dict[str, Any]:
        values = asdict(self)
        return values | {"spec": self.spec.to_dict(), "version": VERSION}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> StoredChallenge:
        values = {key: value for key, value in values.items() if key != "version"}
        return cls(
            **values
            | {
                "spec": ChallengeSpec.from_dict(values["spec"]),
                "submissions": [Submission(**s) for s in values.get("submissions", [])],
            }
        )


# --- names ------------------------------------------------------------------------------------------------


def name_keys(name: str) -> tuple[str, str]:
    """What a display name looks like, for telling names apart (`dashboard.names.skeletons` without spaces,
    as profile names): "Ada L", "ada l", "ADA  L", "аda l" (a Cyrillic а), "ᎪᎠᎪ L" (Cherokee) and "Adal"
    are one name; two names are one when either key is the same ("AIice" with a capital I and "alice").
    Raises `ChallengeError` for a name that cannot be one."""
    text = " ".join(str(name).split())
    if len(text) > MAX_NAME_LENGTH:
        raise ChallengeError(f"A display name can have at most {MAX_NAME_LENGTH} characters. Shorten it.")
    try:
        looks = skeletons(safe_name(text))
    except ProfileError as error:
        raise ChallengeError(str(error).replace("profile name", "display name")) from None
    return tuple("".join(look.split()) for look in looks)


def same_name(first: str, second: str) -> bool:
    """Whether two display names read alike (`name_keys`)."""
    return any(a == b for a, b in zip(name_keys(first), name_keys(second), strict=True))


def in_markdown(name: str) -> str:
    """``name`` as literal text inside Markdown (`st.markdown`, `st.table`, …): every ASCII punctuation mark
    backslash-escaped, so it is never emphasis or a Streamlit directive (``:red[…]``). Not a link either,
    except a ``www.`` name, which GitHub's autolinks read through the escapes: names are `in_code`."""
    return re.sub(r"([!-/:-@\[-`{-~])", r"\\\1", name)


def as_markdown_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for `st.table`, which renders its cells as GitHub Markdown: a name such as
    ``www.class-login.example`` became a live link on every classmate's board, escaped or not (GitHub's
    autolinks read the text after its escapes), and ``a __b__`` bold (probe 6). Names (the ``name`` column)
    are code spans, which Markdown never links; every other text cell is `in_markdown`."""

    def cell(column: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        return in_code(value) if column == "name" else in_markdown(value)

    return frame.apply(lambda column: column.map(lambda value: cell(column.name, value)))


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula


def spreadsheet_safe(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` for a CSV a spreadsheet opens: text cells that a spreadsheet would read as a formula (a run
    named ``=HYPERLINK(...)`` sending the class's scores away, probe 6) start with a quote, as OWASP advises;
    numbers are left as they are."""
    return frame.apply(
        lambda column: column.map(
            lambda v: f"'{v}" if isinstance(v, str) and v.startswith(FORMULA_STARTS) else v
        )
    )


# --- on disk ----------------------------------------------------------------------------------------------


def folder() -> Path:
    return config.home() / "challenges"


def _path(challenge_id: str) -> Path:
    if not (challenge_id.isalnum() and challenge_id.isascii()):
        raise ChallengeError("There is no such challenge.")
    return folder() / f"{challenge_id}.json"


def _locked() -> contextlib.AbstractContextManager[None]:
    """An exclusive flock on the challenges folder, across threads and processes."""
    return locked_folder(folder())


def _write(stored: StoredChallenge) -> None:
    path = _path(stored.challenge_id)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            json.dump(stored.to_dict(), file)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def load(challenge_id: str) -> StoredChallenge:
    try:
        return StoredChallenge.from_dict(json.loads(_path(challenge_id).read_text()))
    except (OSError, ValueError, TypeError, KeyError):
        raise ChallengeError("There is no such challenge (or its file is damaged).") from None


def all_challenges() -> list[StoredChallenge]:
    """Every readable challenge, newest first."""
    found = []
    for path in folder().glob("*.json") if folder().is_dir() else []:
        with contextlib.suppress(ChallengeError):
            found.append(load(path.stem))
    return sorted(found, key=lambda stored: -stored.created_at)


def _change(challenge_id: str, change: Callable[[StoredChallenge], Any]) -> Any:
    """Read, ``change`` (in place; its value is returned) and rewrite a challenge, under the lock."""
    with _locked():
        stored = load(challenge_id)
        outcome = change(stored)
        _write(stored)
    return outcome


def create(
    spec: ChallengeSpec, choice: DataChoice, data: RatingsDataset, now: float | None = None
) -> StoredChallenge:
    """Open a challenge on ``data``, the data set of ``choice``: held out by the spec's split with a seed
    drawn here, its test users divided into public and private by another; both kept on the server only
    (the spec's own ``seed`` and ``part_seed`` are replaced). Refuses a split ``data`` cannot have."""
    if choice.kind not in SHARED_KINDS or choice.options:
        raise ChallengeError(
            "A challenge needs a data set every student loads the same way: choose a bundled or downloaded "
            "one on the Data page (an upload is private to the session that made it)."
        )
    now = time.time() if now is None else now
    if not spec.is_open(now):
        raise ChallengeError("The deadline has already passed: choose one in the future.")
    # Which ratings are held out, and which test users are public: neither guessable.
    spec = dataclasses.replace(
        spec,
        title=spec.title[:MAX_TITLE_CHARS],
        seed=secrets.randbelow(2**32),
        part_seed=secrets.randbelow(2**32),
    )
    train, _ = split_by_spec(data, spec.split, spec.seed)
    stored = StoredChallenge(
        challenge_id=secrets.token_hex(8),
        spec=spec,
        data={key: value for key, value in asdict(choice).items() if key != "options"},
        data_label=choice.label,
        fingerprint=data.fingerprint,
        created_at=now,
        train_fingerprint=train.fingerprint,
    )
    with _locked():
        _write(stored)
    return stored


def reveal(
    challenge_id: str, *, settings: bool | None = None, private: bool | None = None
) -> StoredChallenge:
    """Show (or hide again) the settings of every entry, and the private scores, to the class."""

    def change(stored: StoredChallenge) -> StoredChallenge:
        if settings is not None:
            stored.settings_revealed = settings
        if private is not None:
            stored.private_revealed = private
        return stored

    return _change(challenge_id, change)


# --- submitting -------------------------------------------------------------------------------------------


def max_per_address() -> int:
    """Submissions one network address may make per hour per challenge: ``RECENGINE_CLASS_SUBMISSIONS_PER_ADDRESS``
    (a positive whole number), else `CLASS_SIZE` × `MAX_PER_HOUR`."""
    text = os.environ.get(PER_ADDRESS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else CLASS_SIZE * MAX_PER_HOUR


def max_names_per_address() -> int:
    """Display names one network address may take per challenge: ``RECENGINE_CLASS_NAMES_PER_ADDRESS`` (a
    positive whole number), else `CLASS_SIZE` (a class behind one router)."""
    text = os.environ.get(NAMES_PER_ADDRESS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else CLASS_SIZE


def address_digest(address: str) -> str:
    """How a submission records the network address it came from: a digest, never the address."""
    return hashlib.blake2b(address.encode(), digest_size=8).hexdigest()


def check_submission(
    stored: StoredChallenge,
    owner: str,
    name: str,
    run: Run,
    now: float,
    address: str = "",
    reserved: Sequence[str] = (),
) -> str:
    """The name's key, or `ChallengeError` saying why ``owner`` may not submit ``run`` under ``name`` from
    ``address`` (a digest, `address_digest`) now; ``reserved``: names no one but their bearer may take (the
    class roster's other students)."""  # fmt: skip
    if not stored.spec.is_open(now):
        raise ChallengeError("This challenge has closed: its deadline has passed.")
    if not owner.startswith("person:"):  # a session without a workspace cookie (`profiles.current_owner`)
        raise ChallengeError(NEEDS_COOKIES)
    key = name_keys(name)[0]
    taken = next((s.name for s in stored.submissions if s.owner != owner and same_name(s.name, name)), None)
    if taken is not None:
        raise ChallengeError(
            f"The name {in_code(' '.join(name.split()))} is taken in this challenge: it looks like "
            f"{in_code(taken)} (case, "
            "spaces, accents and letters that look alike, from any script, count as the same). Choose another."
        )
    own = stored.name_of(owner)
    if own is not None and not same_name(own, name):
        raise ChallengeError(f"You submit as {in_code(own)} in this challenge: keep that name.")
    if own is None and (classmate := next((r for r in reserved if same_name(r, name)), None)) is not None:
        raise ChallengeError(
            f"{in_code(' '.join(name.split()))} looks like {in_code(classmate)}, a classmate's name on the class "
            "roster: submit under your own name or a nickname."
        )
    names_here = {name_keys(s.name)[0] for s in stored.submissions if address and s.address == address}
    if own is None and address and len(names_here) >= (most := max_names_per_address()):
        raise ChallengeError(
            f"{most} display names have been taken from your network in this challenge, the most one network "
            "may take (the computers behind one router share it): ask your teacher."
        )
    recent = stored.recent(owner, now)
    if len(recent) >= MAX_PER_HOUR:
        wait = HOUR - (now - min(s.submitted_at for s in recent))
        raise ChallengeError(
            f"{MAX_PER_HOUR} submissions per hour at most: your next one is possible in {math.ceil(wait / 60)} minutes."
        )
    from_address = [s for s in stored.submissions if s.address == address and now - s.submitted_at < HOUR]
    if address and len(from_address) >= (limit := max_per_address()):
        wait = HOUR - (now - min(s.submitted_at for s in from_address))
        raise ChallengeError(
            f"{limit} submissions per hour at most from one network (your classmates behind it count too): the "
            f"next is possible in {math.ceil(wait / 60)} minutes."
        )
    if run.group != "mine" or run.diverged or run.model is None:
        raise ChallengeError("Submit one of your own trained runs (from the Train page).")
    if run.taken_from is not None and run.taken_from != owner_digest(owner):
        raise ChallengeError(
            "This run is a model someone else trained, added from the cache: submit a run you trained "
            "yourself on the Train page."
        )
    stored.spec.check_model(run.algo)
    if run.fingerprint != stored.train_fingerprint:
        raise ChallengeError(
            "This run was not trained on the challenge's training part: press “Work on this challenge” on the "
            "Challenge page, then train on the Train page."
        )
    return key


def accepts(stored: StoredChallenge, run: Run) -> bool:
    """Whether ``run`` is one this challenge takes: a person's own trained run of an allowed model, trained
    on the challenge's training part."""
    return (
        run.group == "mine"
        and not run.diverged
        and run.algo in stored.spec.models
        and run.fingerprint == stored.train_fingerprint
    )


def check_not_held_out(
    data: RatingsDataset,
    split: str,
    seed: int,
    now: float | None = None,
    whole: Callable[[StoredChallenge], RatingsDataset] | None = None,
) -> None:
    """Refuse (`ChallengeError`) to split ``data`` by ``split`` and ``seed`` when its test side would hold far
    more of an open challenge's held-out ratings than chance (`held_out_share`, `beyond_chance`): the run's
    test metrics would score them, whatever the split's text (a larger temporal share) or the data set's
    source (a filtered copy, the same file uploaded or read from the server). Every open
    challenge is checked, its held-out ratings rebuilt as its scoring rebuilds them from its whole data set
    (``whole(stored)``; by default its choice loaded, shared with its scoring); pairs are matched by raw ids,
    so an unrelated data set shares none but by chance. No split (``none``, how every list is served) holds
    anything out: nothing is loaded for it."""
    if split == "none":
        return
    now = time.time() if now is None else now
    found = [c for c in all_challenges() if c.spec.is_open(now)]
    if not found:
        return
    from dashboard.data import split as split_of

    _, test = split_of(data, split, seed)
    fraction = test.n_ratings / max(data.n_ratings, 1)
    for stored in found:
        try:
            source = data if stored.fingerprint == data.fingerprint else (whole or _whole)(stored)
        except RecEngineError:
            continue  # its data set cannot be loaded: nobody can score or work on it either
        if source.fingerprint != stored.fingerprint:
            continue  # its data set changed: its scoring refuses every submission anyway
        held_out = split_of(source, stored.spec.split, stored.spec.seed)[1]
        share = held_out_share(held_out, test)
        if beyond_chance(share, fraction):
            raise ChallengeError(
                f"The split {split} would test on {share:.0%} of the ratings the challenge “{stored.title}” "
                f"keeps for its board while it is open (a split blind to them would hold about "
                f"{fraction:.0%}). Work on this challenge: press “Work on this challenge” on the Challenge "
                "page and train on its training part."
            )


def blind_to_held_out(
    data: RatingsDataset,
    entries: list[dict[str, Any]],
    now: float | None = None,
    whole: Callable[[StoredChallenge], RatingsDataset] | None = None,
) -> list[dict[str, Any]]:
    """The model-store entries on ``data`` whose test side holds no more of an open challenge's held-out
    ratings than chance (`check_not_held_out`, by the ratings, not the split's text: a cached model trained
    with ``temporal:0.25`` beside a ``temporal:0.2`` challenge shows metrics of its held-out ratings)."""
    verdicts: dict[tuple[str, int], bool] = {}
    kept = []
    for entry in entries:
        split = str((entry.get("extra") or {}).get("split", "none"))
        seed = entry.get("params", {}).get("seed", 0)
        seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
        if (split, seed) not in verdicts:
            try:
                check_not_held_out(data, split, seed, now=now, whole=whole)
                verdicts[split, seed] = True
            except RecEngineError:  # held-out ratings, or a split that cannot be made: not shown
                verdicts[split, seed] = False
        if verdicts[split, seed]:
            kept.append(entry)
    return kept


def _whole(stored: StoredChallenge) -> RatingsDataset:
    from dashboard.data import load_choice

    return load_choice(stored.choice)


def submit(
    challenge_id: str,
    owner: str,
    name: str,
    run: Run,
    challenge: Challenge,
    now: float | None = None,
    scorer: Callable[[Run], dict[str, float]] | None = None,
    address: str = "",
    reserved: Sequence[str] = (),
) -> Submission:
    """Score ``run`` on both parts (with ``scorer(run)`` when given: a cache of ``challenge.scores``) and
    record it, from ``address`` (a digest, `address_digest`; "" not counted per address); raises
    `ChallengeError` with the reason when refused; ``reserved`` as `check_submission`.

    The checks run before scoring and again under the lock, so two people taking one name at once, or one
    person's submissions from two tabs, cannot pass them together."""
    now = time.time() if now is None else now
    stored = load(challenge_id)
    check_submission(stored, owner, name, run, now, address, reserved)
    if (
        challenge.fingerprint != stored.fingerprint
        or challenge.spec != stored.spec
        or challenge.train.fingerprint != stored.train_fingerprint
    ):
        raise ChallengeError("The challenge's data set has changed since it opened: ask your teacher.")
    scores = scorer(run) if scorer is not None else challenge.scores(run.model)
    submission = Submission(
        name=" ".join(name.split()),
        owner=owner,
        run_name=(run.name or run.label)[:MAX_RUN_NAME],
        algo=run.algo,
        params=dict(run.params),
        submitted_at=now,
        public=scores["public"],
        private=scores["private"],
        address=address,
    )

    def record(stored: StoredChallenge) -> Submission:
        key = check_submission(stored, owner, name, run, now, address, reserved)
        stored.names[key] = owner
        stored.submissions.append(submission)
        return submission

    return _change(challenge_id, record)


# --- what the class sees ------------------------------------------------------------------------------------


def best_per_person(stored: StoredChallenge) -> list[Submission]:
    """Each person's best submission by the public score, best first (ties: the earlier first)."""
    best: dict[str, Submission] = {}
    for submission in stored.submissions:
        held = best.get(submission.owner)
        if held is None or better(stored.spec, submission.public, held.public):
            best[submission.owner] = submission
    sign = 1 if stored.spec.lower_is_better else -1
    return sorted(best.values(), key=lambda s: (sign * s.public, s.submitted_at))


def settings_text(submission: Submission) -> str:
    """The model and the settings that differ from its defaults: "als: n_epochs 6, reg 0.05"."""
    from recengine.models import MODELS

    model = MODELS.get(submission.algo)
    defaults = model.Params().to_dict() if model is not None else {}
    changed = [f"{k} {v}" for k, v in submission.params.items() if k in defaults and defaults[k] != v]
    return f"{submission.algo}: {', '.join(changed) or 'defaults'}"


def leaderboard(stored: StoredChallenge, teacher: bool = False) -> pd.DataFrame:
    """The board: rank, name, public score and submissions per person; the model and its settings once the
    teacher revealed them, the private score once revealed (the teacher sees both always)."""
    measure = MEASURES[stored.spec.measure]
    counts: dict[str, int] = {}
    for submission in stored.submissions:
        counts[submission.owner] = counts.get(submission.owner, 0) + 1
    rows = []
    for rank, submission in enumerate(best_per_person(stored), start=1):
        row: dict[str, Any] = {
            "rank": rank,
            "name": submission.name,
            f"public {measure}": submission.public,
        }
        if teacher or stored.private_revealed:
            row[f"private {measure}"] = submission.private
        row["submissions"] = counts[submission.owner]
        if teacher or stored.settings_revealed:
            row["settings"] = settings_text(submission)
        rows.append(row)
    return pd.DataFrame(rows)


def with_private_rank(board: pd.DataFrame, stored: StoredChallenge) -> pd.DataFrame:
    """The board with each entry's rank by its private score (where the winner's curse shows)."""
    column = f"private {MEASURES[stored.spec.measure]}"
    if board.empty or column not in board:
        return board
    ranks = board[column].rank(ascending=stored.spec.lower_is_better, method="min").astype(int)
    return board.assign(**{"private rank": ranks})


def submissions_table(stored: StoredChallenge) -> pd.DataFrame:
    """Every submission for the teacher (and the CSV export): when, who (display name), the model, each
    hyperparameter in its own column, both scores. No owner digests."""
    rows = [
        {
            "submitted_at": pd.Timestamp(s.submitted_at, unit="s", tz="UTC"),
            "name": s.name,
            "run": s.run_name,
            "algo": s.algo,
            **{f"param_{k}": v for k, v in s.params.items()},
            "public": s.public,
            "private": s.private,
        }
        for s in stored.submissions
    ]
    return pd.DataFrame(rows)


# --- the teacher's view -----------------------------------------------------------------------------------


def class_activity() -> tuple[int | None, int, int]:
    """(sessions connected, trainings running, trainings waiting) on this server; connected is None when
    Streamlit's runtime does not say (a test)."""
    from streamlit.runtime import Runtime

    from dashboard import jobs

    connected = None
    with contextlib.suppress(Exception):  # the session manager is Streamlit's own: read it if it is there
        connected = int(Runtime.instance()._session_mgr.num_active_sessions())
    line = jobs._scheduler().jobs()
    running = sum(1 for job in line if not job.waiting)
    return connected, running, len(line) - running


def submissions_figure(table: pd.DataFrame) -> go.Figure:
    """Submissions over time: how many arrived in each interval, and the best public score so far."""
    times = table["submitted_at"].dt.tz_convert(None)
    figure = px.histogram(x=times, nbins=min(40, max(5, len(table))), title="Submissions over time")
    figure.update_layout(
        height=280, margin=dict(l=10, r=10, t=50, b=10), xaxis_title="", yaxis_title="submissions"
    )
    return figure


def setting_figures(table: pd.DataFrame, measure: str) -> list[go.Figure]:
    """One chart per hyperparameter that varies across the submissions: public and private score against
    its value, every submission a point, coloured by algorithm (what the class learned together)."""
    figures = []
    for column in [c for c in table.columns if c.startswith("param_")]:
        values = table[column].dropna()
        if values.astype(str).nunique() < 2:
            continue
        long = table.melt(
            id_vars=[column, "algo", "name"],
            value_vars=["public", "private"],
            var_name="part",
            value_name=measure,
        ).dropna(subset=[column])
        figure = px.scatter(
            long, x=column, y=measure, color="algo", symbol="part", hover_data=["name"],
            title=f"{measure} against {column.removeprefix('param_')}",
        )  # fmt: skip
        figure.update_layout(height=300, margin=dict(l=10, r=10, t=50, b=10))
        figure.update_xaxes(title=column.removeprefix("param_"))
        figures.append(figure)
    return figures


# --- the lesson: public against private ------------------------------------------------------------------


def public_against_private(stored: StoredChallenge) -> tuple[WinnersCurse, go.Figure] | None:
    """The winner's curse on the class's own board (each person's best by public score), with a chart of
    private against public score (the diagonal: both equal); None with fewer than two people."""
    entries = best_per_person(stored)
    if len(entries) < 2:
        return None
    public = [s.public for s in entries]
    private = [s.private for s in entries]
    curse = winners_curse(public, private, stored.spec.lower_is_better)
    measure = MEASURES[stored.spec.measure]
    figure = px.scatter(
        x=public, y=private, text=[s.name for s in entries], title=f"Private against public {measure}",
        labels={"x": f"public {measure}", "y": f"private {measure}"},
    )  # fmt: skip
    low, high = min(public + private), max(public + private)
    figure.add_shape(type="line", x0=low, y0=low, x1=high, y1=high, line=dict(dash="dot", color="grey"))
    figure.add_scatter(
        x=[public[curse.winner]], y=[private[curse.winner]], mode="markers", name="public winner",
        marker=dict(size=16, symbol="star", color="#d62728"),
    )  # fmt: skip
    figure.update_traces(textposition="top center", selector=dict(mode="markers+text"))
    figure.update_layout(height=380, margin=dict(l=10, r=10, t=50, b=10), showlegend=False)
    return curse, figure
