"""The connection layer: pools, proxies, TLS, timeouts, the ``/v2/`` ping, error wording.

A :class:`Connection` sends one request and returns the answer as it came; it knows
nothing of credentials. Its :meth:`Connection.retrying` is where the retry layer
(:class:`~ocipush.registry.retry.RequestRetry`) wraps a request that may be sent again.
Above it, :class:`~ocipush.registry.transport.Transport` is the auth layer.
"""

from __future__ import annotations

import base64
import functools
import ipaddress
import logging
import sys
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import urllib3
from urllib3.exceptions import (
    ConnectTimeoutError,
    NameResolutionError,
    NewConnectionError,
    ProtocolError,
    SSLError,
    TimeoutError,
)
from urllib3.exceptions import HTTPError as Urllib3Error

from ocipush import __version__
from ocipush.errors import (
    TEMPORARY_STATUSES,
    RegistryError,
    RegistryTimeoutError,
    RegistryUnreachableError,
    TlsHandshakeError,
    TransportError,
    UntrustedCertificateError,
)
from ocipush.oci.reference import Registry
from ocipush.registry.answers import check_ping
from ocipush.registry.auth import Challenge, parse_challenges
from ocipush.registry.options import Timeouts
from ocipush.registry.retry import RequestRetry, RetryPolicy, parse_retry_after
from ocipush.registry.tls import TlsConfig

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["USER_AGENT", "Connection", "Timeouts", "bypasses_proxy", "redact_url"]

log = logging.getLogger(__name__)

USER_AGENT = (
    # From the modules already loaded: reading package metadata would cost every start.
    f"ocipush/{__version__} python/{'.'.join(map(str, sys.version_info[:3]))} "
    f"urllib3/{getattr(urllib3, '__version__', 'unknown')}"
)
#: Query parameters that carry no secret and help when reading a log or an error.
_SAFE_QUERY = frozenset({"digest", "mount", "from", "n", "last", "service", "scope"})


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


