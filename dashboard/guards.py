"""HTTP guards in front of Streamlit: ASGI middleware for the ``st.App`` that ``dashboard.serve`` runs.

- `ForwardedHeaders`: a request's client address is its connection's, unless the connection comes from the
  proxy the operator names in ``RECENGINE_TRUSTED_PROXY`` (addresses or networks, separated by commas):
  then it is the last address that proxy added to ``X-Forwarded-For``. From anyone else, the forwarded
  headers are removed, so no later code can believe them (each student sending their own
  ``X-Forwarded-For`` would otherwise get fresh password tries).
- `MetricsGate`: in classroom mode, ``/_stcore/metrics`` (sessions, memory, cache sizes) answers only with
  the class password (HTTP Basic, any user name); wrong tries have their own budget per address, past which
  the address is slowed down as the page's are (never locked out: the teacher may share the class's
  address; a try beyond the few turns an address may book ahead is refused at once, HTTP 429).
- `UploadGate`: Streamlit's upload endpoint (``/_stcore/upload_file/<session id>/<file id>``) takes files
  from any session with a websocket; in classroom mode only a session that typed the class password may
  upload, and all sessions' uploads together may hold at most ``RECENGINE_UPLOAD_MEMORY_MB`` of memory,
  one person (all their tabs) at most their share (``RECENGINE_UPLOAD_MB`` or a quarter of the server's, the
  smaller) and one client address at most half; a file no upload box read leaves memory a minute after it
  arrived, and a session's files seconds after its tab closes.

Add them to the app's middleware list, `ForwardedHeaders` first (outermost), so the gate counts tries
against the real address. See docs/threat-model.md.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import os
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from dashboard import classroom

TRUSTED_PROXY_ENV = "RECENGINE_TRUSTED_PROXY"
FORWARDED = (b"x-forwarded-for", b"x-forwarded-proto", b"x-forwarded-host", b"x-forwarded-port",
             b"x-real-ip", b"forwarded")  # fmt: skip
METRICS_PATH = "/_stcore/metrics"
UPLOAD_PATH = "/_stcore/upload_file/"
UNREAD_SECONDS = 60.0  # an uploaded file no upload box has read by then is freed
CROWDED_UNREAD_SECONDS = 5.0  # ... and by then, when an upload would be refused for want of memory
DRAINED_BYTES = 64 << 20  # a refused upload up to this size is read to its end before the answer
INCOMING_MESSAGE_BYTES = 2 << 20  # the largest websocket message a browser may send (widget values)
REQUEST_HEAD_SECONDS = 10.0  # a connection that has not sent a whole request head by then is closed
STALL_SECONDS = 20.0  # an upload whose next chunk takes longer is cut off
SLOWEST_UPLOAD_RATE = 1e6  # bytes a second: an upload taking longer than its size at this rate is cut off
Scope = dict[str, Any]
App = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def trusted_proxies(text: str | None = None) -> tuple[Network, ...]:
    """The networks named in ``text`` (default ``$RECENGINE_TRUSTED_PROXY``); entries that are not an
    address or a network are left out."""
    text = os.environ.get(TRUSTED_PROXY_ENV, "") if text is None else text
    networks = []
    for entry in text.split(","):
        try:
            networks.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            continue
    return tuple(networks)


def _within(address: str, networks: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip().strip("[]").split("%")[0])
    except ValueError:
        return False
    return any(ip in network for network in networks)


class ForwardedHeaders:
    """Believe forwarded headers from the named proxy only; remove them from everyone else's requests."""

    def __init__(self, app: App, trusted: str | None = None):
        self.app = app
        self.trusted = trusted_proxies(trusted)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.checked(scope)
        await self.app(scope, receive, send)

    def checked(self, scope: Scope) -> Scope:
        peer = (scope.get("client") or ("", 0))[0] or ""
        headers = list(scope.get("headers") or [])
        if self.trusted and _within(peer, self.trusted):
            forwarded = [v.decode("latin-1") for k, v in headers if k.lower() == b"x-forwarded-for"]
            hops = [hop.strip() for value in forwarded for hop in value.split(",") if hop.strip()]
            # The last hop not a trusted proxy is the address the proxy saw; earlier ones are the client's word.
            client = next((hop for hop in reversed(hops) if not _within(hop, self.trusted)), None)
            return scope | {"client": (client, 0)} if client else scope
        kept = [(key, value) for key, value in headers if key.lower() not in FORWARDED]
        return scope | {"headers": kept} if len(kept) != len(headers) else scope


