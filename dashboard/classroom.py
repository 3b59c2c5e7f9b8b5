"""Classroom mode: one class password in front of every page when the dashboard serves a network.

Set ``RECENGINE_CLASS_PASSWORD`` and start ``./dev app``: the server then listens on every interface
(``dashboard.serve``) and each new browser session must type the password before any page runs. The
password is compared in constant time (``hmac.compare_digest`` of SHA-256 digests).

Wrong tries are counted (`Tries`) per session and per person (the browser's workspace cookie, so new tabs
of one browser get no more): past `MAX_FAILURES` in `WINDOW_SECONDS` they are refused, with a message saying
for how long. A connection address is never locked out, since a class behind one router or proxy shares
it: past `MAX_ADDRESS_FAILURES` its tries take turns (unless the password is `unguessable`: then a
flood from the router would only keep classmates out, and nothing counts the address), each
`ADDRESS_DELAY_STEP` seconds per wrong try beyond the budget (at most `MAX_ADDRESS_DELAY`) after the previous one, so one student's guessing from many
tabs slows the address down (about 720 tries an hour at most) without locking the class out. An address
books at most `MAX_TURNS_AHEAD` of the longest turns ahead; a try beyond is refused at once
(`TooManyTries`, saying how long to wait), so a classmate's right password waits a few turns, not behind
every queued guess. The teacher's sign-in (`teacher_tries`) has its own budget, and the
metrics gate (`dashboard.guards.MetricsGate`) its own. The address is the connection's own: forwarded headers
count only from the proxy the operator names (``RECENGINE_TRUSTED_PROXY``, see `dashboard.serve` and
`dashboard.guards`). Every wrong try costs its session `FAILURE_DELAY_SECONDS`. Without the variable the
server listens on localhost only and asks nothing. The sessions that typed the password are kept by id
(`session_admitted`), for the HTTP guards in front of Streamlit (uploads). See docs/threat-model.md.

Once the teacher makes a class roster (`dashboard.roster`), the form asks for a join code instead: a session
signs in as a student the teacher named (or, with the teacher password, as the teacher), every budget counts
that student, and none counts the address (`counted_address`). Wrong codes are counted per session and browser
only (`code_tries`): a code cannot be guessed, so a flood from one router keeps nobody out.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import math
import os
import secrets
import threading
import time
import urllib.parse
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from time import sleep

import streamlit as st

from dashboard import roster

ENV = "RECENGINE_CLASS_PASSWORD"
TEACHER_ENV = "RECENGINE_TEACHER_PASSWORD"
ADMITTED = "class_admitted"
TEACHER = "class_teacher"  # session_state: the teacher signed in ("class_": kept on Start over)
TEACHER_CODE = (
    "class_teacher_code"  # session_state: the digest of the teacher code the teacher signed in with
)
SIGNED_IN_AT = "class_signed_in_at"  # session_state: when this session signed in (time.monotonic)
STUDENT = "class_student"  # session_state: (student id, code digest) of the roster's student signed in
SIGNED_OUT = "class_signed_out"  # session_state: why the sign-in form shows again (said once)
LINK = "class_link"  # session_state: (page, query) the session was opened on, until the password is typed
TAB = "class_tab"  # session_state: this session's random name, for counting its wrong tries
MAX_FAILURES = 10  # per session and per person (browser)
MAX_ADDRESS_FAILURES = 60  # per connection address before it is slowed down: a class of 30 mistyping twice
WINDOW_SECONDS = 600
ADDRESS_DELAY_STEP = 0.5  # seconds between an address's tries, per wrong try beyond its budget
MAX_ADDRESS_DELAY = 5.0  # seconds: a classmate's right password waits this, and this per try queued before it
MAX_TURNS_AHEAD = 3  # longest turns an address may book ahead: a right password waits at most these
FAILURE_DELAY_SECONDS = 1.0
UNGUESSABLE_LENGTH = 16  # characters of a password whose wrong tries are not counted per address
MAX_PASSWORD_TYPED = 200  # characters a password field takes (a browser sends no more; a script's are cut)
MAX_CODE_TYPED = 40  # characters of a typed join code looked at (a code is 12, with spaces and dashes 14)


def class_password() -> str | None:
    """The class password; None when the variable is unset, empty or blank."""
    value = os.environ.get(ENV, "")
    return value if value.strip() else None


def matches(given: str, password: str) -> bool:
    """Whether ``given`` is ``password``, in time that does not depend on where they differ."""
    digest = hashlib.sha256
    return hmac.compare_digest(digest(given.encode()).digest(), digest(password.encode()).digest())


# Streamlit session ids that signed in, each with what must still hold for it to stay in (None: nothing;
# under a roster, its code still the student's and no sign-out since), for the HTTP guards (uploads).
_admitted_sessions: dict[str, Callable[[], bool] | None] = {}
_admitted_lock = threading.Lock()


def admit_session(session_id: str, still: Callable[[], bool] | None = None) -> None:
    """Remember that ``session_id`` signed in, while ``still()`` holds (and forget sessions that have ended)."""
    from dashboard.jobs import session_alive

    with _admitted_lock:
        for ended in [s for s in _admitted_sessions if not session_alive(s)]:
            del _admitted_sessions[ended]
        _admitted_sessions[session_id] = still


def session_admitted(session_id: str) -> bool:
    """Whether the Streamlit session ``session_id`` may use the server: no class password is set, or it signed
    in and still is (a session whose join code was replaced, or that signed out, is let go of here too, with
    its uploaded files, even when its tab never runs the page again)."""
    if class_password() is None:
        return True
    with _admitted_lock:
        if session_id not in _admitted_sessions:
            return False
        still = _admitted_sessions[session_id]
    if still is None or still():
        return True
    forget_session(session_id)
    return False


def let_go(session_id: str) -> bool:
    """Whether ``session_id`` signed in and is no longer in (its code replaced, or signed out): the trainers'
    watchdog then cancels its trainings, which would otherwise keep their place in the student's name."""
    with _admitted_lock:
        still = _admitted_sessions.get(session_id)
    return still is not None and not session_admitted(session_id)


