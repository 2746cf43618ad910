"""Faults between ocipush and a real registry (CNCF distribution 2.8), injected by the proxy.

One test per fault kind and push operation: transient faults are retried and the push ends
with the exact manifest (``skopeo inspect --raw``); refusals fail at once with a clear message
and leave the tag where it was; a stalled registry gives a timeout naming host and operation;
bytes that do not match their digest are never committed. Every fault here is injected: a real
registry cannot be made to fail on demand.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import pytest

from ocipush.errors import (
    AuthError,
    DigestMismatchError,
    ManifestError,
    RegistryError,
    TransportError,
)
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob
from ocipush.oci.digest import digest_of
from ocipush.oci.images import Image, ImageIndex
from ocipush.oci.layout import read_layout, write_layout
from ocipush.oci.model import Platform
from ocipush.oci.reference import parse_reference, parse_repository
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Timeouts, Transport
from ocipush.registry.upload import SMALL_BLOB
from ocipush.registry.writer import Writer
from support.images import make_image
from support.proxy import (
    Proxy,
    ReplaceHeader,
    ResetRequest,
    Respond,
    Rule,
    Stall,
)
from support.tools import registry_blob_exists, registry_get_manifest, skopeo_inspect_raw

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01)
TRANSIENT_STATUSES = (408, 429, 499, 500, 502, 503, 504, 522)


@dataclass(frozen=True)
class EarlyEof:
    """Forward the request, then send a few bytes of the status line and close (FIN).

    :class:`support.proxy.TruncateBody` needs a response body, and most push answers have
    none; this cuts the answer itself, which every operation has.
    """

    keep: bytes = b"HTTP/1.1 2"


class FaultProxy(Proxy):
    """The support proxy plus :class:`EarlyEof`."""

    def _relay(self, handler, upstream, response, sent, action) -> None:
        if not isinstance(action, EarlyEof):
            super()._relay(handler, upstream, response, sent, action)
            return
        response.read()
        self._record(handler, sent, response.status, [], action)
        handler.wfile.write(action.keep)
        handler.wfile.flush()
        handler.close_connection = True


# Operation -> (method, path pattern) of the request that gets the fault.
OPERATIONS = {
    "blob-head": ("HEAD", r"/blobs/sha256:"),
    "blob-post": ("POST", r"/blobs/uploads/$"),
    "blob-patch": ("PATCH", r"/blobs/uploads/"),
    "blob-put": ("PUT", r"/blobs/uploads/.*digest="),
    "manifest-put": ("PUT", r"/manifests/"),
    "token-fetch": ("GET", r"^/token"),
}


def _fault(kind: str):
    if kind.isdigit():
        body = json.dumps({"errors": [{"code": "UNKNOWN", "message": "injected"}]}).encode()
        return Respond(int(kind), {"Content-Type": "application/json"}, body)
    return {
        # The request never reaches the registry.
        "reset-before": ResetRequest(after_bytes=0),
        # The registry gets the whole request; its answer is lost.
        "reset-after": ResetRequest(after_bytes=10**9),
        "early-eof": EarlyEof(),
    }[kind]


FAULT_KINDS = [str(s) for s in TRANSIENT_STATUSES] + ["reset-before", "reset-after", "early-eof"]


def _image(seed: str) -> Image:
    return make_image({f"{seed}.txt": f"content of {seed}\n".encode()})


def _writer(timeouts: Timeouts = Timeouts(connect=5, read=10), **options) -> Writer:
    options.setdefault("retry", FAST_RETRY)
    connection = ConnectionOptions(timeouts=timeouts, retry=options["retry"])
    return Writer(Transport(connection, jobs=options.get("jobs", 4)), **options)


def _ref(host: str, repo: str, tag: str = "v1"):
    return parse_reference(f"{host}/{repo}:{tag}")


def _commits(proxy: Proxy) -> list[str]:
    return [
        e.path.rsplit("digest=", 1)[1].replace("%3A", ":")
        for e in proxy.find("PUT", r"/blobs/uploads/.*digest=")
    ]


# -- transient faults x operations ----------------------------------------------------------


@pytest.mark.parametrize("kind", FAULT_KINDS)
@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_transient_fault_is_retried_and_the_push_completes(
    operation, kind, registry, repo_name, token_registry_factory, proxy_factory
):
    method, path = OPERATIONS[operation]
    image = _image(f"{operation}-{kind}-{repo_name}")
    if operation == "token-fetch":
        # Token auth: the registry's proxy sends clients to a proxy of the token server.
        token_registry, tokens = token_registry_factory(grants={None: {"*": {"pull", "push"}}})
        witness_host = token_registry.host
        proxy = proxy_factory(token_registry.url)
        faulty = FaultProxy(tokens.url).start()
        challenge = f'Bearer realm="{faulty.url}/token",service="{tokens.service}"'
        proxy.add_rule(Rule(ReplaceHeader("WWW-Authenticate", challenge), times=None))
    else:
        witness_host = registry.host
        proxy = faulty = FaultProxy(registry.url).start()
    rule = faulty.add_rule(Rule(_fault(kind), method=method, path=path))
    try:
        # A small blob goes up in its commit PUT: the PATCH faults need the PATCH path.
        small_blob = 0 if operation == "blob-patch" else SMALL_BLOB
        writer = _writer(jobs=1, small_blob=small_blob)
        descriptor = writer.write(_ref(proxy.host, repo_name), image)
    finally:
        faulty.stop()

    assert rule.fired == 1
    assert faulty.count(method, path) >= 2  # the operation was tried again
    assert descriptor.digest == image.manifest().digest
    raw = skopeo_inspect_raw(f"{witness_host}/{repo_name}:v1")
    assert raw == image.manifest().raw
    assert digest_of(raw) == descriptor.digest


# -- refusals ---------------------------------------------------------------------------------


def _previous(registry, repo_name: str) -> Image:
    previous = _image(f"previous-{repo_name}")
    _writer().write(_ref(registry.host, repo_name), previous)
    return previous


def test_400_manifest_invalid_fails_at_once_and_keeps_the_tag(registry, repo_name, proxy_factory):
    previous = _previous(registry, repo_name)
    image = _image(f"new-{repo_name}")
    body = json.dumps({"errors": [{"code": "MANIFEST_INVALID", "message": "bad"}]}).encode()
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(
            Respond(400, {"Content-Type": "application/json"}, body),
            method="PUT",
            path=r"/manifests/",
            times=None,
        )
    )
    with pytest.raises(RegistryError) as caught:
        _writer().write(_ref(proxy.host, repo_name), image)

    digest = image.manifest().digest
    url = f"http://{proxy.host}/v2/{repo_name}/manifests/{digest}"
    assert str(caught.value) == (
        f"put manifest {proxy.host}/{repo_name}@{digest}: PUT {url}: 400 MANIFEST_INVALID: bad"
    )
    assert (caught.value.status, caught.value.codes) == (400, ("MANIFEST_INVALID",))
    assert proxy.count("PUT", r"/manifests/") == 1
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == previous.manifest().raw


@pytest.mark.parametrize(
    ("operation", "what"),
    [
        ("manifest-put", "put manifest {host}/{repo}@{digest}"),
        ("blob-post", "start upload of {blob}"),
    ],
)
def test_403_denied_fails_at_once_and_keeps_the_tag(
    registry, repo_name, operation, what, proxy_factory
):
    previous = _previous(registry, repo_name)
    image = _image(f"new-{repo_name}")
    method, path = OPERATIONS[operation]
    body = json.dumps({"errors": [{"code": "DENIED", "message": "no pushing here"}]}).encode()
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(
            Respond(403, {"Content-Type": "application/json"}, body),
            method=method,
            path=path,
            times=None,
        )
    )
    with pytest.raises(AuthError) as caught:
        _writer(jobs=1).write(_ref(proxy.host, repo_name), image)

    (refused,) = proxy.find(method, path)
    action = what.format(
        host=proxy.host,
        repo=repo_name,
        blob=image.layers[0].describe(),
        digest=image.manifest().digest,
    )
    url = f"http://{proxy.host}{refused.path}"
    assert str(caught.value) == (
        f"{action}: access denied on {proxy.host} as anonymous "
        f"(needed repository:{repo_name}:pull,push): {action}: PUT {url}: 403 DENIED: "
        "no pushing here".replace("PUT", method)
    )
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == previous.manifest().raw


def test_wrong_digest_on_a_child_manifest_fails_before_the_tag_moves(
    registry, repo_name, proxy_factory
):
    """The index's children go by digest before the tag: a registry that says it stored
    other bytes is caught there, so the tag keeps pointing at the previous index."""
    first = ImageIndex([make_image({"a": b"1"}, platform=Platform("linux", "amd64"))])
    _writer().write_index(_ref(registry.host, repo_name), first)
    child = make_image({"b": f"2 {repo_name}".encode()}, platform=Platform("linux", "arm64"))
    second = ImageIndex([child])
    wrong = str(digest_of(b"not what was sent"))
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(
            ReplaceHeader("Docker-Content-Digest", wrong),
            method="PUT",
            path=r"/manifests/",
            times=None,
        )
    )
    with pytest.raises(ManifestError) as caught:
        _writer().write_index(_ref(proxy.host, repo_name), second)

    digest = child.manifest().digest
    assert str(caught.value) == (
        f"{proxy.host}/{repo_name}@{digest}: the registry stored the manifest as {wrong}, "
        f"but the bytes sent hash to {digest}"
    )
    assert proxy.count("PUT", r"/manifests/") == 1
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == first.index().raw


def test_wrong_digest_on_the_manifest_put_fails_before_the_tag_moves(
    registry, repo_name, proxy_factory
):
    """An image's manifest goes up by digest before its tag, so a registry that says it
    stored other bytes is caught while the tag still points at the previous image."""
    previous = _previous(registry, repo_name)
    image = _image(f"new-{repo_name}")
    wrong = str(digest_of(b"not what was sent"))
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(ReplaceHeader("Docker-Content-Digest", wrong), method="PUT", path=r"/manifests/")
    )
    with pytest.raises(ManifestError) as caught:
        _writer().write(_ref(proxy.host, repo_name), image)

    digest = image.manifest().digest
    assert str(caught.value) == (
        f"{proxy.host}/{repo_name}@{digest}: the registry stored the manifest as {wrong}, "
        f"but the bytes sent hash to {digest}"
    )
    assert proxy.count("PUT", r"/manifests/") == 1
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == previous.manifest().raw


def test_a_registry_contradicting_itself_on_the_tag_put_is_reported(
    registry, repo_name, proxy_factory
):
    """Limit: when the digest PUT is answered right and only the tag PUT wrong, the request
    that reveals it is the one that wrote the tag. The error says so; nothing is retried.
    (Here the proxy lies and the registry did store the pushed bytes.)"""
    _previous(registry, repo_name)
    image = _image(f"new-{repo_name}")
    wrong = str(digest_of(b"not what was sent"))
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(
            ReplaceHeader("Docker-Content-Digest", wrong),
            method="PUT",
            path=r"/manifests/v1$",
        )
    )
    with pytest.raises(ManifestError) as caught:
        _writer().write(_ref(proxy.host, repo_name), image)

    digest = image.manifest().digest
    assert str(caught.value) == (
        f"{proxy.host}/{repo_name}:v1: the registry stored the manifest as {wrong}, "
        f"but the bytes sent hash to {digest}; the tag now points at what it stored"
    )
    assert proxy.count("PUT", r"/manifests/") == 2


# -- timeouts ---------------------------------------------------------------------------------


def test_a_stalled_blob_check_times_out_naming_host_and_operation(
    registry, repo_name, proxy_factory
):
    image = _image(f"stall-{repo_name}")
    digest = image.layers[0].digest
    proxy = proxy_factory(registry.url)
    stall = proxy.add_rule(Rule(Stall(3.0), method="HEAD", path=r"/blobs/", times=None))
    writer = _writer(
        jobs=1, timeouts=Timeouts(connect=1.0, read=0.5), retry=RetryPolicy(2, 0.001, 0.01)
    )
    started = time.monotonic()
    with pytest.raises(TransportError) as caught:
        writer.write(_ref(proxy.host, repo_name), image)
    elapsed = time.monotonic() - started

    assert str(caught.value) == (
        f"check blob {digest}: registry {proxy.host} did not answer within 0.5 s "
        f"(HEAD /v2/{repo_name}/blobs/{digest})"
    )
    assert proxy.count("HEAD", f"/blobs/{digest}") == 2  # tried twice, as the policy allows
    assert stall.fired >= 2
    assert elapsed < 2.5  # the 0.5 s limit, not the 3 s stall, decided
    assert not registry_blob_exists(registry.host, repo_name, str(digest))


def test_a_stalled_upload_times_out_naming_host_and_operation(registry, repo_name, proxy_factory):
    blob = BytesBlob(f"stalled upload {repo_name}".encode(), mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(Stall(3.0), method="PATCH", times=None))
    writer = _writer(timeouts=Timeouts(read=0.5), retry=RetryPolicy(1), small_blob=0)
    with pytest.raises(TransportError) as caught:
        writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    (patch,) = proxy.find("PATCH")
    path = patch.path.split("?")[0]
    assert str(caught.value) == (
        f"upload {blob.describe()}: registry {proxy.host} did not answer within 0.5 s "
        f"(PATCH {path})"
    )


# -- integrity --------------------------------------------------------------------------------


def test_a_chunked_file_not_matching_its_digest_is_never_committed(
    registry, repo_name, tmp_path, proxy_factory
):
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 10_000)
    declared = digest_of(b"y" * 10_000)
    blob = FileBlob(path, mt.OCI_LAYER, digest=declared, size=10_000)
    proxy = proxy_factory(registry.url)
    writer = _writer(chunk_threshold=1_000, chunk_size=3_000, small_blob=0)
    with pytest.raises(DigestMismatchError) as caught:
        writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    actual = digest_of(b"x" * 10_000)
    assert str(caught.value) == (
        f"{path}: content has digest {actual} but {declared} was declared; "
        "the source changed or is corrupt, so it was not pushed"
    )
    assert [e.request_body_bytes for e in proxy.find("PATCH")] == [3_000, 3_000, 3_000, 1_000]
    assert _commits(proxy) == []
    assert not registry_blob_exists(registry.host, repo_name, str(actual))


def test_a_corrupt_layout_blob_is_never_committed(registry, repo_name, tmp_path, proxy_factory):
    image = _image(f"layout-{repo_name}")
    write_layout(tmp_path / "layout", image, "v1")
    layer = image.layers[0]
    file = tmp_path / "layout" / "blobs" / "sha256" / layer.digest.encoded
    corrupt = bytes(b ^ 0xFF for b in file.read_bytes())  # same size, other bytes
    file.write_bytes(corrupt)
    loaded = read_layout(tmp_path / "layout", "v1")
    with Proxy(registry.url) as proxy, pytest.raises(DigestMismatchError) as caught:
        _writer(jobs=1).write(_ref(proxy.host, repo_name), loaded)

    assert str(caught.value).startswith(f"{file}: content has digest {digest_of(corrupt)} but ")
    assert not any(c in (str(layer.digest), str(digest_of(corrupt))) for c in _commits(proxy))
    assert proxy.count("PUT", r"/manifests/") == 0
    assert not registry_blob_exists(registry.host, repo_name, str(layer.digest))
    with pytest.raises(Exception, match="404"):
        registry_get_manifest(registry.host, repo_name, "v1")


# -- chunked uploads: what a cut chunk costs ------------------------------------------------


@pytest.mark.parametrize(
    ("cut_after", "sessions", "least", "most"),
    [
        # Reset before any body byte of chunk 2: resumed in the same session at 3,000;
        # only that chunk is sent again.
        (0, 1, 10_000, 10_000),
        # Reset after 1,000 bytes of chunk 2: distribution keeps those bytes but invalidates
        # the session (404 BLOB_UPLOAD_INVALID), so the blob starts over in a new one and
        # 3,000 + 1,000 bytes are lost. If the registry has not noticed the cut when asked
        # (GET still says 204), one more chunk goes to the dying session first: the limit.
        (1_000, 2, 3_000 + 1_000 + 10_000, 3_000 + 1_000 + 3_000 + 10_000),
    ],
)
def test_a_cut_chunk_resends_no_more_than_the_registry_forces(
    registry, repo_name, proxy_factory, cut_after, sessions, least, most
):
    """Bytes counted at the proxy; the fault is a connection reset on the second PATCH."""
    data = (repo_name.encode() * 1_000)[:10_000]
    blob = BytesBlob(data, mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(ResetRequest(after_bytes=cut_after), method="PATCH", nth=2))

    _writer(chunk_threshold=1_000, chunk_size=3_000, small_blob=0).write_layer(
        parse_repository(f"{proxy.host}/{repo_name}"), blob
    )

    assert proxy.count("POST") == sessions
    assert least <= sum(e.request_body_bytes for e in proxy.find("PATCH")) <= most
    assert _commits(proxy) == [str(blob.digest)]
    assert registry_blob_exists(registry.host, repo_name, str(blob.digest))


def test_a_forgotten_upload_session_starts_a_new_one(registry, repo_name, proxy_factory):
    """Injected 404 BLOB_UPLOAD_UNKNOWN on the progress check, as a registry that expired the
    session answers: the writer opens a new session for the blob instead of failing."""
    data = (repo_name.encode() * 1_000)[:10_000]
    blob = BytesBlob(data, mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(ResetRequest(after_bytes=0), method="PATCH", nth=2))
    body = json.dumps({"errors": [{"code": "BLOB_UPLOAD_UNKNOWN", "message": "gone"}]}).encode()
    gone = proxy.add_rule(Rule(Respond(404, {}, body), method="GET", path=r"/blobs/uploads/"))

    _writer(chunk_threshold=1_000, chunk_size=3_000, small_blob=0).write_layer(
        parse_repository(f"{proxy.host}/{repo_name}"), blob
    )

    assert gone.fired == 1
    assert proxy.count("POST") == 2
    assert sum(e.request_body_bytes for e in proxy.find("PATCH")) == 3_000 + 10_000
    assert _commits(proxy) == [str(blob.digest)]
