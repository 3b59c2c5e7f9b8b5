"""A person's workspace kept on the server, found again by a random key their browser keeps.

The first page a browser loads gets a cookie (`COOKIE`: 32 random bytes signed with the server's secret, so
only keys this server issued are believed; HttpOnly, SameSite=Strict, for `MAX_AGE_DAYS` days, renewed on
every visit) from `WorkspaceCookie`, the ASGI middleware `asgi.py` puts in
front of Streamlit (``./dev app``). A session reads it once (`attach`), brings back what that browser kept
(ratings, runs, the model serving its lists, the run Train shows, kept settings) and, at the end of every
script run, writes what changed (`save`) to ``$RECENGINE_HOME/workspaces/<SHA-256 of the key>.json``,
atomically (a temporary file renamed over the old one). A workspace larger than `MAX_BYTES` once its oldest
runs are dropped is not written, nor is a new one beyond the server's `MAX_WORKSPACES` (the least recently
visited make room) or, in classroom mode, beyond `new_per_address` new workspaces an hour from one network
address: the session keeps its work while the tab is open, and the sidebar says why (`NOT_KEPT`). The key never appears in an address, so a shared
link carries nothing; the file name is a digest of it, so a directory listing gives nobody a key. Models
themselves stay in the model cache, which a workspace names by key. Without the cookie (``streamlit run
app.py``, tests) a session keeps its work until the tab closes, and the sidebar says so.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import functools
import hashlib
import hmac
import json
import os
import re
import secrets
import tempfile
import threading
import time
from collections import deque
from http.cookies import SimpleCookie
from pathlib import Path
from typing import Any

import streamlit as st

from dashboard import config, state

COOKIE = "recengine_workspace"
SECRET_FILE = "workspace-secret"  # in $RECENGINE_HOME: signs the keys this server issues (`signed`)
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")  # secrets.token_urlsafe(32)
MAX_AGE_DAYS = 30
MAX_BYTES = 4_000_000  # per person: a workspace larger than this keeps its newest runs only
MAX_RUNS = 200  # per person: beyond it, the oldest lesson and sweep runs go first, then the oldest own ones
MAX_WORKSPACES = 20_000  # on the server: beyond it, those visited least recently go first (prune)
# In classroom mode, new workspaces an hour from one network address: a class of
# `dashboard.challenge.CLASS_SIZE` behind one router, this many each, unless the variable says otherwise.
NEW_PER_ADDRESS_ENV = "RECENGINE_CLASS_WORKSPACES_PER_ADDRESS"
NEW_PER_PERSON_IN_CLASS = 5
HOUR = 3600.0
VERSION = 1
KEY = "workspace_key"  # session_state: the browser's key (None: not kept beyond this tab)
SAVED = "workspace_saved"  # session_state: the text last written, so an unchanged workspace is not rewritten
RESTORED = "workspace_restored"  # session_state: what coming back restored, said once
NOT_KEPT = "workspace_not_kept"  # session_state: why this session's latest work is not kept on the server
# Widget settings kept with the workspace (the Train page's algorithm, split and each algorithm's settings;
# the list's size and λ): plain values that do not depend on the data set.
KEPT_KEYS = ("train_algo", "train_split", "train_share", "recs_n", "recs_who", "ask_stopped")
NOT_SEEN = (
    "ask_not_seen"  # session_state (dashboard.asking): {source key: [item ids answered "haven't seen it"]}
)
KEPT_PREFIXES = ("recs_taste_",)


# --- the cookie -------------------------------------------------------------------------------------------


def valid_key(value: object) -> bool:
    return isinstance(value, str) and KEY_PATTERN.fullmatch(value) is not None


@functools.lru_cache(maxsize=8)
def server_secret(home: Path) -> tuple[bytes, float]:
    """The secret that signs the keys this server issues, and when it was made: 32 random bytes in
    ``home/SECRET_FILE`` (mode 600), made once: written whole to a temporary file, then linked into place,
    so of two servers starting at once one link wins and both read it. A home that cannot hold it gets a
    secret for this process alone (its keys last until a restart)."""
    path = home / SECRET_FILE
    try:
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True, mode=0o700)
            handle, temporary = tempfile.mkstemp(dir=home, prefix=".secret.", suffix=".tmp")  # mode 600
            try:
                with os.fdopen(handle, "wb") as file:
                    file.write(secrets.token_bytes(32))
                with contextlib.suppress(FileExistsError):
                    os.link(temporary, path)
            finally:
                os.unlink(temporary)
        secret = path.read_bytes()
        if len(secret) == 32:
            return secret, path.stat().st_mtime
    except OSError:
        pass
    return secrets.token_bytes(32), 0.0  # made at no time: no key from before signing is believed


def signed(key: str) -> str:
    """The cookie's value for ``key``: the key and its HMAC-SHA256 under the server's secret."""
    tag = hmac.new(server_secret(config.home())[0], key.encode(), hashlib.sha256).digest()
    return f"{key}.{base64.urlsafe_b64encode(tag).rstrip(b'=').decode()}"


def key_from_cookie(value: object) -> str | None:
    """The key a cookie's value carries when this server issued it (its signature holds), else None. A key
    from before keys were signed is believed only when its workspace was kept before the secret was made
    (a key planted since finds nothing of anyone's)."""
    if not isinstance(value, str):
        return None
    key, dot, _ = value.partition(".")
    if not valid_key(key):
        return None
    if dot:
        return key if hmac.compare_digest(value.encode(), signed(key).encode()) else None
    try:
        kept_before = path_for(key).stat().st_mtime < server_secret(config.home())[1]
    except OSError:
        return None
    return key if kept_before else None


def cookie_header(key: str) -> str:
    return f"{COOKIE}={signed(key)}; Max-Age={MAX_AGE_DAYS * 86400}; Path=/; HttpOnly; SameSite=Strict"


def key_from_headers(headers: list[tuple[bytes, bytes]]) -> str | None:
    """The workspace key in a request's Cookie headers, when one is there and this server issued it."""
    for name, value in headers:
        if name.lower() != b"cookie":
            continue
        jar: SimpleCookie = SimpleCookie()
        with contextlib.suppress(Exception):
            jar.load(value.decode("latin-1"))
        if COOKIE in jar and (key := key_from_cookie(jar[COOKIE].value)) is not None:
            return key
    return None


class WorkspaceCookie:
    """ASGI middleware: every page a browser loads carries its workspace key, a new one when it has none
    (or a malformed one), renewed for `MAX_AGE_DAYS`. Streamlit's own routes (``/_stcore``, static files,
    media) are passed through untouched."""

    PASSED = ("/_stcore", "/static", "/media", "/component", "/app/static")

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope.get("path", "/").startswith(self.PASSED):
            await self.app(scope, receive, send)
            return
        key = key_from_headers(scope.get("headers", [])) or secrets.token_urlsafe(32)
        header = (b"set-cookie", cookie_header(key).encode("latin-1"))

        async def send_with_cookie(message: dict) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), header]}
            await send(message)

        await self.app(scope, receive, send_with_cookie)