def forget_session(session_id: str) -> None:
    """``session_id`` is no longer signed in: out of the admitted sessions, its uploaded files freed."""
    with _admitted_lock:
        _admitted_sessions.pop(session_id, None)
    from streamlit.runtime import Runtime

    if session_id and Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_session_files(session_id)


def put_newest(entries: dict, key: object, value: object, kept: int) -> list:
    """``entries[key] = value`` as the newest entry (dicts keep their order); the oldest beyond ``kept``
    dropped, their values returned. The callers hold their own lock."""
    entries.pop(key, None)
    entries[key] = value
    return [entries.pop(next(iter(entries))) for _ in range(len(entries) - kept)]


class Whose:
    """Whose each Streamlit session is: the person (``person:<digest>`` of their browser's workspace key, else
    ``session:<id>``) and the client address, noted on the session's first run (`note_session`). The HTTP
    guards, which see only a session id, count a person's tabs, and an address's people, together with it.
    A session is remembered while it may hold files (a tab that reconnects keeps its session and its
    uploads), the oldest forgotten beyond `KEPT_SESSIONS` (thread-safe: sessions run in threads)."""

    KEPT_SESSIONS = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[str, tuple[str, str]] = {}  # in the order they were noted

    def note(self, session_id: str, person: str, address: str) -> None:
        with self._lock:
            put_newest(self._sessions, session_id, (person, address), self.KEPT_SESSIONS)

    def of(self, session_id: str) -> tuple[str, str]:
        """(person, address) of ``session_id``; a session never noted is a person of its own, address ""."""
        with self._lock:
            return self._sessions.get(session_id, (f"session:{session_id}", ""))

    def together(self, session_id: str) -> tuple[list[str], list[str]]:
        """The sessions of ``session_id``'s person, itself included, and those of its address (none when it
        was not noted)."""
        person, address = self.of(session_id)
        with self._lock:
            mine = {s for s, (p, _) in self._sessions.items() if p == person} | {session_id}
            here = {s for s, (_, a) in self._sessions.items() if address and a == address}
        return sorted(mine), sorted(here)


