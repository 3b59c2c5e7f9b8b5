"""Issue 25, point 5 and the network side of 8: password tries counted per session and per connection
address, forwarded headers believed only from the proxy the operator names, ``/_stcore/metrics`` behind
the class password, and a warning (or a refusal) whenever the server would listen beyond localhost."""

from __future__ import annotations

import base64
import socket
import time
from pathlib import Path

import pytest
import uvicorn
from outcomes import tally
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from dashboard import classroom, serve
from dashboard.classroom import (
    MAX_ADDRESS_DELAY,
    MAX_ADDRESS_FAILURES,
    MAX_FAILURES,
    MAX_TURNS_AHEAD,
    TooManyTries,
    Tries,
    Turns,
)
from dashboard.guards import ForwardedHeaders, MetricsGate


async def echo(request: Request) -> JSONResponse:
    forwarded = {key: value for key, value in request.headers.items() if "forward" in key or "real" in key}
    return JSONResponse({"client": request.client.host, "forwarded": forwarded})


async def metrics(request: Request) -> PlainTextResponse:
    return PlainTextResponse("session_state_bytes 123\n")


def app(trusted: str = "", password: str | None = None, tries: Tries | None = None) -> Starlette:
    return Starlette(
        routes=[Route("/echo", echo), Route("/_stcore/metrics", metrics)],
        middleware=[
            Middleware(ForwardedHeaders, trusted=trusted),
            Middleware(MetricsGate, password=password, tries=tries),
        ],
    )


