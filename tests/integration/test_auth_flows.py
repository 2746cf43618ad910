"""Credentials and token flows against real registries.

Token mode: distribution 2.8 with the test token server (ES256 JWTs with an x5c header).
Credential sources: docker config ``auths``, a credential helper on PATH, ``credsStore``,
podman ``auth.json``, ``REGISTRY_AUTH_FILE`` and ``host/repository`` prefix entries, each
resolved by :class:`DefaultKeychain` and used for a real push to the htpasswd registry.
"""

from __future__ import annotations

import base64
import json
import os
import stat
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest

from ocipush.errors import AuthError
from ocipush.oci.reference import Registry, parse_reference
from ocipush.registry.keychain import Credentials, DefaultKeychain, StaticKeychain
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_image
from support.proxy import Respond, Rule

FAST_RETRY = RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.01)
USER, PASSWORD = "alice", "token-pw-1"
_no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _ref(host: str, repo: str, tag: str = "v1"):
    return parse_reference(f"{host}/{repo}:{tag}")


def _writer(keychain=None, clock=time.time, **options) -> Writer:
    options.setdefault("proxies", {})
    transport = Transport(ConnectionOptions(keychain=keychain, **options), clock=clock)
    return Writer(transport, retry=FAST_RETRY)


def _alice(host: str) -> StaticKeychain:
    return StaticKeychain({host: Credentials(username=USER, password=PASSWORD, source="test")})


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


# -- token flows --------------------------------------------------------------------------------


def test_push_asks_for_push_and_pull_on_target_and_pull_on_mount_source(
    token_registry_factory, repo_name
):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    source, target = f"{repo_name}-src", f"{repo_name}-dst"
    image = make_image({"scopes.txt": b"scopes\n"})
    writer = _writer(_alice(registry.host))
    writer.write(_ref(registry.host, source), image)
    before = len(tokens.requests)
    pulled = Remote(writer.transport).get(_ref(registry.host, source))
    writer.write(_ref(registry.host, target), pulled)

    assert tokens.requests[0].scopes == (f"repository:{source}:pull,push",)
    push_requests = [
        r for r in tokens.requests[before:] if f"repository:{target}:pull,push" in r.scopes
    ]
    assert [r.scopes for r in push_requests] == [
        (f"repository:{target}:pull,push", f"repository:{source}:pull")
    ]
    # Credentials go to the realm as Basic, and only there.
    assert all(r.basic_auth and r.username == USER for r in tokens.requests)
    assert writer.last_result.mounted


def test_a_partial_grant_fails_naming_the_denied_scope(token_registry_factory, repo_name):
    registry, _ = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull"}}}
    )
    with pytest.raises(AuthError) as caught:
        _writer(_alice(registry.host)).write(_ref(registry.host, repo_name), make_image({}))
    message = str(caught.value)
    assert f"did not grant repository:{repo_name}:" in message
    assert "push" in message.split("did not grant", 1)[1].split(maxsplit=1)[0]
    assert f"to {USER}" in message


def test_a_wrong_password_names_registry_user_and_server_message(token_registry_factory):
    registry, _ = token_registry_factory(users={USER: PASSWORD}, grants={})
    keychain = StaticKeychain({registry.host: Credentials(USER, "wrong", source="test")})
    with pytest.raises(AuthError) as caught:
        _writer(keychain).write(_ref(registry.host, "ocipush-tests/x"), make_image({}))
    assert str(caught.value) == (
        f"authentication to {registry.host} as {USER} failed: invalid username or password"
    )
    assert "wrong" not in str(caught.value)


def test_multi_tag_push_costs_one_token_exchange(token_registry_factory, repo_name):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    image = make_image({"tags.txt": b"three tags\n"})
    refs = {_ref(registry.host, repo_name, tag): image for tag in ("a", "b", "c")}

    _writer(_alice(registry.host)).multi_write(refs)

    assert [r.scopes for r in tokens.requests] == [(f"repository:{repo_name}:pull,push",)]


def test_an_expired_token_is_replaced_without_error(token_registry_factory, repo_name):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD},
        grants={USER: {"ocipush-tests/*": {"pull", "push"}}},
        expires_in=300,
    )
    clock = Clock()
    writer = _writer(_alice(registry.host), clock=clock)
    writer.write(_ref(registry.host, repo_name, "one"), make_image({"1": b"1"}))
    writer.write(_ref(registry.host, repo_name, "two"), make_image({"2": b"2"}))
    assert len(tokens.requests) == 1  # still fresh
    clock.now += 301

    writer.write(_ref(registry.host, repo_name, "three"), make_image({"3": b"3"}))

    assert len(tokens.requests) == 2
    assert all(r.status == 200 for r in tokens.requests)


