"""Challenge parsing and the token exchange, with a fake ``send`` in place of HTTP."""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ocipush.errors import AuthError
from ocipush.registry.auth import Challenge, HttpResult, RegistryAuth, parse_challenges
from ocipush.registry.keychain import ANONYMOUS, Credentials

REALM = "https://auth.example.com/token"
BEARER = Challenge("bearer", {"realm": REALM, "service": "registry.example.com"})


# -- parse_challenges ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("", []),
        ("Basic", [Challenge("basic", {})]),
        ('Basic realm="Registry Realm"', [Challenge("basic", {"realm": "Registry Realm"})]),
        (
            'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",'
            'scope="repository:library/ubuntu:pull"',
            [
                Challenge(
                    "bearer",
                    {
                        "realm": "https://auth.docker.io/token",
                        "service": "registry.docker.io",
                        "scope": "repository:library/ubuntu:pull",
                    },
                )
            ],
        ),
        (
            'Basic realm="r", Bearer realm="https://t/x",service="s"',
            [
                Challenge("basic", {"realm": "r"}),
                Challenge("bearer", {"realm": "https://t/x", "service": "s"}),
            ],
        ),
        # Case-insensitive scheme and parameter names, tokens without quotes, spaces around =.
        (
            "BEARER Realm = https://t/x , Service=s",
            [Challenge("bearer", {"realm": "https://t/x", "service": "s"})],
        ),
        # Escapes inside quotes, commas inside quotes.
        (
            r'Bearer realm="a\"b", scope="repository:a:pull,push"',
            [Challenge("bearer", {"realm": 'a"b', "scope": "repository:a:pull,push"})],
        ),
        # An unterminated quote keeps what is there.
        ('Bearer realm="https://t/x', [Challenge("bearer", {"realm": "https://t/x"})]),
        # Stray separators are skipped.
        (',,  Basic ,, realm="r"', [Challenge("basic", {"realm": "r"})]),
    ],
)
def test_parse_challenges(header, expected):
    assert parse_challenges(header) == expected


def test_several_scopes_share_one_value():
    (challenge,) = parse_challenges(
        'Bearer realm="https://t",scope="repository:a/b:pull,push repository:c/d:pull"'
    )
    assert challenge.scopes == ("repository:a/b:pull,push", "repository:c/d:pull")
    assert Challenge("bearer", {}).scopes == ()


def test_scope_names_may_hold_host_and_port():
    (challenge,) = parse_challenges('Bearer scope="repository:localhost:5000/a:pull"')
    assert challenge.scopes == ("repository:localhost:5000/a:pull",)


@given(st.text())
def test_parse_challenges_never_raises(header):
    challenges = parse_challenges(header)
    for challenge in challenges:
        assert challenge.scheme == challenge.scheme.lower()
        assert challenge.scheme
        assert all(isinstance(v, str) for v in challenge.params.values())


@given(st.text(alphabet=' \t,="\\abcBearerBasicrealm', max_size=60))
def test_parse_challenges_never_raises_on_separator_soup(header):
    assert isinstance(parse_challenges(header), list)


# -- tokens -------------------------------------------------------------------------------------


class FakeTokenServer:
    """Records what a RegistryAuth sends and answers with numbered tokens."""

    def __init__(self, *, status: int = 200, expires_in: int | None = 300, body=None, post=404):
        self.calls: list[tuple[str, str, dict, bytes | None]] = []
        self.status = status
        self.expires_in = expires_in
        self.body = body
        self.post_status = post

    def __call__(self, method, url, headers, body):
        self.calls.append((method, url, dict(headers), body))
        if method == "POST" and self.post_status != 200:
            return HttpResult(self.post_status, {}, b"")
        if self.body is not None:
            return HttpResult(self.status, {}, self.body)
        answer = {"token": f"token-{len(self.calls)}"}
        if self.expires_in is not None:
            answer["expires_in"] = self.expires_in
        return HttpResult(
            self.status, {"content-type": "application/json"}, json.dumps(answer).encode()
        )

    def scopes(self, index: int) -> list[str]:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.calls[index][1]).query)
        return query.get("scope", [])


class Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_one_exchange_per_scope_set():
    server = FakeTokenServer()
    auth = RegistryAuth("registry.example.com", BEARER, ANONYMOUS, server)
    push = ["repository:a/b:pull,push", "repository:c/d:pull"]

    first = auth.header(push)
    again = auth.header(list(reversed(push)))  # the same set in another order
    pull = auth.header(["repository:a/b:pull"])
    pull_again = auth.header(["repository:a/b:pull"])

    assert first == again == "Bearer token-1"
    assert pull == pull_again == "Bearer token-2"
    assert len(server.calls) == 2
    assert len(server.calls) == 2
    method, url, headers, body = server.calls[0]
    assert (method, body) == ("GET", None)
    assert url.startswith(REALM + "?service=registry.example.com&scope=")
    assert server.scopes(0) == push  # repeated scope parameters, order kept
    assert "Authorization" not in headers  # anonymous