whose = Whose()


def note_session(person: str) -> None:
    """Note that the running session is ``person``'s, at its client address (see `Whose`)."""
    if session_id := _session_id():
        whose.note(session_id, person, counted_address())


class Attempts:
    """Wrong passwords per client (a session, a person, an address) in a sliding window (thread-safe:
    sessions run in threads)."""

    def __init__(self, limit: int = MAX_FAILURES, window: float = WINDOW_SECONDS):
        self.limit, self.window = limit, window
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def wait_seconds(self, client: str, now: float | None = None) -> float:
        """0 when ``client`` may try now, else how long until it may."""
        now = time.monotonic() if now is None else now
        with self._lock:
            recent = self._recent(client, now)
            return 0.0 if len(recent) < self.limit else recent[0] + self.window - now

    def excess(self, client: str, now: float | None = None) -> int:
        """How many of ``client``'s wrong tries in the window are beyond its limit."""
        now = time.monotonic() if now is None else now
        with self._lock:
            return max(0, len(self._recent(client, now)) - self.limit)

    def failed(self, client: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._recent(client, now).append(now)

    def _recent(self, client: str, now: float) -> deque[float]:
        for key in [k for k, times in self._failures.items() if times and times[-1] <= now - self.window]:
            del self._failures[key]  # clients long gone: their tries left the window
        failures = self._failures.setdefault(client, deque())
        while failures and failures[0] <= now - self.window:
            failures.popleft()
        return failures


class TooManyTries(Exception):
    """An address has booked `MAX_TURNS_AHEAD` turns ahead already: this try is refused unchecked."""

    def __init__(self, seconds: float):
        self.seconds = max(1, math.ceil(seconds))
        super().__init__(f"Too many tries from your network, wait {self.seconds} s and try again.")


class Turns:
    """When each address past its budget may try next: each try waits `ADDRESS_DELAY_STEP` seconds per wrong
    try beyond the budget (at most `MAX_ADDRESS_DELAY`) after the address's previous turn, so tries sent
    at once from many tabs take turns too; at most ``ahead`` turns are booked (thread-safe)."""

    def __init__(self, step: float | None = None, longest: float | None = None, ahead: int = MAX_TURNS_AHEAD):
        self.step = ADDRESS_DELAY_STEP if step is None else step
        self.longest = MAX_ADDRESS_DELAY if longest is None else longest
        self.ahead = ahead
        self._next: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, address: str, excess: int, now: float) -> float:
        """Book ``address``'s next turn; how long to wait for it (0 while the address is within budget).
        Raises `TooManyTries` when the turn would be more than ``ahead`` longest delays away."""
        with self._lock:
            for key in [k for k, turn in self._next.items() if turn < now - self.longest]:
                del self._next[key]
            if excess <= 0:
                return 0.0
            turn = max(now, self._next.get(address, now)) + min(self.longest, self.step * excess)
            if turn - now > self.ahead * self.longest:
                raise TooManyTries(turn - now - self.ahead * self.longest)  # when this turn would fit
            self._next[address] = turn
            return turn - now