def test_tries_are_refused_per_session_and_person_and_only_slowed_per_address():
    """The issue: each session sending its own X-Forwarded-For got fresh tries. The re-probe: sixty wrong
    tries from one address (a class behind one router) then locked everyone there out for ten minutes."""
    tries = Tries()
    for _ in range(MAX_FAILURES):
        tries.failed(["session:tab-1", "person:ada"], "10.0.0.7", now=0)
    assert tries.refused_seconds(["session:tab-1"], now=1) == pytest.approx(599)  # that tab is refused
    assert tries.refused_seconds(["session:tab-2", "person:ada"], now=1) > 0  # and that browser's new tabs
    assert tries.refused_seconds(["session:tab-3", "person:bob"], now=1) == 0  # a classmate is not
    assert tries.slowed_seconds("10.0.0.7", now=1) == 0  # within the address's budget: no delay
    for tab in range(MAX_ADDRESS_FAILURES // MAX_FAILURES + 1):
        for _ in range(MAX_FAILURES):
            tries.failed([f"session:cookieless-{tab}"], "10.0.0.7", now=2)
    assert tries.refused_seconds(["session:new-tab"], now=3) == 0  # an address is never refused ...
    waits = [tries.slowed_seconds("10.0.0.7", now=3) for _ in range(3)]  # ... its tries take turns
    assert waits == sorted(waits) and waits[0] > 0 and waits[1] - waits[0] <= MAX_ADDRESS_DELAY
    assert tries.slowed_seconds("10.0.0.7", now=100) <= MAX_ADDRESS_DELAY  # a classmate later: one turn
    assert tries.slowed_seconds("10.0.0.8", now=3) == 0  # another address is not slowed
    tally("network", "password tries", "refused per tab and browser, slowed per address")


def test_an_address_books_a_few_turns_ahead_and_tries_beyond_are_refused_at_once(monkeypatch):
    """The re-probe: each wrong try past an address's budget booked a turn of up to 5 s; 40 sessions' tries
    behind one address made a classmate wait 204 s. Ten tries past the budget make each turn the longest
    (5 s); three are booked (waits 5, 10, 15 s) and the other 37 refused at once, told to wait one turn."""
    tries = Tries()
    for tab in range(MAX_ADDRESS_FAILURES + 10):
        tries.failed([f"session:cookieless-{tab}"], "10.0.0.7", now=0)
    waits, refused = [], []
    for _ in range(40):  # forty sessions' tries at once
        try:
            waits.append(tries.slowed_seconds("10.0.0.7", now=1))
        except TooManyTries as busy:
            refused.append(busy.seconds)
    assert waits == [5, 10, 15] == [MAX_ADDRESS_DELAY * turn for turn in range(1, MAX_TURNS_AHEAD + 1)]
    assert refused == [5] * 37
    with pytest.raises(TooManyTries, match="Too many tries from your network, wait 5 s"):
        tries.slowed_seconds("10.0.0.7", now=1)  # a classmate's right password now: refused at once ...
    assert tries.slowed_seconds("10.0.0.7", now=6) == 15  # ... and five seconds later, three turns' wait
    now = time.monotonic()  # what the page says, on the clock it reads
    for tab in range(MAX_ADDRESS_FAILURES + 10):
        tries.failed([f"session:cookieless-{tab}"], "10.0.0.8", now=now)
    for _ in range(MAX_TURNS_AHEAD):
        tries.slowed_seconds("10.0.0.8", now=now)
    monkeypatch.setattr(classroom, "who_is_trying", lambda: (["session:classmate"], "10.0.0.8"))
    monkeypatch.setattr(classroom, "sleep", lambda seconds: None)
    shown = classroom.sign_in("tulip-42", "tulip-42", tries, "wrong")
    assert shown is not None and shown.startswith("Too many tries from your network, wait")
    tally("network", "40 sessions' wrong passwords behind one address", "3 turns booked, the rest refused")


def test_a_flood_of_wrong_tries_keeps_nobody_out_when_the_password_cannot_be_guessed(monkeypatch):
    """probe8b: behind one router, a student's flood of wrong class passwords from 91 sessions kept three
    classmates signing in late out for 120 s (every turn booked, each try refused at once). A password of
    `UNGUESSABLE_LENGTH` characters or more (four random words) needs no per-address slowing: its wrong
    tries count per tab and browser only, and the classmate's right password gets in at once. A short one is
    still slowed per address, and the server warns of it at start."""
    from dashboard import serve

    strong, short = "maple river cloud lantern", "tulip-42"
    assert classroom.unguessable(strong) and not classroom.unguessable(short)
    assert not classroom.unguessable("a" * 40) and not classroom.unguessable("tulip-tulip-tulip")
    monkeypatch.setattr(classroom, "sleep", lambda seconds: None)
    for password, classmate_gets_in in ((strong, True), (short, False)):
        tries = Tries()
        for tab in range(500):  # the flood: fresh sessions, each wrong a few times
            monkeypatch.setattr(classroom, "who_is_trying", lambda tab=tab: ([f"session:{tab}"], "10.0.0.7"))
            classroom.sign_in("guess", password, tries, "wrong")
        monkeypatch.setattr(classroom, "who_is_trying", lambda: (["session:classmate"], "10.0.0.7"))
        assert (classroom.sign_in(password, password, tries, "wrong") is None) is classmate_gets_in
    monkeypatch.setenv(classroom.ENV, short)
    monkeypatch.setenv(classroom.TEACHER_ENV, "a teacher's long passphrase")
    warnings = serve.short_password_warnings()
    assert len(warnings) == 1 and classroom.ENV in warnings[0] and "four random words" in warnings[0]
    tally(
        "network", "a flood of wrong passwords with an unguessable password", "the classmate gets in at once"
    )


def test_the_teacher_and_the_metrics_have_budgets_of_their_own():
    """The re-probe: wrong class passwords counted against the teacher's sign-in and the metrics gate too."""
    classroom.class_tries.clear()
    classroom.teacher_tries.clear()
    for _ in range(MAX_ADDRESS_FAILURES * 2):
        classroom.class_tries().failed(["session:guesser"], "10.0.0.7")
    assert classroom.teacher_tries() is not classroom.class_tries()
    assert classroom.teacher_tries().slowed_seconds("10.0.0.7") == 0
    assert MetricsGate(echo).tries is not classroom.class_tries()


def test_forwarded_headers_from_anyone_but_the_named_proxy_are_dropped():
    client = TestClient(app(), client=("127.0.0.1", 5000))  # a same-host proxy the operator did not name
    seen = client.get("/echo", headers={"X-Forwarded-For": "6.6.6.6", "X-Real-IP": "6.6.6.7"}).json()
    assert seen == {"client": "127.0.0.1", "forwarded": {}}
    tally("network", "X-Forwarded-For from an unnamed proxy", "dropped")


def test_the_named_proxy_gives_the_address_it_saw():
    client = TestClient(app(trusted="127.0.0.1, 10.9.0.0/16"), client=("127.0.0.1", 5000))
    seen = client.get("/echo", headers={"X-Forwarded-For": "6.6.6.6, 192.168.1.20, 10.9.0.4"}).json()
    assert seen["client"] == "192.168.1.20"  # the student's own claim (6.6.6.6) is not the address
    stranger = TestClient(app(trusted="10.9.0.0/16"), client=("192.168.1.30", 5000))
    assert stranger.get("/echo", headers={"X-Forwarded-For": "6.6.6.6"}).json()["client"] == "192.168.1.30"


def test_uvicorn_believes_forwarded_headers_only_from_the_named_proxy(monkeypatch: pytest.MonkeyPatch):
    """Uvicorn trusted X-Forwarded-For from 127.0.0.1 by default: the probe's bypass."""
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    monkeypatch.delenv(serve.TRUSTED_PROXY_ENV, raising=False)
    serve.trust_only_the_named_proxy()
    config = uvicorn.Config(echo)
    proxied = Starlette(routes=[Route("/echo", echo)])
    wrapped = ProxyHeadersMiddleware(proxied, trusted_hosts=config.forwarded_allow_ips)
    seen = TestClient(wrapped, client=("127.0.0.1", 5000)).get(
        "/echo", headers={"X-Forwarded-For": "6.6.6.6"}
    )
    assert seen.json()["client"] == "127.0.0.1"
    monkeypatch.setenv(serve.TRUSTED_PROXY_ENV, "127.0.0.1")
    serve.trust_only_the_named_proxy()
    assert uvicorn.Config(echo).forwarded_allow_ips == "127.0.0.1"


def basic(password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"teacher:{password}".encode()).decode()}


