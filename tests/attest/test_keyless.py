"""Keyless signing, up to the signing call.

The tests have no internet, so the identity provider (GitHub Actions' OIDC token endpoint)
and Sigstore's services (Fulcio, the certificate authority, and Rekor, the transparency
log) are fakes on 127.0.0.1, named in a Sigstore client trust config. Everything on
ocipush's side runs for real: detecting the ambient identity through the ``sigstore``
library, asking Fulcio for a certificate with it, and refusing to publish when no
signature could be made. The fake Fulcio answers with an error, because making a
certificate with an embedded SCT that ``sigstore`` accepts is the real service's job.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import jwt
import pytest
import sigstore

from attest.helpers import run
from image.sample import push_fake_base, write_app
from support.proxy import Respond
from support.tools import ToolError, skopeo_inspect_raw

REQUEST_TOKEN = "request-token-from-the-runner"
ISSUER = "https://token.actions.githubusercontent.com"


def _identity_token() -> str:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "sigstore",
        "sub": "repo:acme/hello-app:ref:refs/heads/main",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
    }
    return jwt.encode(claims, "not-a-real-key-" * 4, algorithm="HS256")


def _trust_config(path: Path, url: str) -> Path:
    """The production trusted root as sigstore ships it, with services on ``url``."""
    shipped = Path(sigstore.__file__).parent / "_store" / "https%3A%2F%2Ftuf-repo-cdn.sigstore.dev"
    service = {
        "majorApiVersion": 1,
        "validFor": {"start": "2020-01-01T00:00:00Z"},
        "operator": "test",
    }
    config = {
        "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
        "trustedRoot": json.loads((shipped / "trusted_root.json").read_text()),
        "signingConfig": {
            "mediaType": "application/vnd.dev.sigstore.signingconfig.v0.2+json",
            "caUrls": [{"url": url, **service}],
            "oidcUrls": [{"url": url, **service}],
            "rekorTlogUrls": [{"url": url, **service}],
            "tsaUrls": [],
            "rekorTlogConfig": {"selector": "ANY"},
            "tsaConfig": {"selector": "ANY"},
        },
    }
    path.write_text(json.dumps(config))
    return path


@pytest.fixture
def sigstore_fakes(proxy_factory):
    """The identity provider, Fulcio and Rekor, faked on one loopback server (the trust
    config names it for both services; sigstore keeps only each URL's host)."""
    token = _identity_token()
    fake = proxy_factory(None)
    fake.route(
        "GET",
        r"/github-oidc\?audience=sigstore",
        lambda request: Respond(
            200, {"Content-Type": "application/json"}, json.dumps({"value": token}).encode()
        ),
    )
    fake.route(
        "POST",
        r"/api/v2/signingCert",
        lambda request: Respond(
            400,
            {"Content-Type": "application/json"},
            b'{"code": 400, "message": "the test Fulcio issues no certificates"}',
        ),
    )
    fake.route("POST", r"/api/v1/log/entries", lambda request: Respond(500))
    fake.token = token
    return fake


def _keyless_app(tmp_path, registry, repo_name, fake) -> Path:
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    trust = _trust_config(tmp_path / "trust.json", fake.url)
    table = f'[tool.ocipush.signing]\nkeyless = true\ntrust-config = "{trust}"\n'
    return write_app(tmp_path / "app", image={"base": base}, extra=table)


def _github_actions(monkeypatch, url: str | None) -> None:
    for name in (
        "GITLAB_CI",
        "BUILDKITE",
        "CIRCLECI",
        "GOOGLE_SERVICE_ACCOUNT_NAME",
        "SIGSTORE_ID_TOKEN",
    ):
        monkeypatch.delenv(name, raising=False)
    if url is None:
        for name in (
            "GITHUB_ACTIONS",
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        ):
            monkeypatch.delenv(name, raising=False)
        return
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)


def _tag_absent(ref: str) -> bool:
    try:
        skopeo_inspect_raw(ref)
    except ToolError as error:
        return "manifest unknown" in str(error)
    return False


def test_plan_never_asks_for_an_identity_or_a_certificate(
    registry, repo_name, tmp_path, capsys, pip_offline, sigstore_fakes, monkeypatch
):
    _github_actions(monkeypatch, f"{sigstore_fakes.url}/github-oidc")
    root = _keyless_app(tmp_path, registry, repo_name, sigstore_fakes)

    code, out, err = run(
        capsys,
        "plan",
        "--json",
        "--project",
        str(root),
        "--target",
        f"{registry.host}/{repo_name}:1",
    )

    assert code == 0, err
    roles = [m["role"] for m in json.loads(out)["targets"][0]["manifests"]]
    assert roles.count("signature") == 1
    assert sigstore_fakes.exchanges == []


def test_keyless_push_asks_fulcio_with_the_ambient_identity_and_moves_no_tag_on_failure(
    registry, repo_name, tmp_path, capsys, pip_offline, sigstore_fakes, monkeypatch
):
    _github_actions(monkeypatch, f"{sigstore_fakes.url}/github-oidc")
    root = _keyless_app(tmp_path, registry, repo_name, sigstore_fakes)
    ref = f"{registry.host}/{repo_name}:1"

    code, _, err = run(capsys, "push", "--no-progress", "--project", str(root), "--target", ref)

    assert code == 1
    # The first line says the wheel in dist/ was reused; then the one error line.
    assert err.splitlines()[-1].startswith(
        "error: keyless signing failed getting a signing certificate from Fulcio"
    ), err
    assert "Error (" not in err
    assert REQUEST_TOKEN not in err
    assert sigstore_fakes.token not in err
    (identity,) = sigstore_fakes.find("GET", r"/github-oidc")
    assert identity.request_headers["Authorization"] == f"bearer {REQUEST_TOKEN}"
    (certificate,) = sigstore_fakes.find("POST", r"/api/v2/signingCert")
    assert certificate.request_headers["Authorization"] == f"Bearer {sigstore_fakes.token}"
    assert certificate.request_body_bytes > 0
    assert sigstore_fakes.find(None, r"/api/v1/log") == []
    assert _tag_absent(ref)


def test_keyless_without_an_identity_is_a_clear_error(
    registry, repo_name, tmp_path, capsys, pip_offline, sigstore_fakes, monkeypatch
):
    _github_actions(monkeypatch, None)
    root = _keyless_app(tmp_path, registry, repo_name, sigstore_fakes)
    ref = f"{registry.host}/{repo_name}:1"

    code, _, err = run(capsys, "push", "--no-progress", "--project", str(root), "--target", ref)

    assert code == 1
    assert "keyless signing found no ambient OIDC identity" in err
    assert "permissions: id-token: write" in err
    assert sigstore_fakes.exchanges == []
    assert _tag_absent(ref)