class Tries:
    """Wrong tries at one password: each session and person refused past `MAX_FAILURES`; each address only
    slowed down past `MAX_ADDRESS_FAILURES`."""

    def __init__(
        self, per_person: int | None = None, per_address: int | None = None, turns: Turns | None = None
    ):
        self.people = Attempts(MAX_FAILURES if per_person is None else per_person)
        self.addresses = Attempts(MAX_ADDRESS_FAILURES if per_address is None else per_address)
        self.turns = turns or Turns()

    def refused_seconds(self, people: Iterable[str], now: float | None = None) -> float:
        """0 when none of ``people`` (a session, a person) is past its budget, else how long until it may."""
        return max((self.people.wait_seconds(who, now) for who in people), default=0.0)

    def slowed_seconds(self, address: str, now: float | None = None) -> float:
        """How long this try from ``address`` waits for its turn (0 while the address is within budget);
        `TooManyTries` when the address's turns are all booked."""
        now = time.monotonic() if now is None else now
        return self.turns.wait(address, self.addresses.excess(address, now), now)

    def failed(self, people: Iterable[str], address: str | None, now: float | None = None) -> None:
        """Count a wrong try against ``people`` and ``address`` (None: no address counts)."""
        for who in people:
            self.people.failed(who, now)
        if address is not None:
            self.addresses.failed(address, now)


@st.cache_resource
def class_tries() -> Tries:
    """Wrong class passwords on this server."""
    return Tries()


@st.cache_resource
def teacher_tries() -> Tries:
    """Wrong teacher passwords on this server: a budget of their own, so students locked out of the class
    password do not lock the teacher out."""
    return Tries()


def who_is_trying() -> tuple[list[str], str]:
    """(the session, by a random name it keeps, and the person, by a digest of their workspace key when
    their browser has one; the connection's address, "localhost" when Streamlit gives none)."""
    people = [f"session:{st.session_state.setdefault(TAB, secrets.token_hex(16))}"]
    if (person := _signed_in_browser()) is not None:
        people.append(person)
    return people, client_address()


def client_address() -> str:
    """The connection's address ("localhost" when Streamlit gives none): see dashboard.guards."""
    address = st.context.ip_address  # None on localhost
    return address if isinstance(address, str) and address else "localhost"


def unguessable(password: str) -> bool:
    """Whether ``password`` is too long to guess at the pace a server answers: `UNGUESSABLE_LENGTH`
    characters or more, half of them different (four random words are). Its wrong tries are then counted per
    tab and browser only, as join codes are, so a flood of wrong tries from the class's own router keeps
    nobody out; a shorter one is slowed down per address as well."""
    return len(password) >= UNGUESSABLE_LENGTH and len(set(password)) >= UNGUESSABLE_LENGTH // 2


def sign_in(given: str, password: str, tries: Tries, wrong: str) -> str | None:
    """Check ``given`` against ``password`` for this session, counting wrong tries in ``tries``: None when it
    is the password, else the message to show (``wrong``, or how long this browser must wait)."""
    people, address = who_is_trying()
    if (wait := tries.refused_seconds(people)) > 0:
        return (
            f"Too many wrong passwords in this browser: try again in {wait:,.0f} seconds (your classmates "
            "can still sign in)."
        )
    counted = None if unguessable(password) else address
    try:
        sleep(tries.slowed_seconds(counted) if counted else 0.0)  # many wrong tries from here: a turn each
    except TooManyTries as busy:
        return f"{busy} (Many wrong passwords came from your network; your classmates' turns come first.)"
    if matches(given, password):
        return None
    tries.failed(people, counted)
    sleep(FAILURE_DELAY_SECONDS)
    return wrong


def admitted() -> bool:
    """True when no class password is set or this session signed in (a browser that signed in before is let
    in again); draws nothing: ``app.py`` calls `sign_in_form` when it is False. With a class roster a session
    signs in with a join code (`dashboard.roster`) instead of the class password."""
    password = class_password()
    if password is None:
        return True
    if roster.in_use():
        return _admitted_by_code()
    if st.session_state.get(ADMITTED):
        return True
    if (person := _signed_in_browser()) is not None and remembered.knows(person, password):
        st.session_state[ADMITTED] = True  # this browser typed the password before: a reload, a new tab
        admit_session(_session_id(), lambda: not roster.in_use())
        return True
    return False