# --- on disk ----------------------------------------------------------------------------------------------


def folder() -> Path:
    return config.home() / "workspaces"


def path_for(key: str) -> Path:
    """The file of the workspace with ``key``: named by a digest, so listing the folder reveals no key."""
    return folder() / f"{hashlib.sha256(key.encode()).hexdigest()[:40]}.json"


def read(key: str) -> dict[str, Any] | None:
    """The stored workspace of ``key``, or None (none yet, expired, or unreadable)."""
    path = path_for(key)
    try:
        if time.time() - path.stat().st_mtime > MAX_AGE_DAYS * 86400:
            path.unlink(missing_ok=True)
            return None
        payload = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return payload if isinstance(payload, dict) and payload.get("version") == VERSION else None


def write(key: str, text: str) -> None:
    """Write ``text`` as the workspace of ``key``: a temporary file in the same folder, renamed over."""
    path = path_for(key)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
    try:
        with os.fdopen(handle, "w") as file:
            file.write(text)
        os.chmod(temporary, 0o600)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def remove(key: str) -> None:
    path_for(key).unlink(missing_ok=True)
    path_for(key).with_suffix(".lock").unlink(missing_ok=True)


def prune(now: float | None = None, limit: int | None = None) -> int:
    """Delete workspaces nobody came back to for `MAX_AGE_DAYS`, then the least recently visited beyond
    ``limit`` (`MAX_WORKSPACES`), with their lock files, and stray temporary and lock files an hour old;
    how many workspaces went."""
    now = time.time() if now is None else now
    limit = MAX_WORKSPACES if limit is None else limit
    ages = []
    for path in folder().glob("*.json"):
        with contextlib.suppress(OSError):
            ages.append((path.stat().st_mtime, path))
    ages.sort()
    removed = 0
    for index, (modified, path) in enumerate(ages):
        if now - modified > MAX_AGE_DAYS * 86400 or index < len(ages) - limit:
            with contextlib.suppress(OSError):
                path.unlink()
                path.with_suffix(".lock").unlink(missing_ok=True)
                removed += 1
    strays = [
        *folder().glob(".*.tmp"),
        *(p for p in folder().glob("*.lock") if not p.with_suffix(".json").exists()),
    ]
    for path in strays:
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > 3600:
                path.unlink()
    return removed


