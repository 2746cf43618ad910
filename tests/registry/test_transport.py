"""The HTTP layer: redaction, error bodies, scheme choice and where credentials go."""

from __future__ import annotations

import base64
import time

import pytest

from ocipush.errors import RegistryError
from ocipush.oci.reference import Registry, Repository
from ocipush.registry.keychain import Credentials, StaticKeychain
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Transport, redact_url
from support.proxy import FakeRequest, Proxy, Respond, Rule

# -- redact_url ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://r/v2/a/blobs/uploads/u", "http://r/v2/a/blobs/uploads/u"),
        (
            "http://r/v2/a/blobs/uploads/u?_state=c2VjcmV0&digest=sha256:abc",
            "http://r/v2/a/blobs/uploads/u?_state=***&digest=sha256:abc",
        ),
        (
            "https://s3.example/bucket/blob?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA/x",
            "https://s3.example/bucket/blob?X-Amz-Signature=***&X-Amz-Credential=***",
        ),
        (
            "http://r/v2/b/blobs/uploads/?mount=sha256:abc&from=a/x",
            "http://r/v2/b/blobs/uploads/?mount=sha256:abc&from=a/x",
        ),
        (
            "https://auth.example/token?service=reg&scope=repository:a:pull&account=alice",
            "https://auth.example/token?service=reg&scope=repository:a:pull&account=***",
        ),
        ("http://user:pw@r/v2/?token=t", "http://r/v2/?token=***"),
        ("http://r/v2/tags/list?n=10&last=v1", "http://r/v2/tags/list?n=10&last=v1"),
    ],
)
def test_redact_url(url, expected):
    assert redact_url(url) == expected


# -- against the real registry ------------------------------------------------------------------


def _session(transport: Transport, host: str, path: str = "ocipush-tests/any"):
    return transport.session(Repository(Registry.parse(host), path))


def test_loopback_registry_falls_back_to_plain_http(registry):
    transport = Transport()
    assert transport.base_url(Registry.parse(registry.host)) == f"http://{registry.host}"
    assert transport.auth(Registry.parse(registry.host)).challenge is None


def test_registry_error_json_becomes_error_details(registry, repo_name):
    session = _session(Transport(), registry.host, repo_name)
    path = f"/v2/{repo_name}/manifests/absent"

    with pytest.raises(RegistryError) as caught:
        session.request("GET", session.manifests("absent"), what="get manifest absent")

    error = caught.value
    assert (error.method, error.status) == ("GET", 404)
    assert error.url == f"http://{registry.host}{path}"
    assert [(d.code, d.message) for d in error.details] == [
        ("MANIFEST_UNKNOWN", "manifest unknown")
    ]
    assert not error.temporary
    assert str(error) == (
        f"get manifest absent: GET http://{registry.host}{path}: 404 MANIFEST_UNKNOWN: "
        "manifest unknown"
    )


def test_plain_text_error_body_is_quoted(registry):
    session = _session(Transport(), registry.host)

    with pytest.raises(RegistryError) as caught:
        session.request("GET", "/v2/Upper/Case/manifests/v1")

    assert caught.value.details == ()
    assert caught.value.body_excerpt == "404 page not found"
    assert str(caught.value) == (
        f"GET http://{registry.host}/v2/Upper/Case/manifests/v1: 404 404 page not found"
    )

    with pytest.raises(RegistryError) as head:
        session.request("HEAD", "/v2/Upper/Case/manifests/v1")
    assert str(head.value) == f"HEAD http://{registry.host}/v2/Upper/Case/manifests/v1: 404"


def test_retry_after_is_read_from_the_error(registry, proxy_factory):
    """Injected 429: distribution 2.8 has no rate limiting."""
    proxy = proxy_factory(registry.url)
    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
    proxy.add_rule(Rule(Respond(429, {"Retry-After": "3"}, body), method="GET", path="/tags/"))

    once = _session(Transport(ConnectionOptions(retry=RetryPolicy(attempts=1))), proxy.host, "a")
    with pytest.raises(RegistryError) as caught:
        once.request("GET", "/v2/a/tags/list")

    assert caught.value.retry_after == 3.0
    assert caught.value.temporary
    assert caught.value.codes == ("TOOMANYREQUESTS",)


def test_a_busy_get_is_sent_again_after_retry_after(registry, repo_name, proxy_factory):
    """Injected 429 (distribution 2.8 has no rate limiting): the retry layer waits as told."""
    proxy = proxy_factory(registry.url)
    body = b'{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}'
    path = f"/v2/{repo_name}/blobs/sha256:{'0' * 64}"
    busy = proxy.add_rule(Rule(Respond(429, {"Retry-After": "1"}, body), method="HEAD"))
    started = time.monotonic()

    response = _session(Transport(), proxy.host, repo_name).request("HEAD", path, expected=(404,))

    assert response.status == 404
    assert busy.fired == 1
    assert proxy.count("HEAD", path) == 2
    assert time.monotonic() - started >= 1.0


def test_a_post_is_not_sent_again(registry, repo_name, proxy_factory):
    """Injected 503: starting an upload twice would leave a session behind, so it is not."""
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(Respond(503), method="POST"))
    path = f"/v2/{repo_name}/blobs/uploads/"

    with pytest.raises(RegistryError) as caught:
        _session(Transport(), proxy.host, repo_name).request(
            "POST", path, body=b"", expected=(202,)
        )

    assert caught.value.status == 503
    assert proxy.count("POST", path) == 1


def test_expected_statuses_are_returned_not_raised(registry, repo_name):
    session = _session(Transport(), registry.host, repo_name)
    response = session.request("HEAD", session.blobs(f"sha256:{'0' * 64}"), expected=(200, 404))
    assert response.status == 404


# -- redirects to another host ------------------------------------------------------------------


def test_credentials_are_not_sent_to_a_redirect_on_another_port():
    """Fake servers: a registry redirecting blob reads to separate storage (S3, a CDN) on another
    host, which the local filesystem-backed registry never does."""
    digest = "sha256:" + "a" * 64
    with Proxy() as storage, Proxy() as fake_registry:
        storage.route("GET", r"/bucket/blob\?.*", lambda _: Respond(200, {}, b"blob bytes"))
        fake_registry.route(
            "GET",
            "/v2/",
            lambda _: Respond(
                401,
                {
                    "WWW-Authenticate": 'Basic realm="fake"',
                    "Docker-Distribution-API-Version": "registry/2.0",
                },
            ),
        )

        def blob(request: FakeRequest) -> Respond:
            if "Authorization" not in request.headers:
                return Respond(401, {"WWW-Authenticate": 'Basic realm="fake"'})
            return Respond(307, {"Location": f"{storage.url}/bucket/blob?X-Signature=s3cr3t"})

        fake_registry.route("GET", f"/v2/a/blobs/{digest}", blob)
        keychain = StaticKeychain(
            {fake_registry.host: Credentials(username="alice", password="pw", source="test")}
        )
        transport = Transport(ConnectionOptions(keychain=keychain))

        session = _session(transport, fake_registry.host, "a")
        with session.fetch(session.blobs(digest), what="get blob") as reader:
            assert reader.read() == b"blob bytes"

        (to_registry,) = fake_registry.find("GET", "/blobs/")
        expected = "Basic " + base64.b64encode(b"alice:pw").decode()
        assert to_registry.request_headers["Authorization"] == expected
        (to_storage,) = storage.find("GET")
        assert "Authorization" not in to_storage.request_headers
        assert to_storage.path == "/bucket/blob?X-Signature=s3cr3t"
