"""Registry authentication: challenges, Basic, and Bearer token exchange with a cache.

The registry says how it wants to be authenticated in the ``WWW-Authenticate`` header of
its answer to ``GET /v2/``. Basic credentials go with every request to the registry; for
Bearer, credentials go only to the token realm, and the token it returns goes to the
registry. Tokens are cached per registry and scope set until they expire, so a push with
many tags costs one exchange.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from ocipush.errors import AuthenticationError, AuthError, RegistryErrorDetail
from ocipush.registry.credentials import Credentials

__all__ = [
    "Challenge",
    "HttpResult",
    "RegistryAuth",
    "Token",
    "parse_challenges",
]

log = logging.getLogger(__name__)

#: Refresh a token this many seconds before it expires, so it never expires in flight.
_EXPIRY_MARGIN = 10.0
#: The user name that marks a password as a refresh token (ACR, after Docker's "<token>").
REFRESH_TOKEN_USER = "00000000-0000-0000-0000-000000000000"  # noqa: S105 (a user name)
#: Answers to an OAuth2 password grant from a server that wants a GET (containerd's list).
_NO_PASSWORD_GRANT = frozenset({400, 401, 404, 405})
#: The token spec's default lifetime when the server does not say.
_DEFAULT_EXPIRES_IN = 60


@dataclass(frozen=True)
class Challenge:
    """One challenge of a ``WWW-Authenticate`` header; ``scheme`` is lowercase."""

    scheme: str
    params: Mapping[str, str] = field(default_factory=dict)

    @property
    def scopes(self) -> tuple[str, ...]:
        """The scopes asked for; several may share one space-separated ``scope`` value."""
        return tuple(self.params.get("scope", "").split())


def _skip_spaces(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t":
        pos += 1
    return pos


def _read_token(text: str, pos: int) -> tuple[str, int]:
    start = pos
    while pos < len(text) and text[pos] not in ' \t,="':
        pos += 1
    return text[start:pos], pos


def _read_quoted(text: str, pos: int) -> tuple[str, int]:
    """Read a quoted string starting after its opening quote; tolerates a missing close."""
    out = []
    while pos < len(text):
        char = text[pos]
        if char == "\\" and pos + 1 < len(text):
            out.append(text[pos + 1])
            pos += 2
            continue
        if char == '"':
            return "".join(out), pos + 1
        out.append(char)
        pos += 1
    return "".join(out), pos


def parse_challenges(header: str) -> list[Challenge]:
    """Parse a ``WWW-Authenticate`` value into its challenges. Never raises.

    ``Bearer realm="https://auth.example/token",service="reg",scope="repository:a:pull"``
    gives one challenge; a header may carry several (``Basic realm="r", Bearer ...``).
    Malformed parts are skipped rather than trusted.
    """
    challenges: list[Challenge] = []
    pos = 0
    scheme: str | None = None
    params: dict[str, str] = {}
    while pos < len(header):
        pos = _skip_spaces(header, pos)
        if pos < len(header) and header[pos] == ",":
            pos += 1
            continue
        word, end = _read_token(header, pos)
        if not word:
            pos = end + 1  # a stray quote or '=': skip it
            continue
        after = _skip_spaces(header, end)
        if after < len(header) and header[after] == "=" and scheme is not None:
            value_pos = _skip_spaces(header, after + 1)
            if value_pos < len(header) and header[value_pos] == '"':
                value, pos = _read_quoted(header, value_pos + 1)
            else:
                value, pos = _read_token(header, value_pos)
            params[word.lower()] = value
            continue
        if scheme is not None:
            challenges.append(Challenge(scheme, params))
        scheme, params, pos = word.lower(), {}, end
    if scheme is not None:
        challenges.append(Challenge(scheme, params))
    return challenges


@dataclass(frozen=True)
class HttpResult:
    """What an auth request returned: status, headers (lowercase keys) and body."""

    status: int
    headers: Mapping[str, str]
    # A token server's answer holds tokens: keep it out of reprs.
    body: bytes = field(repr=False)


#: Sends a request for the authenticator: (method, url, headers, body) -> result.
Send = Callable[[str, str, Mapping[str, str], bytes | None], HttpResult]


@dataclass(frozen=True)
class Token:
    """A bearer token and when to stop using it. The value stays out of ``repr``."""

    value: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    issued_at: float | None = None

    def fresh(self, now: float) -> bool:
        # Short-lived tokens (a few seconds) would never count as fresh with a fixed margin,
        # and every request would cost an exchange: the margin is at most half the lifetime.
        margin = _EXPIRY_MARGIN
        if self.issued_at is not None:
            margin = min(margin, (self.expires_at - self.issued_at) / 2)
        return now < self.expires_at - margin


def _registry_message(body: bytes) -> str:
    """The human part of a token server's or registry's error body, if any."""
    try:
        obj = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        text = body.decode("utf-8", "replace").strip()
        return text[:200]
    details = RegistryErrorDetail.parse_body(body)
    if details:
        return details[0].message or details[0].code
    if isinstance(obj, dict):
        for key in ("details", "error_description", "message", "error"):
            if isinstance(obj.get(key), str):
                return str(obj[key])
    return ""


class RegistryAuth:
    """Authentication state for one registry and one set of credentials.

    :param host: the registry host, for messages.
    :param challenge: what the registry asked for in its answer to ``GET /v2/``.
    :param credentials: what to authenticate with.
    :param send: sends requests to the token realm (the transport decides TLS and proxies).
    :param clock: seconds since the epoch; injectable to test token expiry.
    :param client_id: the OAuth2 ``client_id``.
    :param password_grant: exchange a user name and password with an OAuth2 POST
        (``grant_type=password``) instead of a GET with Basic credentials. Off by default,
        since only some token servers accept it; a 404 falls back to GET.
    """

    def __init__(
        self,
        host: str,
        challenge: Challenge | None,
        credentials: Credentials,
        send: Send,
        *,
        clock: Callable[[], float] = time.time,
        client_id: str = "ocipush",
        password_grant: bool = False,
    ) -> None:
        self.host = host
        self.challenge = challenge
        self.credentials = credentials
        self._send = send
        self._clock = clock
        self._client_id = client_id
        self._password_grant = password_grant
        self._tokens: dict[frozenset[str], Token] = {}
        #: The latest refresh token the server gave, reused for every later scope set.
        self._refresh_token: str | None = None
        # Reentrant: error messages built during an exchange scrub the secrets it holds.
        self._lock = threading.RLock()

    def __repr__(self) -> str:
        return f"<RegistryAuth {self.host} {self.credentials.source}>"

    def secrets(self) -> tuple[str, ...]:
        """Every secret this state holds (credentials and tokens), for redaction."""
        with self._lock:
            tokens = [t.value for t in self._tokens.values()]
            tokens += [t.refresh_token for t in self._tokens.values() if t.refresh_token]
            if self._refresh_token:
                tokens.append(self._refresh_token)
        return (*self.credentials.secrets(), *tokens)

    def scrub(self, text: str) -> str:
        """``text`` with every secret this state knows replaced by ``<hidden>``."""
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "<hidden>")
        return text

    @property
    def who(self) -> str:
        """The user name for messages; identity tokens and registry tokens have none."""
        creds = self.credentials
        if creds.username:
            return creds.username
        if creds.identity_token or creds.registry_token:
            return f"the token from {creds.source}"
        return "anonymous"

    def renew(self, credentials: Credentials) -> bool:
        """Use ``credentials`` from now on, if they are new; whether they were."""
        with self._lock:
            if credentials == self.credentials or credentials.anonymous:
                return False
            self.credentials = credentials
            self._tokens.clear()
            self._refresh_token = None
            return True

    def verify(self) -> None:
        """Check the credentials with a token exchange for no scope (``login`` does this).

        :raises AuthError: when the token server rejects them.
        """
        if self.realm is not None:
            self.token([], force=True)

    @property
    def realm(self) -> str | None:
        if self.challenge is None or self.challenge.scheme != "bearer":
            return None
        return self.challenge.params.get("realm")

    def header(self, scopes: Sequence[str]) -> str | None:
        """The ``Authorization`` value for a request needing ``scopes``, or ``None``."""
        creds = self.credentials
        if creds.registry_token:
            return f"Bearer {creds.registry_token}"
        if self.challenge is None:
            return None
        if self.challenge.scheme == "basic":
            if creds.username is None or creds.password is None:
                return None
            return "Basic " + _basic(creds.username, creds.password)
        if self.challenge.scheme == "bearer":
            return "Bearer " + self.token(scopes).value
        return None

    def token(self, scopes: Sequence[str], *, force: bool = False) -> Token:
        """A fresh token for ``scopes``, from the cache unless ``force``."""
        key = frozenset(scopes)
        with self._lock:
            cached = self._tokens.get(key)
            if cached is not None and not force and cached.fresh(self._clock()):
                return cached
            token = self._exchange(list(scopes), cached)
            self._tokens[key] = token
            return token

    def _exchange(self, scopes: list[str], previous: Token | None) -> Token:
        realm = self.realm
        if not realm:
            raise AuthError(
                f"{self.host} asked for a bearer token but gave no token realm in its "
                "WWW-Authenticate header; the registry is misconfigured, tell its operator"
            )
        log.debug("token exchange with %s for %s", _safe_url(realm), " ".join(scopes) or "-")
        service = self.challenge.params.get("service", "") if self.challenge else ""
        creds = self.credentials
        refresh = (
            (previous.refresh_token if previous else None)
            or self._refresh_token
            or creds.identity_token
            # ACR's `az acr login --expose-token`: this user name says the password is a
            # refresh token, for the OAuth2 refresh flow (Azure/acr docs/AAD-OAuth.md).
            or (creds.password if creds.username == REFRESH_TOKEN_USER else None)
        )
        username, password = creds.username, creds.password
        has_password = username is not None and password is not None
        if refresh:
            result = self._oauth2(realm, service, scopes, "refresh_token", refresh_token=refresh)
            # A server that only knows GET says 404; a stale refresh token is worth one
            # try with the password before giving up.
            if result.status == 404 or (result.status == 401 and has_password):
                result = self._get_token(realm, service, scopes)
        elif self._password_grant and username is not None and password is not None:
            result = self._oauth2(
                realm,
                service,
                scopes,
                "password",
                username=username,
                password=password,
                access_type="offline",
            )
            if result.status in _NO_PASSWORD_GRANT:
                # Only some servers take the password grant (ACR answers 400): GET from now on.
                self._password_grant = False
                result = self._get_token(realm, service, scopes)
        else:
            result = self._get_token(realm, service, scopes)
        token = self._token_from(result, realm, scopes)
        if token.refresh_token:
            self._refresh_token = token.refresh_token
        return token

    def _get_token(self, realm: str, service: str, scopes: list[str]) -> HttpResult:
        query = [("service", service)] if service else []
        query += [("scope", scope) for scope in scopes]
        url = realm + ("&" if "?" in realm else "?") + urllib.parse.urlencode(query)
        headers: dict[str, str] = {}
        creds = self.credentials
        if creds.username is not None and creds.password is not None:
            headers["Authorization"] = "Basic " + _basic(creds.username, creds.password)
        return self._send("GET", url, headers, None)

    def _oauth2(
        self, realm: str, service: str, scopes: list[str], grant_type: str, **extra: str
    ) -> HttpResult:
        form = {
            "grant_type": grant_type,
            "service": service,
            "client_id": self._client_id,
            "scope": " ".join(scopes),
            **extra,
        }
        body = urllib.parse.urlencode(form).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return self._send("POST", realm, headers, body)

    def _not_permitted(self, result: HttpResult, scopes: list[str]) -> AuthError:
        """A 403 from the token server: the credentials were accepted, the access was not
        (ghcr.io answers 403 DENIED to ``pull,push`` where only pull is granted,
        cloudflare/serverless-registry#148)."""
        message = self.scrub(_registry_message(result.body)) or f"HTTP {result.status}"
        error = AuthError(
            f"{self.who} may not {_denied_access(scopes)} on {self.host}: {message} (the "
            f"credentials from {self.credentials.source} were accepted, the permission is "
            "missing)"
        )
        error.hint = (
            "ask the repository's owner for that access; a GitHub token needs the "
            "write:packages permission (`permissions: packages: write` in a workflow)"
            if self.host == "ghcr.io"
            else "ask the repository's owner for that access, or use other credentials"
        )
        return error

    def _token_from(self, result: HttpResult, realm: str, scopes: list[str]) -> Token:
        if result.status == 403 and not self.credentials.anonymous:
            raise self._not_permitted(result, scopes)
        if result.status in (401, 403):
            message = self.scrub(_registry_message(result.body)) or f"HTTP {result.status}"
            raise AuthenticationError(
                f"authentication to {self.host} as {self.who} failed: {message}",
                host=self.host,
                anonymous=self.credentials.anonymous,
                source=self.credentials.source,
            )
        if result.status != 200:
            raise AuthError(
                f"token server {_safe_url(realm)} answered {result.status} for "
                f"{' '.join(scopes) or 'no scope'}: "
                f"{self.scrub(_registry_message(result.body))}"
            )
        try:
            obj = json.loads(result.body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            obj = None
        value = obj.get("token") or obj.get("access_token") if isinstance(obj, dict) else None
        if not isinstance(value, str) or not value:
            raise AuthError(f"token server {_safe_url(realm)} returned no token")
        assert isinstance(obj, dict)
        expires_in = obj.get("expires_in")
        if not isinstance(expires_in, int) or expires_in <= 0:
            expires_in = _DEFAULT_EXPIRES_IN
        refresh = obj.get("refresh_token")
        now = self._clock()
        return Token(
            value,
            now + expires_in,
            refresh if isinstance(refresh, str) and refresh else None,
            issued_at=now,
        )


def _denied_access(scopes: Sequence[str]) -> str:
    """What the refused scopes asked, in words: "push to a/b", "pull from a/b"."""
    wanted = []
    for scope in scopes:
        kind, _, rest = scope.partition(":")
        name, _, actions = rest.rpartition(":")
        if kind == "repository" and name:
            verb = "push to" if "push" in actions.split(",") else "pull from"
            wanted.append(f"{verb} {name}")
    return ", ".join(wanted) or "use " + (" ".join(scopes) or "the registry")


def _basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


def _safe_url(url: str) -> str:
    """``url`` without its query string, for messages."""
    return url.split("?", 1)[0]