def sign_in_form() -> None:
    """The form a session not `admitted` signs in with: a join code under a roster, else the class password
    (and the page and settings the session was opened on are kept, for `return_to_link`)."""
    _keep_link()
    if roster.in_use():
        _code_form()
        return
    with _sign_in_form():
        given = st.text_input(
            "Class password", type="password", key="class_password", max_chars=MAX_PASSWORD_TYPED
        )
        submitted = st.form_submit_button("Enter", type="primary", key="class_password_enter")
    if submitted:
        wrong = "That is not the class password. Ask your teacher for it."
        refused = sign_in(given, class_password() or "", class_tries(), wrong)
        if refused is None:
            st.session_state[ADMITTED] = True
            admit_session(_session_id(), lambda: not roster.in_use())  # a roster asks everyone for a code
            if (person := _signed_in_browser()) is not None:
                remembered.add(person, class_password() or "")
            st.rerun()
        st.error(refused)


def _keep_link() -> None:
    if LINK not in st.session_state:
        path = urllib.parse.urlparse(st.context.url or "").path.rstrip("/").rpartition("/")[2]
        st.session_state[LINK] = (path, st.query_params.to_dict())


@contextlib.contextmanager
def _sign_in_form() -> Iterator[None]:
    st.title("recengine")
    with st.form("class_password_form"):
        yield


# --- signing in with a join code (a class roster) ----------------------------------------------------------


def _admitted_by_code() -> bool:
    """Whether this session signed in as a student on the roster, or as the teacher, and still is (a session
    whose code changed, or whose browser signed out in another tab, is signed out). A new tab or a reload
    signs in again: a browser is not remembered, since anyone who copied its cookie beforehand would then
    become whoever signs in there next (probe 7b); the work is the student's and comes back with the code."""
    if st.session_state.get(ADMITTED) and (st.session_state.get(TEACHER) or STUDENT in st.session_state):
        if still_signed_in():
            return True
        _sign_out("You were signed out: your code changed, or this browser signed out in another tab.")
    elif st.session_state.get(ADMITTED):  # in by the class password before the roster was made
        _sign_out("This class now signs in with a join code each: ask your teacher for yours.")
    return False


def still_signed_in() -> bool:
    """False only for a session that signed in with a code and is no longer in: its code replaced or taken off
    the roster, or its browser signed out (in any tab). Fragments and saves ask it, since a fragment's run
    never reaches ``app.py``'s check (probe 7b: a replaced code's open tab kept rating in the student's
    name)."""
    if class_password() is None or not roster.in_use() or not st.session_state.get(ADMITTED):
        return True  # only a roster signs sessions out (app.py's check is the same: no rerun loop)
    if not (st.session_state.get(TEACHER) or STUDENT in st.session_state):
        return False  # in by the class password before the roster was made
    return _still_signed_in(
        _signed_in_browser(), st.session_state.get(TEACHER_CODE), st.session_state.get(STUDENT),
        st.session_state.get(SIGNED_IN_AT, float("-inf")),
    )  # fmt: skip


def guard_fragment() -> None:
    """The first line of a fragment: a session no longer signed in reruns the whole app, whose sign-in check
    signs it out."""
    if not still_signed_in():
        st.rerun(scope="app")


def _still_signed_in(
    browser: str | None, teacher_code: str | None, student: tuple[str, str] | None, signed_in_at: float
) -> bool:
    """Whether a session that signed in so is still in: its code (the teacher's or the student's) unchanged,
    and its browser not signed out since. A teacher who typed the teacher password before the roster has no
    code to check."""
    if browser is not None and signed_out.since(browser, signed_in_at):
        return False
    if student is not None:
        return roster.current(*student) is not None
    return teacher_code is None or teacher_code == roster.teacher_digest()