_new_from: dict[str, deque[float]] = {}  # address digest -> when its new workspaces were made this hour
_new_lock = threading.Lock()


def new_per_address() -> int:
    """New workspaces one network address may make an hour in classroom mode:
    ``RECENGINE_CLASS_WORKSPACES_PER_ADDRESS`` (a positive whole number), else
    `dashboard.challenge.CLASS_SIZE` × `NEW_PER_PERSON_IN_CLASS`."""
    from dashboard.challenge import CLASS_SIZE

    text = os.environ.get(NEW_PER_ADDRESS_ENV, "").strip()
    return int(text) if text.isdigit() and int(text) > 0 else CLASS_SIZE * NEW_PER_PERSON_IN_CLASS


def admit_new(address: str, now: float | None = None) -> str | None:
    """Before a new workspace is written: None when it may be, after making room (`prune`) when the server
    holds `MAX_WORKSPACES`; else why not, when ``address`` (a digest; "" is not counted) made
    `new_per_address` new workspaces in the last hour."""
    now = time.time() if now is None else now
    if address:
        limit = new_per_address()
        with _new_lock:
            for digest in [d for d, times in _new_from.items() if not times or now - times[-1] >= HOUR]:
                del _new_from[digest]  # nothing this hour: forgotten
            made = _new_from.setdefault(address, deque())
            while made and now - made[0] >= HOUR:
                made.popleft()
            if len(made) >= limit:
                return (
                    f"Your work is not kept on this server beyond this tab: {limit:,} new workspaces were made "
                    "from your network address in the last hour, the most a class server makes for one address "
                    "(the computers behind one router share it). It stays while this tab is open; save a "
                    "profile or export your ratings as CSV to keep it."
                )
            made.append(now)
    with contextlib.suppress(OSError):
        if sum(1 for entry in os.scandir(folder()) if entry.name.endswith(".json")) >= MAX_WORKSPACES:
            prune(now=now, limit=MAX_WORKSPACES - 1)
    return None


def session_address() -> str:
    """The digest of this session's network address in classroom mode, else "" (`dashboard.profiles`)."""
    from dashboard.profiles import current_address

    return current_address()


def too_large(text: str) -> str | None:
    """Why a workspace's JSON ``text`` is not written (larger than `MAX_BYTES`), or None."""
    if len(text) <= MAX_BYTES:
        return None
    return (
        f"Your work is not kept on this server beyond this tab: it would take {len(text):,} bytes, more than "
        f"the {MAX_BYTES:,} bytes a workspace may (very many ratings, or long item ids). It stays while this "
        "tab is open; export your ratings as CSV to keep them."
    )


