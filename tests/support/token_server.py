"""A small token server (Docker token spec) for registries in token-auth mode.

It signs ES256 JWTs with a P-256 key whose self-signed certificate is the registry's
``rootcertbundle``; the certificate travels in the JWT ``x5c`` header, which is how
distribution 2.8 finds the key. It grants exactly what it is configured for and records
every request so tests can count token exchanges.

Typical use (``local_registry_factory`` comes from :mod:`ocipush.testing`)::

    with TokenServer(tmp_path, users={"alice": "pw"}, grants={"alice": {"a/*": {"pull"}}}) as ts:
        registry = local_registry_factory(token=ts.token_auth)
"""

from __future__ import annotations

import base64
import datetime
import fnmatch
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.x509.oid import NameOID

from ocipush.testing import TokenAuth

__all__ = ["TokenRequest", "TokenServer"]

STOP_TIMEOUT = 5.0
_P256_COORDINATE_BYTES = 32

Grants = Mapping[str | None, Mapping[str, Iterable[str]]]


@dataclass(frozen=True)
class TokenRequest:
    """One request to the token endpoint, as a test would want to count it.

    :ivar scopes: the scopes asked for, in order (GET ``scope`` parameters or the POST
        form's space-separated ``scope``).
    :ivar grant_type: the OAuth2 ``grant_type`` of a POST; ``None`` for GET.
    :ivar basic_auth: whether an ``Authorization: Basic`` header was sent.
    :ivar username: who was authenticated, ``None`` when anonymous or rejected.
    """

    method: str
    service: str | None
    scopes: tuple[str, ...]
    grant_type: str | None
    basic_auth: bool
    username: str | None
    status: int


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class _Rejected(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


class TokenServer:
    """Issues registry tokens on ``127.0.0.1`` and a free port; ``realm`` is its endpoint.

    :param directory: where the signing certificate (the ``rootcertbundle``) is written.
    :param grants: user name (``None`` for anonymous) to repository pattern
        (:mod:`fnmatch` syntax) to the actions allowed there. A token holds the intersection
        of what was asked and what is allowed.
    :param users: user name to password, checked for Basic auth and the password grant.
    :param expires_in: token lifetime in seconds, also reported as ``expires_in``.
    :param refresh_tokens: issue a ``refresh_token`` when the client asks for one
        (``offline_token=true`` on GET, ``access_type=offline`` on POST).
    :param oauth: answer the OAuth2 POST form; when false, POST gets 404 as on servers that
        only know GET.
    """

    def __init__(
        self,
        directory: Path,
        *,
        grants: Grants,
        users: Mapping[str, str] | None = None,
        service: str = "ocipush-test-registry",
        issuer: str = "ocipush-test-token-issuer",
        expires_in: int = 300,
        refresh_tokens: bool = False,
        oauth: bool = True,
    ) -> None:
        self.service = service
        self.issuer = issuer
        self.expires_in = expires_in
        self._grants = {
            user: {repo: set(actions) for repo, actions in by_repo.items()}
            for user, by_repo in grants.items()
        }
        self._users = dict(users or {})
        self._refresh_tokens_enabled = refresh_tokens
        self._oauth = oauth
        self._refresh_tokens: dict[str, str] = {}
        self._lock = threading.Lock()
        self._requests: list[TokenRequest] = []
        self._key = ec.generate_private_key(ec.SECP256R1())
        self._certificate = self._self_signed_certificate()
        directory.mkdir(parents=True, exist_ok=True)
        self.rootcertbundle = directory / "token-signing.crt"
        self.rootcertbundle.write_bytes(self._certificate.public_bytes(serialization.Encoding.PEM))
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- where it is --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError(
                "TokenServer: not started; call start() or use it as a context manager"
            )
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    @property
    def realm(self) -> str:
        return f"{self.url}/token"

    @property
    def token_auth(self) -> TokenAuth:
        """The ``token=`` option for :class:`ocipush.testing.LocalRegistry`."""
        return TokenAuth(self.realm, self.service, self.issuer, self.rootcertbundle)

    @property
    def requests(self) -> list[TokenRequest]:
        """A snapshot of every request so far, oldest first."""
        with self._lock:
            return list(self._requests)

    # -- tokens -------------------------------------------------------------------------------

    def refresh_token_for(self, username: str) -> str:
        """A refresh token for ``username``, as the server would hand out for an offline
        login (ACR's ``az acr login --expose-token`` gives one to use as a password)."""
        refresh = secrets.token_urlsafe(16)
        with self._lock:
            self._refresh_tokens[refresh] = username
        return refresh

    def issue(self, username: str | None, scopes: Iterable[str]) -> str:
        """A signed token for ``username`` holding the granted part of ``scopes``."""
        now = int(time.time())
        header = {"typ": "JWT", "alg": "ES256", "x5c": [self._certificate_der_b64()]}
        claims = {
            "iss": self.issuer,
            "sub": username or "",
            # distribution 2.8 compares aud as a single string.
            "aud": self.service,
            "iat": now,
            "nbf": now,
            "exp": now + self.expires_in,
            "jti": secrets.token_hex(8),
            "access": self.granted(username, scopes),
        }
        signing_input = ".".join(
            _b64url(json.dumps(part, separators=(",", ":")).encode()) for part in (header, claims)
        )
        r, s = decode_dss_signature(
            self._key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
        )
        # JWS wants the raw r||s pair, not the DER structure cryptography returns.
        signature = r.to_bytes(_P256_COORDINATE_BYTES, "big") + s.to_bytes(
            _P256_COORDINATE_BYTES, "big"
        )
        return f"{signing_input}.{_b64url(signature)}"

    def granted(self, username: str | None, scopes: Iterable[str]) -> list[dict[str, object]]:
        """The ``access`` claim for these scopes: only repositories, only allowed actions."""
        allowed_by_pattern = self._grants.get(username, {})
        access: list[dict[str, object]] = []
        for scope in scopes:
            kind, _, rest = scope.partition(":")
            # The name may hold host:port, so the actions are after the last colon.
            name, _, actions = rest.rpartition(":")
            if kind != "repository" or not name:
                continue
            allowed = set().union(
                *(
                    acts
                    for pattern, acts in allowed_by_pattern.items()
                    if fnmatch.fnmatchcase(name, pattern)
                )
            )
            granted = sorted(set(actions.split(",")) & allowed)
            if granted:
                access.append({"type": "repository", "name": name, "actions": granted})
        return access

    def _certificate_der_b64(self) -> str:
        return base64.b64encode(self._certificate.public_bytes(serialization.Encoding.DER)).decode()

    def _self_signed_certificate(self) -> x509.Certificate:
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ocipush test token signer")])
        now = datetime.datetime.now(datetime.timezone.utc)
        return (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self._key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=7))
            .sign(self._key, hashes.SHA256())
        )

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> TokenServer:
        token_server = self

        class Handler(_TokenHandler):
            server_owner = token_server

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT)
        self._server = None

    def __enter__(self) -> TokenServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    # -- request handling ---------------------------------------------------------------------

    def _basic_user(self, authorization: str) -> str | None:
        """The user named by valid Basic credentials; rejects invalid ones."""
        scheme, _, encoded = authorization.partition(" ")
        try:
            username, _, password = base64.b64decode(encoded).decode().partition(":")
        except ValueError:
            raise _Rejected(400, "malformed Basic credentials") from None
        if scheme.lower() != "basic" or self._users.get(username) != password:
            raise _Rejected(401, "invalid username or password")
        return username

    def _answer_get(
        self, query: Mapping[str, list[str]], authorization: str
    ) -> tuple[str | None, dict[str, object]]:
        username = self._basic_user(authorization) if authorization else None
        scopes = query.get("scope", [])
        offline = query.get("offline_token", [""])[0].lower() == "true"
        return username, self._token_response(username, scopes, offline=offline)

    def _answer_post(self, form: Mapping[str, list[str]]) -> tuple[str | None, dict[str, object]]:
        if not self._oauth:
            raise _Rejected(404, "this server only answers GET")
        grant_type = form.get("grant_type", [""])[0]
        if grant_type == "password":
            username = form.get("username", [""])[0]
            if self._users.get(username) != form.get("password", [""])[0]:
                raise _Rejected(401, "invalid username or password")
        elif grant_type == "refresh_token":
            with self._lock:
                found = self._refresh_tokens.get(form.get("refresh_token", [""])[0])
            if found is None:
                raise _Rejected(401, "unknown refresh token")
            username = found
        else:
            raise _Rejected(400, f"unsupported grant_type {grant_type!r}")
        scopes = form.get("scope", [""])[0].split()
        offline = form.get("access_type", [""])[0] == "offline"
        return username, self._token_response(
            username, scopes, offline=offline or grant_type == "refresh_token"
        )

    def _token_response(
        self, username: str | None, scopes: list[str], *, offline: bool
    ) -> dict[str, object]:
        token = self.issue(username, scopes)
        response: dict[str, object] = {
            "token": token,
            "access_token": token,
            "expires_in": self.expires_in,
            "issued_at": datetime.datetime.now(datetime.timezone.utc).isoformat(),
        }
        if offline and self._refresh_tokens_enabled and username is not None:
            refresh = secrets.token_urlsafe(16)
            with self._lock:
                self._refresh_tokens[refresh] = username
            response["refresh_token"] = refresh
        return response

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self._requests.append(request)


