"""A recording, fault-injecting HTTP proxy to put between a client and a real registry.

Every exchange is recorded (:attr:`Proxy.exchanges`) and :class:`Rule` objects script faults:
canned statuses, connection resets mid-body, stalls, truncated bodies, dropped or wrong
headers. Bodies stream through in pieces, so multi-megabyte blobs cost no memory.

With ``upstream=None`` the proxy is a fake server answering only through :meth:`Proxy.route`
handlers. Use fakes only for responses a real registry cannot give (distribution 2.8 has no
referrers API, never answers 429...); everything else belongs in front of a real registry.
"""

from __future__ import annotations

import contextlib
import http.client
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Literal
from urllib.parse import urlsplit

__all__ = [
    "Action",
    "DropHeader",
    "Exchange",
    "FakeRequest",
    "Proxy",
    "ReplaceHeader",
    "ResetRequest",
    "ResetResponse",
    "Respond",
    "Rewrite",
    "Rotate",
    "Rule",
    "Stall",
    "TruncateBody",
]

CHUNK = 64 * 1024
UPSTREAM_TIMEOUT = 30.0
IDLE_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
# Hop-by-hop headers describe one connection; the proxy sets its own on each side.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "expect",
    }
)


# -- actions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Respond:
    """Answer with this response instead of asking upstream (the request body is drained)."""

    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


@dataclass(frozen=True)
class ResetRequest:
    """Forward ``after_bytes`` of the request body, then reset both connections."""

    after_bytes: int = 0


@dataclass(frozen=True)
class ResetResponse:
    """Forward the request, send the response head and ``after_bytes`` of its body, reset."""

    after_bytes: int = 0


@dataclass(frozen=True)
class Stall:
    """Wait ``seconds`` before forwarding the request, or before answering (default)."""

    seconds: float
    phase: Literal["request", "response"] = "response"


@dataclass(frozen=True)
class TruncateBody:
    """Send the upstream ``Content-Length`` but only ``keep_bytes`` of the body, then close."""

    keep_bytes: int


@dataclass(frozen=True)
class DropHeader:
    """Remove a response header (e.g. ``Location``, ``Docker-Content-Digest``)."""

    name: str


@dataclass(frozen=True)
class ReplaceHeader:
    """Set a response header to ``value`` (e.g. a wrong ``Docker-Content-Digest``)."""

    name: str
    value: str


@dataclass
class Relayed:
    """An upstream answer as a :class:`Rewrite` sees it: status and headers, changeable."""

    status: int
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def set_header(self, name: str, value: str | None) -> None:
        """Replace (or with ``None`` remove) every ``name`` header."""
        self.headers[:] = [(n, v) for n, v in self.headers if n.lower() != name.lower()]
        if value is not None:
            self.headers.append((name, value))


@dataclass(frozen=True)
class Rewrite:
    """Forward the request, then let ``change`` alter the upstream answer's status and
    headers before the client sees it (a registry departing from the spec in what it says,
    while the real registry behind it does the work). ``change`` receives the request with
    its body when ``keep_body`` (for small requests such as manifest PUTs), else an empty one.
    """

    change: Callable[[FakeRequest, Relayed], None]
    keep_body: bool = False


Action = (
    Respond
    | ResetRequest
    | ResetResponse
    | Stall
    | TruncateBody
    | DropHeader
    | ReplaceHeader
    | Rewrite
)