class MetricsGate:
    """``/_stcore/metrics`` behind the class password when one is set (HTTP Basic; the user name is not
    checked). Past `classroom.MAX_FAILURES` wrong tries from an address in the window, its tries take turns
    (`classroom.Turns`): slowed down, never refused."""

    def __init__(self, app: App, password: str | None = None, tries: classroom.Tries | None = None):
        self.app = app
        self.password = password  # None: the class password of the environment, read on each request
        self.tries = tries or classroom.Tries(per_address=classroom.MAX_FAILURES)  # its own budget

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope.get("path", "").rstrip("/").endswith(METRICS_PATH):
            await self.app(scope, receive, send)
            return
        password = self.password if self.password is not None else classroom.class_password()
        if password is None:
            await self.app(scope, receive, send)
            return
        address = (scope.get("client") or ("unknown", 0))[0] or "unknown"
        given = _basic_password(scope)
        if given is not None:
            try:
                await asyncio.sleep(self.tries.slowed_seconds(address))  # many wrong tries from here: turns
            except classroom.TooManyTries as busy:
                await _answer(send, 429, f"{busy}\n", [(b"retry-after", str(busy.seconds).encode())])
                return
            if classroom.matches(given, password):
                await self.app(scope, receive, send)
                return
            self.tries.failed([], address)
        await _answer(send, 401, "The class password is needed (HTTP Basic, any user name).\n",
                      [(b"www-authenticate", b'Basic realm="recengine", charset="UTF-8"')])  # fmt: skip


