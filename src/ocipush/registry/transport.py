"""The registry client and its auth layer: sessions, credentials, 401 flows, error bodies.

:meth:`Transport.session` gives a :class:`~ocipush.registry.session.Session` for one
repository, its credentials and token scopes resolved once; every request of the session
goes through :meth:`Transport.send`, the auth layer. Below it, the retry layer
(:mod:`ocipush.registry.retry`) repeats idempotent requests and the connection layer
(:mod:`ocipush.registry.connection`) owns pools, proxies, TLS, timeouts and the ping.
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, BinaryIO

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import SSLError

from ocipush.errors import (
    AuthenticationError,
    AuthError,
    PlainHttpCredentialsError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from ocipush.oci.reference import Registry, Repository, is_loopback
from ocipush.registry.answers import check_api_answer
from ocipush.registry.auth import Challenge, HttpResult, RegistryAuth, parse_challenges
from ocipush.registry.connection import Connection, bypasses_proxy, redact_url
from ocipush.registry.credentials import ANONYMOUS, Credentials
from ocipush.registry.options import ConnectionOptions, Timeouts
from ocipush.registry.ratelimit import RateLimitLog, explain_429
from ocipush.registry.retry import parse_retry_after
from ocipush.registry.session import PULL, Access, Session

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

__all__ = ["ConnectionOptions", "Timeouts", "Transport", "bypasses_proxy", "redact_url"]

log = logging.getLogger(__name__)

_ERROR_BODY_LIMIT = 64 * 1024
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_MAX_REDIRECTS = 5


class _StaleTokenError(TransportError):
    """The registry rejected a token mid-request; a new one was fetched, so retry."""


def _body_excerpt(body: bytes) -> str:
    text = body[:200].decode("utf-8", "replace").strip()
    return re.sub(r"\s+", " ", text)


class Transport:
    """The registry client: hands out per-repository sessions and is their auth layer.

    :meth:`session` resolves a repository's credentials once (so ``host/path`` entries of
    a docker config apply); authentication state is kept per registry and credentials, so
    every session using the same credentials shares tokens.

    :param options: how to reach registries (credentials, plain http, TLS, proxies,
        timeouts, retries).
    :param jobs: the number of concurrent requests expected; bounds connections per host.
    :param pool: a PoolManager for every request instead of per-host ones (then ``tls`` and
        ``proxies`` are the pool's business).
    :param clock: seconds since the epoch, for token expiry.
    """

    def __init__(
        self,
        options: ConnectionOptions = ConnectionOptions(),
        *,
        jobs: int = 4,
        pool: urllib3.PoolManager | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.retry = options.retry
        self.connection = Connection(
            insecure=options.insecure,
            tls=options.tls,
            proxies=options.proxies,
            jobs=jobs,
            timeouts=options.timeouts,
            pool=pool,
            retry=options.retry,
        )
        self._keychain = options.keychain
        self._plain_credentials = {
            Registry.parse(host).host for host in options.allow_credentials_over_http
        }
        self._password_grant = options.password_grant
        self._clock = clock
        self._lock = threading.Lock()
        self._auth: dict[tuple[str, Credentials], RegistryAuth] = {}
        self._announced: set[tuple[str, str]] = set()
        self._rate_limits = RateLimitLog()

    def __repr__(self) -> str:
        return f"<Transport {self.connection!r}>"

    def base_url(self, registry: Registry) -> str:
        """``scheme://host`` for ``registry``, deciding the scheme on first use."""
        return self.connection.base_url(registry)

    def credentials(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        """The credentials the keychain gives for ``repository`` (or all of ``registry``)."""
        if self._keychain is None:
            return ANONYMOUS
        found = self._resolve(registry, repository)
        key = (str(repository or registry), found.source)
        with self._lock:
            first = key not in self._announced
            self._announced.add(key)
        if first:
            # INFO, so `-v` says where credentials came from; never what they are.
            log.info("credentials for %s: %s", key[0], found.source)
        return found

    def _resolve(self, registry: Registry, repository: Repository | None) -> Credentials:
        return ANONYMOUS if self._keychain is None else self._keychain.resolve(registry, repository)

    def auth(self, registry: Registry, repository: Repository | None = None) -> RegistryAuth:
        """The authentication state for ``repository``'s credentials on ``registry``."""
        challenge = self.connection.challenge(registry)
        credentials = self.credentials(registry, repository)
        key = (registry.host, credentials)
        with self._lock:
            found = self._auth.get(key)
            if found is None:
                found = self._auth[key] = RegistryAuth(
                    registry.host,
                    challenge,
                    credentials,
                    functools.partial(self._send_auth_request, registry),
                    clock=self._clock,
                    password_grant=self._password_grant,
                )
            return found

    def _renew_basic(self, registry: Registry, auth: RegistryAuth) -> bool:
        """After a 401 to Basic credentials: ask the keychain again, since the password may
        have expired (ECR's ``AWS`` user with a 12-hour password, regclient/regclient#709);
        whether new credentials came."""
        challenge = auth.challenge
        refresh = getattr(self._keychain, "refresh", None)
        if challenge is None or challenge.scheme != "basic" or refresh is None:
            return False
        fresh = refresh(registry)
        if not isinstance(fresh, Credentials) or not auth.renew(fresh):
            return False
        log.info("credentials for %s renewed from %s", registry.host, fresh.source)
        return True

    def session(
        self, repository: Repository, actions: str = PULL, *, also: Iterable[Access] = ()
    ) -> Session:
        """A session for requests to ``repository`` needing ``actions`` (``pull`` or
        ``pull,push``): its credentials and token scopes, resolved once.

        :param also: more access its tokens should carry, so that one token serves a whole
            push (the run's other target repositories, pull on mount sources). Only the
            repositories whose credentials are this one's are kept: a token is granted to
            one set of credentials.
        """
        registry = repository.registry
        auth = self.auth(registry, repository)
        scopes = [repository.scope(actions)]
        for access in also:
            other = access.repository
            if other.registry != registry or access.scope in scopes:
                continue
            # Asked quietly: only the session's own source is worth a line at -v.
            if other == repository or self._resolve(registry, other) == auth.credentials:
                scopes.append(access.scope)
        return Session(self, repository, auth, tuple(scopes))

    def verify_credentials(self, registry: Registry) -> Credentials:
        """Check that the keychain's credentials for ``registry`` are accepted (for ``login``).

        :raises AuthError: naming the registry, the user and the registry's message.
        """
        auth = self.auth(registry)
        if auth.realm is not None:
            auth.verify()
        elif auth.challenge is not None:
            self.send(registry, auth, (), "GET", "/v2/", what="log in")
        return auth.credentials

    # -- requests -------------------------------------------------------------------------

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
                return self.connection.urlopen(
                    method, url, headers=self.connection.headers(headers), body=body, redirect=False
                )
            except SSLError as exc:
                if "CERTIFICATE_VERIFY_FAILED" in str(exc):
                    realm = Registry.parse(urllib.parse.urlsplit(url).netloc)
                    raise self.connection.untrusted(realm, exc) from None
                raise self.connection.transport_error(method, url, exc) from None
            except Urllib3Error as exc:
                raise self.connection.transport_error(method, url, exc) from None

        # Token requests are idempotent (a password grant too): the retry layer repeats them.
        response = self.connection.retrying(method, url, send, "get a token")
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

    def send(
        self,
        registry: Registry,
        auth: RegistryAuth,
        scopes: Sequence[str],
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | BinaryIO | None = None,
        expected: Collection[int] = (200,),
        stream: bool = False,
        what: str = "",
        api: bool = True,
        idempotent: bool | None = None,
        reauthenticate: bool = True,
    ) -> BaseHTTPResponse:
        """The auth layer: send a request with ``auth``'s credentials for ``scopes``, handle
        a 401, and return the response if its status is expected. Callers go through a
        :class:`~ocipush.registry.session.Session`, which holds ``auth`` and ``scopes``.

        :param url: a path starting with ``/v2/``, or an absolute URL (an upload
            ``Location``), which gets credentials only when it is on the registry's host.
        :param body: bytes, or an iterable/reader sent as is (then the request cannot be
            repeated after a 401, so callers fetch tokens first: ``Session.prepare``).
        :param stream: leave the body unread, for the caller to stream.
        :param what: the operation, for error messages ("upload blob sha256:...").
        :param api: the answer must be the registry API, so an HTML page is an error even
            with an expected status (off for probes that may land on a web page).
        :param idempotent: whether sending the request twice does no harm, so the retry
            layer may repeat it (by default: ``GET`` and ``HEAD``). Callers say so for a
            manifest PUT by digest and a blob commit PUT. Only a bytes body can be repeated.
        :param reauthenticate: after a 401, ask the token server again (for the scopes the
            challenge names) and repeat. Off for a request whose refusal has a fallback, such
            as a mount: its source's scope was asked for once, and asking again is not
            granted either (Docker Hub, google/go-containerregistry#1404).
        :raises RegistryError: for an unexpected status, with the registry's error codes.
        :raises TransportError: when the connection fails or times out.
        """
        base = self.connection.base_url(registry)
        full_url = urllib.parse.urljoin(base + "/", url)
        replayable = body is None or isinstance(body, bytes)
        if idempotent is None:
            idempotent = method in ("GET", "HEAD")
        for attempt in range(2):
            send = functools.partial(
                self._send, registry, method, full_url, auth, scopes, headers or {}, body
            )
            try:
                if idempotent and replayable:
                    response = self.connection.retrying(
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
            if response.status == 401 and attempt == 0 and reauthenticate:
                if self._renew_basic(registry, auth):
                    response.drain_conn()
                    response.release_conn()
                    if replayable:
                        continue
                    raise _StaleTokenError(
                        f"{what or method}: {registry.host} refused the password; got a new "
                        "one from the credential source, retrying"
                    )
                widened = _reauthenticate(auth, response, scopes) if replayable else None
                if widened is not None:
                    response.drain_conn()
                    response.release_conn()
                    scopes = widened
                    continue
                if not replayable and _token_went_stale(auth, response, scopes):
                    response.drain_conn()
                    response.release_conn()
                    # The body is spent: the caller's retry sends it again with the new token.
                    raise _StaleTokenError(
                        f"{what or method}: {registry.host} rejected the token as no longer "
                        "valid; fetched a new one, retrying"
                    )
            break
        self._rate_limits.note(registry.host, response.headers)
        if response.status in expected:
            if api:
                body = b"" if stream else response.data
                check_api_answer(
                    method, redact_url(full_url), response.status, response.headers, body, what
                )
            return response
        raise _error(registry, method, full_url, response, what, scopes, auth)

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
            request_headers = self.connection.headers(headers)
            if _same_host(url, registry):
                authorization = auth.header(scopes)
                if authorization is not None:
                    self._check_credentials_allowed(registry, url)
                    request_headers["Authorization"] = authorization
            log.debug("%s %s", method, redact_url(url))
            try:
                response = self.connection.urlopen(
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
                raise self.connection.transport_error(method, url, exc) from None
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
        raise PlainHttpCredentialsError(
            f"refusing to send credentials for {registry.host} over plain http to "
            f"{parts.netloc}: anyone on the network could read them; use https",
            host=registry.host,
        )


def _bearer_challenge(auth: RegistryAuth, response: BaseHTTPResponse) -> Challenge | None:
    """The bearer challenge of a 401; without any, the one ``/v2/`` gave (its scope left
    out: GHCR's names a placeholder), since GCR and Artifact Registry send 401s without
    ``WWW-Authenticate`` everywhere but on ``/v2/`` (containers/image docker_client.go)."""
    header = response.headers.get("WWW-Authenticate", "")
    if not header.strip():
        return Challenge("bearer") if auth.realm is not None else None
    return next((c for c in parse_challenges(header) if c.scheme == "bearer"), None)


def _token_went_stale(
    auth: RegistryAuth, response: BaseHTTPResponse, scopes: Sequence[str]
) -> bool:
    """After a 401 to a request that cannot be repeated: was it an expired token?

    If so a new one is fetched now. A missing scope is not staleness and is reported.
    """
    bearer = _bearer_challenge(auth, response)
    if bearer is None or auth.realm is None or auth.credentials.registry_token:
        return False
    if bearer.params.get("error") == "insufficient_scope":
        return False
    auth.token(scopes, force=True)
    return True


def _reauthenticate(
    auth: RegistryAuth, response: BaseHTTPResponse, scopes: Sequence[str]
) -> list[str] | None:
    """After a 401, fetch a new token once, adding any new scopes the registry names.

    :return: the scopes to repeat the request with, or ``None`` if there is no point.
    """
    bearer = _bearer_challenge(auth, response)
    if bearer is None or auth.realm is None or auth.credentials.registry_token:
        return None
    wanted = list(scopes) + [s for s in bearer.scopes if s not in scopes]
    auth.token(wanted, force=True)
    return wanted


def _error(
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
    if response.status == 429:
        error.hint = explain_429(registry.host, response.headers, error.retry_after)
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
    needed = f" (needed {' '.join(scopes)})" if scopes else ""
    return AuthenticationError(
        f"{action}: authentication to {registry.host} as {who} failed: {message}{needed}",
        host=registry.host,
        anonymous=auth.credentials.anonymous,
        source=auth.credentials.source,
    )


def _same_host(url: str, registry: Registry) -> bool:
    return urllib.parse.urlsplit(url).netloc.lower() == registry.host