@dataclass
class Rule:
    """Apply ``action`` to the ``nth`` .. ``nth + times - 1`` requests this rule matches.

    ``method`` ``None`` matches any method; ``path`` is a regular expression searched in the
    path and query; ``when``, if given, must also hold for the request (its body left
    out): a chunk over some size, a tag that already exists. ``times=None`` keeps firing forever.
    ``matched`` and ``fired`` count requests so a test can check the fault really happened.
    """

    action: Action
    method: str | None = None
    path: str = ""
    nth: int = 1
    times: int | None = 1
    when: Callable[[FakeRequest], bool] | None = None
    matched: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def _applies(self, method: str, path: str, headers: http.client.HTTPMessage) -> bool:
        return (
            (self.method is None or self.method == method)
            and re.search(self.path, path) is not None
            and (self.when is None or self.when(FakeRequest(method, path, headers, b"")))
        )

    def _consider(self, method: str, path: str, headers: http.client.HTTPMessage) -> bool:
        if not self._applies(method, path, headers):
            return False
        self.matched += 1
        last = None if self.times is None else self.nth + self.times - 1
        return self.matched >= self.nth and (last is None or self.matched <= last)


class Rotate(Rule):
    """Every ``every``-th request this rule matches gets the next of ``actions``, in turn.

    A flaky registry in one rule: with ``every >= 2`` no two matching requests in a row
    fail, so a client that repeats a failed request gets through.
    """

    def __init__(
        self,
        actions: tuple[Action, ...],
        *,
        method: str | None = None,
        path: str = "",
        every: int = 3,
    ) -> None:
        super().__init__(actions[0], method=method, path=path, times=None)
        self.actions = actions
        self.every = every

    def _consider(self, method: str, path: str, headers: http.client.HTTPMessage) -> bool:
        if not self._applies(method, path, headers):
            return False
        self.matched += 1
        if self.matched % self.every:
            return False
        # Called under the proxy's lock, so the action read next is the one chosen here.
        self.action = self.actions[(self.matched // self.every - 1) % len(self.actions)]
        return True


# -- records ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Exchange:
    """One request through the proxy. ``status`` is ``None`` when no response was sent."""

    method: str
    path: str
    request_headers: http.client.HTTPMessage
    request_body_bytes: int
    status: int | None
    response_headers: http.client.HTTPMessage
    action: Action | None


@dataclass(frozen=True)
class FakeRequest:
    """What a :meth:`Proxy.route` handler receives; the body is read fully (fakes are small)."""

    method: str
    path: str
    headers: http.client.HTTPMessage
    body: bytes


#: Answers a request itself, or returns ``None`` to send it on upstream after all.
Handler = Callable[[FakeRequest], Respond | None]


def _message(pairs: list[tuple[str, str]]) -> http.client.HTTPMessage:
    message = http.client.HTTPMessage()
    for name, value in pairs:
        message[name] = value
    return message


@dataclass(frozen=True)
class _Rewriting:
    """A :class:`Rewrite` on its way to :meth:`Proxy._relay`, with the request it answers."""

    rewrite: Rewrite
    request: FakeRequest


class _ConnectionReset(Exception):
    """Raised inside the handler to abort both connections with a TCP reset."""


# -- server -------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    proxy: Proxy


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = IDLE_TIMEOUT
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """Silent: tests read :attr:`Proxy.exchanges` instead."""

    def setup(self) -> None:
        super().setup()
        self.server.proxy._track(self.connection, add=True)

    def finish(self) -> None:
        self.server.proxy._track(self.connection, add=False)
        super().finish()

    def handle_one_request(self) -> None:
        try:
            super().handle_one_request()
        except _ConnectionReset:
            self._reset()
        except (OSError, http.client.HTTPException):
            # The client or upstream went away mid-exchange (often on purpose in fault tests).
            self.close_connection = True

    def _dispatch(self) -> None:
        self.server.proxy._serve(self)

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _dispatch

    def _reset(self) -> None:
        self.close_connection = True
        # Linger 0 makes close() send RST instead of FIN; the file objects hold references
        # to the socket, so they are closed too or the descriptor would stay open.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.rfile.close()
        self.wfile.close()
        self.connection.close()

    # -- body plumbing --------------------------------------------------------------------

    def request_body(self) -> Iterator[bytes]:
        """The request body in pieces, de-chunked if the client sent it chunked."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            yield from self._read_chunked()
            return
        remaining = int(self.headers.get("Content-Length") or 0)
        while remaining > 0:
            data = self.rfile.read(min(CHUNK, remaining))
            if not data:
                raise _ConnectionReset
            remaining -= len(data)
            yield data

    def _read_chunked(self) -> Iterator[bytes]:
        while True:
            size_line = self.rfile.readline(1024)
            if not size_line:
                raise _ConnectionReset
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                # Skip trailers up to the blank line that ends the body.
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return
            while size > 0:
                data = self.rfile.read(min(CHUNK, size))
                if not data:
                    raise _ConnectionReset
                size -= len(data)
                yield data
            self.rfile.readline(1024)


@dataclass(frozen=True)
class _Upstream:
    scheme: str
    netloc: str
    context: ssl.SSLContext | None

    @property
    def base(self) -> str:
        return f"{self.scheme}://{self.netloc}"

    def connect(self) -> http.client.HTTPConnection:
        if self.scheme == "https":
            return http.client.HTTPSConnection(
                self.netloc, timeout=UPSTREAM_TIMEOUT, context=self.context
            )
        return http.client.HTTPConnection(self.netloc, timeout=UPSTREAM_TIMEOUT)


class Proxy:
    """A reverse proxy on ``127.0.0.1`` and a free port, in front of ``upstream``.

    :param upstream: base URL of the real server (``http://127.0.0.1:5000``), or ``None`` for
        a fake server that only answers :meth:`route` handlers (anything else gets 502).
    :param upstream_context: TLS settings for an ``https`` upstream.
    """

    def __init__(
        self, upstream: str | None = None, *, upstream_context: ssl.SSLContext | None = None
    ) -> None:
        if upstream is None:
            self._upstream = None
        else:
            parts = urlsplit(upstream)
            self._upstream = _Upstream(parts.scheme, parts.netloc, upstream_context)
        self._lock = threading.Lock()
        self._rules: list[Rule] = []
        self._routes: list[tuple[str | None, re.Pattern[str], Handler]] = []
        self._exchanges: list[Exchange] = []
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- where it is --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``, to use in references instead of the upstream host."""
        if self._server is None:
            raise RuntimeError("Proxy: not started; call start() or use it as a context manager")
        return f"127.0.0.1:{self._server.server_address[1]}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    @property
    def upstream_url(self) -> str | None:
        """The real server's base URL, for a personality that asks it something first."""
        return None if self._upstream is None else self._upstream.base

    # -- scripting ----------------------------------------------------------------------------

    def add_rule(self, rule: Rule) -> Rule:
        """Add a fault; when several rules fire on one request, the first added wins, except
        that a :class:`Rewrite` yields to any other action."""
        with self._lock:
            self._rules.append(rule)
        return rule

    def route(self, method: str | None, path: str, handler: Handler) -> None:
        """Answer requests whose path+query fully matches ``path`` with ``handler``; when
        it returns ``None`` the request goes upstream after all, with the body it read.

        For responses a real registry cannot produce only; see the module docstring.
        """
        with self._lock:
            self._routes.append((method, re.compile(path), handler))

    # -- records ------------------------------------------------------------------------------

    @property
    def exchanges(self) -> list[Exchange]:
        """A snapshot of every exchange so far, oldest first."""
        with self._lock:
            return list(self._exchanges)

    def find(self, method: str | None = None, path: str = "") -> list[Exchange]:
        """Exchanges with this method (any if ``None``) whose path+query matches ``path``."""
        return [
            exchange
            for exchange in self.exchanges
            if (method is None or exchange.method == method) and re.search(path, exchange.path)
        ]

    def count(self, method: str | None = None, path: str = "") -> int:
        return len(self.find(method, path))

    def clear(self) -> None:
        """Forget recorded exchanges (rules keep their counts)."""
        with self._lock:
            self._exchanges.clear()

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> Proxy:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.proxy = self
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop within about :data:`STOP_TIMEOUT` s: stalls end, open connections are closed."""
        if self._server is None:
            return
        self._stopping.set()
        self._server.shutdown()
        with self._lock:
            open_connections = list(self._connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self._server = None

    def __enter__(self) -> Proxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling (runs on the server's threads) --------------------------------------

    def _track(self, connection: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)

    def _record(
        self,
        handler: _Handler,
        body_bytes: int,
        status: int | None,
        response_headers: list[tuple[str, str]],
        action: Action | None,
    ) -> None:
        # Recorded before the response goes out, so a client that has its answer always
        # finds the exchange already listed.
        exchange = Exchange(
            method=handler.command,
            path=handler.path,
            request_headers=handler.headers,
            request_body_bytes=body_bytes,
            status=status,
            response_headers=_message(response_headers),
            action=action,
        )
        with self._lock:
            self._exchanges.append(exchange)

    def _pick(
        self, method: str, path: str, headers: http.client.HTTPMessage
    ) -> tuple[Action | None, Handler | None]:
        with self._lock:
            firing = [rule for rule in self._rules if rule._consider(method, path, headers)]
            # A personality's rewrites are the registry's manner; any fault a test adds
            # on top wins over them whatever the order they were added in.
            firing.sort(key=lambda rule: isinstance(rule.action, Rewrite))
            if firing:
                firing[0].fired += 1
            route = next(
                (
                    handler
                    for route_method, pattern, handler in self._routes
                    if route_method in (None, method) and pattern.fullmatch(path)
                ),
                None,
            )
        return (firing[0].action if firing else None), route

    def _serve(self, handler: _Handler) -> None:
        method, path = handler.command, handler.path
        action, route = self._pick(method, path, handler.headers)
        if isinstance(action, Stall) and action.phase == "request":
            self._stopping.wait(action.seconds)
        if isinstance(action, Respond):
            drained = sum(len(data) for data in handler.request_body())
            self._reply(handler, drained, action, action)
        elif route is not None:
            body = b"".join(handler.request_body())
            response = route(FakeRequest(method, path, handler.headers, body))
            if response is not None:
                self._reply(handler, len(body), response, action)
            elif self._upstream is not None:
                self._forward(handler, self._upstream, action, read=body)
            else:
                self._reply(handler, len(body), Respond(502, {}, b"fake server: no answer"), None)
        elif self._upstream is None:
            drained = sum(len(data) for data in handler.request_body())
            message = f"fake server: no route for {method} {path}\n".encode()
            self._reply(
                handler, drained, Respond(502, {"Content-Type": "text/plain"}, message), None
            )
        else:
            self._forward(handler, self._upstream, action)

    def _reply(
        self, handler: _Handler, body_bytes: int, response: Respond, action: Action | None
    ) -> None:
        headers = [(n, v) for n, v in response.headers.items() if n.lower() not in _HOP_BY_HOP]
        if not any(name.lower() == "content-length" for name, _ in headers):
            headers.append(("Content-Length", str(len(response.body))))
        self._record(handler, body_bytes, response.status, headers, action)
        handler.send_response_only(response.status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        if handler.command != "HEAD":
            handler.wfile.write(response.body)

    def _forward(
        self,
        handler: _Handler,
        upstream: _Upstream,
        action: Action | _Rewriting | None,
        *,
        read: bytes | None = None,
    ) -> None:
        """Send the request upstream and relay the answer; ``read`` is the body when a
        route handler has already read it."""
        sent = 0
        reset_request = action.after_bytes if isinstance(action, ResetRequest) else None
        kept: list[bytes] | None = [] if isinstance(action, Rewrite) and action.keep_body else None

        def body() -> Iterator[bytes]:
            nonlocal sent
            for data in handler.request_body() if read is None else [read]:
                if reset_request is not None and sent + len(data) >= reset_request:
                    yield data[: reset_request - sent]
                    sent = reset_request
                    return
                sent += len(data)
                if kept is not None:
                    kept.append(data)
                yield data

        headers = {
            name: value
            for name, value in handler.headers.items()
            if name.lower() not in _HOP_BY_HOP and name.lower() != "host"
        }
        # http.client re-chunks a body without Content-Length on its own.
        has_body = "Content-Length" in handler.headers or "Transfer-Encoding" in handler.headers
        if reset_request == 0:
            # Dropped before it reaches the registry: forwarding the head alone would let the
            # registry start (and, depending on timing, half-apply) a request with no body.
            self._record(handler, 0, None, [], action)
            raise _ConnectionReset
        # One upstream connection per request: a kept one goes stale when a test restarts
        # the registry, and a streamed body cannot be replayed on a fresh one.
        connection = upstream.connect()
        try:
            try:
                connection.connect()
            except OSError as error:
                # Like a real reverse proxy: a down upstream is a 502, not a dropped connection.
                drained = sum(len(data) for data in handler.request_body())
                message = f"proxy: upstream {upstream.base} unreachable: {error}\n".encode()
                self._reply(handler, drained, Respond(502, {}, message), action)
                return
            try:
                connection.request(
                    handler.command,
                    handler.path,
                    body=body() if has_body else None,
                    headers={"Host": upstream.netloc, **headers},
                )
                if reset_request is not None:
                    self._record(handler, sent, None, [], action)
                    raise _ConnectionReset
                response = connection.getresponse()
            except (OSError, http.client.HTTPException):
                # The upstream failed mid-exchange; the client sees its connection drop.
                raise _ConnectionReset from None
            if isinstance(action, Rewrite):
                request = FakeRequest(
                    handler.command, handler.path, handler.headers, b"".join(kept or [])
                )
                action = _Rewriting(action, request)
            self._relay(handler, upstream, response, sent, action)
        finally:
            connection.close()

    def _relay(
        self,
        handler: _Handler,
        upstream: _Upstream,
        response: http.client.HTTPResponse,
        sent: int,
        action: Action | _Rewriting | None,
    ) -> None:
        headers = [
            (name, self._rewrite_location(upstream, value) if name.lower() == "location" else value)
            for name, value in response.getheaders()
            if name.lower() not in _HOP_BY_HOP
        ]
        if isinstance(action, DropHeader):
            headers = [(n, v) for n, v in headers if n.lower() != action.name.lower()]
        if isinstance(action, ReplaceHeader):
            headers = [(n, v) for n, v in headers if n.lower() != action.name.lower()]
            headers.append((action.name, action.value))
        status = response.status
        if isinstance(action, _Rewriting):
            relayed = Relayed(status, headers)
            action.rewrite.change(action.request, relayed)
            status, action = relayed.status, action.rewrite
        has_body = handler.command != "HEAD" and response.status not in (204, 304)
        length_known = response.length is not None or not has_body
        if not length_known:
            headers.append(("Transfer-Encoding", "chunked"))
        self._record(handler, sent, status, headers, action)
        if isinstance(action, Stall) and action.phase == "response":
            self._stopping.wait(action.seconds)
        handler.send_response_only(status)
        for name, value in headers:
            handler.send_header(name, value)
        handler.end_headers()
        if not has_body:
            response.read()
            return
        limit: int | None = None
        if isinstance(action, ResetResponse):
            limit = action.after_bytes
        elif isinstance(action, TruncateBody):
            limit = action.keep_bytes
        written = 0
        while limit is None or written < limit:
            data = response.read(CHUNK if limit is None else min(CHUNK, limit - written))
            if not data:
                if not length_known:
                    handler.wfile.write(b"0\r\n\r\n")
                return
            handler.wfile.write(data if length_known else b"%x\r\n%s\r\n" % (len(data), data))
            written += len(data)
        if isinstance(action, ResetResponse):
            raise _ConnectionReset
        handler.close_connection = True

    def _rewrite_location(self, upstream: _Upstream, location: str) -> str:
        if location.startswith(upstream.base):
            return self.url + location[len(upstream.base) :]
        return location