def test_a_token_rejected_mid_upload_is_renewed_and_the_upload_retried(
    token_registry_factory, proxy_factory, repo_name
):
    """The registry cannot be made to expire a token within the test (60 s leeway), so the
    proxy answers the first blob upload (a small blob's bytes go in its commit PUT) with the
    401 distribution sends for an expired token."""
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    proxy = proxy_factory(registry.url)
    challenge = (
        f'Bearer realm="{tokens.realm}",service="{tokens.service}",'
        f'scope="repository:{repo_name}:pull,push",error="invalid_token"'
    )
    rule = proxy.add_rule(
        Rule(Respond(401, {"WWW-Authenticate": challenge}), method="PUT", path="/blobs/uploads/")
    )
    keychain = StaticKeychain({proxy.host: Credentials(USER, PASSWORD, source="test")})
    image = make_image({"stale.txt": b"stale token\n" * 100})

    _writer(keychain).write(_ref(proxy.host, repo_name), image)

    assert rule.fired == 1
    assert len(tokens.requests) == 2
    assert all(r.status == 200 for r in tokens.requests)


def test_a_challenge_with_new_scopes_gets_one_new_token(token_registry_factory, repo_name):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    other = f"{repo_name}-other"
    _writer(_alice(registry.host)).write(_ref(registry.host, other), make_image({"o": b"o"}))
    transport = Transport(ConnectionOptions(keychain=_alice(registry.host), proxies={}))
    mine = [f"repository:{repo_name}:pull"]
    session = transport.session(parse_reference(f"{registry.host}/{repo_name}").repository)

    # A path of another repository than the session's: the registry's challenge names it.
    response = session.request("GET", f"/v2/{other}/tags/list")

    assert json.loads(response.data)["tags"] == ["v1"]
    assert [r.scopes for r in tokens.requests[-2:]] == [
        tuple(mine),
        (*mine, f"repository:{other}:pull"),
    ]


def test_oauth2_password_grant_then_refresh_token_for_the_next_scope_set(
    token_registry_factory, repo_name
):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD},
        grants={USER: {"ocipush-tests/*": {"pull", "push"}}},
        refresh_tokens=True,
    )
    writer = _writer(_alice(registry.host), password_grant=True)
    writer.write(_ref(registry.host, f"{repo_name}-a"), make_image({"a": b"a"}))
    writer.write(_ref(registry.host, f"{repo_name}-b"), make_image({"b": b"b"}))

    assert [(r.method, r.grant_type, r.status) for r in tokens.requests] == [
        ("POST", "password", 200),
        ("POST", "refresh_token", 200),
    ]
    assert not any(r.basic_auth for r in tokens.requests)


def test_oauth2_post_falls_back_to_get_on_404(token_registry_factory, repo_name):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD},
        grants={USER: {"ocipush-tests/*": {"pull", "push"}}},
        oauth=False,
    )
    _writer(_alice(registry.host), password_grant=True).write(
        _ref(registry.host, repo_name), make_image({})
    )
    assert [(r.method, r.status) for r in tokens.requests] == [("POST", 404), ("GET", 200)]
    assert tokens.requests[1].basic_auth


def test_identity_token_from_docker_config_uses_the_refresh_grant(
    token_registry_factory, repo_name, tmp_path
):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD},
        grants={USER: {"ocipush-tests/*": {"pull", "push"}}},
        refresh_tokens=True,
    )
    form = urllib.parse.urlencode(
        {
            "grant_type": "password",
            "username": USER,
            "password": PASSWORD,
            "service": tokens.service,
            "client_id": "test",
            "access_type": "offline",
            "scope": "",
        }
    ).encode()
    with _no_proxy.open(urllib.request.Request(tokens.realm, data=form), timeout=10) as answer:
        refresh = json.load(answer)["refresh_token"]
    _docker_config(tmp_path, {"auths": {registry.host: {"identitytoken": refresh}}})

    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)
    _writer(keychain).write(_ref(registry.host, repo_name), make_image({}))

    assert [(r.grant_type, r.status) for r in tokens.requests[1:]] == [("refresh_token", 200)]


