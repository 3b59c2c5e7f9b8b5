"""The second re-probe: Streamlit's upload endpoint took files from any session with a websocket, signed in
with the class password or not (30 uploads of 50 MB held 2.1 GB for minutes). `dashboard.guards.UploadGate`
takes them only from an admitted session, and caps the bytes of uploads held in memory server-wide. The third
re-probe: one tab PUTting files it never hands to a widget held the whole server-wide cap, classmates got 503
even 150 s after it closed; the gate now caps one session's share and frees a closed session's files."""

from __future__ import annotations

import base64
import time
import urllib.error
import urllib.request
import uuid

import pytest
from outcomes import tally
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.testclient import TestClient

from dashboard import classroom
from dashboard.guards import UploadGate

UPLOAD = "/_stcore/upload_file/{session}/{file}"


async def take(request: Request) -> Response:
    await request.body()
    return Response(status_code=204)


def gate(held: int = 0, cap: int = 1_000, held_by: dict[str, int] | None = None, **options) -> TestClient:
    admitted = {"signed-in", "classmate", "tab-1", "minted-2"}.__contains__
    holding = held_by or {}
    middleware = [Middleware(UploadGate, admitted=admitted, held=lambda: held, cap=cap,
                             held_by=lambda session: holding.get(session, 0), **options)]  # fmt: skip
    return TestClient(
        Starlette(routes=[Route(UPLOAD, take, methods=["PUT", "DELETE"])], middleware=middleware)
    )


def test_uploads_are_refused_from_a_session_not_admitted():
    client = gate()
    refused = client.put("/_stcore/upload_file/stranger/f1", content=b"x" * 10)
    assert refused.status_code == 403 and "class password" in refused.text
    assert client.put("/_stcore/upload_file/signed-in/f1", content=b"x" * 10).status_code == 204
    assert client.delete("/_stcore/upload_file/stranger/f1").status_code == 204  # removing frees memory
    tally("network", "an upload before the class password", "refused (403)")


def test_uploads_beyond_the_servers_memory_cap_are_refused():
    """900 bytes held of a 1,000-byte cap: 100 more fit, 101 do not; an upload that does not say its size
    cannot be counted and is refused."""
    assert gate(held=900).put("/_stcore/upload_file/signed-in/f", content=b"x" * 100).status_code == 204
    refused = gate(held=900).put("/_stcore/upload_file/signed-in/f", content=b"x" * 101)
    assert refused.status_code == 503 and "RECENGINE_UPLOAD_MEMORY_MB" in refused.text
    unsized = gate().put("/_stcore/upload_file/signed-in/f", content=iter([b"x" * 10]))
    assert unsized.status_code == 411
    tally("network", "uploads beyond the server's memory cap", "refused (503)")


def test_an_upload_arriving_counts_against_the_cap_until_it_ends():
    """What has arrived counts, as it arrives, until the upload ends."""
    seen = []

    async def streamlit(scope, receive, send) -> None:  # what the gate lets through sees it counted
        seen.append(dict(upload_gate.arriving))
        await Request(scope, receive).body()
        seen.append(dict(upload_gate.arriving))
        await Response(status_code=204)(scope, receive, send)

    upload_gate = UploadGate(streamlit, admitted=lambda session: True, held=lambda: 0, cap=1_000,
                             held_by=lambda session: 0, session_cap=1_000, release=lambda session: None)  # fmt: skip
    assert TestClient(upload_gate).put("/_stcore/upload_file/s/f", content=b"x" * 600).status_code == 204
    assert seen == [{}, {"s": 600}] and upload_gate.arriving == {}


def test_one_session_holds_at_most_its_share_of_the_upload_memory(monkeypatch: pytest.MonkeyPatch):
    """A 1,000-byte server cap: one session may hold a quarter (250 bytes), or RECENGINE_UPLOAD_MB if smaller;
    beyond it, HTTP 413 with a message, while a classmate's upload still fits."""
    monkeypatch.delenv("RECENGINE_UPLOAD_MB", raising=False)
    client = gate(held=200, held_by={"signed-in": 200})
    assert client.put("/_stcore/upload_file/signed-in/f", content=b"x" * 50).status_code == 204
    refused = client.put("/_stcore/upload_file/signed-in/f", content=b"x" * 51)
    assert (
        refused.status_code == 413 and "your limit" in refused.text and "one file at a time" in refused.text
    )
    assert client.put("/_stcore/upload_file/classmate/f", content=b"x" * 250).status_code == 204
    monkeypatch.setenv("RECENGINE_UPLOAD_MB", "0.0001")  # 100 bytes: smaller than a quarter of the cap
    assert gate().put("/_stcore/upload_file/signed-in/f", content=b"x" * 101).status_code == 413
    tally("network", "one tab's uploads beyond its share of the server's memory", "refused (413)")