# --- a session's state as plain values ---------------------------------------------------------------------


RUN_FIELDS = (
    "run_id", "algo", "label", "kind", "params", "split", "fingerprint", "source_key", "history", "metrics",
    "fit_seconds", "from_cache", "stopped_at", "name", "diverged", "start_loss", "group",
    "taken_from",
)  # fmt: skip


def run_record(run: state.Run) -> dict[str, Any]:
    return {name: getattr(run, name) for name in RUN_FIELDS}


def kept_runs(runs: list[state.Run]) -> list[state.Run]:
    """The runs a workspace keeps: those a restart can bring back (their model in the cache, or a diverged
    run's curve; not a stopped run, nor one of an upload, which leaves with its session), at most `MAX_RUNS`,
    dropping the oldest lesson and sweep runs first."""
    keepable = [
        run
        for run in runs
        if (run.diverged or run.stopped_at is None) and not run.source_key.startswith("upload:")
    ]
    while len(keepable) > MAX_RUNS:
        others = [run for run in keepable if run.group != "mine"]
        keepable.remove(others[0] if others else keepable[0])
    return keepable


def snapshot() -> dict[str, Any]:
    """The session's workspace as JSON-ready values."""
    session = st.session_state
    choice = state.data_choice()
    settings = {
        key: value
        for key, value in session.items()
        if isinstance(key, str)
        and (key in KEPT_KEYS or key.startswith(KEPT_PREFIXES + train_prefixes()))
        and isinstance(value, str | int | float | bool)
    }
    return {
        "version": VERSION,
        "data": {"kind": choice.kind, "value": choice.value}
        if choice.kind in ("bundled", "download", "challenge")
        else None,
        "ratings": {
            source: [[plain(item), float(rating)] for item, rating in ratings.items()]
            for source, ratings in session.get(state.RATINGS, {}).items()
            if ratings
        },
        "not_seen": {
            source: [plain(item) for item in items]
            for source, items in session.get(NOT_SEEN, {}).items()
            if items
        },
        "runs": [run_record(run) for run in kept_runs(list(state.runs().values()))],
        "serving": dict(session.get(state.SERVING, {})),
        "train_run": session.get(state.TRAIN_RUN),
        "profile": session.get(state.PROFILE),
        "settings": settings,
    }


def train_prefixes() -> tuple[str, ...]:
    from recengine.models import MODELS

    return tuple(f"train_{name}_" for name in MODELS)


def encoded(payload: dict[str, Any]) -> str:
    """``payload`` as JSON; when larger than `MAX_BYTES`, the oldest runs' curves are dropped until it fits."""
    text = json.dumps(payload, separators=(",", ":"), default=str)
    runs = payload["runs"]
    while len(text) > MAX_BYTES and runs:
        runs.pop(0)
        text = json.dumps(payload, separators=(",", ":"), default=str)
    return text


def restored_runs(records: list[dict[str, Any]]) -> tuple[dict[str, state.Run], int]:
    """Runs from their records, their models loaded from the model cache on first use; and how many could
    not come back (evicted from the cache since)."""
    from dashboard.runs import cached, model_store

    store, lost = model_store(), 0
    restored: dict[str, state.Run] = {}
    for record in records:
        fields = {name: record[name] for name in RUN_FIELDS if name in record}
        if not record.get("diverged") and record["run_id"] not in store:
            lost += 1
            continue
        run = state.RestoredRun(**fields, model=None)
        if not run.diverged:
            run.loader = lambda key=run.run_id: cached(key)
        restored[run.run_id] = run
    return restored, lost