class Connection:
    """Reaches registries: a pool per scheme and host, with its TLS settings and proxy.

    :param insecure: registry hosts that may be reached over plain http (loopback always may).
    :param tls: CA files, ``certs.d`` directories and verification switches.
    :param proxies: ``{"http": URL, "https": URL, "no": "host,.domain"}``; by default from
        the environment (see :func:`bypasses_proxy`).
    :param jobs: the number of concurrent requests expected; bounds connections per host.
    :param timeouts: connect and read timeouts.
    :param pool: a PoolManager for every request instead of per-host ones.
    :param retry: the retry layer's policy for requests that may be sent again.
    """

    def __init__(
        self,
        *,
        insecure: Iterable[str] = (),
        tls: TlsConfig | None = None,
        proxies: Mapping[str, str] | None = None,
        jobs: int = 4,
        timeouts: Timeouts = Timeouts(),
        pool: urllib3.PoolManager | None = None,
        retry: RetryPolicy = RetryPolicy(),
    ) -> None:
        self.retry = retry
        self._insecure = {Registry.parse(host).host for host in insecure}
        self._tls = tls or TlsConfig()
        self._proxies = (
            _env_proxies() if proxies is None else {k.lower(): v for k, v in proxies.items()}
        )
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
        _redact_urllib3_logs()

    def __repr__(self) -> str:
        return f"<Connection {sorted(self._bases)}>"

    def headers(self, extra: Mapping[str, str]) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, **extra}

    def challenge(self, registry: Registry) -> Challenge | None:
        """The auth challenge ``registry`` answered the ping with (``None``: open)."""
        self.ensure_pinged(registry)
        return self._challenges[registry.host]

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

    def urlopen(self, method: str, url: str, **options: Any) -> BaseHTTPResponse:
        return self._pool_for(url).request(method, url, timeout=self._timeout, **options)

    def retrying(
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
            return self.urlopen("GET", url, headers=self.headers({}), redirect=False)
        except SSLError:
            raise
        except Urllib3Error as exc:
            raise _Unreachable(exc) from None

    # -- registry discovery ---------------------------------------------------------------

    def base_url(self, registry: Registry) -> str:
        """``scheme://host`` for ``registry``, deciding the scheme on first use."""
        self.ensure_pinged(registry)
        return self._bases[registry.host]

    def allows_http(self, registry: Registry) -> bool:
        return registry.is_loopback or registry.host in self._insecure

    def ensure_pinged(self, registry: Registry) -> None:
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
        schemes = ["https", "http"] if self.allows_http(registry) else ["https"]
        last_error: Exception | None = None
        for scheme in schemes:
            url = f"{scheme}://{registry.host}/v2/"
            try:
                response = self.retrying(
                    "GET", url, functools.partial(self._ping_once, url), f"reach {registry.host}"
                )
            except _Unreachable as unreachable:
                last_error = unreachable.cause
                continue
            except SSLError as exc:
                # Only a plain-http server answering a TLS hello justifies trying http;
                # a certificate problem is an error, never a reason to drop TLS.
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    raise self.untrusted(registry, exc) from None
                if scheme == "http" or not self.allows_http(registry):
                    raise self.transport_error("GET", url, exc) from None
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
        raise self.transport_error("GET", f"https://{registry.host}/v2/", last_error) from None

    def untrusted(self, registry: Registry, exc: Exception) -> UntrustedCertificateError:
        host = registry.host
        log.info("TLS verification of %s failed: %s", host, exc)
        return UntrustedCertificateError(
            f"the TLS certificate of registry {host} is not trusted ({_ssl_reason(exc)})",
            host=host,
        )

    def transport_error(self, method: str, url: str, exc: Exception) -> TransportError:
        """``exc`` worded for people: what happened with which registry, no urllib3 text
        (that is logged at ``-v``)."""
        host = urllib.parse.urlsplit(url).netloc
        log.info("%s %s failed: %s", method, redact_url(url), exc)
        if isinstance(exc, NewConnectionError) and not _timed_out(exc):
            # Refused, no route, no such name: urllib3 files these under timeouts.
            return RegistryUnreachableError(
                f"{_failure(exc, host)} ({method} {urllib.parse.urlsplit(redact_url(url)).path})",
                host=host,
                http_allowed=self.allows_http(Registry.parse(host)),
            )
        if isinstance(exc, ConnectTimeoutError):
            seconds = self._timeouts.connect
            return RegistryTimeoutError(
                f"could not connect to registry {host} within {seconds:g} s",
                host=host,
                phase="connect",
                seconds=seconds,
            )
        if isinstance(exc, TimeoutError):
            # Name the limit that ran out, so the user knows which timeout to raise.
            seconds = self._timeouts.read
            return RegistryTimeoutError(
                f"registry {host} did not answer within {seconds:g} s ({method} "
                f"{urllib.parse.urlsplit(redact_url(url)).path})",
                host=host,
                phase="read",
                seconds=seconds,
            )
        if isinstance(exc, SSLError):
            if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                return self.untrusted(Registry.parse(host), exc)
            return TlsHandshakeError(
                f"TLS handshake with registry {host} failed: {_ssl_reason(exc)}", host=host
            )
        allows_http = self.allows_http(Registry.parse(host))
        return RegistryUnreachableError(
            f"{_failure(exc, host)} ({method} {urllib.parse.urlsplit(redact_url(url)).path})",
            host=host,
            http_allowed=allows_http,
        )


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


def _timed_out(exc: BaseException) -> bool:
    return "timed out" in str(exc).lower()


def _failure(exc: BaseException, host: str) -> str:
    """What went wrong with the connection to ``host``, in words."""
    causes: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and len(causes) < 10:
        causes.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else current.__context__
    if any(isinstance(c, ConnectionRefusedError) for c in causes) or "refused" in str(exc):
        return f"connection refused by registry {host} (is it running, on that port?)"
    if any(isinstance(c, NameResolutionError) for c in causes):
        return f"the registry name {host} was not found (DNS)"
    if any(isinstance(c, ConnectionResetError) for c in causes) or "reset" in str(exc):
        return f"registry {host} closed the connection (reset)"
    if any(isinstance(c, ProtocolError) for c in causes):
        return f"registry {host} closed the connection before answering"
    return f"cannot connect to registry {host}: {_reason(exc)}"


def _ssl_reason(exc: BaseException) -> str:
    """An SSL error's own words (``certificate has expired``), without urllib3's prefix."""
    text = _reason(exc)
    inner = text.rsplit("] ", 1)[-1] if "] " in text else text
    return inner.split(" (_ssl.c", 1)[0].strip("() ")


def _reason(exc: BaseException) -> str:
    """The innermost useful reason of a urllib3 error, without its URL."""
    reason: Any = getattr(exc, "reason", None) or exc
    text = str(reason)
    # urllib3 prefixes reasons with object reprs; keep the human part.
    return text.split(": ", 1)[1] if text.startswith("<") and ": " in text else text