class UploadGate:
    """Uploads only from a session the class gate admitted (`classroom.session_admitted`), else HTTP 403; at
    most ``cap`` bytes of uploads in memory, those Streamlit holds and those arriving, else HTTP 503; at
    most ``session_cap`` of them from one person's sessions together (`classroom.Whose`: five tabs of one
    browser must not take the whole class's share), else HTTP 413; and at most half of ``cap`` from one
    client address (minted cookies are new people), else HTTP 503. An upload must say its size
    (``Content-Length``, which every browser sends and the server's HTTP parser holds the body to), so it is
    checked in full before a byte of it is read, against what the others hold and have received so far (an
    upload announced but never sent holds nothing: probe 9b); one that takes the server past ``cap`` as it
    arrives is stopped, HTTP 503. A refused one is read to its end (up to `DRAINED_BYTES`) and thrown away,
    so the browser gets the message rather than a reset connection. One arriving slower than
    `SLOWEST_UPLOAD_RATE`, or stalled `STALL_SECONDS`, is cut off (`_PacedBody`), HTTP 408.

    What is held is short-lived: a page reads an upload box's file on the run it arrives and frees it
    (`dashboard.upload_box`), and a file still held `UNREAD_SECONDS` after it arrived, which no box read, is
    freed here (``free``) before the next upload is counted, or `CROWDED_UNREAD_SECONDS` after when that
    upload would otherwise be refused for want of memory: minted cookies PUTting files they never hand to a
    widget hold nothing for long. A session's first upload asks ``release`` to free its files once the
    session ends (Streamlit frees them only when it drops the disconnected session, minutes later)."""

    def __init__(
        self,
        app: App,
        admitted: Callable[[str], bool] | None = None,
        held: Callable[[], int] | None = None,
        cap: int | None = None,
        held_by: Callable[[str], int] | None = None,
        session_cap: int | None = None,
        release: Callable[[str], None] | None = None,
        whose: classroom.Whose | None = None,
        free: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.app = app
        self.admitted = admitted or classroom.session_admitted
        self.held = held or _uploads_held_bytes
        self.cap = cap  # None: RECENGINE_UPLOAD_MEMORY_MB, read on each upload
        self.held_by = held_by or _session_held_bytes
        self.session_cap = session_cap  # None: the smaller of RECENGINE_UPLOAD_MB and a quarter of ``cap``
        self.release = release or _release_when_session_ends
        self.whose = whose or classroom.whose
        self.free = free or _free_file
        self.clock = clock
        self.arriving: dict[str, int] = {}  # bytes received so far, by session (one event loop: no lock)
        self.landed: dict[tuple[str, str], float] = {}  # (session, file id): when it was taken, oldest first

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        if UPLOAD_PATH not in path or scope.get("method") != "PUT":
            await self.app(scope, receive, send)
            return
        session, _, file_id = path.split(UPLOAD_PATH, 1)[1].partition("/")
        size = _content_length(scope)
        self.free_unread(UNREAD_SECONDS)
        refusal = self.refusal(session, size)
        if refusal is not None and refusal[0] == 503:
            self.free_unread(CROWDED_UNREAD_SECONDS)  # crowded: files no box read in seconds were never given
            refusal = self.refusal(session, size)
        if refusal is not None or size is None:  # (refusal() refuses an upload that does not say its size)
            await _drain(receive, size)
            await _answer(send, *(refusal or (411, "")))
            return
        self.release(session)
        cap = self.cap if self.cap is not None else _upload_memory_bytes()
        body = _PacedBody(receive, size, lambda chunk: self.received(session, chunk, cap))
        try:
            await self.app(scope, body, send)
        except Exception:
            if body.cut_off is None:
                raise
            await _answer(send, *body.cut_off)
        finally:
            self.arriving[session] = self.arriving.get(session, 0) - body.received
            if not self.arriving[session]:
                del self.arriving[session]
            self.landed.pop((session, file_id), None)  # kept oldest first
            self.landed[(session, file_id)] = self.clock()

    def received(self, session: str, chunk: int, cap: int) -> bool:
        """Count ``chunk`` bytes more arriving for ``session``; False when they take the server past ``cap``
        (uploads admitted together, each counted by what had arrived, can fill it)."""
        self.arriving[session] = self.arriving.get(session, 0) + chunk
        return self.held() + sum(self.arriving.values()) <= cap

    def refusal(self, session: str, size: int | None) -> tuple[int, str] | None:
        """The status and message refusing an upload of ``size`` bytes from ``session``, or None."""
        if not self.admitted(session):
            return 403, "Uploads are taken only from a tab that typed the class password.\n"
        if size is None:
            return 411, "An upload must say its size (a Content-Length header).\n"
        cap = self.cap if self.cap is not None else _upload_memory_bytes()
        session_cap = self.session_cap if self.session_cap is not None else _session_share(cap)
        mine, here = self.whose.together(session)
        if self._holding(mine) + size > session_cap:
            return 413, (f"This upload and your others still arriving come to more than {session_cap / 1e6:,.0f} "
                         "MB, your limit: upload one file at a time, or a smaller one.\n")  # fmt: skip
        if here and self._holding(here) + size > cap // 2:
            return 503, (f"Uploads arriving from your network address hold {cap / 2e6:,.0f} MB already, half of "
                         "the server's limit: try again in a minute.\n")  # fmt: skip
        if self.held() + sum(self.arriving.values()) + size > cap:
            return 503, (f"The server holds {cap / 1e6:,.0f} MB of uploads already, its limit: try again in a "
                         "minute, or ask the teacher to raise RECENGINE_UPLOAD_MEMORY_MB.\n")  # fmt: skip
        return None

    def free_unread(self, seconds: float) -> None:
        """Free the files taken ``seconds`` ago or more: a page reads (and frees) a file on the run it arrives,
        so these were never handed to a widget."""
        expired = self.clock() - seconds
        for landed, when in list(self.landed.items()):
            if when > expired:
                break
            del self.landed[landed]
            self.free(*landed)

    def _holding(self, sessions: list[str]) -> int:
        """Bytes these sessions hold in memory and have arriving."""
        return sum(self.held_by(session) + self.arriving.get(session, 0) for session in sessions)


def _session_share(cap: int) -> int:
    """What one person may hold: ``RECENGINE_UPLOAD_MB`` or a quarter of the server's ``cap``, the smaller."""
    from dashboard.config import upload_max_bytes

    return min(upload_max_bytes(), cap // 4)


def _content_length(scope: Scope) -> int | None:
    values = [value for key, value in scope.get("headers") or [] if key.lower() == b"content-length"]
    if len(values) != 1 or not values[0].strip().isdigit():
        return None
    return int(values[0])


def _uploads_held_bytes() -> int:
    """Bytes of uploaded files Streamlit holds in memory, all sessions together (0 without a runtime)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return 0
    stats = Runtime.instance().uploaded_file_mgr.get_stats()
    return sum(stat.byte_length for family in stats.values() for stat in family)


def _session_held_bytes(session: str) -> int:
    """Bytes of uploaded files Streamlit holds in memory for ``session`` (0 without a runtime). Its stats are
    one total for all sessions, so the session's files are read (under the manager's lock)."""
    from streamlit.runtime import Runtime

    if not Runtime.exists():
        return 0
    manager = Runtime.instance().uploaded_file_mgr
    with manager._lock:
        files = list(manager.file_storage.get(session, {}).values())
    return sum(len(file.data) for file in files)


def _free_file(session: str, file_id: str) -> None:
    """Drop one uploaded file from Streamlit's memory (nothing if it is gone already)."""
    from streamlit.runtime import Runtime

    if Runtime.exists():
        Runtime.instance().uploaded_file_mgr.remove_file(session, file_id)


def _release_when_session_ends(session: str) -> None:
    """Free ``session``'s uploaded files seconds after its tab closes (the trainers' watchdog notices it)."""
    from streamlit.runtime import Runtime

    from dashboard import jobs

    if Runtime.exists():
        manager = Runtime.instance().uploaded_file_mgr
        jobs.when_session_ends("uploaded files", lambda: manager.remove_session_files(session), session)


def _upload_memory_bytes() -> int:
    from dashboard.config import upload_memory_bytes  # imports the engine's data layer: only when needed

    return upload_memory_bytes()


def _basic_password(scope: Scope) -> str | None:
    """The password of an ``Authorization: Basic`` header, or None."""
    for key, value in scope.get("headers") or []:
        if key.lower() != b"authorization":
            continue
        kind, _, encoded = value.decode("latin-1").partition(" ")
        if kind.lower() != "basic":
            return None
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


class _PacedBody:
    """A request's ``receive`` that counts what arrives (``counted``, False to stop), and is cut off (the
    client is taken to have left) once a chunk takes longer than `STALL_SECONDS`, or the body falls behind
    `SLOWEST_UPLOAD_RATE` after its first `STALL_SECONDS` (probe 9b: a byte every 15 s kept a 200 MB upload
    open 220 s), or the whole takes longer than that plus its size at that rate, or ``counted`` says the
    server's uploads are full.
    ``cut_off`` is then the status and message to answer with."""

    def __init__(self, receive: Any, size: int, counted: Callable[[int], bool]):
        self.receive, self.counted = receive, counted
        self.started = time.monotonic()
        self.deadline = self.started + STALL_SECONDS + size / SLOWEST_UPLOAD_RATE
        self.received = 0
        self.cut_off: tuple[int, str] | None = None

    def _behind(self) -> bool:
        """Whether less has arrived than `SLOWEST_UPLOAD_RATE` since the first `STALL_SECONDS` would bring."""
        return self.received < (time.monotonic() - self.started - STALL_SECONDS) * SLOWEST_UPLOAD_RATE

    async def __call__(self) -> dict:
        left = min(self.deadline - time.monotonic(), STALL_SECONDS)
        try:
            if self._behind():
                raise TimeoutError
            message = await asyncio.wait_for(self.receive(), timeout=max(left, 0.0))
        except TimeoutError:
            self.cut_off = 408, (f"Your upload arrived too slowly and was stopped: try again on a faster "
                                 f"connection (at least {SLOWEST_UPLOAD_RATE / 1e6:g} MB a second).\n")  # fmt: skip
            return {"type": "http.disconnect"}
        chunk = len(message.get("body", b""))
        self.received += chunk
        if chunk and not self.counted(chunk):
            self.cut_off = 503, ("The server's uploads filled up while yours arrived: try again in a minute, or "
                                 "ask the teacher to raise RECENGINE_UPLOAD_MEMORY_MB.\n")  # fmt: skip
            return {"type": "http.disconnect"}
        return message


async def _drain(receive: Any, size: int | None) -> None:
    """Read and throw away a refused request's body, if it says it is at most `DRAINED_BYTES` long: a client
    still sending when the answer comes and the connection closes sees a reset, not the answer."""
    if size is None or size > DRAINED_BYTES:
        return
    while True:
        message = await receive()
        if message["type"] != "http.request" or not message.get("more_body"):
            return


async def _answer(send: Any, status: int, text: str, headers: list[tuple[bytes, bytes]] = ()) -> None:
    body = text.encode()
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                    (b"content-length", str(len(body)).encode()), *headers],
    })  # fmt: skip
    await send({"type": "http.response.body", "body": body})


