"""The test infrastructure works: real registries, proxy faults, TLS, tokens, witness tools."""

from __future__ import annotations

import base64
import gzip
import hashlib
import http.client
import io
import json
import ssl
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ocipush.oci.media_types import OCI_CONFIG, OCI_INDEX, OCI_LAYER, OCI_MANIFEST
from ocipush.oci.reference import parse_repository
from ocipush.testing import (
    AccessLogEntry,
    DebianBaseError,
    LocalRegistry,
    LocalRegistryError,
    TokenAuth,
    debian_base_layer,
)
from ocipush.testing import base as testing
from ocipush.testing.base import DEBIAN_CACHE_KEY
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.proxy import (
    DropHeader,
    FakeRequest,
    ReplaceHeader,
    ResetRequest,
    ResetResponse,
    Respond,
    Rule,
    Stall,
    TruncateBody,
)
from support.token_server import TokenServer
from support.tools import (
    registry_blob_exists,
    registry_get_manifest,
    registry_push_blob,
    registry_put_manifest,
    skopeo_copy,
    skopeo_inspect_raw,
    umoci_unpack,
)

# Loopback only: an environment proxy must never see test traffic.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _get(url: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with _opener.open(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _image_manifest(config_digest: str, config: bytes, layers: list[tuple[str, int]]) -> bytes:
    return json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)},
            "layers": [
                {"mediaType": OCI_LAYER, "digest": digest, "size": size} for digest, size in layers
            ],
        },
        separators=(",", ":"),
    ).encode()


# -- LocalRegistry --------------------------------------------------------------------------


def test_plain_registry_answers_v2_and_logs_the_request(registry: LocalRegistry) -> None:
    status, body, headers = _get(f"{registry.url}/v2/")

    assert (status, body) == (200, b"{}")
    assert headers["Docker-Distribution-Api-Version"] == "registry/2.0"
    assert registry.requests()[-1] == AccessLogEntry("GET", "/v2/", 200)


def test_restart_keeps_pushed_blob_on_the_same_port(local_registry_factory, repo_name: str) -> None:
    started = local_registry_factory()
    host = started.host
    digest = registry_push_blob(host, repo_name, b"survives a restart")

    started.restart()

    assert started.host == host
    status, body, _ = _get(f"{started.url}/v2/{repo_name}/blobs/{digest}")
    assert (status, body) == (200, b"survives a restart")
    methods = [(r.method, r.status) for r in started.requests()]
    assert methods == [("POST", 202), ("PUT", 201), ("GET", 200)]


