"""A class roster: the teacher names the students and hands each a join code, which signs its student in on
any computer, to their own workspace.

Under the class password alone, the people behind one router are told apart by a cookie, and a cookie costs
one request: one student with many cookies is many people to every budget, and the per-address backstops are
then one student's to use up. Once the teacher makes a roster (the Challenge page's teacher view), the sign-in
form asks for a join code instead of the class password (`dashboard.classroom`): every session is a student
the teacher named, all of a student's tabs and computers are one person to every budget, and no budget needs
to count a network address.

A code is `CODE_LENGTH` letters and digits from an alphabet without look-alikes (about 59 bits, shown in
groups of four): guessing one is hopeless, so wrong codes are only slowed per session. The roster file
(``$RECENGINE_HOME/class/roster.json``, written atomically under a lock) keeps an HMAC of each code under
the server's secret, never the code: the teacher sees the codes once, when they are made, and may give a
student a new code (the old one stops working, and the sessions signed in with it end). A student's
workspace key is an HMAC of their id under the same secret, so it is never stored either.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import re
import secrets
import threading
import unicodedata
from dataclasses import dataclass
from pathlib import Path

from dashboard import config, names
from dashboard.profiles import locked_folder, write_atomically
from recengine.errors import RecEngineError

ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no I, L, O, 0 or 1: read aloud or off paper without doubt
CODE_LENGTH = 12  # 31**12 is about 2**59
GROUP = 4  # shown as ABCD-EFGH-JKMN
MAX_STUDENTS = 300
MAX_NAME_LENGTH = 40
FILE = "roster.json"
VERSION = 1


class RosterError(RecEngineError):
    """A roster that cannot be made or read as asked, with what to do."""


@dataclass(frozen=True)
class Student:
    student_id: str  # random, 16 hex digits: the workspace and every budget count this
    name: str  # as the teacher typed it
    code_digest: str  # HMAC of the join code under the server's secret


@dataclass(frozen=True)
class Roster:
    students: tuple[Student, ...] = ()
    teacher: str = ""  # HMAC of the teacher's own code ("" until one is made)


def path() -> Path:
    return config.home() / "class" / FILE


def in_use() -> bool:
    """Whether the teacher made a roster: then students sign in with join codes."""
    return path().exists()


def students() -> list[Student]:
    """The roster, in the order the teacher added them ([] when there is none); `RosterError` when its file
    cannot be read."""
    return list(_read(*_stamp()).students)


def teacher_digest() -> str:
    """The fingerprint of the teacher's code ("" when none was made, or the roster cannot be read)."""
    try:
        return _read(*_stamp()).teacher
    except RosterError:
        return ""


def is_teacher_code(text: str) -> bool:
    """Whether ``text`` is the teacher's code: under a roster the teacher signs in with it, never with the
    teacher password, so that no guess typed in the students' field counts against the teacher."""
    code, digest = normalized_code(text), teacher_digest()
    return code is not None and bool(digest) and hmac.compare_digest(code_digest(code), digest)


def new_teacher_code() -> str:
    """A new code for the teacher (the old one stops working, and the sessions signed in with it end)."""
    code = new_code()
    with _locked():
        _write(Roster(tuple(students()), code_digest(code)))
    return code


def find(text: str) -> Student | None:
    """The student whose join code ``text`` is (spaces, dashes and case aside), else None."""
    code = normalized_code(text)
    if code is None:
        return None
    digest = code_digest(code)
    return next((s for s in students() if hmac.compare_digest(s.code_digest, digest)), None)


def current(student_id: str, digest: str) -> Student | None:
    """The student ``student_id`` while ``digest`` is still their code's (not replaced, not removed)."""
    try:
        roster = students()
    except RosterError:
        return None
    return next((s for s in roster if s.student_id == student_id and s.code_digest == digest), None)


def add(typed: str) -> list[tuple[Student, str]]:
    """Add the students named in ``typed`` (one per line, blank lines skipped); each with their new join code.
    `RosterError` when a name is invalid, looks like one on the roster, or the roster would be too long."""
    wanted = [" ".join(line.split()) for line in typed.splitlines() if line.strip()]
    if not wanted:
        raise RosterError("Type the students' names, one per line.")
    with _locked():
        roster, teacher = students(), teacher_digest()
        if len(roster) + len(wanted) > MAX_STUDENTS:
            raise RosterError(f"A roster holds at most {MAX_STUDENTS} students: add fewer.")
        made = []
        for name in wanted:
            _check_name(name, [s.name for s in roster])
            code = new_code()
            student = Student(secrets.token_hex(8), name, code_digest(code))
            roster.append(student)
            made.append((student, code))
        _write(Roster(tuple(roster), teacher))
    return made


def new_code_for(student_id: str) -> tuple[Student, str]:
    """A new join code for ``student_id``: the old one stops working."""
    with _locked():
        roster = students()
        index = next((i for i, s in enumerate(roster) if s.student_id == student_id), None)
        if index is None:
            raise RosterError("That student is no longer on the roster.")
        code = new_code()
        roster[index] = Student(student_id, roster[index].name, code_digest(code))
        _write(Roster(tuple(roster), teacher_digest()))
    return roster[index], code


