"""Token flows of hosted registries, imitated in front of distribution and its token server.

Each test puts a proxy in front of the registry and another in front of the token server
(the registry's challenge is rewritten to name the token proxy), so both sides can answer as
a hosted registry does while the real ones check every token and store every byte.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest

from ocipush.errors import AuthError
from ocipush.oci.images import manifest_of
from ocipush.oci.reference import parse_reference
from ocipush.registry.auth import REFRESH_TOKEN_USER
from ocipush.registry.keychain import Credentials, DefaultKeychain, StaticKeychain
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support.images import make_image
from support.personalities import EcrPassword, ecr_basic, gar, harbor
from support.proxy import Proxy, ReplaceHeader, Respond, Rule
from support.token_server import TokenServer
from support.tools import skopeo_inspect_raw

USER, PASSWORD = "pusher", "pusher-pw"


@dataclass
class Hosted:
    registry: object
    tokens: TokenServer
    proxy: Proxy
    token_proxy: Proxy

    @property
    def challenge(self) -> str:
        return f'Bearer realm="{self.token_proxy.url}/token",service="{self.tokens.service}"'

    def writer(self, **transport_options) -> Writer:
        keychain = StaticKeychain({self.proxy.host: Credentials(USER, PASSWORD, source="test")})
        return Writer(
            Transport(ConnectionOptions(keychain=keychain, proxies={}, **transport_options))
        )

    def check(self, repo_name: str, image) -> None:
        raw = skopeo_inspect_raw(f"{self.registry.host}/{repo_name}:v1", creds=(USER, PASSWORD))
        assert raw == manifest_of(image).raw


@pytest.fixture
def hosted(token_registry_factory, proxy_factory):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"*": {"pull", "push"}}}
    )
    token_proxy = proxy_factory(tokens.url)
    proxy = proxy_factory(registry.url)
    site = Hosted(registry, tokens, proxy, token_proxy)
    # Added first, so it wins over a personality's rewrite of the same answer.
    proxy.add_rule(
        Rule(
            ReplaceHeader("WWW-Authenticate", site.challenge),
            path=r"^/v2/$",
            times=None,
        )
    )
    return site


def test_gar_a_401_without_a_challenge_reuses_the_v2_challenge(hosted, repo_name):
    # A token the registry stops accepting mid-push; Artifact Registry's 401 then carries no
    # WWW-Authenticate (containers/image docker_client.go keeps the /v2/ one for this).
    revoked = hosted.proxy.add_rule(
        Rule(
            Respond(401, {"Content-Type": "application/json"}, b'{"errors":[]}'),
            method="PUT",
            path=r"/manifests/",
        )
    )
    gar(hosted.proxy)
    image = make_image({"gar.txt": b"gar\n"})

    hosted.writer().write(parse_reference(f"{hosted.proxy.host}/{repo_name}:v1"), image)

    hosted.check(repo_name, image)
    assert revoked.fired == 1
    # One exchange for the push, one after the 401 (skopeo goes to the token server direct).
    assert hosted.token_proxy.count("GET", r"^/token") == 2


def test_acr_a_password_grant_answered_400_falls_back_to_get(hosted, repo_name):
    # ACR answers the OAuth2 password grant with 400 (Azure/acr docs/AAD-OAuth.md;
    # containerd remotes/docker/authorizer.go falls back to GET on it).
    refused = hosted.token_proxy.add_rule(
        Rule(
            Respond(400, {"Content-Type": "application/json"}, b'{"error":"unsupported"}'),
            method="POST",
            times=None,
        )
    )
    image = make_image({"acr.txt": b"acr\n"})

    writer = hosted.writer(password_grant=True)
    writer.write(parse_reference(f"{hosted.proxy.host}/{repo_name}:v1"), image)

    hosted.check(repo_name, image)
    assert refused.fired == 1
    assert [e.method for e in hosted.token_proxy.exchanges] == ["POST", "GET"]
    # Learnt: a second push asks with GET straight away.
    writer.write(parse_reference(f"{hosted.proxy.host}/{repo_name}-2:v1"), image)
    assert refused.fired == 1


def test_ghcr_a_token_refused_for_push_is_worded_as_a_permission_problem(hosted, repo_name):
    # cloudflare/serverless-registry#148: ghcr.io's token endpoint answers 403 DENIED when
    # pull,push is asked where only pull is granted.
    hosted.token_proxy.add_rule(
        Rule(
            Respond(
                403,
                {"Content-Type": "application/json"},
                json.dumps(
                    {
                        "errors": [
                            {
                                "code": "DENIED",
                                "message": "requested access to the resource is denied",
                            }
                        ]
                    }
                ).encode(),
            ),
            path=r"push",
            times=None,
        )
    )

    with pytest.raises(AuthError) as caught:
        hosted.writer().write(
            parse_reference(f"{hosted.proxy.host}/{repo_name}:v1"), make_image({})
        )

    message = str(caught.value)
    assert f"{USER} may not push to {repo_name}" in message
    assert "requested access to the resource is denied" in message
    assert "password" not in message


def test_harbor_a_401_on_blob_head_in_a_missing_repository_means_absent(hosted, repo_name):
    harbor(hosted.proxy, challenge=hosted.challenge)
    image = make_image({"a.txt": b"a\n", "b.txt": b"b\n"})

    hosted.writer().write(parse_reference(f"{hosted.proxy.host}/{repo_name}:v1"), image)

    hosted.check(repo_name, image)
    heads = hosted.proxy.find("HEAD", r"/blobs/sha256:")
    assert heads
    assert {h.status for h in heads} == {401}
    # The 401s are not taken for a stale token: one exchange for the whole push.
    assert hosted.token_proxy.count(None, r"^/token") == 1


def test_acr_a_refresh_token_as_password_of_the_null_user_uses_the_refresh_flow(
    token_registry_factory, repo_name
):
    registry, tokens = token_registry_factory(
        users={USER: PASSWORD}, grants={USER: {"*": {"pull", "push"}}}, refresh_tokens=True
    )
    # What `az acr login --expose-token` hands out: a refresh token for the null user.
    refresh_token = tokens.refresh_token_for(USER)
    before = len(tokens.requests)
    keychain = StaticKeychain(
        {registry.host: Credentials(REFRESH_TOKEN_USER, refresh_token, source="az acr login")}
    )
    image = make_image({"acr.txt": b"refresh\n"})

    writer = Writer(Transport(ConnectionOptions(keychain=keychain, proxies={})))
    writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), image)

    raw = skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1", creds=(USER, PASSWORD))
    assert raw == manifest_of(image).raw
    used = tokens.requests[before]
    assert (used.method, used.grant_type, used.username) == ("POST", "refresh_token", USER)


def test_ecr_a_basic_password_that_expires_mid_push_is_asked_for_again(
    registry, proxy_factory, repo_name
):
    # Expires after the first blob (HEAD, HEAD, POST, PUT) and the second blob's HEAD.
    password = EcrPassword(rotate_after=5)
    proxy = ecr_basic(proxy_factory(registry.url), password)
    asked: list[str] = []

    def aws_cli(host, repository):
        # What a plugin running `aws ecr get-login-password` returns: the current password.
        asked.append(password.password)
        return Credentials("AWS", password.password, source="aws ecr get-login-password")

    keychain = DefaultKeychain(providers=[aws_cli], environ={"HOME": "/nonexistent"})
    image = make_image({"a.txt": b"a\n", "b.txt": b"b\n"})
    writer = Writer(Transport(ConnectionOptions(keychain=keychain, proxies={})), jobs=1)

    writer.write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest_of(image).raw
    assert password.generation == 2
    assert asked == ["ecr-password-1", "ecr-password-2"]
    # Only the requests between the expiry and the new password were refused.
    refused = [e for e in proxy.exchanges if e.status == 401]
    assert len(refused) == 2  # the ping without credentials, then the expired password


def test_gar_a_token_post_answered_404_falls_back_to_get(hosted, repo_name):
    gar(hosted.proxy)
    # Older GCR/GAR token endpoints know only GET (containerd remotes/docker/authorizer.go).
    hosted.token_proxy.add_rule(
        Rule(Respond(404, {"Content-Type": "text/plain"}, b"404 page not found"), method="POST")
    )
    image = make_image({"gar-post.txt": b"post\n"})

    hosted.writer(password_grant=True).write(
        parse_reference(f"{hosted.proxy.host}/{repo_name}:v1"), image
    )

    hosted.check(repo_name, image)
    assert [e.method for e in hosted.token_proxy.exchanges] == ["POST", "GET"]