def restore(payload: dict[str, Any]) -> str:
    """Put a stored workspace into this session; a sentence saying what came back (and what could not)."""
    session = st.session_state
    data = payload.get("data")
    if isinstance(data, dict) and data.get("kind") in ("bundled", "download"):
        state.set_data_choice(state.DataChoice(kind=data["kind"], value=str(data.get("value", ""))))
    elif isinstance(data, dict) and data.get("kind") == "challenge":  # its training part, while it exists
        from dashboard import challenge

        with contextlib.suppress(challenge.ChallengeError):
            state.set_data_choice(challenge.load(str(data.get("value", ""))).working_choice)
    ratings = payload.get("ratings", {})
    session[state.RATINGS] = {
        str(source): {item: float(rating) for item, rating in pairs}
        for source, pairs in ratings.items()
        if isinstance(pairs, list)
    }
    session[NOT_SEEN] = {str(source): list(items) for source, items in payload.get("not_seen", {}).items()}
    restored, lost = restored_runs(payload.get("runs", []))
    session[state.RUNS] = restored
    session[state.SERVING] = {f: r for f, r in payload.get("serving", {}).items() if r in restored}
    if payload.get("train_run") in restored:
        session[state.TRAIN_RUN] = payload["train_run"]
    if payload.get("profile"):
        session[state.PROFILE] = payload["profile"]
    for key, value in payload.get("settings", {}).items():
        session.setdefault(key, value)
    count = sum(len(r) for r in session[state.RATINGS].values())
    parts = [
        f"{count} rating{'s' if count != 1 else ''}" if count else "",
        f"{len(restored)} run{'s' if len(restored) != 1 else ''}" if restored else "",
    ]
    back = " and ".join(part for part in parts if part) or "your choices"
    return f"Welcome back: {back} came back" + (f"; {lost} runs had left the model cache." if lost else ".")


def plain(item: object) -> object:
    """An item id as JSON keeps it (a NumPy integer as an int): ints and strings stay apart, as in the data."""
    return item.item() if hasattr(item, "item") else item


# --- a session ---------------------------------------------------------------------------------------------


def browser_key() -> str | None:
    """The workspace key this session's browser sent, or None (no cookie: ``streamlit run app.py``, tests)."""
    try:
        value = st.context.cookies.get(COOKIE)
    except (AttributeError, RuntimeError):  # no request behind this session
        return None
    return key_from_cookie(value)


def session_key() -> str | None:
    """The key of the workspace this session keeps: its student's under a class roster (the same on every
    computer they sign in on), else its browser's."""
    from dashboard import classroom, roster  # they import this module

    if (student := classroom.signed_in_student()) is not None:
        return roster.workspace_key(student.student_id)
    return browser_key()


def attach() -> None:
    """Once per session: find the session's key (`session_key`) and bring back its workspace."""
    session = st.session_state
    if KEY in session:
        return
    session[KEY] = session_key()
    from dashboard import classroom, profiles  # they import this module

    classroom.note_session(profiles.current_owner())  # whose this session is, for the upload guards
    if session[KEY] is None:
        return
    _prune_once()
    payload = read(session[KEY])
    if payload is not None:
        try:
            session[RESTORED] = restore(payload)
        except (KeyError, TypeError, ValueError):  # a file from another version, or damaged: start afresh
            session[RESTORED] = "Your earlier work could not be read back: starting afresh."
        session[SAVED] = read_text(session[KEY])  # what the next save merges against


@st.cache_resource(show_spinner=False)
def _prune_once() -> int:
    return prune()


def kept() -> bool:
    """Whether this session's work is kept beyond the tab (the browser has a workspace key)."""
    return st.session_state.get(KEY) is not None