def remove(student_id: str) -> None:
    """Take ``student_id`` off the roster (their workspace stays on the server until it expires)."""
    with _locked():
        _write(Roster(tuple(s for s in students() if s.student_id != student_id), teacher_digest()))


def new_code() -> str:
    raw = "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + GROUP] for i in range(0, CODE_LENGTH, GROUP))


def normalized_code(text: str) -> str | None:
    """``text`` as a join code (upper case, without spaces, dashes or dots), or None when it cannot be one."""
    folded = unicodedata.normalize("NFKC", text).upper()
    code = re.sub(r"[\s\-_.]", "", folded)
    return code if len(code) == CODE_LENGTH and all(c in ALPHABET for c in code) else None


def code_digest(code: str) -> str:
    """The fingerprint the roster keeps of ``code`` (as typed or as shown: `normalized_code` first)."""
    return _keyed(f"join code|{normalized_code(code) or code}").hex()


def workspace_key(student_id: str) -> str:
    """The student's workspace key (as `dashboard.workspace` names workspaces): the same on every computer."""
    return base64.urlsafe_b64encode(_keyed(f"workspace|{student_id}")).rstrip(b"=").decode()


def _keyed(text: str) -> bytes:
    from dashboard.workspace import server_secret

    return hmac.new(server_secret(config.home())[0], text.encode(), hashlib.sha256).digest()


def _check_name(name: str, taken: list[str]) -> None:
    if len(name) > MAX_NAME_LENGTH:
        raise RosterError(
            f"“{name[:MAX_NAME_LENGTH]}…” is longer than {MAX_NAME_LENGTH} characters: shorten it."
        )
    if any(unicodedata.category(c)[0] == "C" for c in name):
        raise RosterError("A name may not hold control or invisible characters: retype it.")
    same = next((other for other in taken if names.look_alike(other, name)), None)
    if same is not None:
        raise RosterError(
            f"“{name}” looks like “{same}”, already on the roster: tell them apart (add a last name's initial)."
        )
    taken.append(name)


_cache_lock = threading.Lock()
_cached: tuple[tuple[float, int, int], Roster] | None = None


def _stamp() -> tuple[Path, tuple[float, int, int]]:
    """The roster's path and (modified, size, inode): a rewrite changes it, so the cache reads it anew."""
    file = path()
    try:
        status = file.stat()
    except FileNotFoundError:
        return file, (0.0, -1, 0)
    except OSError as error:
        raise RosterError(
            f"The class roster cannot be read ({error.strerror}): ask the server's operator."
        ) from None
    return file, (status.st_mtime, status.st_size, status.st_ino)


def _read(file: Path, stamp: tuple[float, int, int]) -> Roster:
    """The roster in ``file`` as of ``stamp``, read once per stamp (every page run asks)."""
    global _cached
    if stamp[1] < 0:
        return Roster()
    with _cache_lock:
        if _cached is not None and _cached[0] == stamp:
            return _cached[1]
    try:
        payload = json.loads(file.read_bytes())
        roster = Roster(
            tuple(Student(s["id"], s["name"], s["code"]) for s in payload["students"]),
            payload.get("teacher", ""),
        )
        values = [v for s in roster.students for v in (s.student_id, s.name, s.code_digest)] + [
            roster.teacher
        ]
        if not all(isinstance(v, str) for v in values):
            raise TypeError
    except (OSError, ValueError, KeyError, TypeError):
        raise RosterError(
            "The class roster's file is damaged: the teacher can discard it on the Challenge page and make a new one."
        ) from None
    with _cache_lock:
        _cached = (stamp, roster)
    return roster


def _write(roster: Roster) -> None:
    payload = {
        "version": VERSION,
        "teacher": roster.teacher,
        "students": [{"id": s.student_id, "name": s.name, "code": s.code_digest} for s in roster.students],
    }
    write_atomically(path(), json.dumps(payload, ensure_ascii=False, indent=1).encode())


def discard() -> None:
    """Delete the roster (a damaged one too): students sign in with the class password again."""
    with _locked():
        path().unlink(missing_ok=True)


def main(argv: list[str] | None = None) -> None:
    """``python -m dashboard.roster teacher-code``: a new teacher code, for a teacher who lost theirs (on the
    server, with its ``RECENGINE_HOME``); ``discard``: back to the class password."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m dashboard.roster", description=main.__doc__)
    parser.add_argument("action", choices=["teacher-code", "discard"])
    action = parser.parse_args(argv).action
    if action == "discard":
        discard()
        print("The class roster is gone: students sign in with the class password again.")
    elif not in_use():
        parser.exit(2, "There is no class roster in this RECENGINE_HOME: make one on the Challenge page.\n")
    else:
        print(f"The teacher's new code: {new_teacher_code()} (the old one no longer works).")


def _locked() -> contextlib.AbstractContextManager[None]:
    """One change to the roster at a time, across threads and processes."""
    return locked_folder(path().parent)


if __name__ == "__main__":
    main()