def test_a_sessions_uploaded_files_are_freed_when_it_ends(monkeypatch: pytest.MonkeyPatch):
    """An admitted upload asks for the session's files to be freed when it ends; with Streamlit's runtime, the
    trainers' watchdog removes them from the uploaded-file manager seconds after the tab closes."""
    released = []
    client = gate(release=released.append)
    assert client.put("/_stcore/upload_file/signed-in/f", content=b"x" * 10).status_code == 204
    assert client.put("/_stcore/upload_file/stranger/f", content=b"x" * 10).status_code == 403
    assert released == ["signed-in"]

    from streamlit.runtime import Runtime
    from streamlit.runtime.memory_uploaded_file_manager import MemoryUploadedFileManager
    from streamlit.runtime.uploaded_file_manager import UploadedFileRec

    from dashboard import guards, jobs

    manager = MemoryUploadedFileManager("/_stcore/upload_file")
    manager.add_file("tab-1", UploadedFileRec("f1", "r.csv", "text/csv", b"x" * 70))
    manager.add_file("tab-2", UploadedFileRec("f2", "r.csv", "text/csv", b"x" * 30))

    class FakeRuntime:
        uploaded_file_mgr = manager

    endings = {}
    monkeypatch.setattr(Runtime, "exists", staticmethod(lambda: True))
    monkeypatch.setattr(Runtime, "instance", staticmethod(lambda: FakeRuntime))
    monkeypatch.setattr(
        jobs, "when_session_ends", lambda name, call, session: endings.update({session: call})
    )
    assert guards._session_held_bytes("tab-1") == 70 and guards._session_held_bytes("nobody") == 0
    guards._release_when_session_ends("tab-1")
    endings["tab-1"]()  # what the watchdog calls once tab-1 has been gone its grace seconds
    assert guards._session_held_bytes("tab-1") == 0 and guards._session_held_bytes("tab-2") == 30


def test_only_sessions_that_typed_the_class_password_are_admitted(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(classroom.ENV, raising=False)
    assert classroom.session_admitted("anyone")  # no class password: everyone
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    assert not classroom.session_admitted("tab-1")
    classroom.admit_session("tab-1")
    assert classroom.session_admitted("tab-1") and not classroom.session_admitted("tab-2")


def _xsrf_cookie(url: str) -> str:
    """The cookie a browser's page gets (the health check sets it) and copies into an upload's header."""
    with urllib.request.urlopen(f"{url}/_stcore/health", timeout=10) as answer:
        cookies = answer.headers.get_all("Set-Cookie") or []
    return next(c.split(";")[0].split("=", 1)[1] for c in cookies if c.startswith("_streamlit_xsrf="))


def _upload(url: str, session: str, xsrf: str) -> tuple[int, str]:
    boundary = uuid.uuid4().hex
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="r.csv"\r\n'
        f"Content-Type: text/csv\r\n\r\nuser,item,rating\r\n1,2,3\r\n--{boundary}--\r\n"
    ).encode()
    request = urllib.request.Request(
        f"{url}/_stcore/upload_file/{session}/{uuid.uuid4()}",
        data=body,
        method="PUT",
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}", "X-Xsrftoken": xsrf,
                 "Cookie": f"_streamlit_xsrf={xsrf}"},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as refused:
        return refused.code, refused.read().decode()


@pytest.mark.slow
def test_the_served_app_takes_uploads_only_from_a_signed_in_tab(tmp_path, monkeypatch):
    """Through ./dev app's server: a tab with a websocket but no password is refused; once it typed the
    password, its upload is taken."""
    from dashboard.client import Session
    from dashboard.server import running_app

    monkeypatch.setenv(classroom.ENV, "tulip-42")
    with running_app(tmp_path / "home") as server, Session(server.url, timeout=60) as tab:
        tab.run()
        assert tab.session_id
        xsrf = _xsrf_cookie(server.url)
        status, text = _upload(server.url, tab.session_id, xsrf)
        assert (status, text) == (403, "Uploads are taken only from a tab that typed the class password.\n")
        tab.run(widgets=[tab.state("class_password", "tulip-42"), tab.state("class_password_enter", True)])
        assert _upload(server.url, tab.session_id, xsrf)[0] == 204


