"""HTTP to registries: one urllib3 pool, scheme choice, TLS, authentication, redaction.

Everything above this module speaks in registry paths and status codes; everything about
connections, schemes, credentials and turning error bodies into exceptions lives here.
"""

from __future__ import annotations

import base64
import functools
import importlib.metadata
import ipaddress
import logging
import platform
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, BinaryIO

import urllib3
from urllib3.exceptions import ConnectTimeoutError, SSLError, TimeoutError
from urllib3.exceptions import HTTPError as Urllib3Error

from ocipush import __version__
from ocipush.errors import (
    TEMPORARY_STATUSES,
    AuthError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from ocipush.oci.reference import Registry, Repository, is_loopback
from ocipush.registry.answers import check_api_answer, check_ping
from ocipush.registry.auth import Challenge, HttpResult, RegistryAuth, parse_challenges
from ocipush.registry.keychain import ANONYMOUS, Credentials, Keychain
from ocipush.registry.retry import RequestRetry, RetryPolicy, parse_retry_after
from ocipush.registry.tls import TlsConfig

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["ConnectionOptions", "Timeouts", "Transport", "redact_url"]

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
    """Seconds to wait for a connection and for each read; generous for slow registries.

    Defaults: 10 s to connect, 120 s for each read (a registry may take a while to answer
    the final PUT of a large blob while it verifies the digest).
    """

    connect: float = 10.0
    read: float = 120.0


class _RedactUrls(logging.Filter):
    """Redacts query strings in urllib3's debug lines: upload state, storage signatures."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                redact_url(arg) if isinstance(arg, str) and "?" in arg else arg
                for arg in record.args
            )
        return True


_URLLIB3_REDACTION = _RedactUrls()


def _redact_urllib3_logs() -> None:
    # urllib3 logs each request line with its query at DEBUG; a caller turning on debug
    # logging for everything must not get signed URLs in its log files.
    for name in ("urllib3.connectionpool", "urllib3.poolmanager"):
        logger = logging.getLogger(name)
        if _URLLIB3_REDACTION not in logger.filters:
            logger.addFilter(_URLLIB3_REDACTION)


class _StaleTokenError(TransportError):
    """The registry rejected a token mid-request; a new one was fetched, so retry."""


def _env_proxies() -> dict[str, str]:
    """``scheme -> proxy URL`` and ``"no" -> NO_PROXY`` from the environment."""
    return {k.lower(): v for k, v in urllib.request.getproxies_environment().items() if v}


def _split_host_port(netloc: str) -> tuple[str, str]:
    netloc = netloc.rpartition("@")[2].lower()
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        return host, rest.removeprefix(":")
    if netloc.count(":") == 1:
        host, _, port = netloc.partition(":")
        return host, port
    return netloc, ""


def bypasses_proxy(netloc: str, no_proxy: str) -> bool:
    """Whether ``NO_PROXY`` exempts ``netloc`` (``host[:port]``) from the proxy.

    Entries are comma- or space-separated: ``*`` (everything), a host or domain (matching
    itself and its subdomains; a leading dot is optional), an IP address or CIDR block,
    each optionally with ``:port``. Loopback is not special: list ``127.0.0.1`` or
    ``localhost`` to bypass the proxy for local registries.
    """
    host, port = _split_host_port(netloc)
    try:
        address: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        address = None
    for entry in no_proxy.replace(",", " ").split():
        if entry == "*":
            return True
        entry_host, entry_port = _split_host_port(entry)
        if entry_port and entry_port != port:
            continue
        if "/" in entry_host and address is not None:
            try:
                if address in ipaddress.ip_network(entry_host, strict=False):
                    return True
            except ValueError:
                continue
        entry_host = entry_host.lstrip(".")
        if entry_host and (host == entry_host or host.endswith("." + entry_host)):
            return True
    return False


_REPOSITORY_PATH = re.compile(r"^/v2/(?P<name>.+?)/(?:blobs|manifests|tags|referrers)(?:/|$)")


def _scope_repository(registry: Registry, scope: str) -> Repository | None:
    kind, _, rest = scope.partition(":")
    # The name may contain host:port, so the actions are what follows the last colon.
    name = rest.rpartition(":")[0]
    return Repository(registry, name) if kind == "repository" and name else None


def _request_repository(registry: Registry, url: str, scopes: Sequence[str]) -> Repository | None:
    """The repository a request is about: from its path, else the push scope."""
    parts = urllib.parse.urlsplit(url)
    if parts.netloc.lower() == registry.host and (match := _REPOSITORY_PATH.match(parts.path)):
        return Repository(registry, match["name"])
    pushing = [s for s in scopes if "push" in s.rpartition(":")[2].split(",")]
    for scope in [*pushing, *scopes]:
        if (repository := _scope_repository(registry, scope)) is not None:
            return repository
    return None


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
    """Sends requests to registries, with a connection pool per host.

    Credentials are resolved per repository (so ``host/path`` entries of a docker config
    apply) and authentication state is kept per registry and credentials: every repository
    using the same credentials shares tokens.

    :param keychain: where credentials come from; anonymous when ``None``.
    :param insecure: registry hosts that may be reached over plain http (loopback always may).
        This never switches off certificate verification over https (see ``tls``).
    :param allow_credentials_over_http: registry hosts to which credentials and tokens may
        be sent over plain http although they are not loopback (and to their token realm).
    :param tls: CA files, ``certs.d`` directories and verification switches; by default the
        system CAs plus docker's and podman's ``certs.d`` directories.
    :param proxies: ``{"http": URL, "https": URL, "no": "host,.domain"}``; by default from
        ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` (see :func:`bypasses_proxy`).
    :param password_grant: get tokens with an OAuth2 password grant instead of GET + Basic.
    :param jobs: the number of concurrent requests expected; bounds connections per host.
    :param timeouts: connect and read timeouts.
    :param pool: a PoolManager for every request instead of per-host ones (then ``tls`` and
        ``proxies`` are the pool's business).
    :param clock: seconds since the epoch, for token expiry.
    :param retry: how often and how long apart an idempotent request is sent again after a
        reset connection or a busy answer (the retry layer, :class:`RequestRetry`).
    """

    def __init__(
        self,
        *,
        keychain: Keychain | None = None,
        insecure: Iterable[str] = (),
        allow_credentials_over_http: Iterable[str] = (),
        tls: TlsConfig | None = None,
        proxies: Mapping[str, str] | None = None,
        password_grant: bool = False,
        jobs: int = 4,
        timeouts: Timeouts = Timeouts(),
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.retry = retry
        self._keychain = keychain
        self._insecure = {Registry.parse(host).host for host in insecure}
        self._plain_credentials = {
            Registry.parse(host).host for host in allow_credentials_over_http
        }
        self._tls = tls or TlsConfig()
        self._proxies = (
            _env_proxies() if proxies is None else {k.lower(): v for k, v in proxies.items()}
        )
        self._password_grant = password_grant
        self._clock = clock
        self._timeouts = timeouts
        self._timeout = urllib3.Timeout(connect=timeouts.connect, read=timeouts.read)
        # One connection per worker plus one for manifests and auth; block rather than
        # open more, so a 2,000-blob push stays within jobs + 1 connections per host.
        self._maxsize = jobs + 1
        self._pool = pool
        self._pools: dict[tuple[str, str], urllib3.PoolManager] = {}
        self._lock = threading.Lock()
        self._bases: dict[str, str] = {}
        self._challenges: dict[str, Challenge | None] = {}
        self._auth: dict[tuple[str, Credentials], RegistryAuth] = {}
        self._announced: set[tuple[str, str]] = set()
        _redact_urllib3_logs()

    def __repr__(self) -> str:
        return f"<Transport {sorted(self._bases)}>"

    # -- connections ----------------------------------------------------------------------

    def _pool_for(self, url: str) -> urllib3.PoolManager:
        """The pool for ``url``'s scheme and host: its TLS settings and proxy."""
        if self._pool is not None:
            return self._pool
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc.rpartition("@")[2].lower())
        with self._lock:
            found = self._pools.get(key)
            if found is None:
                found = self._pools[key] = self._make_pool(*key)
            return found

    def _make_pool(self, scheme: str, netloc: str) -> urllib3.PoolManager:
        # urllib3's own retries are off: the writer retries whole operations instead.
        options: dict[str, Any] = {"maxsize": self._maxsize, "block": True, "retries": False}
        if scheme == "https":
            options["ssl_context"] = self._tls.context(netloc)
            if not self._tls.verifies(netloc):
                # urllib3 resets the context's verify mode from cert_reqs on every connection.
                options["cert_reqs"] = "CERT_NONE"
                options["assert_hostname"] = False
        proxy = self._proxies.get(scheme)
        if not proxy or bypasses_proxy(netloc, self._proxies.get("no", "")):
            return urllib3.PoolManager(**options)
        parts = urllib.parse.urlsplit(proxy if "://" in proxy else f"http://{proxy}")
        headers = None
        if parts.username is not None:
            userinfo = f"{urllib.parse.unquote(parts.username)}:"
            userinfo += urllib.parse.unquote(parts.password or "")
            basic = base64.b64encode(userinfo.encode()).decode()
            headers = {"Proxy-Authorization": f"Basic {basic}"}
        proxy_url = urllib.parse.urlunsplit((parts.scheme, parts.hostname or "", "", "", ""))
        if parts.port:
            proxy_url = f"{proxy_url}:{parts.port}"
        log.debug("%s://%s via proxy %s", scheme, netloc, proxy_url)
        return urllib3.ProxyManager(proxy_url, proxy_headers=headers, **options)

    def _urlopen(self, method: str, url: str, **options: Any) -> BaseHTTPResponse:
        return self._pool_for(url).request(method, url, timeout=self._timeout, **options)

    def _retrying(
        self, method: str, url: str, send: Callable[[], BaseHTTPResponse], what: str
    ) -> BaseHTTPResponse:
        """``send`` through the retry layer: sent again after a reset or a busy answer."""
        layer = RequestRetry(
            self.retry,
            send=send,
            busy=functools.partial(_busy, method, redact_url(url)),
            release=_release,
        )
        return layer(what or f"{method} {redact_url(url)}")

    def _ping_once(self, url: str) -> BaseHTTPResponse:
        try:
            return self._urlopen("GET", url, headers=self._headers({}), redirect=False)
        except SSLError:
            raise
        except Urllib3Error as exc:
            raise _Unreachable(exc) from None

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
        # Pinged outside the lock (pools take it); a second concurrent ping is harmless.
        base, challenge = self._ping(registry)
        with self._lock:
            self._challenges.setdefault(registry.host, challenge)
            self._bases.setdefault(registry.host, base)

    def _ping(self, registry: Registry) -> tuple[str, Challenge | None]:
        """Find the scheme and the auth challenge with an anonymous ``GET /v2/``."""
        schemes = ["https", "http"] if self._allows_http(registry) else ["https"]
        last_error: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{registry.host}/v2/"
            try:
                response = self._retrying(
                    "GET", url, functools.partial(self._ping_once, url), f"reach {registry.host}"
                )
            except _Unreachable as unreachable:
                last_error = unreachable.cause
                continue
            except SSLError as exc:
                # Only a plain-http server answering a TLS hello justifies trying http;
                # a certificate problem is an error, never a reason to drop TLS.
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise self._untrusted(registry, exc) from None
                if scheme == "http" or not self._allows_http(registry):
                    raise self._transport_error("GET", url, exc) from None
                last_error = exc
                continue
            except Urllib3Error as exc:
                last_error = exc
                continue
            check_ping(
                registry.host, redact_url(url), response.status, response.headers, response.data
            )
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

    def _untrusted(self, registry: Registry, exc: Exception) -> TransportError:
        host = registry.host
        return TransportError(
            f"cannot reach registry {host}: its TLS certificate is not trusted "
            f"({_reason(exc)}); trust its CA with --ca-cert FILE or by putting it in "
            f"/etc/docker/certs.d/{host}/ca.crt (or ~/.docker/certs.d/{host}/, "
            f"/etc/containers/certs.d/{host}/), or skip verification for it with "
            f"--tls-verify=false:{host}",
            temporary=False,
        )

    def credentials(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        """The credentials the keychain gives for ``repository`` (or all of ``registry``)."""
        if self._keychain is None:
            return ANONYMOUS
        found = self._keychain.resolve(registry, repository)
        key = (str(repository or registry), found.source)
        with self._lock:
            first = key not in self._announced
            self._announced.add(key)
        if first:
            # INFO, so `-v` says where credentials came from; never what they are.
            log.info("credentials for %s: %s", key[0], found.source)
        return found

    def auth(self, registry: Registry, repository: Repository | None = None) -> RegistryAuth:
        """The authentication state for ``repository``'s credentials on ``registry``."""
        self._ensure_pinged(registry)
        credentials = self.credentials(registry, repository)
        key = (registry.host, credentials)
        with self._lock:
            found = self._auth.get(key)
            if found is None:
                found = self._auth[key] = RegistryAuth(
                    registry.host,
                    self._challenges[registry.host],
                    credentials,
                    functools.partial(self._send_auth_request, registry),
                    clock=self._clock,
                    password_grant=self._password_grant,
                )
            return found

    def prepare(self, registry: Registry, scopes: Sequence[str]) -> None:
        """Fetch the tokens a push needing ``scopes`` will use, before any body is streamed.

        Target repositories whose credentials differ each get a token for their own scopes.
        """
        pushing = [s for s in scopes if "push" in s.rpartition(":")[2].split(",")]
        done: set[Credentials] = set()
        for scope in pushing or scopes or [""]:
            auth = self.auth(registry, _scope_repository(registry, scope))
            if auth.credentials not in done:
                done.add(auth.credentials)
                auth.header(self._scopes_for(registry, auth.credentials, scopes))

    def verify_credentials(self, registry: Registry) -> Credentials:
        """Check that the keychain's credentials for ``registry`` are accepted (for ``login``).

        :raises AuthError: naming the registry, the user and the registry's message.
        """
        auth = self.auth(registry)
        if auth.realm is not None:
            auth.verify()
        elif auth.challenge is not None:
            self.request(registry, "GET", "/v2/", scopes=[], what="log in")
        return auth.credentials

    def _scopes_for(
        self, registry: Registry, credentials: Credentials, scopes: Sequence[str]
    ) -> list[str]:
        """The scopes whose repositories use ``credentials`` (all of them, usually)."""
        if self._keychain is None or len(scopes) <= 1:
            return list(scopes)
        kept = [
            scope
            for scope in scopes
            if (repository := _scope_repository(registry, scope)) is None
            or self._keychain.resolve(registry, repository) == credentials
        ]
        return kept or list(scopes)

    # -- requests -------------------------------------------------------------------------

    def _headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, **extra}

    def _send_auth_request(
        self,
        registry: Registry,
        method: str,
        url: str,
        headers: Mapping[str, str],
        body: bytes | None,
    ) -> HttpResult:
        if "Authorization" in headers or body:
            # Basic credentials, a password or a refresh token: same rule as the registry.
            self._check_credentials_allowed(registry, url)

        def send() -> BaseHTTPResponse:
            log.debug("%s %s", method, redact_url(url))
            try:
                return self._urlopen(
                    method, url, headers=self._headers(headers), body=body, redirect=False
                )
            except SSLError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    realm = Registry.parse(urllib.parse.urlsplit(url).netloc)
                    raise self._untrusted(realm, exc) from None
                raise self._transport_error(method, url, exc) from None
            except Urllib3Error as exc:
                raise self._transport_error(method, url, exc) from None

        # Token requests are idempotent (a password grant too): the retry layer repeats them.
        response = self._retrying(method, url, send, "get a token")
        busy = RegistryError(
            method=method,
            url=redact_url(url),
            status=response.status,
            context="get a token",
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if response.status != 200 and busy.temporary:
            # An overloaded token server is as transient as an overloaded registry: let the
            # caller's retries see it. The body is left out, it may echo credentials.
            raise busy
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
        repository: Repository | None = None,
        api: bool = True,
        idempotent: bool | None = None,
    ) -> BaseHTTPResponse:
        """Send a request to ``registry`` and return the response if its status is expected.

        :param url: a path starting with ``/v2/``, or an absolute URL (an upload
            ``Location``), which gets credentials only when it is on the registry's host.
        :param body: bytes, or an iterable/reader sent as is (then the request cannot be
            repeated after a 401, so callers fetch tokens first by asking for ``scopes``).
        :param stream: leave the body unread, for the caller to stream.
        :param what: the operation, for error messages ("upload blob sha256:...").
        :param repository: whose credentials to use; by default the repository in the URL's
            path, else the one the push scope names.
        :param api: the answer must be the registry API, so an HTML page is an error even
            with an expected status (off for probes that may land on a web page).
        :param idempotent: whether sending the request twice does no harm, so the retry
            layer may repeat it (by default: ``GET`` and ``HEAD``). Callers say so for a
            manifest PUT by digest and a blob commit PUT. Only a bytes body can be repeated.
        :raises RegistryError: for an unexpected status, with the registry's error codes.
        :raises TransportError: when the connection fails or times out.
        """
        base = self.base_url(registry)
        full_url = urllib.parse.urljoin(base + "/", url)
        replayable = body is None or isinstance(body, bytes)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        auth = self.auth(registry, repository or _request_repository(registry, full_url, scopes))
        scopes = self._scopes_for(registry, auth.credentials, scopes)
        for attempt in range(2):
            send = functools.partial(
                self._send, registry, method, full_url, auth, scopes, headers or {}, body
            )
            try:
                if idempotent and replayable:
                    response = self._retrying(
                        method, full_url, functools.partial(send, stream=stream), what
                    )
                else:
                    response = send(stream=stream)
            except TransportError as error:
                if not what:
                    raise
                # Say which step of the push lost its connection, not only which URL.
                raise TransportError(
                    f"{what}: {error}", temporary=error.temporary, timed_out=error.timed_out
                ) from None
            if response.status == 401 and attempt == 0:
                widened = self._reauthenticate(auth, response, scopes) if replayable else None
                if widened is not None:
                    response.drain_conn()
                    response.release_conn()
                    scopes = widened
                    continue
                if not replayable and self._token_went_stale(auth, response, scopes):
                    response.drain_conn()
                    response.release_conn()
                    # The body is spent: the caller's retry sends it again with the new token.
                    raise _StaleTokenError(
                        f"{what or method}: {registry.host} rejected the token as no longer "
                        "valid; fetched a new one, retrying"
                    )
            break
        if response.status in expected:
            if api:
                body = b"" if stream else response.data
                check_api_answer(
                    method, redact_url(full_url), response.status, response.headers, body, what
                )
            return response
        raise self._error(registry, method, full_url, response, what, scopes, auth)

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
                response = self._urlopen(
                    method,
                    url,
                    headers=request_headers,
                    body=body,
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
        """Refuse to put credentials or tokens on an unencrypted non-loopback connection.

        Called with every request that would carry them, before it is sent.
        """
        parts = urllib.parse.urlsplit(url)
        if parts.scheme != "http" or is_loopback(parts.netloc):
            return
        if registry.host in self._plain_credentials:
            return
        raise AuthError(
            f"refusing to send credentials for {registry.host} over plain http to "
            f"{parts.netloc}: anyone on the network could read them; use https, or if the "
            f"network is trusted allow it with --allow-credentials-over-http {registry.host}"
        )

    def _token_went_stale(
        self, auth: RegistryAuth, response: BaseHTTPResponse, scopes: Sequence[str]
    ) -> bool:
        """After a 401 to a request that cannot be repeated: was it an expired token?

        If so a new one is fetched now. A missing scope is not staleness and is reported.
        """
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is None or auth.realm is None or auth.credentials.registry_token:
            return False
        if bearer.params.get("error") == "insufficient_scope":
            return False
        auth.token(scopes, force=True)
        return True

    def _reauthenticate(
        self, auth: RegistryAuth, response: BaseHTTPResponse, scopes: Sequence[str]
    ) -> list[str] | None:
        """After a 401, fetch a new token once, adding any new scopes the registry names.

        :return: the scopes to repeat the request with, or ``None`` if there is no point.
        """
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is None or auth.realm is None or auth.credentials.registry_token:
            return None
        wanted = list(scopes) + [s for s in bearer.scopes if s not in scopes]
        auth.token(wanted, force=True)
        return wanted

    def _error(
        self,
        registry: Registry,
        method: str,
        url: str,
        response: BaseHTTPResponse,
        what: str,
        scopes: Sequence[str],
        auth: RegistryAuth,
    ) -> RegistryError | AuthError:
        body = response.read(_ERROR_BODY_LIMIT) if not response.data else response.data
        response.drain_conn()
        response.release_conn()
        # A registry echoing a header or a token back must not put it in our message.
        text = auth.scrub((body or b"").decode("utf-8", "replace")).encode()
        details = RegistryErrorDetail.parse_body(text)
        error = RegistryError(
            method=method,
            url=redact_url(url),
            status=response.status,
            details=details,
            body_excerpt="" if method == "HEAD" else _body_excerpt(text),
            context=what,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        if response.status not in (401, 403) or error.temporary:
            return error
        who = auth.who
        action = what or f"{method} {redact_url(url)}"
        challenges = parse_challenges(response.headers.get("WWW-Authenticate", ""))
        bearer = next((c for c in challenges if c.scheme == "bearer"), None)
        if bearer is not None and bearer.params.get("error") == "insufficient_scope":
            denied = " ".join(bearer.scopes) or " ".join(scopes)
            return AuthError(
                f"{action}: {registry.host} did not grant {denied} to {who} (insufficient "
                f"scope; asked for {' '.join(scopes) or 'no scope'}); ask the registry's "
                f"owner for that access, or use other credentials than those from "
                f"{auth.credentials.source}"
            )
        if any(d.code == "DENIED" for d in details) or response.status == 403:
            return AuthError(
                f"{action}: access denied on {registry.host} as {who} "
                f"(needed {' '.join(scopes) or 'no scope'}): {error}"
            )
        message = "; ".join(d.message or d.code for d in details) or (
            f"{method} {redact_url(url)}: {response.status}"
        )
        hint = (
            "log in with `ocipush login` or pass --username"
            if auth.credentials.anonymous
            else f"check the credentials from {auth.credentials.source}"
        )
        needed = f" (needed {' '.join(scopes)})" if scopes else ""
        failed = AuthError(
            f"{action}: authentication to {registry.host} as {who} failed: {message}{needed}"
        )
        failed.hint = hint
        return failed

    def _transport_error(self, method: str, url: str, exc: Exception) -> TransportError:
        host = urllib.parse.urlsplit(url).netloc
        reason = _reason(exc)
        if isinstance(exc, ConnectTimeoutError):
            return TransportError(
                f"{method} {redact_url(url)}: could not connect to {host} within "
                f"{self._timeouts.connect:.1f} s (connect timeout)",
                timed_out=True,
            )
        if isinstance(exc, TimeoutError):
            # Name the limit that ran out, so the user knows which timeout to raise.
            return TransportError(
                f"{method} {redact_url(url)}: no answer from {host} within "
                f"{self._timeouts.read:.1f} s (read timeout)",
                timed_out=True,
            )
        temporary = not isinstance(exc, SSLError)
        return TransportError(f"{method} {redact_url(url)}: {reason}", temporary=temporary)

    def fetch(self, registry: Registry, path: str, *, scopes: Sequence[str], what: str) -> BinaryIO:
        """Stream a GET (a blob), following redirects to storage without credentials."""
        response = self.request(
            registry, "GET", path, scopes=scopes, stream=True, what=what, expected=(200,)
        )
        return _ResponseReader(response)  # type: ignore[return-value]


class _Unreachable(TransportError):
    """A ping found no server to talk to (refused, reset): try the next scheme."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(_reason(cause))
        self.cause = cause


def _busy(method: str, url: str, response: BaseHTTPResponse) -> RegistryError | None:
    """The temporary error a registry's answer stands for ("not now"), if it is one."""
    if response.status not in TEMPORARY_STATUSES:
        return None
    retry_after = parse_retry_after(response.headers.get("Retry-After"))
    return RegistryError(method=method, url=url, status=response.status, retry_after=retry_after)


def _release(response: BaseHTTPResponse) -> None:
    response.drain_conn()
    response.release_conn()


def _same_host(url: str, registry: Registry) -> bool:
    return urllib.parse.urlsplit(url).netloc.lower() == registry.host


def _reason(exc: BaseException) -> str:
    """The innermost useful reason of a urllib3 error, without its URL."""
    reason: Any = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 prefixes reasons with object reprs; keep the human part.
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text


@dataclass(frozen=True)
class ConnectionOptions:
    """How to reach registries: what a :class:`Transport` is made from, minus the pool.

    Front ends build one from their flags; plugins turn it into a transport with
    :meth:`transport` so that every connection of a run honours the same choices.
    """

    keychain: Keychain | None = None
    insecure: tuple[str, ...] = ()
    allow_credentials_over_http: tuple[str, ...] = ()
    tls: TlsConfig | None = None
    timeouts: Timeouts = Timeouts()
    #: Retries of one idempotent request, and (in the writer) of a whole blob upload.
    retry: RetryPolicy = RetryPolicy()

    def transport(self, *, jobs: int = 4, insecure: Iterable[str] = ()) -> Transport:
        """A transport with these options, plus more hosts allowed plain http."""
        return Transport(
            keychain=self.keychain,
            insecure=(*self.insecure, *insecure),
            allow_credentials_over_http=self.allow_credentials_over_http,
            tls=self.tls,
            jobs=jobs,
            timeouts=self.timeouts,
            retry=self.retry,
        )