def _code_form() -> None:
    if notice := st.session_state.pop(SIGNED_OUT, None):
        st.info(notice)
    with _sign_in_form():
        given = st.text_input(
            "Your join code", key="class_code", placeholder="ABCD-EFGH-JKMN", type="password",
            max_chars=MAX_CODE_TYPED,
            help="Your teacher gave you a code of twelve letters and digits. The teacher signs in with the teacher code.",
        )  # fmt: skip
        submitted = st.form_submit_button("Enter", type="primary", key="class_code_enter")
    if submitted and (refused := _code_sign_in(given, _signed_in_browser())) is not None:
        st.error(refused)


def _code_sign_in(given: str, browser: str | None) -> str | None:
    """Sign this session in as the student whose code ``given`` is, or as the teacher by theirs; None when it
    did (the page reruns), else why not. Codes are too many to guess, so wrong ones only cost their session
    and browser time; nothing typed here is counted per address, nor is the teacher password taken here (a
    flood of guesses from one router would then keep the teacher out)."""
    if len(given) > MAX_CODE_TYPED or roster.normalized_code(given) is None:
        return (
            "That is not a join code: a code has twelve letters and digits, such as ABCD-EFGH-JKMN (this class "
            "signs in with join codes, not the class password; the teacher signs in with their teacher code)."
        )
    people, _ = who_is_trying()
    tries = code_tries()
    if (wait := max(tries.wait_seconds(who) for who in people)) > 0:
        return f"Too many wrong join codes in this browser: try again in {wait:,.0f} seconds."
    try:
        student = roster.find(given)
        teacher = student is None and roster.is_teacher_code(given)
    except roster.RosterError as error:
        return str(error)
    if student is None and not teacher:
        for who in people:
            tries.failed(who)
        sleep(FAILURE_DELAY_SECONDS)
        return "That is not a join code on this class's roster. Check it with your teacher."
    if teacher:
        _admit_teacher(browser)
    else:
        _admit_student(student, browser)
    st.rerun()
    return None


def _admit_teacher(browser: str | None) -> None:
    """Sign this session in as the teacher by the teacher code (a roster is in use)."""
    digest = roster.teacher_digest()
    st.session_state[TEACHER] = st.session_state[ADMITTED] = True
    st.session_state[TEACHER_CODE] = digest
    signed_in_at = st.session_state[SIGNED_IN_AT] = time.monotonic()
    admit_session(_session_id(), lambda: _still_signed_in(browser, digest, None, signed_in_at))


def renew_teacher_code() -> str:
    """A new teacher code (`roster.new_teacher_code`), this teacher's session and browser staying signed in
    with it; sessions signed in with the old one end."""
    code = roster.new_teacher_code()
    _admit_teacher(_signed_in_browser())
    return code


def _admit_student(student: roster.Student, browser: str | None) -> None:
    signed = (student.student_id, student.code_digest)
    st.session_state[STUDENT] = signed
    st.session_state[ADMITTED] = True
    signed_in_at = st.session_state[SIGNED_IN_AT] = time.monotonic()
    admit_session(_session_id(), lambda: _still_signed_in(browser, None, signed, signed_in_at))


def signed_in_name() -> str | None:
    """Under a class roster, who this session signed in as: a student's name, or "the teacher"."""
    if class_password() is None or not roster.in_use():
        return None
    if is_teacher():
        return "the teacher"
    student = signed_in_student()
    return None if student is None else student.name


def signed_in_student() -> roster.Student | None:
    """The roster's student this session signed in as (None without a roster, or for the teacher)."""
    signed = st.session_state.get(STUDENT)
    return roster.current(*signed) if signed is not None else None


def sign_out() -> None:
    """Forget who this session and its browser signed in as, in every tab of the browser (their work stays in
    their workspace)."""
    if (browser := _signed_in_browser()) is not None:
        signed_out.add(browser)  # its other tabs sign out at their next run, and at the upload gate
    _sign_out("You signed out. The next person signs in with their own join code.")