def _uploads_held(url: str, password: str) -> list[str]:
    """The uploaded-file manager's line of the server's metrics (none while it holds no file)."""
    token = base64.b64encode(f"teacher:{password}".encode()).decode()
    request = urllib.request.Request(f"{url}/_stcore/metrics", headers={"Authorization": f"Basic {token}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        return [line for line in answer.read().decode().splitlines() if "UploadedFileManager" in line]


@pytest.mark.slow
def test_the_served_app_frees_a_closed_tabs_uploads_within_seconds(tmp_path, monkeypatch):
    """Through ./dev app's server: a file PUT by a signed-in tab that never hands it to a widget leaves the
    server's memory seconds after the tab closes (about 10 s here; before, it stayed minutes, until Streamlit
    dropped the disconnected session)."""
    from dashboard.client import Session
    from dashboard.server import running_app

    monkeypatch.setenv(classroom.ENV, "tulip-42")
    with running_app(tmp_path / "home") as server:
        with Session(server.url, timeout=60) as tab:
            tab.run()
            tab.run(
                widgets=[tab.state("class_password", "tulip-42"), tab.state("class_password_enter", True)]
            )
            assert _upload(server.url, tab.session_id, _xsrf_cookie(server.url))[0] == 204
            assert _uploads_held(server.url, "tulip-42")
        closed = time.monotonic()
        while _uploads_held(server.url, "tulip-42") and time.monotonic() - closed < 30:
            time.sleep(0.5)
        assert not _uploads_held(server.url, "tulip-42")


def test_a_persons_tabs_share_one_upload_share_and_an_address_half_the_server(
    monkeypatch: pytest.MonkeyPatch,
):
    """The fifth re-probe: five tabs of one browser held 999 MB of a 1,000 MB cap (each tab its own quarter),
    and a classmate's 2 MB upload got 503. A person's tabs now share one quarter; one address (minted
    cookies are new people) may hold half; a classmate elsewhere still uploads."""
    monkeypatch.delenv("RECENGINE_UPLOAD_MB", raising=False)
    whose = classroom.Whose()
    for tab in range(5):
        whose.note(f"tab-{tab}", "person:mallory", "10.0.0.7")
    for cookie in range(3):
        whose.note(f"minted-{cookie}", f"person:minted-{cookie}", "10.0.0.7")
    whose.note("classmate", "person:ann", "10.0.0.8")
    holding = {"tab-0": 240, "tab-1": 0}
    client = gate(cap=1_000, held_by=holding, whose=whose)
    assert client.put("/_stcore/upload_file/tab-1/f", content=b"x" * 10).status_code == 204
    refused = client.put("/_stcore/upload_file/tab-1/f", content=b"x" * 11)  # 240 + 11 > 250 for mallory
    assert refused.status_code == 413 and "more than 0 MB, your limit" in refused.text
    holding.update({"minted-0": 250, "minted-1": 10})  # the address holds 240 + 250 + 10 = 500 of 1,000
    crowded = client.put("/_stcore/upload_file/minted-2/f", content=b"x" * 1)
    assert crowded.status_code == 503 and "your network address" in crowded.text
    assert client.put("/_stcore/upload_file/classmate/f", content=b"x" * 250).status_code == 204
    tally("network", "one browser's five tabs, and minted cookies, holding upload memory", "one share, half")


def test_files_no_upload_box_read_are_freed_a_minute_after_they_arrived(monkeypatch: pytest.MonkeyPatch):
    """The final re-probe's medium (probe7d): three minted cookies behind one router PUT 499 MB they never
    handed to a widget, and a classmate's 2 MB upload got 503 for as long as their tabs stayed open (probe8b:
    or PUT again every 20 s). A page reads and frees what its boxes are given on the next run, so a file held
    `UNREAD_SECONDS` after it arrived was never given to one, nor one held `CROWDED_UNREAD_SECONDS` when an
    upload would otherwise be refused for want of memory: they are freed before the next upload is counted."""
    from dashboard import guards

    monkeypatch.delenv("RECENGINE_UPLOAD_MB", raising=False)
    whose = classroom.Whose()
    for cookie in range(3):
        whose.note(f"minted-{cookie}", f"person:minted-{cookie}", "10.0.0.7")
    whose.note("classmate", "person:ann", "10.0.0.7")
    held: dict[tuple[str, str], int] = {}
    now = [0.0]

    async def streamlit(scope, receive, send) -> None:  # Streamlit's endpoint: keeps what it is sent
        session, _, file_id = scope["path"].split(guards.UPLOAD_PATH)[1].partition("/")
        held[(session, file_id)] = int(dict(scope["headers"])[b"content-length"])
        await Response(status_code=204)(scope, receive, send)

    upload_gate = UploadGate(streamlit, admitted=lambda session: True, held=lambda: sum(held.values()),
                             cap=1_000, whose=whose, release=lambda session: None, clock=lambda: now[0],
                             held_by=lambda session: sum(n for (s, _), n in held.items() if s == session),
                             free=lambda session, file_id: held.pop((session, file_id), None))  # fmt: skip
    client = TestClient(upload_gate)
    for cookie, size in enumerate((250, 249, 1)):  # 500 bytes: half the server's 1,000, the address's share
        now[0] += 1
        assert (
            client.put(f"/_stcore/upload_file/minted-{cookie}/f{cookie}", content=b"x" * size).status_code
            == 204
        )
    crowded = client.put("/_stcore/upload_file/classmate/mine", content=b"x" * 2)
    assert crowded.status_code == 503 and "try again in a minute" in crowded.text
    now[0] = 2.5 + guards.CROWDED_UNREAD_SECONDS  # crowded: the first two files waited 5 s, unread
    assert client.put("/_stcore/upload_file/classmate/mine", content=b"x" * 2).status_code == 204
    assert set(held) == {("minted-2", "f2"), ("classmate", "mine")}
    now[0] = 4 + guards.UNREAD_SECONDS  # a minute: every file no box read goes, crowded or not
    client.put("/_stcore/upload_file/classmate/next", content=b"x")
    assert set(held) == {("classmate", "mine"), ("classmate", "next")}
    tally("network", "minted cookies holding upload memory with files no box reads", "freed after a minute")


def test_a_refused_upload_is_read_to_its_end_before_the_answer():
    """The final re-probe's low (probe7d): a refused upload was answered before its body was read and the connection
    closed, so a client still sending saw a reset, not the message. Now the body is read (up to
    `DRAINED_BYTES`) and thrown away first; one claiming more is answered at once."""
    import asyncio

    from dashboard import guards

    def refused(size: int, chunks: int) -> list[str]:
        events: list[str] = []
        left = [chunks]

        async def receive() -> dict:
            left[0] -= 1
            events.append("body")
            return {"type": "http.request", "body": b"x" * (size // chunks), "more_body": left[0] > 0}

        async def send(message: dict) -> None:
            events.append(message["type"])

        scope = {"type": "http", "method": "PUT", "path": "/_stcore/upload_file/stranger/f",
                 "headers": [(b"content-length", str(size).encode())]}  # fmt: skip
        asyncio.run(UploadGate(None, admitted=lambda session: False)(scope, receive, send))
        return events

    assert refused(3_000, 3) == ["body"] * 3 + ["http.response.start", "http.response.body"]
    assert refused(guards.DRAINED_BYTES + 1, 3) == ["http.response.start", "http.response.body"]


def test_an_upload_trickling_in_is_cut_off_and_its_share_given_back(monkeypatch: pytest.MonkeyPatch):
    """An upload counts in full while it arrives, so one sent a byte a second would hold its share for as
    long as its sender liked. One whose next chunk stalls `STALL_SECONDS`, or that falls behind
    `SLOWEST_UPLOAD_RATE` after its first `STALL_SECONDS` (probe 9b: a byte every 15 s, under the stall
    time, kept a 200 MB upload open 220 s), is cut off as if its client had left."""
    import asyncio

    from starlette.requests import ClientDisconnect

    from dashboard import guards

    monkeypatch.setattr(guards, "STALL_SECONDS", 0.2)
    monkeypatch.setattr(guards, "SLOWEST_UPLOAD_RATE", 1_000.0)  # 1,000 bytes: at most 1.2 s in all
    outcome: list[str] = []

    async def streamlit(scope, receive, send) -> None:
        try:
            await Request(scope, receive).body()
            outcome.append("taken")
        except ClientDisconnect:
            outcome.append(f"cut off, {upload_gate.arriving}")
            raise  # as Streamlit's endpoint does: the gate answers

    upload_gate = UploadGate(streamlit, admitted=lambda session: True, held=lambda: 0, cap=10_000,
                             held_by=lambda session: 0, release=lambda session: None)  # fmt: skip

    def sent(pauses: list[float]) -> tuple[str, float]:
        chunks = iter(pauses)

        async def receive() -> dict:
            pause = next(chunks, None)
            if pause is None:
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.sleep(pause)
            return {"type": "http.request", "body": b"x" * 100, "more_body": True}

        scope = {"type": "http", "method": "PUT", "path": "/_stcore/upload_file/s/f",
                 "headers": [(b"content-length", b"1000")]}  # fmt: skip
        answers: list[dict] = []

        async def send(message: dict) -> None:
            answers.append(message)

        started = time.monotonic()
        asyncio.run(upload_gate(scope, receive, send))
        if outcome[-1].startswith("cut off"):
            assert answers[0]["status"] == 408 and b"too slowly" in answers[1]["body"]
        return outcome.pop(), time.monotonic() - started

    assert sent([0.05] * 10)[0] == "taken"
    stalled, seconds = sent([0.05, 5.0])
    assert stalled == "cut off, {'s': 100}" and seconds < 1 and upload_gate.arriving == {}
    trickled, seconds = sent([0.15] * 10)  # never stalls, but falls behind 1,000 bytes a second at 0.75 s
    assert trickled.startswith("cut off") and 0.6 < seconds < 1.0 and upload_gate.arriving == {}


def test_an_upload_announced_but_never_sent_holds_nothing_and_the_cap_holds_as_bodies_arrive():
    """probe9b: three minted cookies kept PUTs open that announced 500 MB and sent a few bytes every 15 s;
    each counted in full until its deadline, and a classmate's 48 KB upload was refused for 60 s of 120. An
    upload now counts what has arrived: announced, it holds nothing, and a classmate's fits. Uploads admitted
    together can then fill the server as they arrive: the one that takes it past the cap is stopped (503)."""
    import asyncio

    from starlette.requests import ClientDisconnect

    outcomes: dict[str, str] = {}

    async def streamlit(scope, receive, send) -> None:
        name = scope["path"].rsplit("/", 1)[1]
        try:
            await Request(scope, receive).body()
        except ClientDisconnect:
            outcomes[name] = "cut off"
            raise
        outcomes[name] = "taken"
        await Response(status_code=204)(scope, receive, send)

    upload_gate = UploadGate(streamlit, admitted=lambda session: True, held=lambda: 0, cap=1_000,
                             held_by=lambda session: 0, session_cap=1_000, release=lambda session: None)  # fmt: skip

    async def put(name: str, chunks: list[int], pause: float, answers: list) -> None:
        pieces = iter(chunks)

        async def receive() -> dict:
            size = next(pieces, None)
            await asyncio.sleep(pause)
            return {"type": "http.request", "body": b"x" * (size or 0), "more_body": size is not None}

        async def send(message: dict) -> None:
            answers.append(message.get("status"))

        scope = {"type": "http", "method": "PUT", "path": f"/_stcore/upload_file/s-{name}/{name}",
                 "headers": [(b"content-length", str(sum(chunks)).encode())]}  # fmt: skip
        await upload_gate(scope, receive, send)

    async def scene() -> dict[str, list]:
        answers: dict[str, list] = {"hog": [], "classmate": [], "late": []}
        hog = asyncio.create_task(put("hog", [1, 1, 1, 997], 0.2, answers["hog"]))  # 1,000 announced
        await asyncio.sleep(0.1)  # the hog's upload has begun, with nothing sent
        await put("classmate", [300], 0.0, answers["classmate"])  # fits: the hog holds 1 byte
        late = asyncio.create_task(put("late", [200] * 4, 0.3, answers["late"]))  # 800, admitted at once
        await asyncio.gather(hog, late)
        return answers

    answers = asyncio.run(scene())
    assert outcomes["classmate"] == "taken" and answers["classmate"][0] == 204
    assert outcomes["late"] == "taken" and outcomes["hog"] == "cut off" and answers["hog"][0] == 503
    assert upload_gate.arriving == {}
    tally("network", "uploads announced large and sent slowly", "hold what arrived; the cap holds")