def test_metrics_answer_only_with_the_class_password():
    """The issue: /_stcore/metrics answered without the password."""
    client = TestClient(app(password="tulip-42"), client=("192.168.1.30", 5000))
    refused = client.get("/_stcore/metrics")
    assert refused.status_code == 401 and "session_state" not in refused.text
    assert refused.headers["www-authenticate"].startswith("Basic")
    assert client.get("/_stcore/metrics/", headers=basic("guess")).status_code == 401
    assert client.get("/_stcore/metrics", headers=basic("tulip-42")).text == "session_state_bytes 123\n"
    assert client.get("/echo").status_code == 200  # the other routes are the page's business
    tally("network", "/_stcore/metrics", "behind the class password")


def test_wrong_metrics_passwords_slow_the_address_down_and_never_lock_it_out():
    """The re-probe: ten wrong tries at the metrics locked out everyone behind that address, the teacher too."""
    turns = Turns(step=0.02, longest=0.1)  # the test's seconds, scaled
    gate = app(password="tulip-42", tries=Tries(per_address=MAX_FAILURES, turns=turns))
    client = TestClient(gate, client=("192.168.1.30", 5000))
    for _ in range(MAX_FAILURES + 5):
        assert client.get("/_stcore/metrics", headers=basic("guess")).status_code == 401
    started = time.monotonic()
    assert client.get("/_stcore/metrics", headers=basic("tulip-42")).status_code == 200
    assert 0.1 <= time.monotonic() - started < 2  # slowed by one turn, not refused
    tally("network", "wrong metrics passwords", "the address slowed, not locked out")


