"""HTTP to registries: one urllib3 pool, scheme choice, TLS, authentication, redaction.

Everything above this module speaks in registry paths and status codes; everything about
connections, schemes, credentials and turning error bodies into exceptions lives here.
"""

from __future__ import annotations

import importlib.metadata
import json
import logging
import platform
import re
import threading
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError, TimeoutError

from ocipush import __version__
from ocipush.auth import Challenge, HttpResult, RegistryAuth, parse_challenges
from ocipush.errors import (
    AuthError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from ocipush.keychain import ANONYMOUS, Keychain
from ocipush.reference import Registry
from ocipush.retry import parse_retry_after

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["Timeouts", "Transport", "redact_url"]

log = logging.getLogger(__name__)

USER_AGENT = (
    f"ocipush/{__version__} python/{platform.python_version()} "
    f"urllib3/{importlib.metadata.version('urllib3')}"
)
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5
#: Query parameters that carry no secret and help when reading a log or an error.
_SAFE_QUERY = frozenset({"digest", "mount", "from", "n", "last", "service", "scope"})
_ERROR_BODY_LIMIT = 64 * 1024


def redact_url(url: str) -> str:
    """``url`` with every query value outside a known-harmless set replaced by ``***``.

    Upload URLs carry opaque state, and blob-storage redirects carry signatures: neither
    belongs in a log or an error message.
    """
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    pairs = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    safe = [(k, v if k in _SAFE_QUERY else "***") for k, v in pairs]
    netloc = parts.netloc.rpartition("@")[2]  # never show userinfo
    query = urllib.parse.urlencode(safe, safe="*:/,")
    return urllib.parse.urlunsplit((parts.scheme, netloc, parts.path, query, ""))


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for each read; generous for slow registries."""

    connect: float = 10.0
    read: float = 120.0


def _error_details(body: bytes) -> list[RegistryErrorDetail]:
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return []
    errors = obj.get("errors") if isinstance(obj, dict) else None
    if not isinstance(errors, list):
        return []
    details = []
    for entry in errors:
        if isinstance(entry, dict):
            code, message = entry.get("code"), entry.get("message")
            details.append(
                RegistryErrorDetail(
                    code if isinstance(code, str) else "UNKNOWN",
                    message if isinstance(message, str) else "",
                )
            )
    return details


def _body_excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return re.sub(r"\s+", " ", text)


class _ResponseReader:
    """A streamed response body as a file object that returns its connection on close."""

    def __init__(self, response: BaseHTTPResponse) -> None:
        self._response = response

    def read(self, size: int = -1) -> bytes:
        return self._response.read(None if size < 0 else size)

    def close(self) -> None:
        self._response.drain_conn()
        self._response.release_conn()

    def __enter__(self) -> _ResponseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport:
    """Sends requests to registries over one shared connection pool.

    :param keychain: where credentials come from; anonymous when ``None``.
    :param insecure: registry hosts that may be reached over plain http (loopback always may).
    :param jobs: the number of concurrent requests expected; bounds connections per host.
    :param timeouts: connect and read timeouts.
    :param pool: a PoolManager to use instead of making one (tests, proxies).
    """

    def __init__(
        self,
        *,
        keychain: Keychain | None = None,
        insecure: Iterable[str] = (),
        jobs: int = 4,
        timeouts: Timeouts = Timeouts(),
        pool: urllib3.PoolManager | None = None,
    ) -> None:
        self._keychain = keychain
        self._insecure = {Registry.parse(host).host for host in insecure}
        self._timeout = urllib3.Timeout(connect=timeouts.connect, read=timeouts.read)
        # One connection per worker plus one for manifests and auth; block rather than
        # open more, so a 2,000-blob push stays within jobs + 1 connections per host.
        # urllib3's own retries are off: the writer retries whole operations instead.
        self._pool = pool or urllib3.PoolManager(maxsize=jobs + 1, block=True, retries=False)
        self._lock = threading.Lock()
        self._bases: dict[str, str] = {}
        self._auth: dict[str, RegistryAuth] = {}

    # -- registry discovery ---------------------------------------------------------------

    def base_url(self, registry: Registry) -> str:
        """``scheme://host`` for ``registry``, deciding the scheme on first use."""
        self._ensure_pinged(registry)
        return self._bases[registry.host]

    def _allows_http(self, registry: Registry) -> bool:
        return registry.is_loopback or registry.host in self._insecure

    def _ensure_pinged(self, registry: Registry) -> None:
        with self._lock:
            if registry.host in self._bases:
                return
            base, challenge = self._ping(registry)
            credentials = (
                self._keychain.resolve(registry) if self._keychain is not None else ANONYMOUS
            )
            log.debug("credentials for %s: %s", registry.host, credentials.source)
            self._bases[registry.host] = base
            self._auth[registry.host] = RegistryAuth(
                registry.host, challenge, credentials, self._send_auth_request
            )

    def _ping(self, registry: Registry) -> tuple[str, Challenge | None]:
        """Find the scheme and the auth challenge with an anonymous ``GET /v2/``."""
        schemes = ["https", "http"] if self._allows_http(registry) else ["https"]
        last_error: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{registry.host}/v2/"
            try:
                response = self._pool.request(
                    "GET", url, headers=self._headers({}), timeout=self._timeout, redirect=False
                )
            except SSLError as exc:
                # Only a plain-http server answering a TLS hello justifies trying http;
                # a certificate problem is an error, never a reason to drop TLS.
                if "CERTIFICATE_VERIFY_FAILED" in str(exc) or scheme == "http":
                    raise self._transport_error("GET", url, exc) from None
                last_error = exc
                continue
            except Urllib3Error as exc:
                last_error = exc
                continue
            if response.status == 401:
                header = response.headers.get("WWW-Authenticate", "")
                challenges = parse_challenges(header)
                preferred = [c for c in challenges if c.scheme == "bearer"] or challenges
                return f"{scheme}://{registry.host}", preferred[0] if preferred else None
            return f"{scheme}://{registry.host}", None
        assert last_error is not None
        hint = (
            ""
            if self._allows_http(registry)
            else (f" (if it serves plain http, allow that with --insecure {registry.host})")
        )
        raise TransportError(
            f"cannot reach registry {registry.host}: {_reason(last_error)}{hint}"
        ) from None

    def auth(self, registry: Registry) -> RegistryAuth:
        self._ensure_pinged(registry)
        return self._auth[registry.host]

    # -- requests -------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, **extra}

    def _send_auth_request(
        self, method: str, url: str, headers: Mapping[str, str], body: bytes | None
    ) -> HttpResult:
        try:
            response = self._pool.request(
                method, url, headers=self._headers(headers), body=body, timeout=self._timeout
            )
        except Urllib3Error as exc:
            raise self._transport_error(method, url, exc) from None
        return HttpResult(
            response.status, {k.lower(): v for k, v in response.headers.items()}, response.data
        )

    def request(
        self,
        registry: Registry,
        method: str,
        url: str,
        *,
        scopes: Sequence[str],
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | BinaryIO | None = None,
        expected: Collection[int] = (200,),
        stream: bool = False,
        what: str = "",
    ) -> BaseHTTPResponse:
        """Send a request to ``registry`` and return the response if its status is expected.

        :param url: a path starting with ``/v2/``, or an absolute URL (an upload
            ``Location``), which gets credentials only when it is on the registry's host.
        :param body: bytes, or an iterable/reader sent as is (then the request cannot be
            repeated after a 401, so callers fetch tokens first by asking for ``scopes``).
        :param stream: leave the body unread, for the caller to stream.
        :param what: the operation, for error messages ("upload blob sha256:...").
        :raises RegistryError: for an unexpected status, with the registry's error codes.
        :raises TransportError: when the connection fails or times out.
        """
        base = self.base_url(registry)
        full_url = urllib.parse.urljoin(base + "/", url)
        replayable = body is None or isinstance(body, bytes)
        auth = self._auth[registry.host]
        for attempt in range(2):
            response = self._send(
                registry, method, full_url, auth, scopes, headers or {}, body, stream=stream
            )
            retry = response.status == 401 and attempt == 0 and replayable
            if retry and self._reauthenticate(auth, response, scopes):
                response.drain_conn()
                response.release_conn()
                continue
            break
        if response.status in expected:
            return response
        raise self._error(registry, method, full_url, response, what, scopes)

    def _send(
        self,
        registry: Registry,
        method: str,
        url: str,
        auth: RegistryAuth,
        scopes: Sequence[str],
        headers: Mapping[str, str],
        body: bytes | Iterable[bytes] | BinaryIO | None,
        *,
        stream: bool,
    ) -> BaseHTTPResponse:
        for _ in range(_MAX_REDIRECTS + 1):
            request_headers = self._headers(headers)
            if _same_host(url, registry):
                authorization = auth.header(scopes)
                if authorization is not None:
                    self._check_credentials_allowed(registry, url)
                    request_headers["Authorization"] = authorization
            log.debug("%s %s", method, redact_url(url))
            try:
                response = self._pool.request(
                    method,
                    url,
                    headers=request_headers,
                    body=body,
                    timeout=self._timeout,
                    redirect=False,
                    preload_content=not stream,
                    chunked=body is not None
                    and not isinstance(body, bytes)
                    and "Content-Length" not in headers,
                )
            except Urllib3Error as exc:
                raise self._transport_error(method, url, exc) from None
            location = response.headers.get("Location")
            if response.status in _REDIRECTS and location and method in ("GET", "HEAD"):
                response.drain_conn()
                response.release_conn()
                url = urllib.parse.urljoin(url, location)
                continue
            return response
        raise TransportError(f"{method} {redact_url(url)}: more than {_MAX_REDIRECTS} redirects")

    def _check_credentials_allowed(self, registry: Registry, url: str) -> None:
        if url.startswith("http://") and not registry.is_loopback:
            raise AuthError(
                f"refusing to send credentials to {registry.host} over plain http; "
                "use https, or allow it explicitly for this registry"
            )

    def _reauthenticate(
        self, auth: RegistryAuth, response: BaseHTTPResponse, scopes: Sequence[str]
    ) -> bool:
        """After a 401, fetch a new token once (with any new scopes the registry names)."""
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is None or auth.realm is None:
            return False
        wanted = list(scopes) + [s for s in bearer.scopes if s not in scopes]
        auth.token(wanted, force=True)
        return True

    def _error(
        self,
        registry: Registry,
        method: str,
        url: str,
        response: BaseHTTPResponse,
        what: str,
        scopes: Sequence[str],
    ) -> RegistryError | AuthError:
        body = response.read(_ERROR_BODY_LIMIT) if not response.data else response.data
        response.drain_conn()
        response.release_conn()
        details = _error_details(body or b"")
        error = RegistryError(
            method=method,
            url=redact_url(url),
            status=response.status,
            details=details,
            body_excerpt="" if method == "HEAD" else _body_excerpt(body or b""),
            context=what,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if response.status in (401, 403) and not error.temporary:
            auth = self._auth[registry.host]
            who = auth.credentials.username or "anonymous"
            if any(d.code == "DENIED" for d in details) or response.status == 403:
                return AuthError(
                    f"{what or method}: access denied on {registry.host} as {who} "
                    f"(needed {' '.join(scopes)}): {error}"
                )
            return AuthError(
                f"{what or method}: authentication to {registry.host} as {who} failed "
                f"(needed {' '.join(scopes)}): {error}"
            )
        return error

    def _transport_error(self, method: str, url: str, exc: Exception) -> TransportError:
        host = urllib.parse.urlsplit(url).netloc
        reason = _reason(exc)
        if isinstance(exc, TimeoutError):
            return TransportError(f"{method} {redact_url(url)}: timed out talking to {host}")
        temporary = not isinstance(exc, SSLError)
        return TransportError(f"{method} {redact_url(url)}: {reason}", temporary=temporary)

    def fetch(self, registry: Registry, path: str, *, scopes: Sequence[str], what: str) -> BinaryIO:
        """Stream a GET (a blob), following redirects to storage without credentials."""
        response = self.request(
            registry, "GET", path, scopes=scopes, stream=True, what=what, expected=(200,)
        )
        return _ResponseReader(response)  # type: ignore[return-value]


def _same_host(url: str, registry: Registry) -> bool:
    return urllib.parse.urlsplit(url).netloc.lower() == registry.host


def _reason(exc: BaseException) -> str:
    """The innermost useful reason of a urllib3 error, without its URL."""
    reason: Any = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 prefixes reasons with object reprs; keep the human part.
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text