def _sign_out(notice: str) -> None:
    forget_session(_session_id())
    st.session_state.clear()
    st.session_state[SIGNED_OUT] = notice


def counted_address() -> str:
    """The client address the per-address budgets count for this session: none ("") when a roster names
    who it is (a student or the teacher), since every budget then counts the person."""
    if class_password() is not None and roster.in_use() and st.session_state.get(ADMITTED):
        return ""
    return client_address()


@st.cache_resource
def code_tries() -> Attempts:
    """Wrong join codes per session and browser (never per address: a code cannot be guessed, so a flood
    from one router keeps no classmate out)."""
    return Attempts(MAX_FAILURES)


def teacher_password() -> str | None:
    """The teacher password; None when unset, blank, or the class password itself (then every student
    would be a teacher)."""
    value = os.environ.get(TEACHER_ENV, "")
    if not value.strip() or value == class_password():
        return None
    return value


def is_teacher() -> bool:
    """Whether this session signed in as the teacher (the teacher password, or the teacher code of a roster)."""
    signed = bool(st.session_state.get(TEACHER))
    return signed and (teacher_password() is not None or (class_password() is not None and roster.in_use()))


class Remembered:
    """The browsers (workspace digests) that typed the class password, with a digest of the password they
    typed: a reload or a new tab of such a browser is let in without the password, so a flood of wrong
    tries from the same router (which slows the address's tries down) keeps out no one who was in before.
    A new class password forgets them all; the oldest are forgotten beyond `KEPT` (thread-safe)."""

    KEPT = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._browsers: dict[str, str] = {}

    def add(self, person: str, password: str) -> None:
        with self._lock:
            put_newest(self._browsers, person, _password_digest(password), self.KEPT)

    def knows(self, person: str, password: str) -> bool:
        with self._lock:
            known = self._browsers.get(person)
        return known is not None and hmac.compare_digest(known, _password_digest(password))


remembered = Remembered()


class SignOuts:
    """When each browser (workspace digest) last signed out: a session that signed in before then is signed
    out, so Sign out in one tab ends every tab of the browser (the next person at a shared computer finds none
    left signed in). Beyond `KEPT` browsers the oldest are forgotten, and every session that signed in before
    the last one forgotten counts as signed out (a flood of sign-outs cannot bring a tab back, probe 7c)."""

    KEPT = 20_000

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._times: dict[str, float] = {}
        self._forgotten_before = float("-inf")

    def add(self, browser: str, now: float | None = None) -> None:
        with self._lock:
            now = time.monotonic() if now is None else now
            forgotten = put_newest(self._times, browser, now, self.KEPT)
            self._forgotten_before = max([self._forgotten_before, *forgotten])

    def since(self, browser: str, signed_in_at: float) -> bool:
        """Whether ``browser`` signed out after ``signed_in_at`` (a `time.monotonic` reading)."""
        with self._lock:
            last = self._times.get(browser, float("-inf"))
            return last > signed_in_at or signed_in_at < self._forgotten_before


signed_out = SignOuts()


def _password_digest(password: str) -> str:
    return hashlib.sha256(f"recengine class password|{password}".encode()).hexdigest()


def _signed_in_browser() -> str | None:
    """The person of this session's browser by its signed workspace cookie (a digest), or None without one."""
    from dashboard.workspace import browser_key

    key = browser_key()
    return None if key is None else f"person:{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def _session_id() -> str:
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    context = get_script_run_ctx(suppress_warning=True)
    return context.session_id if context is not None else ""


def return_to_link(pages: list[st.Page], current: st.Page) -> None:
    """Once the password is typed, go to the page and settings the session was opened on (a shared link:
    ``/train?algo=sgd``), which the password form's runs lose."""
    link = st.session_state.pop(LINK, None)
    if link is None:
        return
    path, query = link
    target = next((page for page in pages if page.url_path == path), None)
    if target is not None and (current.url_path != path or st.query_params.to_dict() != query):
        st.switch_page(target, query_params=query)