def time_out_unfinished_requests() -> None:
    """Close a connection that has not sent a whole request head (its line and headers) within
    `REQUEST_HEAD_SECONDS` of opening, or of its previous answer. Uvicorn waits for a head for ever, and each
    connection waiting holds a file descriptor: 20,000 connections sending part of a head (a few bytes each)
    used up the server's and kept every classmate out. Patches uvicorn's HTTP protocol classes, once, before
    Streamlit starts its server (`dashboard.serve`); websockets, once upgraded, are not affected."""
    import importlib

    for module, name in (("h11_impl", "H11Protocol"), ("httptools_impl", "HttpToolsProtocol")):
        try:
            protocol = getattr(importlib.import_module(f"uvicorn.protocols.http.{module}"), name)
        except ImportError:  # httptools is optional
            continue
        if getattr(protocol, "_head_timed", False):
            continue
        protocol.connection_made = _then_wait_for_a_head(protocol.connection_made)
        protocol.on_response_complete = _then_wait_for_a_head(protocol.on_response_complete)
        protocol._head_timed = True


def _then_wait_for_a_head(method: Callable[..., None]) -> Callable[..., None]:
    def waiting(protocol: Any, *args: Any) -> None:
        method(protocol, *args)
        since = protocol.scope  # a new request replaces it

        def expire() -> None:
            transport = protocol.transport
            if transport is None or transport.is_closing() or transport.get_protocol() is not protocol:
                return  # closed, or upgraded to a websocket
            if protocol.scope is since and (protocol.cycle is None or protocol.cycle.response_complete):
                transport.close()

        asyncio.get_running_loop().call_later(REQUEST_HEAD_SECONDS, expire)

    return waiting


def limit_incoming_messages() -> None:
    """Take websocket messages of at most `INCOMING_MESSAGE_BYTES` from browsers. Streamlit gives uvicorn
    its ``server.maxMessageSize`` (200 MB), which also bounds what it sends (a large chart or table), so
    eight connections that never signed in each sent a 190 MB message and held 1.45 GB. A browser sends
    only widget values: a few kilobytes. Patches Streamlit's uvicorn settings, once, before it starts."""
    from streamlit.web.server.starlette import starlette_server

    settings = starlette_server._get_uvicorn_config_kwargs
    if getattr(settings, "_incoming_limited", False):
        return

    def limited() -> dict[str, Any]:
        kwargs = settings()
        kwargs["ws_max_size"] = min(
            kwargs.get("ws_max_size") or INCOMING_MESSAGE_BYTES, INCOMING_MESSAGE_BYTES
        )
        return kwargs

    limited._incoming_limited = True  # type: ignore[attr-defined]
    starlette_server._get_uvicorn_config_kwargs = limited