def test_metrics_stay_open_on_localhost_without_a_class_password(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv(classroom.ENV, raising=False)
    assert TestClient(app()).get("/_stcore/metrics").status_code == 200
    monkeypatch.setenv(classroom.ENV, "tulip-42")  # read from the environment on each request
    assert TestClient(app()).get("/_stcore/metrics").status_code == 401


@pytest.fixture
def no_address(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No class password and no address from the environment."""
    monkeypatch.delenv(classroom.ENV, raising=False)
    monkeypatch.delenv("STREAMLIT_SERVER_ADDRESS", raising=False)
    return tmp_path


@pytest.mark.parametrize(
    "args",
    [
        ["--server.address="],  # the issue: empty, Streamlit's every interface
        ["--server.address", ""],
        ["--server.address", "0.0.0.0"],  # the issue
        ["--server.address", "::"],
        ["--server.address", "[::]"],
        ["--server.address=192.168.1.10"],
        ["--server.address", "classroom-pc"],  # a host name that resolves to the network
        ["--server.address", "no-such-host.invalid"],  # or to nothing
    ],
)
def test_listening_beyond_localhost_without_a_password_is_warned_of(no_address, monkeypatch, capsys, args):
    real = socket.getaddrinfo

    def resolve(host, *rest, **kwargs):
        if host == "classroom-pc":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.1.10", 0))]
        return real(host, *rest, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    assert serve.address_options(args) == []
    assert "without a class password" in capsys.readouterr().err
    tally("network", "address beyond localhost, no password", "warned")


@pytest.mark.parametrize("address", ["127.0.0.1", "localhost", "::1", "127.0.1.1", "unix:///tmp/s"])
def test_localhost_in_any_form_is_not_warned_of(no_address, capsys, address):
    assert serve.address_options(["--server.address", address]) == []
    assert capsys.readouterr().err == ""


def test_an_address_from_the_environment_is_checked_too(no_address, monkeypatch, capsys):
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "")
    assert serve.address_options([]) == [] and "every interface" in capsys.readouterr().err
    monkeypatch.setenv("STREAMLIT_SERVER_ADDRESS", "0.0.0.0")
    assert serve.address_options([]) == [] and "without a class password" in capsys.readouterr().err


def test_classroom_mode_without_a_password_refuses_to_start(no_address, monkeypatch):
    for blank in ("", "   "):
        monkeypatch.setenv(classroom.ENV, blank)
        assert classroom.class_password() is None
        monkeypatch.setattr("sys.argv", ["serve", "--server.address", "0.0.0.0"])
        with pytest.raises(SystemExit, match="needs a password"):
            serve.main()
    monkeypatch.setenv(classroom.ENV, "tulip-42")
    assert serve.class_mode_problem() is None
    tally("network", "classroom mode with an empty password", "refused to start")


@pytest.mark.slow
def test_the_served_app_keeps_its_metrics_behind_the_class_password(tmp_path, monkeypatch):
    """Through ./dev app's server (asgi.py's st.App and its middleware), not only the middleware alone."""
    import urllib.error
    import urllib.request

    from dashboard.server import running_app

    monkeypatch.setenv(classroom.ENV, "tulip-42")
    with running_app(tmp_path / "home") as server:
        url = f"{server.url}/_stcore/metrics"
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(url, timeout=10)
        assert refused.value.code == 401
        with urllib.request.urlopen(
            urllib.request.Request(url, headers=basic("tulip-42")), timeout=10
        ) as answer:
            assert answer.status == 200
        spoofed = urllib.request.Request(
            f"{server.url}/_stcore/health", headers={"X-Forwarded-For": "6.6.6.6"}
        )
        with urllib.request.urlopen(spoofed, timeout=10) as answer:
            assert answer.read().strip() == b"ok"


def test_a_connection_that_never_finishes_its_request_head_is_closed(monkeypatch):
    """probe8b: 20,000 connections each sending part of a request head held every file descriptor of the
    server, and classmates' reloads and sign-ins timed out. Now a connection that has not sent a whole head
    within `REQUEST_HEAD_SECONDS` of opening, or of its previous answer, is closed; a slow answer is not cut."""
    import asyncio
    import socket
    import threading

    import uvicorn

    from dashboard import guards

    monkeypatch.setattr(guards, "REQUEST_HEAD_SECONDS", 0.5)
    guards.time_out_unfinished_requests()

    async def slow_app(scope, receive, send) -> None:
        if scope["type"] != "http":
            return
        await asyncio.sleep(1.0)  # longer than the head's time: an answer under way is never cut
        await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
        await send({"type": "http.response.body", "body": b"ok"})

    config = uvicorn.Config(
        slow_app, host="127.0.0.1", port=0, http="h11", log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.02)

    def open_for(sent: list[bytes], pause: float) -> float:
        """Seconds until the server closed a connection sending ``sent`` a piece every ``pause`` seconds."""
        connection = socket.create_connection(("127.0.0.1", port))
        connection.settimeout(5)
        started = time.monotonic()
        with connection:
            for piece in sent:
                try:
                    connection.sendall(piece)
                except OSError:
                    break
                time.sleep(pause)
            while connection.recv(1024):  # an answer, then the close
                pass
        return time.monotonic() - started

    try:
        trickle = [b"GET / HTTP/1.1\r\n"] + [b"X-A: b\r\n"] * 40  # a head that never ends, 4 s of it
        assert open_for(trickle, 0.1) < 1.5
        answered_then_trickle = [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"", *trickle]
        assert 1.0 < open_for(answered_then_trickle, 0.1) < 3.0  # the answer (1 s), then half a second
        whole = socket.create_connection(("127.0.0.1", port))
        whole.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        whole.settimeout(5)
        assert whole.recv(1024).startswith(b"HTTP/1.1 200")
        whole.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    tally("network", "a request head that never ends", "closed after the head's time")


def test_browsers_websocket_messages_are_limited_and_every_text_field_has_a_length():
    """probe8 and probe8b (high): Streamlit took 200 MB websocket messages (its ``server.maxMessageSize``,
    which also bounds what it sends), and the password field had no length: eight connections that never
    signed in held 1.45 GB, twenty 15 MB passwords 750 MB. A browser's messages are now limited to
    `INCOMING_MESSAGE_BYTES`, and every text field of the app says how long it may be (Streamlit cuts a
    longer value on the server)."""
    import ast
    from pathlib import Path

    from streamlit.web.server.starlette import starlette_server

    from dashboard import guards

    guards.limit_incoming_messages()
    guards.limit_incoming_messages()  # once is enough: a second call changes nothing
    assert starlette_server._get_uvicorn_config_kwargs()["ws_max_size"] == guards.INCOMING_MESSAGE_BYTES
    root = Path(__file__).resolve().parents[2]
    unbounded = []
    for source in [root / "app.py", *(root / "pages").glob("*.py"), *(root / "dashboard").glob("*.py")]:
        for node in ast.walk(ast.parse(source.read_text())):
            if (
                isinstance(node, ast.Call)
                and getattr(node.func, "attr", "") in ("text_input", "text_area", "chat_input")
                and not any(keyword.arg == "max_chars" for keyword in node.keywords)
            ):
                unbounded.append(f"{source.name}:{node.lineno}")
    assert not unbounded, f"text fields without max_chars: {unbounded}"
    tally("network", "a browser's websocket message, a text field", "limited")


def test_the_server_raises_its_open_files_to_the_hard_limit():
    """probe8b: 20,200 half-open connections used up the server's 20,000 file descriptors. Besides closing
    them (above), ``dashboard.serve`` lifts a small soft limit (often 1,024) to the hard one."""
    import resource
    import subprocess
    import sys

    hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"the hard limit ({hard}) leaves nothing to raise here")
    script = (
        "import resource; from dashboard.serve import open_files_up_to_the_hard_limit as lift; "
        "lift(); print(*resource.getrlimit(resource.RLIMIT_NOFILE))"
    )
    lowered = lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))  # noqa: E731
    shown = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True,
                           preexec_fn=lowered, cwd=Path(__file__).resolve().parents[2]).stdout.split()  # fmt: skip
    assert [int(n) for n in shown] == [hard, hard]