class _TokenHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_owner: TokenServer

    def log_message(self, format: str, *args: object) -> None:
        """Silent: tests read :attr:`TokenServer.requests` instead."""

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        authorization = self.headers.get("Authorization", "")
        self._handle(
            parts.path,
            service=query.get("service", [None])[0],
            scopes=tuple(query.get("scope", [])),
            grant_type=None,
            answer=lambda: self.server_owner._answer_get(query, authorization),
        )

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        form = parse_qs(self.rfile.read(length).decode())
        self._handle(
            urlsplit(self.path).path,
            service=form.get("service", [None])[0],
            scopes=tuple(form.get("scope", [""])[0].split()),
            grant_type=form.get("grant_type", [None])[0],
            answer=lambda: self.server_owner._answer_post(form),
        )

    def _handle(
        self,
        path: str,
        *,
        service: str | None,
        scopes: tuple[str, ...],
        grant_type: str | None,
        answer: Callable[[], tuple[str | None, dict[str, object]]],
    ) -> None:
        owner = self.server_owner
        username: str | None = None
        try:
            if path != "/token":
                raise _Rejected(404, f"no endpoint {path!r}; tokens are served at /token")
            if service != owner.service:
                raise _Rejected(400, f"unknown service {service!r}; expected {owner.service!r}")
            username, body = answer()
            status = 200
        except _Rejected as rejected:
            status, body = rejected.status, {"error": rejected.error}
        basic_auth = self.headers.get("Authorization", "").lower().startswith("basic ")
        # Recorded before answering, so a client holding the answer finds the request listed.
        owner._record(
            TokenRequest(self.command, service, scopes, grant_type, basic_auth, username, status)
        )
        payload = json.dumps(body).encode()
        self.send_response_only(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        if status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="ocipush-test-token-server"')
        self.end_headers()
        self.wfile.write(payload)
