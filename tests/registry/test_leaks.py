"""Secrets stay secret: not in logs at any level, not in errors, not in reprs, not on the wire
to a host that is not the registry or its token realm, not over plain http off loopback."""

from __future__ import annotations

import logging
import re

import pytest
import urllib3
from urllib3.exceptions import SSLError

from ocipush.cli import main
from ocipush.cli.remedies import remedy
from ocipush.errors import AuthError, OcipushError, PlainHttpCredentialsError
from ocipush.oci.reference import Registry, Repository, parse_reference
from ocipush.registry.auth import Token
from ocipush.registry.keychain import Credentials, StaticKeychain
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_image
from support.proxy import Respond

USER, PASSWORD = "alice", "leak-test-Pa55word"
NO_RETRY = RetryPolicy(attempts=1)


@pytest.fixture
def debug_logs(caplog):
    caplog.set_level(logging.DEBUG, logger="ocipush")
    caplog.set_level(logging.DEBUG, logger="urllib3")
    return caplog


def _writer(keychain, jobs: int = 4, **options) -> Writer:
    options.setdefault("proxies", {})
    transport = Transport(ConnectionOptions(keychain=keychain, **options), jobs=jobs)
    return Writer(transport, jobs=jobs, retry=NO_RETRY)


def _all_secrets(writer: Writer, host: str, repo: str) -> list[str]:
    auth = writer.transport.session(parse_reference(f"{host}/{repo}").repository).auth
    return [s for s in auth.secrets() if s]


def test_token_push_at_debug_logs_no_password_token_or_upload_state(
    token_registry_factory, repo_name, debug_logs
):
    registry, _ = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    keychain = StaticKeychain({registry.host: Credentials(USER, PASSWORD, source="test")})
    writer = _writer(keychain)

    writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), make_image({"a": b"a"}))

    secrets = _all_secrets(writer, registry.host, repo_name)
    assert PASSWORD in secrets
    assert len(secrets) >= 2  # the password and at least one token
    text = debug_logs.text
    assert "PATCH" in text or "PUT" in text  # the log is really at debug
    for secret in secrets:
        assert secret not in text
    # Upload URLs carry signed state: never in a log line, from us or from urllib3.
    assert not re.search(r"_state=(?!\*\*\*)", text)
    assert "_state=***" in text
    assert PASSWORD not in repr(writer.transport)


def test_a_denied_push_error_holds_no_secret(token_registry_factory, repo_name, debug_logs):
    registry, _ = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull"}}}
    )
    keychain = StaticKeychain({registry.host: Credentials(USER, PASSWORD, source="test")})
    writer = _writer(keychain)
    with pytest.raises(OcipushError) as caught:
        writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), make_image({}))
    for secret in _all_secrets(writer, registry.host, repo_name):
        assert secret not in str(caught.value)
        assert secret not in repr(caught.value)
        assert secret not in debug_logs.text


def test_a_wrong_basic_password_is_not_repeated_anywhere(htpasswd_registry, repo_name, debug_logs):
    wrong = "wrong-Pa55word-xyz"
    keychain = StaticKeychain(
        {htpasswd_registry.host: Credentials(HTPASSWD_USER, wrong, source="test")}
    )
    with pytest.raises(AuthError) as caught:
        _writer(keychain).write(
            parse_reference(f"{htpasswd_registry.host}/{repo_name}:v1"), make_image({})
        )
    assert f"authentication to {htpasswd_registry.host} as {HTPASSWD_USER} failed" in str(
        caught.value
    )
    assert wrong not in str(caught.value)
    assert wrong not in debug_logs.text


def test_reprs_hide_secrets():
    creds = Credentials(USER, PASSWORD, identity_token="idtok-123", registry_token="regtok-456")
    token = Token("tok-789", 0.0, refresh_token="refresh-000")
    for text in (repr(creds), repr(token), repr(StaticKeychain({"r.example": creds}))):
        for secret in (PASSWORD, "idtok-123", "regtok-456", "tok-789", "refresh-000"):
            assert secret not in text


def test_an_upload_location_on_another_host_gets_no_authorization(
    htpasswd_registry, proxy_factory, repo_name
):
    """The registry never points uploads elsewhere, so the proxy in front of it does."""
    elsewhere = proxy_factory(None)
    elsewhere.route(None, r".*", lambda request: Respond(404))
    front = proxy_factory(htpasswd_registry.url)
    location = f"{elsewhere.url}/v2/{repo_name}/blobs/uploads/x?_state=secret-state"
    front.route(
        "POST", r".*/blobs/uploads/.*", lambda request: Respond(202, {"Location": location})
    )
    keychain = StaticKeychain({front.host: Credentials(HTPASSWD_USER, HTPASSWD_PASSWORD, "t")})

    with pytest.raises(OcipushError) as caught:
        _writer(keychain, jobs=1).write(
            parse_reference(f"{front.host}/{repo_name}:v1"), make_image({"x": b"x"})
        )

    assert elsewhere.exchanges, "the upload went to the other host"
    assert all("Authorization" not in e.request_headers for e in elsewhere.exchanges)
    assert any("Authorization" in e.request_headers for e in front.exchanges)
    assert "secret-state" not in str(caught.value)