def save() -> None:
    """Write the workspace when it changed since it was last written (called at the end of a script run).
    When another tab of the same browser wrote it meanwhile, the two are merged (`merged`) and this session
    takes in what the other tab added, so neither tab's work is lost."""
    key = st.session_state.get(KEY)
    from dashboard import classroom  # it imports this module

    if key is None or not classroom.still_signed_in():  # a replaced code's tab writes nobody's work
        return
    payload = snapshot()
    text, base, disk = encoded(payload), st.session_state.get(SAVED), read_text(key)
    if disk == base and (text == base or (base is None and not made_anything(payload))):
        return  # nothing changed, or a visit that made nothing (it leaves no file)
    if refusal := too_large(text) or (admit_new(session_address()) if disk is None else None):
        st.session_state[NOT_KEPT] = refusal
        return
    with contextlib.suppress(OSError), locked(key):  # a full or read-only disk: the session keeps everything
        theirs = read_text(key)
        if theirs is not None and theirs != base:
            payload = merged(payload, json.loads(base) if base else {}, json.loads(theirs))
            adopt(payload)
            text = encoded(payload)
            if refusal := too_large(text):
                st.session_state[NOT_KEPT] = refusal
                return
        if text != theirs:
            write(key, text)
        st.session_state[SAVED] = text
        st.session_state.pop(NOT_KEPT, None)


@contextlib.contextmanager
def locked(key: str):
    """An exclusive lock on the workspace of ``key``, so two tabs' read-merge-write do not interleave."""
    path = path_for(key).with_suffix(".lock")
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(path, "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def read_text(key: str) -> str | None:
    try:
        return path_for(key).read_text()
    except OSError:
        return None


def merged(ours: dict[str, Any], base: dict[str, Any], theirs: dict[str, Any]) -> dict[str, Any]:
    """Three-way merge of this session's workspace (``ours``) with what another tab of the same browser wrote
    (``theirs``) since this session last read or wrote it (``base``): what either side changed is kept; where
    both changed the same rating or choice, this session's wins. Runs are only ever added."""
    result = dict(ours)
    result["ratings"] = {}
    for source in {*ours.get("ratings", {}), *theirs.get("ratings", {})}:
        mine, old, other = (
            {item: rating for item, rating in side.get("ratings", {}).get(source, [])}
            for side in (ours, base, theirs)
        )
        for item, rating in other.items():
            if mine.get(item) == old.get(item):
                mine[item] = rating  # added or changed there, untouched here
        for item in set(old) - set(other):
            if mine.get(item) == old[item]:
                mine.pop(item)  # removed there, untouched here
        if mine:
            result["ratings"][source] = [[item, rating] for item, rating in mine.items()]
    mine_skipped, their_skipped = ours.get("not_seen", {}), theirs.get("not_seen", {})
    result["not_seen"] = {
        source: list(dict.fromkeys([*mine_skipped.get(source, []), *their_skipped.get(source, [])]))
        for source in {*mine_skipped, *their_skipped}
    }
    known = {record["run_id"] for record in ours.get("runs", [])}
    result["runs"] = [*ours.get("runs", []), *(r for r in theirs.get("runs", []) if r["run_id"] not in known)]
    result["serving"] = {**theirs.get("serving", {}), **{
        fingerprint: run for fingerprint, run in ours.get("serving", {}).items()
        if base.get("serving", {}).get(fingerprint) != run or fingerprint not in theirs.get("serving", {})
    }}  # fmt: skip
    return result


def adopt(payload: dict[str, Any]) -> None:
    """Take the merged workspace's ratings, answers, runs and choices into this session."""
    session = st.session_state
    session[state.RATINGS] = {
        source: {item: float(rating) for item, rating in pairs}
        for source, pairs in payload["ratings"].items()
    }
    session[NOT_SEEN] = {source: list(items) for source, items in payload["not_seen"].items()}
    new = [record for record in payload["runs"] if record["run_id"] not in state.runs()]
    state.runs().update(restored_runs(new)[0])
    session[state.SERVING] = dict(payload["serving"])


def made_anything(payload: dict[str, Any]) -> bool:
    """Whether a workspace holds anything the person made or chose (working on a challenge is a choice)."""
    working_on_challenge = (payload.get("data") or {}).get("kind") == "challenge"
    return working_on_challenge or any(
        payload.get(part) for part in ("ratings", "not_seen", "runs", "serving", "profile")
    )


def start_over() -> None:
    """Forget the person's workspace here and on the server (the browser keeps its key, now empty)."""
    key = st.session_state.get(KEY)
    state.start_over()
    if key is not None:
        remove(key)
        st.session_state[KEY] = key