def test_tokens_are_refetched_before_they_expire():
    server = FakeTokenServer(expires_in=60)
    clock = Clock()
    auth = RegistryAuth("r", BEARER, ANONYMOUS, server, clock=clock)
    scopes = ["repository:a:pull"]

    assert auth.header(scopes) == "Bearer token-1"
    clock.now += 45  # 15 s left: still fresh
    assert auth.header(scopes) == "Bearer token-1"
    clock.now += 6  # 9 s left: inside the 10 s margin
    assert auth.header(scopes) == "Bearer token-2"
    assert len(server.calls) == 2


def test_missing_expires_in_means_sixty_seconds():
    server = FakeTokenServer(expires_in=None)
    clock = Clock()
    auth = RegistryAuth("r", BEARER, ANONYMOUS, server, clock=clock)
    assert auth.token(["repository:a:pull"]).expires_at == clock.now + 60


def test_force_exchanges_again():
    server = FakeTokenServer()
    auth = RegistryAuth("r", BEARER, ANONYMOUS, server)
    auth.token(["repository:a:pull"])
    assert auth.token(["repository:a:pull"], force=True).value == "token-2"
    assert len(server.calls) == 2


def test_password_goes_only_to_the_realm_as_basic():
    server = FakeTokenServer()
    creds = Credentials(username="alice", password="pw", source="test")
    auth = RegistryAuth("r", BEARER, creds, server)

    assert auth.header(["repository:a:pull"]) == "Bearer token-1"

    expected = "Basic " + base64.b64encode(b"alice:pw").decode()
    assert server.calls[0][2]["Authorization"] == expected


def test_identity_token_uses_oauth2_then_falls_back_to_get_on_404():
    server = FakeTokenServer(post=404)
    creds = Credentials(identity_token="refresh-me", source="test")
    auth = RegistryAuth("r", BEARER, creds, server)

    assert auth.header(["repository:a:pull,push"]) == "Bearer token-2"

    method, url, headers, body = server.calls[0]
    assert (method, url) == ("POST", REALM)
    assert headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(body.decode()) == {
        "grant_type": ["refresh_token"],
        "service": ["registry.example.com"],
        "client_id": ["ocipush"],
        "scope": ["repository:a:pull,push"],
        "refresh_token": ["refresh-me"],
    }
    assert server.calls[1][0] == "GET"


def test_basic_challenge_sends_credentials_to_the_registry():
    creds = Credentials(username="alice", password="pw", source="test")
    auth = RegistryAuth("r", Challenge("basic", {"realm": "x"}), creds, FakeTokenServer())
    assert auth.header([]) == "Basic " + base64.b64encode(b"alice:pw").decode()
    assert (
        RegistryAuth("r", Challenge("basic", {}), ANONYMOUS, FakeTokenServer()).header([]) is None
    )


def test_registry_token_is_sent_as_is_without_exchange():
    server = FakeTokenServer()
    creds = Credentials(registry_token="given", source="test")
    auth = RegistryAuth("r", BEARER, creds, server)
    assert auth.header(["repository:a:pull"]) == "Bearer given"
    assert server.calls == []


def test_no_challenge_means_no_header():
    assert RegistryAuth("r", None, ANONYMOUS, FakeTokenServer()).header(["x"]) is None


def test_rejected_credentials_are_an_auth_error_with_the_server_message():
    body = json.dumps({"details": "incorrect username or password"}).encode()
    server = FakeTokenServer(status=401, body=body)
    creds = Credentials(username="alice", password="nope", source="test")
    auth = RegistryAuth("registry.example.com", BEARER, creds, server)

    with pytest.raises(AuthError) as caught:
        auth.header(["repository:a:pull"])

    # The message leads with who failed where and the token server's reason; a hint on
    # what to check may follow.
    assert str(caught.value).startswith(
        "authentication to registry.example.com as alice failed: incorrect username or password"
    )
    assert "nope" not in str(caught.value)


def test_other_token_server_failures_name_the_realm_without_its_query():
    challenge = Challenge("bearer", {"realm": REALM + "?secret=1", "service": "s"})
    server = FakeTokenServer(status=500, body=b"upstream broke")
    auth = RegistryAuth("r", challenge, ANONYMOUS, server)

    with pytest.raises(AuthError) as caught:
        auth.header(["repository:a:pull"])

    assert str(caught.value) == (
        f"token server {REALM} answered 500 for repository:a:pull: upstream broke"
    )


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"token": ""}', b"[1]"])
def test_an_answer_without_a_token_is_an_auth_error(body):
    auth = RegistryAuth("r", BEARER, ANONYMOUS, FakeTokenServer(body=body))
    with pytest.raises(AuthError, match=f"token server {REALM} returned no token"):
        auth.header(["repository:a:pull"])


def test_access_token_is_accepted_too():
    body = json.dumps({"access_token": "oauth-style", "expires_in": 300}).encode()
    auth = RegistryAuth("r", BEARER, ANONYMOUS, FakeTokenServer(body=body))
    assert auth.header(["repository:a:pull"]) == "Bearer oauth-style"


def test_bearer_without_realm_is_an_auth_error():
    auth = RegistryAuth("r", Challenge("bearer", {}), ANONYMOUS, FakeTokenServer())
    with pytest.raises(AuthError, match="r asked for a bearer token but gave no token realm"):
        auth.header(["repository:a:pull"])