def test_a_redirect_to_another_host_gets_no_authorization(
    htpasswd_registry, proxy_factory, repo_name
):
    storage = proxy_factory(None)
    storage.route("GET", r"/blob.*", lambda request: Respond(200, body=b"blob bytes"))
    front = proxy_factory(htpasswd_registry.url)
    front.route(
        "GET",
        r".*/blobs/sha256:.*",
        lambda request: Respond(307, {"Location": f"{storage.url}/blob?X-Amz-Signature=sig"}),
    )
    keychain = StaticKeychain({front.host: Credentials(HTPASSWD_USER, HTPASSWD_PASSWORD, "t")})
    transport = Transport(ConnectionOptions(keychain=keychain, proxies={}))
    session = transport.session(Repository(Registry.parse(front.host), repo_name))

    with session.fetch(session.blobs(f"sha256:{'0' * 64}"), what="fetch") as stream:
        assert stream.read() == b"blob bytes"

    assert [e.path for e in storage.exchanges] == ["/blob?X-Amz-Signature=sig"]
    assert "Authorization" not in storage.exchanges[0].request_headers
    assert "Authorization" in front.find("GET", "/blobs/")[0].request_headers


# -- plain http off loopback: decided before any connection -------------------------------------


class _FakePool:
    """Stands in for urllib3 at the point where the transport decides what to send.

    No real non-loopback host is reachable from the tests, so this answers the ping (https
    fails as it would against a plain-http server, http gets the challenge) and records
    every request, so the test can prove that no credential left the process.
    """

    def __init__(self, challenge: str) -> None:
        self.challenge = challenge
        self.sent: list[tuple[str, str, dict[str, str]]] = []

    def request(self, method: str, url: str, **options) -> urllib3.HTTPResponse:
        headers = dict(options.get("headers") or {})
        self.sent.append((method, url, headers))
        if url.startswith("https://"):
            raise SSLError("[SSL: WRONG_VERSION_NUMBER] wrong version number")
        if "Authorization" not in headers:
            return urllib3.HTTPResponse(
                b"",
                status=401,
                headers={
                    "WWW-Authenticate": self.challenge,
                    "Docker-Distribution-API-Version": "registry/2.0",
                },
            )
        return urllib3.HTTPResponse(b'{"token": "t"}', status=200)


HOST = "registry.example.test:5000"


def _request(transport: Transport) -> None:
    transport.session(Repository(Registry.parse(HOST), "app")).request("GET", "/v2/app/tags/list")


@pytest.mark.parametrize(
    "challenge",
    ['Basic realm="r"', 'Bearer realm="http://auth.example.test/token",service="s"'],
)
def test_credentials_over_plain_http_off_loopback_are_refused(challenge):
    pool = _FakePool(challenge)
    keychain = StaticKeychain({HOST: Credentials(USER, PASSWORD, source="test")})
    options = ConnectionOptions(keychain=keychain, insecure=(HOST,))
    transport = Transport(options, pool=pool)  # type: ignore[arg-type]

    with pytest.raises(AuthError) as caught:
        _request(transport)

    assert isinstance(caught.value, PlainHttpCredentialsError)
    assert "refusing to send credentials" in str(caught.value)
    assert f"--allow-credentials-over-http {HOST}" in (remedy(caught.value) or "")
    assert all("Authorization" not in headers for _, _, headers in pool.sent)
    assert all(PASSWORD not in url for _, url, _ in pool.sent)


@pytest.mark.parametrize(
    "challenge",
    ['Basic realm="r"', 'Bearer realm="http://auth.example.test/token",service="s"'],
)
def test_credentials_over_plain_http_are_sent_when_allowed(challenge):
    pool = _FakePool(challenge)
    keychain = StaticKeychain({HOST: Credentials(USER, PASSWORD, source="test")})
    options = ConnectionOptions(
        keychain=keychain, insecure=(HOST,), allow_credentials_over_http=(HOST,)
    )
    transport = Transport(options, pool=pool)  # type: ignore[arg-type]

    _request(transport)

    assert any("Authorization" in headers for _, _, headers in pool.sent)


@pytest.mark.parametrize(
    "argv",
    [
        ["delete", f"{USER}:{PASSWORD}@127.0.0.1:9/x:1"],
        ["tag", f"{USER}:{PASSWORD}@127.0.0.1:9/x:1", "2"],
        ["copy", f"{USER}:{PASSWORD}@127.0.0.1:9/x:1", "oci:out"],
        ["copy", "oci:out", f"https://{USER}:{PASSWORD}@127.0.0.1:9/x:1"],
        ["login", f"https://{USER}:{PASSWORD}@127.0.0.1:9", "--username", USER],
    ],
    ids=["delete", "tag", "copy-from", "copy-to-url", "login-url"],
)
def test_credentials_in_a_reference_are_refused_and_never_echoed(argv, capsys, debug_logs):
    code = main([*argv, "--no-progress"] if argv[0] == "copy" else argv)

    out, err = capsys.readouterr()
    assert code == 2
    assert "credentials in a reference are not supported; use `ocipush login`" in err
    assert PASSWORD not in out + err + debug_logs.text