def test_a_registry_token_is_sent_as_bearer_with_no_exchange(token_registry_factory, repo_name):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"ocipush-tests/*": {"pull", "push"}}}
    )
    token = tokens.issue(USER, [f"repository:{repo_name}:pull,push"])
    keychain = StaticKeychain({registry.host: Credentials(registry_token=token, source="test")})

    _writer(keychain).write(_ref(registry.host, repo_name), make_image({}))

    assert tokens.requests == []


# -- credential sources -------------------------------------------------------------------------


def _env(home: Path, **extra: str) -> dict[str, str]:
    return {"HOME": str(home), "PATH": str(home / "bin") + os.pathsep + os.defpath, **extra}


def _docker_config(home: Path, config: dict[str, object]) -> Path:
    path = home / ".docker" / "config.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config))
    return path


def _auth(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def _helper(home: Path, name: str, answers: dict[str, tuple[str, str]]) -> Path:
    """A ``docker-credential-<name>`` script answering ``get`` from ``answers``."""
    script = home / "bin" / f"docker-credential-{name}"
    script.parent.mkdir(parents=True, exist_ok=True)
    table = {url: {"Username": u, "Secret": s} for url, (u, s) in answers.items()}
    script.write_text(
        f"#!{sys.executable}\n"
        "import json, sys\n"
        f"table = {json.dumps(table)}\n"
        "server = sys.stdin.read().strip()\n"
        "if sys.argv[1] != 'get' or server not in table:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        "print(json.dumps(dict(table[server], ServerURL=server)))\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def _push_with(keychain: DefaultKeychain, host: str, repo: str) -> None:
    _writer(keychain).write(_ref(host, repo), make_image({"creds.txt": repo.encode()}))


GOOD = (HTPASSWD_USER, HTPASSWD_PASSWORD)


def test_docker_config_auths(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    _docker_config(tmp_path, {"auths": {host: {"auth": _auth(*GOOD)}}})
    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)
    _push_with(keychain, host, repo_name)
    assert "docker config" in keychain.resolve(Registry.parse(host)).source


def test_credential_helper_on_path(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    _helper(tmp_path, "ocitest", {host: GOOD})
    _docker_config(tmp_path, {"credHelpers": {host: "ocitest"}})
    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)
    _push_with(keychain, host, repo_name)
    assert "docker-credential-ocitest" in keychain.resolve(Registry.parse(host)).source


def test_creds_store(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    _helper(tmp_path, "ocistore", {host: GOOD})
    _docker_config(tmp_path, {"credsStore": "ocistore", "auths": {host: {}}})
    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)
    _push_with(keychain, host, repo_name)
    assert "credsStore" in keychain.resolve(Registry.parse(host)).source


def test_podman_auth_json(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    path = tmp_path / ".config" / "containers" / "auth.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"auths": {host: {"auth": _auth(*GOOD)}}}))
    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)
    _push_with(keychain, host, repo_name)
    assert "podman auth.json" in keychain.resolve(Registry.parse(host)).source


def test_registry_auth_file(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    path = tmp_path / "elsewhere.json"
    path.write_text(json.dumps({"auths": {host: {"auth": _auth(*GOOD)}}}))
    keychain = DefaultKeychain(environ=_env(tmp_path, REGISTRY_AUTH_FILE=str(path)), home=tmp_path)
    _push_with(keychain, host, repo_name)
    assert "REGISTRY_AUTH_FILE" in keychain.resolve(Registry.parse(host)).source


def test_repository_prefix_entry_wins_over_the_host_entry(htpasswd_registry, repo_name, tmp_path):
    host = htpasswd_registry.host
    _docker_config(
        tmp_path,
        {
            "auths": {
                host: {"auth": _auth(HTPASSWD_USER, "not-the-password")},
                f"{host}/{repo_name}": {"auth": _auth(*GOOD)},
            }
        },
    )
    keychain = DefaultKeychain(environ=_env(tmp_path), home=tmp_path)

    _push_with(keychain, host, repo_name)  # the prefix entry's good password
    with pytest.raises(AuthError, match=f"authentication to {host} as {HTPASSWD_USER} failed"):
        _push_with(keychain, host, f"{repo_name}-elsewhere")  # the host entry's bad one