def test_failed_start_reports_the_registry_log(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    registry = LocalRegistry(workdir=tmp_path / "registry", tls=(missing, missing))

    with pytest.raises(LocalRegistryError, match="exited with status") as caught:
        registry.start()

    assert str(missing) in str(caught.value)


def test_htpasswd_and_token_together_are_refused(tmp_path: Path) -> None:
    token = TokenAuth("http://127.0.0.1:1/token", "s", "i", tmp_path / "bundle.pem")
    with pytest.raises(LocalRegistryError, match="pass only one"):
        LocalRegistry(workdir=tmp_path, htpasswd={"a": "b"}, token=token)


def test_htpasswd_registry_rejects_anonymous_and_wrong_password(
    htpasswd_registry: LocalRegistry,
) -> None:
    anonymous, _, headers = _get(f"{htpasswd_registry.url}/v2/")
    wrong, _, _ = _get(f"{htpasswd_registry.url}/v2/", _basic(HTPASSWD_USER, "nope"))
    right, _, _ = _get(f"{htpasswd_registry.url}/v2/", _basic(HTPASSWD_USER, HTPASSWD_PASSWORD))

    assert (anonymous, wrong, right) == (401, 401, 200)
    assert headers["Www-Authenticate"] == 'Basic realm="ocipush-local"'


def test_repo_name_is_valid_and_unique(registry: LocalRegistry, repo_name: str) -> None:
    repository = parse_repository(f"{registry.host}/{repo_name}")

    assert repository.path == repo_name
    assert repo_name.startswith("ocipush-tests/test-repo-name-is-valid-and-unique-")


# -- witness tools ----------------------------------------------------------------------------


def _layer_with(name: str, content: bytes) -> tuple[bytes, str]:
    """A gzipped tar holding one file, and its diff id (digest of the uncompressed tar)."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    diff_id = f"sha256:{hashlib.sha256(raw.getvalue()).hexdigest()}"
    return gzip.compress(raw.getvalue(), mtime=0), diff_id


def test_skopeo_and_umoci_see_an_image_pushed_with_urllib(
    registry: LocalRegistry, repo_name: str, tmp_path: Path
) -> None:
    layer, diff_id = _layer_with("hello.txt", b"hello from a layer\n")
    config = json.dumps(
        {
            "architecture": "amd64",
            "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        }
    ).encode()
    config_digest = registry_push_blob(registry.host, repo_name, config)
    layer_digest = registry_push_blob(registry.host, repo_name, layer)
    manifest = _image_manifest(config_digest, config, [(layer_digest, len(layer))])

    digest = registry_put_manifest(registry.host, repo_name, "v1", manifest, OCI_MANIFEST)

    assert digest == f"sha256:{hashlib.sha256(manifest).hexdigest()}"
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest
    body, headers = registry_get_manifest(registry.host, repo_name, digest)
    assert (body, headers["Docker-Content-Digest"]) == (manifest, digest)
    assert registry_blob_exists(registry.host, repo_name, layer_digest)
    assert not registry_blob_exists(registry.host, repo_name, "sha256:" + "0" * 64)
    skopeo_copy(f"{registry.host}/{repo_name}:v1", f"oci:{tmp_path / 'layout'}:v1")
    rootfs = umoci_unpack(tmp_path / "layout", "v1", tmp_path / "bundle")
    assert (rootfs / "hello.txt").read_bytes() == b"hello from a layer\n"


# -- proxy ------------------------------------------------------------------------------------


def test_proxy_injects_503_once_then_passes_through(registry: LocalRegistry, proxy_factory) -> None:
    proxy = proxy_factory(registry.url)
    rule = proxy.add_rule(
        Rule(Respond(503, {"Retry-After": "1"}, b"busy\n"), method="GET", path=r"^/v2/$")
    )

    first = _get(f"{proxy.url}/v2/")
    second = _get(f"{proxy.url}/v2/")

    assert first == (503, b"busy\n", {"Retry-After": "1", "Content-Length": "5"})
    assert second[:2] == (200, b"{}")
    assert [e.status for e in proxy.exchanges] == [503, 200]
    assert (proxy.count("GET", r"^/v2/$"), rule.matched, rule.fired) == (2, 2, 1)


def test_proxy_answers_502_while_the_registry_is_down(
    local_registry_factory, proxy_factory
) -> None:
    started = local_registry_factory()
    proxy = proxy_factory(started.url)

    before = _get(f"{proxy.url}/v2/")
    started.stop()
    down = _get(f"{proxy.url}/v2/")
    started.start()
    after = _get(f"{proxy.url}/v2/")

    assert (before[0], down[0], after[0]) == (200, 502, 200)
    assert f"upstream {started.url} unreachable".encode() in down[1]


def test_proxy_streams_an_upload_and_rewrites_location(
    registry: LocalRegistry, proxy_factory, repo_name: str
) -> None:
    proxy = proxy_factory(registry.url)
    data = bytes(range(256)) * 8192  # 2 MiB, several proxy chunks

    digest = registry_push_blob(proxy.host, repo_name, data)

    post, put = proxy.exchanges
    assert post.response_headers["Location"].startswith(
        f"{proxy.url}/v2/{repo_name}/blobs/uploads/"
    )
    assert (put.method, put.request_body_bytes, put.status) == ("PUT", len(data), 201)
    assert put.response_headers["Docker-Content-Digest"] == digest
    assert registry_blob_exists(registry.host, repo_name, digest)


def test_proxy_forwards_a_chunked_patch_on_a_kept_alive_connection(
    registry: LocalRegistry, proxy_factory, repo_name: str
) -> None:
    proxy = proxy_factory(registry.url)
    pieces = [b"a" * 100_000, b"b" * 70_000, b"c"]
    data = b"".join(pieces)
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    connection = http.client.HTTPConnection(proxy.host, timeout=10)

    connection.request("POST", f"/v2/{repo_name}/blobs/uploads/")
    started = connection.getresponse()
    started.read()
    upload = started.getheader("Location", "").removeprefix(proxy.url)
    connection.request("PATCH", upload, body=iter(pieces), encode_chunked=True)
    patched = connection.getresponse()
    patched.read()
    finish = patched.getheader("Location", "").removeprefix(proxy.url)
    connection.request("PUT", f"{finish}&digest={digest}", body=b"")
    finished = connection.getresponse()
    finished.read()

    assert (patched.status, patched.getheader("Range")) == (202, f"0-{len(data) - 1}")
    assert finished.status == 201
    assert proxy.find("PATCH")[0].request_body_bytes == len(data)
    assert _get(f"{registry.url}/v2/{repo_name}/blobs/{digest}")[:2] == (200, data)


def test_proxy_header_faults(registry: LocalRegistry, proxy_factory, repo_name: str) -> None:
    proxy = proxy_factory(registry.url)
    wrong = "sha256:" + "f" * 64
    proxy.add_rule(Rule(DropHeader("Location"), method="POST", path="/blobs/uploads/$"))
    proxy.add_rule(Rule(ReplaceHeader("Docker-Content-Digest", wrong), method="GET", path="/v2/"))
    connection = http.client.HTTPConnection(proxy.host, timeout=10)

    connection.request("POST", f"/v2/{repo_name}/blobs/uploads/")
    posted = connection.getresponse()
    posted.read()
    connection.request("GET", "/v2/")
    got = connection.getresponse()
    got.read()

    assert (posted.status, posted.getheader("Location")) == (202, None)
    assert got.getheader("Docker-Content-Digest") == wrong


def test_proxy_resets_and_truncates(registry: LocalRegistry, proxy_factory, repo_name: str) -> None:
    digest = registry_push_blob(registry.host, repo_name, b"0123456789")
    proxy = proxy_factory(registry.url)
    blob_path = f"/v2/{repo_name}/blobs/{digest}"
    proxy.add_rule(Rule(TruncateBody(4), method="GET", path="/blobs/sha256:"))
    proxy.add_rule(Rule(ResetResponse(2), method="GET", path="/blobs/sha256:", nth=2))

    truncated = http.client.HTTPConnection(proxy.host, timeout=10)
    truncated.request("GET", blob_path)
    with pytest.raises(http.client.IncompleteRead) as caught:
        truncated.getresponse().read()
    reset = http.client.HTTPConnection(proxy.host, timeout=10)
    reset.request("GET", blob_path)
    response = reset.getresponse()
    with pytest.raises((ConnectionResetError, http.client.IncompleteRead)):
        response.read()

    assert caught.value.partial == b"0123"
    assert _get(f"{proxy.url}{blob_path}")[:2] == (200, b"0123456789")


def test_proxy_resets_mid_request_body(
    registry: LocalRegistry, proxy_factory, repo_name: str
) -> None:
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(ResetRequest(after_bytes=1000), method="PATCH"))
    connection = http.client.HTTPConnection(registry.host, timeout=10)
    connection.request("POST", f"/v2/{repo_name}/blobs/uploads/")
    location = connection.getresponse().getheader("Location")
    assert location is not None
    upload_path = location.removeprefix(registry.url)

    client = http.client.HTTPConnection(proxy.host, timeout=10)
    try:
        client.request("PATCH", upload_path, body=b"x" * 256 * 1024)
        client.getresponse()
    except (ConnectionError, http.client.RemoteDisconnected) as error:
        failure: Exception | None = error
    else:
        failure = None

    assert failure is not None, "the PATCH should have failed"

    (exchange,) = proxy.find("PATCH")
    assert (exchange.request_body_bytes, exchange.status) == (1000, None)


def test_proxy_stall_makes_a_client_time_out(registry: LocalRegistry, proxy_factory) -> None:
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(Stall(2.0), path=r"^/v2/$"))
    connection = http.client.HTTPConnection(proxy.host, timeout=0.2)

    connection.request("GET", "/v2/")
    with pytest.raises(TimeoutError):
        connection.getresponse()


def test_proxy_as_fake_server_for_a_referrers_api(proxy_factory) -> None:
    index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}).encode()

    def referrers(request: FakeRequest) -> Respond:
        return Respond(200, {"Content-Type": OCI_INDEX}, index)

    fake = proxy_factory(None)
    fake.route("GET", r"/v2/.+/referrers/sha256:[0-9a-f]{64}", referrers)

    found = _get(f"{fake.url}/v2/a/referrers/sha256:{'a' * 64}")
    unrouted = _get(f"{fake.url}/v2/a/tags/list")

    assert found[:2] == (200, index)
    assert unrouted[0] == 502
    assert b"no route for GET /v2/a/tags/list" in unrouted[1]


# -- TLS ----------------------------------------------------------------------------------------


def test_tls_registry_is_trusted_only_through_the_generated_ca(
    local_registry_factory, pki, repo_name: str
) -> None:
    secure = local_registry_factory(tls=pki.server_pair)
    https = urllib.request.build_opener(
        urllib.request.ProxyHandler({}),
        urllib.request.HTTPSHandler(context=pki.client_context()),
    )

    with https.open(f"{secure.url}/v2/", timeout=10) as response:
        assert (response.status, response.read()) == (200, b"{}")
    with pytest.raises(urllib.error.URLError) as caught:
        _opener.open(f"{secure.url}/v2/", timeout=10)
    assert isinstance(caught.value.reason, ssl.SSLCertVerificationError)
    assert secure.url.startswith("https://127.0.0.1:")
    digest = registry_push_blob(
        secure.host, repo_name, b"{}", scheme="https", context=pki.client_context()
    )
    manifest = _image_manifest(digest, b"{}", [])
    registry_put_manifest(
        secure.host,
        repo_name,
        "v1",
        manifest,
        OCI_MANIFEST,
        scheme="https",
        context=pki.client_context(),
    )
    seen = skopeo_inspect_raw(
        f"{secure.host}/{repo_name}:v1", tls_verify=True, cert_dir=pki.cert_dir
    )
    assert seen == manifest


# -- token auth ---------------------------------------------------------------------------------


def _token(realm: str, service: str, scope: str, headers: dict[str, str]) -> str:
    status, body, _ = _get(f"{realm}?service={service}&scope={scope}", headers)
    assert status == 200, body
    return json.loads(body)["token"]


def test_token_registry_honours_exactly_the_granted_scope(
    token_registry_factory, repo_name: str
) -> None:
    other = f"{repo_name}-other"
    registry, server = token_registry_factory(
        users={"alice": "pw"}, grants={"alice": {repo_name: {"pull", "push"}, other: {"pull"}}}
    )

    status, _, headers = _get(f"{registry.url}/v2/")
    assert status == 401
    assert headers["Www-Authenticate"] == (
        f'Bearer realm="{server.realm}",service="{server.service}"'
    )
    token = _token(
        server.realm,
        server.service,
        f"repository:{repo_name}:pull,push&scope=repository:{other}:pull,push",
        _basic("alice", "pw"),
    )
    bearer = {"Authorization": f"Bearer {token}"}

    granted = urllib.request.Request(
        f"{registry.url}/v2/{repo_name}/blobs/uploads/", method="POST", headers=bearer
    )
    with _opener.open(granted, timeout=10) as response:
        assert response.status == 202
    refused = urllib.request.Request(
        f"{registry.url}/v2/{other}/blobs/uploads/", method="POST", headers=bearer
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        _opener.open(refused, timeout=10)
    assert caught.value.code == 401
    assert 'error="insufficient_scope"' in caught.value.headers["Www-Authenticate"]
    (request,) = server.requests
    assert (request.method, request.basic_auth, request.username, request.status) == (
        "GET",
        True,
        "alice",
        200,
    )
    assert request.scopes == (f"repository:{repo_name}:pull,push", f"repository:{other}:pull,push")


def test_token_server_oauth_password_and_refresh_grants(tmp_path: Path) -> None:
    with TokenServer(
        tmp_path, users={"alice": "pw"}, grants={"alice": {"a/*": {"pull"}}}, refresh_tokens=True
    ) as server:
        form = (
            f"grant_type=password&username=alice&password=pw&access_type=offline"
            f"&service={server.service}&client_id=t&scope=repository:a/b:pull,push"
        )
        first = json.loads(_post_form(server.realm, form))
        refreshed = json.loads(
            _post_form(
                server.realm,
                f"grant_type=refresh_token&refresh_token={first['refresh_token']}"
                f"&service={server.service}&client_id=t&scope=repository:a/c:pull",
            )
        )
        bad = _post_form(
            server.realm,
            f"grant_type=password&username=alice&password=no&service={server.service}&client_id=t",
            expect=401,
        )

    claims = json.loads(_b64decode(refreshed["access_token"].split(".")[1]))
    assert claims["access"] == [{"type": "repository", "name": "a/c", "actions": ["pull"]}]
    assert claims["aud"] == server.service
    assert b"invalid username or password" in bad
    assert [(r.grant_type, r.status) for r in server.requests] == [
        ("password", 200),
        ("refresh_token", 200),
        ("password", 401),
    ]


def _post_form(url: str, form: str, expect: int = 200) -> bytes:
    request = urllib.request.Request(url, data=form.encode(), method="POST")
    try:
        with _opener.open(request, timeout=10) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    assert status == expect, body
    return body


def _b64decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


# -- the Debian base layer's cache and its errors (the real build is in test_image_e2e) -------


def test_debian_base_layer_reuses_its_cache_without_debootstrap(tmp_path, monkeypatch):
    directory = tmp_path / DEBIAN_CACHE_KEY
    directory.mkdir()
    data = gzip.compress(b"not really a rootfs", mtime=0)
    (directory / "layer.tar.gz").write_bytes(data)
    record = {
        "file": "layer.tar.gz",
        "digest": "sha256:" + hashlib.sha256(data).hexdigest(),
        "diff_id": "sha256:" + hashlib.sha256(b"not really a rootfs").hexdigest(),
        "size": len(data),
    }
    (directory / "layer.json").write_text(json.dumps(record))
    monkeypatch.setattr(testing.shutil, "which", lambda name: None)

    blob = debian_base_layer(tmp_path)

    assert (str(blob.digest), str(blob.diff_id), blob.size) == (
        record["digest"],
        record["diff_id"],
        len(data),
    )
    assert blob.media_type == OCI_LAYER


def test_debian_base_layer_without_root_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr(testing.os, "geteuid", lambda: 1000)

    with pytest.raises(DebianBaseError, match=r"needs root .* run as root or with sudo"):
        debian_base_layer(tmp_path)


def test_debian_base_layer_without_debootstrap_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setattr(testing.os, "geteuid", lambda: 0)
    monkeypatch.setattr(testing.shutil, "which", lambda name: None)
    directory = tmp_path / DEBIAN_CACHE_KEY
    directory.mkdir()
    (directory / "layer.json").write_text('{"file": "gone.tar.gz"')  # half-written: rebuilt

    with pytest.raises(DebianBaseError, match=r"install the Debian package debootstrap"):
        debian_base_layer(tmp_path)
    assert [p.name for p in directory.iterdir()] == ["layer.json"]  # no rootfs left behind


def test_default_cache_dir_follows_ocipush_test_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("OCIPUSH_TEST_CACHE", str(tmp_path))
    assert testing.default_cache_dir() == tmp_path
    monkeypatch.delenv("OCIPUSH_TEST_CACHE")
    assert testing.default_cache_dir() == Path.home() / ".cache" / "ocipush-tests"
