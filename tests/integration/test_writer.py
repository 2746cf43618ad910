"""The push protocol against a real registry (CNCF distribution 2.8 on loopback).

What is checked is what a user would check: blobs present under the right digests, the
manifest bytes the registry serves, tags, and the requests on the wire (counted by the
recording proxy in front of the registry). Faults are injected only where a real registry
cannot be made to produce the response; each such test says so in its docstring.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import math
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ocipush.cli.remedies import remedy
from ocipush.errors import (
    AuthError,
    DeleteWouldUntagError,
    DigestMismatchError,
    OcipushError,
    RegistryError,
)
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob, StreamBlob
from ocipush.oci.digest import Digest, digest_of
from ocipush.oci.images import Image, ImageIndex
from ocipush.oci.model import Platform
from ocipush.oci.reference import Repository, parse_reference, parse_repository
from ocipush.registry.keychain import Credentials, StaticKeychain
from ocipush.registry.progress import ProgressUpdate
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Deleted, Writer
from ocipush.testing import LocalRegistry
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_config, make_image, make_tar, make_tar_gz_layer
from support.proxy import Proxy, ResetRequest, Respond, Rule, Stall
from support.tools import (
    ToolError,
    registry_blob_exists,
    registry_get_manifest,
    registry_push_blob,
    skopeo_copy,
    skopeo_inspect_raw,
    umoci_unpack,
)

FAST_RETRY = RetryPolicy(attempts=4, initial_delay=0.001, max_delay=0.01)
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# -- helpers ------------------------------------------------------------------------------------


def _writer(keychain=None, **options) -> Writer:
    options.setdefault("retry", FAST_RETRY)
    if keychain is None:
        return Writer(**options)
    connection = ConnectionOptions(keychain=keychain, retry=options["retry"])
    return Writer(Transport(connection, jobs=options.get("jobs", 4)), **options)


def _ref(host: str, repo: str, tag: str = "v1"):
    return parse_reference(f"{host}/{repo}:{tag}")


def _get_blob(host: str, repo: str, digest: Digest | str) -> bytes:
    request = urllib.request.Request(f"http://{host}/v2/{repo}/blobs/{digest}")
    with _opener.open(request, timeout=10) as response:
        return response.read()


def _data(size: int, seed: str = "x") -> bytes:
    """``size`` deterministic, incompressible bytes."""
    out = b""
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}-{counter}".encode()).digest()
        counter += 1
    return out[:size]


def _two_layer_image(name: str, platform: Platform | None = None) -> Image:
    layers = [
        make_tar_gz_layer({f"{name}/a.txt": f"first layer of {name}\n".encode()}),
        make_tar_gz_layer({f"{name}/b.txt": f"second layer of {name}\n".encode()}),
    ]
    return Image(layers=layers, config=make_config(layers, platform), platform=platform)


def _commits(proxy: Proxy) -> list[str]:
    """Digests committed by ``PUT .../blobs/uploads/...?digest=``, in order."""
    return [
        e.path.rsplit("digest=", 1)[1].replace("%3A", ":")
        for e in proxy.find("PUT", r"/blobs/uploads/.*digest=")
    ]


def _tag_absent(host: str, repo: str, tag: str) -> bool:
    try:
        registry_get_manifest(host, repo, tag)
    except ToolError as error:
        return ": 404 " in str(error)
    return False


class _ConcurrencyProxy(Proxy):
    """A recording proxy that also measures how many requests it serves at once.

    :class:`support.proxy.Proxy` records exchanges but not their overlap, so this wraps its
    dispatch to count requests in flight, per method.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self._flight_lock = threading.Lock()
        self._in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def _serve(self, handler) -> None:
        method = handler.command
        with self._flight_lock:
            self._in_flight[method] = self._in_flight.get(method, 0) + 1
            self._in_flight["*"] = self._in_flight.get("*", 0) + 1
            for key in (method, "*"):
                self.peak[key] = max(self.peak.get(key, 0), self._in_flight[key])
        try:
            super()._serve(handler)
        finally:
            with self._flight_lock:
                self._in_flight[method] -= 1
                self._in_flight["*"] -= 1


class _MountableBytes(BytesBlob):
    """Bytes we hold, claimed to be in ``source`` too, so the writer tries a mount first."""

    def __init__(self, data: bytes, media_type: str, source: Repository) -> None:
        super().__init__(data, media_type)
        self._source = source

    @property
    def mount_source(self) -> Repository:
        return self._source


# -- write ----------------------------------------------------------------------------------


def test_write_uploads_every_blob_and_the_exact_manifest(registry, repo_name):
    image = _two_layer_image("app")
    ref = _ref(registry.host, repo_name)
    writer = _writer()

    descriptor = writer.write(ref, image)

    raw = image.manifest().raw
    assert descriptor.digest == digest_of(raw)
    assert descriptor.size == len(raw)
    assert descriptor.media_type == mt.OCI_MANIFEST
    for blob in image.blobs():
        assert registry_blob_exists(registry.host, repo_name, str(blob.digest))
        assert digest_of(_get_blob(registry.host, repo_name, blob.digest)) == blob.digest
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == raw
    body, headers = registry_get_manifest(registry.host, repo_name, "v1")
    assert body == raw
    assert headers["Docker-Content-Digest"] == str(digest_of(raw))
    assert writer.last_result.uploaded == {b.digest for b in image.blobs()}


def test_warm_repush_to_a_new_tag_sends_no_post_and_no_patch(registry, repo_name, proxy_factory):
    image = _two_layer_image("warm")
    _writer().write(_ref(registry.host, repo_name), image)
    proxy = proxy_factory(registry.url)
    writer = _writer()

    writer.write(_ref(proxy.host, repo_name, "v2"), image)

    assert proxy.count("POST") == 0
    assert proxy.count("PATCH") == 0
    assert proxy.count("HEAD", r"/blobs/") == 3
    assert proxy.count("PUT", r"/manifests/v2$") == 1
    assert writer.last_result.existing == {b.digest for b in image.blobs()}
    assert writer.last_result.uploaded == set()
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v2") == image.manifest().raw


def test_a_repush_where_the_tag_already_names_the_image_sends_no_manifest_put(
    registry, repo_name, proxy_factory
):
    image = _two_layer_image("same-tag")
    _writer().write(_ref(registry.host, repo_name), image)
    proxy = proxy_factory(registry.url)
    writer = _writer()

    descriptor = writer.write(_ref(proxy.host, repo_name), image)

    assert descriptor.digest == image.manifest().digest
    assert [(e.method, e.path) for e in proxy.exchanges if e.path != "/v2/"] == [
        ("HEAD", f"/v2/{repo_name}/manifests/v1")
    ]
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw


def test_only_missing_blobs_are_uploaded(registry, repo_name, proxy_factory):
    image = _two_layer_image("partial")
    first, second = image.layers
    assert isinstance(first, BytesBlob)
    registry_push_blob(registry.host, repo_name, first.data)
    proxy = proxy_factory(registry.url)
    writer = _writer()

    writer.write(_ref(proxy.host, repo_name), image)

    config = image.config_blob()
    assert proxy.count("PATCH") == 0  # small blobs go up in their commit PUT
    assert sorted(_commits(proxy)) == sorted([str(second.digest), str(config.digest)])
    assert writer.last_result.existing == {first.digest}
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw


# -- indexes ------------------------------------------------------------------------------


def test_write_index_pushes_children_by_digest_then_the_exact_index(
    registry, repo_name, proxy_factory
):
    amd64 = _two_layer_image("amd", Platform("linux", "amd64"))
    arm64 = _two_layer_image("arm", Platform("linux", "arm64", "v8"))
    inner = ImageIndex([amd64, arm64], platform=None)
    extra = make_image({"extra.txt": b"extra\n"}, platform=Platform("linux", "s390x"))
    outer = ImageIndex([inner, extra])
    proxy = proxy_factory(registry.url)

    descriptor = _writer().write_index(_ref(proxy.host, repo_name), outer)

    raw = outer.index().raw
    assert descriptor.digest == digest_of(raw)
    assert descriptor.media_type == mt.OCI_INDEX
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == raw
    children = [amd64.manifest(), arm64.manifest(), extra.manifest(), inner.index()]
    for child in children:
        assert skopeo_inspect_raw(f"{registry.host}/{repo_name}@{child.digest}") == child.raw
    puts = [e.path.rsplit("/", 1)[1] for e in proxy.find("PUT", r"/manifests/")]
    # Every child once by digest, the nested index after its own children, then the index
    # itself by digest, and the tag last.
    assert sorted(puts[:-2]) == sorted(str(m.digest) for m in children)
    assert puts[-2:] == [str(outer.index().digest), "v1"]
    inner_at = puts.index(str(inner.index().digest))
    assert puts.index(str(amd64.manifest().digest)) < inner_at
    assert puts.index(str(arm64.manifest().digest)) < inner_at
    listed = json.loads(raw)["manifests"]
    assert [m["digest"] for m in listed] == [
        str(inner.index().digest),
        str(extra.manifest().digest),
    ]
    assert listed[1]["platform"] == {"architecture": "s390x", "os": "linux"}
    assert [m["platform"] for m in json.loads(inner.index().raw)["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]

    # Warm re-push: the tag already names the index, so nothing is checked or put again.
    proxy.clear()
    _writer().write_index(_ref(proxy.host, repo_name), outer)
    assert proxy.count("POST") == proxy.count("PATCH") == 0
    assert proxy.count("HEAD", r"/blobs/") == 0
    assert proxy.find("PUT") == []
    # To a new tag: the children are found by digest, so no blob is even checked.
    proxy.clear()
    _writer().write_index(_ref(proxy.host, repo_name, "v2"), outer)
    assert proxy.count("POST") == proxy.count("PATCH") == 0
    assert proxy.count("HEAD", r"/blobs/") == 0
    assert [e.path.rsplit("/", 1)[1] for e in proxy.find("PUT")] == [
        str(outer.index().digest),
        "v2",
    ]


def test_write_index_never_runs_more_than_jobs_uploads_at_once(registry, repo_name):
    images = [
        make_image({f"f{i}.txt": f"image {i}\n".encode()}, platform=Platform("linux", f"arch{i}"))
        for i in range(5)
    ]
    with _ConcurrencyProxy(registry.url) as proxy:
        # Slow PATCHes down so that uploads overlap whenever the writer lets them.
        stall = proxy.add_rule(Rule(Stall(0.15), method="PATCH", times=None))
        _writer(jobs=2, small_blob=0).write_index(_ref(proxy.host, repo_name), ImageIndex(images))

    assert stall.fired == 10  # a layer and a config per image
    assert proxy.peak["PATCH"] == 2
    assert proxy.peak["*"] <= 2
    for image in images:
        blob = image.layers[0]
        assert registry_blob_exists(registry.host, repo_name, str(blob.digest))


def test_multi_write_uploads_a_shared_layer_once(registry, repo_name, proxy_factory):
    shared = make_tar_gz_layer({"shared.txt": b"in both images\n"})
    own1 = make_tar_gz_layer({"one.txt": b"one\n"})
    own2 = make_tar_gz_layer({"two.txt": b"two\n"})
    image1 = Image(layers=[shared, own1], config=make_config([shared, own1]))
    image2 = Image(layers=[shared, own2], config=make_config([shared, own2]))
    proxy = proxy_factory(registry.url)
    ref1, ref2 = _ref(proxy.host, repo_name, "one"), _ref(proxy.host, repo_name, "two")

    results = _writer().multi_write({ref1: image1, ref2: image2})

    commits = _commits(proxy)
    assert commits.count(str(shared.digest)) == 1
    assert sorted(commits) == sorted(
        str(d)
        for d in {
            shared.digest,
            own1.digest,
            own2.digest,
            image1.config_blob().digest,
            image2.config_blob().digest,
        }
    )
    assert proxy.count("HEAD", f"/blobs/{shared.digest}") == 1
    assert results[ref1].digest == image1.manifest().digest
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:one") == image1.manifest().raw
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:two") == image2.manifest().raw


# -- single verbs -------------------------------------------------------------------------------


def test_write_layer_put_tag_and_delete(registry, repo_name):
    image = _two_layer_image("verbs")
    repository = parse_repository(f"{registry.host}/{repo_name}")
    writer = _writer()

    for blob in image.blobs():
        descriptor = writer.write_layer(repository, blob)
        assert descriptor.digest == blob.digest
        assert _get_blob(registry.host, repo_name, blob.digest) == blob.data  # type: ignore[attr-defined]
    put = writer.put(_ref(registry.host, repo_name, "v1"), image)
    tagged = writer.tag(_ref(registry.host, repo_name, "stable"), image.manifest())

    manifest = image.manifest()
    assert put.digest == tagged.digest == manifest.digest
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:stable") == manifest.raw
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}@{manifest.digest}") == manifest.raw

    deleted = writer.delete(_ref(registry.host, repo_name, "stable"), force=True)

    assert deleted == Deleted(manifest.digest, ("stable", "v1"), manifest=True)
    assert _tag_absent(registry.host, repo_name, "stable")
    assert _tag_absent(registry.host, repo_name, "v1")
    assert _tag_absent(registry.host, repo_name, str(manifest.digest))


def test_delete_by_tag_refuses_when_other_tags_name_the_manifest(registry, repo_name):
    """distribution 2.8 deletes manifests, not tags: deleting "a" would silently take "b"."""
    image = make_image({"shared.txt": b"two tags, one manifest\n"})
    writer = _writer()
    writer.multi_write(
        {_ref(registry.host, repo_name, "a"): image, _ref(registry.host, repo_name, "b"): image}
    )
    ref = _ref(registry.host, repo_name, "a")

    with pytest.raises(OcipushError) as caught:
        writer.delete(ref)

    digest = image.manifest().digest
    assert str(caught.value) == (
        f"delete {ref}: {registry.host} can only delete the manifest {digest}, and tag b "
        "names it too, so they would go as well; nothing was deleted"
    )
    assert isinstance(caught.value, DeleteWouldUntagError)
    assert caught.value.others == ("b",)
    assert remedy(caught.value) == "pass --force to delete the manifest with all its tags"
    for tag in ("a", "b"):
        assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:{tag}") == image.manifest().raw


def test_delete_by_tag_deletes_only_the_tag_where_the_registry_can(
    registry, repo_name, proxy_factory
):
    """distribution 2.8 cannot delete a tag; the proxy answers 202 as an OCI distribution 1.1
    registry does, so only that DELETE is sent and the manifest stays."""
    image = make_image({"kept.txt": b"only the tag goes\n"})
    writer = _writer()
    writer.multi_write({_ref(registry.host, repo_name, t): image for t in ("a", "b")})
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(Respond(202), method="DELETE", path="/manifests/a$"))
    digest = image.manifest().digest

    deleted = Writer().delete(parse_reference(f"{proxy.host}/{repo_name}:a"))

    assert deleted == Deleted(digest, ("a",), manifest=False)
    assert [e.path for e in proxy.find("DELETE")] == [f"/v2/{repo_name}/manifests/a"]
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}@{digest}") == image.manifest().raw


def test_delete_of_a_missing_tag_names_it(registry, repo_name):
    ref = _ref(registry.host, repo_name, "never-pushed")
    with pytest.raises(OcipushError) as caught:
        _writer().delete(ref)
    assert str(caught.value) == (
        f"delete {ref}: {registry.host}/{repo_name} has no manifest never-pushed; nothing was "
        "deleted"
    )


def test_put_of_a_manifest_with_missing_blobs_reports_the_registry_error(registry, repo_name):
    image = _two_layer_image("missing")
    ref = _ref(registry.host, repo_name)
    with pytest.raises(RegistryError) as caught:
        _writer().put(ref, image)
    error = caught.value
    assert error.status == 400
    assert error.method == "PUT"
    assert error.codes == ("MANIFEST_BLOB_UNKNOWN",) * 3  # two layers and the config
    assert error.url == f"http://{registry.host}/v2/{repo_name}/manifests/v1"
    assert str(error).startswith(
        f"put manifest {registry.host}/{repo_name}:v1: PUT {error.url}: 400 "
        "MANIFEST_BLOB_UNKNOWN: blob unknown to registry"
    )
    assert _tag_absent(registry.host, repo_name, "v1")


# -- mounts -----------------------------------------------------------------------------------


def test_copy_within_a_registry_mounts_every_blob(registry, repo_name, proxy_factory):
    image = _two_layer_image("mount")
    source_repo, target_repo = f"{repo_name}/source", f"{repo_name}/target"
    _writer().write(_ref(registry.host, source_repo), image)
    proxy = proxy_factory(registry.url)
    writer = _writer()

    source = Remote(writer.transport).get(_ref(proxy.host, source_repo))
    writer.write(_ref(proxy.host, target_repo), source)

    mounts = proxy.find("POST", r"/blobs/uploads/\?mount=")
    assert len(mounts) == 3
    assert {e.status for e in mounts} == {201}
    assert all(f"from={source_repo.replace('/', '%2F')}" in e.path for e in mounts)
    assert proxy.count("PATCH") == 0
    assert writer.last_result.mounted == {b.digest for b in image.blobs()}
    assert skopeo_inspect_raw(f"{registry.host}/{target_repo}:v1") == image.manifest().raw
    for blob in image.blobs():
        assert registry_blob_exists(registry.host, target_repo, str(blob.digest))


def test_mount_from_a_repository_without_the_blob_falls_back_to_an_upload(
    registry, repo_name, proxy_factory
):
    proxy = proxy_factory(registry.url)
    empty_source = parse_repository(f"{proxy.host}/{repo_name}/empty")
    layer = _MountableBytes(_data(300, "not-there"), mt.OCI_LAYER, empty_source)
    target = parse_repository(f"{proxy.host}/{repo_name}/target")
    writer = _writer()

    writer.write_layer(target, layer)

    mounts = proxy.find("POST", r"mount=")
    assert [e.status for e in mounts] == [202]  # a plain upload session instead of a mount
    assert proxy.count("POST") == 1
    assert _commits(proxy) == [str(layer.digest)]
    assert _get_blob(registry.host, f"{repo_name}/target", layer.digest) == layer.data
    assert writer.last_result.uploaded == {layer.digest}


def test_mount_refused_with_401_falls_back_to_an_upload(registry, repo_name, proxy_factory):
    """Injected 401 on the mount POST: what Harbor and GitLab answer for a foreign ``from``;
    distribution 2.8 without auth cannot refuse a mount this way."""
    image = _two_layer_image("refused")
    source_repo, target_repo = f"{repo_name}/source", f"{repo_name}/target"
    _writer().write(_ref(registry.host, source_repo), image)
    proxy = proxy_factory(registry.url)
    body = json.dumps({"errors": [{"code": "UNAUTHORIZED", "message": "no"}]}).encode()
    refusal = proxy.add_rule(
        Rule(
            Respond(401, {"Content-Type": "application/json"}, body),
            method="POST",
            path=r"mount=",
            times=None,
        )
    )
    writer = _writer()

    source = Remote(writer.transport).get(_ref(proxy.host, source_repo))
    writer.write(_ref(proxy.host, target_repo), source)

    # Each blob tries at most once; blobs that start after a refusal do not try at all.
    assert 1 <= refusal.fired <= 3
    assert proxy.count("POST", r"/blobs/uploads/$") == 3
    assert len(_commits(proxy)) == 3
    assert writer.last_result.uploaded == {b.digest for b in image.blobs()}
    assert skopeo_inspect_raw(f"{registry.host}/{target_repo}:v1") == image.manifest().raw
    for blob in image.blobs():
        assert registry_blob_exists(registry.host, target_repo, str(blob.digest))


def test_token_scopes_put_the_push_scope_first_and_pull_the_mount_source(
    token_registry_factory, repo_name
):
    token_registry, tokens = token_registry_factory(grants={None: {"*": {"pull", "push"}}})
    image = _two_layer_image("scoped")
    source_repo, target_repo = f"{repo_name}/source", f"{repo_name}/target"
    _writer().write(_ref(token_registry.host, source_repo), image)
    assert tokens.requests[0].scopes == (f"repository:{source_repo}:pull,push",)
    before = len(tokens.requests)
    writer = _writer()

    source = Remote(writer.transport).get(_ref(token_registry.host, source_repo))
    writer.write(_ref(token_registry.host, target_repo), source)

    scopes = [r.scopes for r in tokens.requests[before:]]
    assert scopes == [
        (f"repository:{source_repo}:pull",),
        (f"repository:{target_repo}:pull,push", f"repository:{source_repo}:pull"),
    ]
    assert all(r.status == 200 for r in tokens.requests)
    assert writer.last_result.mounted == {b.digest for b in image.blobs()}
    committed = {
        e.path.split("/blobs/")[0]
        for e in token_registry.requests()
        if e.method == "PUT" and "/blobs/uploads/" in e.path
    }
    assert committed == {f"/v2/{source_repo}"}  # the copy uploaded nothing


# -- streaming and chunking ---------------------------------------------------------------------


def test_streamed_layer_with_a_config_built_afterwards(registry, repo_name, tmp_path):
    tar = make_tar({"hello/streamed.txt": b"streamed through gzip\n"})
    layer = StreamBlob(io.BytesIO(tar), mt.OCI_LAYER, compress=True, name="hello.tar")
    image = Image(layers=[layer], config=make_config)

    updates: list[ProgressUpdate] = []
    descriptor = _writer(progress=updates.append).write(_ref(registry.host, repo_name), image)

    assert layer.digest is not None
    assert layer.size is not None
    total = layer.size + (image.config_blob().size or 0) + len(image.manifest().raw)
    assert updates[-1].total == updates[-1].complete == total
    assert layer.diff_id == digest_of(tar)
    assert registry_blob_exists(registry.host, repo_name, str(layer.digest))
    raw = skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1")
    assert raw == image.manifest().raw
    assert digest_of(raw) == descriptor.digest
    assert json.loads(raw)["layers"][0]["size"] == layer.size
    skopeo_copy(f"{registry.host}/{repo_name}:v1", f"oci:{tmp_path / 'layout'}:v1")
    rootfs = umoci_unpack(tmp_path / "layout", "v1", tmp_path / "bundle")
    assert (rootfs / "hello" / "streamed.txt").read_bytes() == b"streamed through gzip\n"


def test_chunked_upload_sends_ceil_size_over_chunk_patches(registry, repo_name, proxy_factory):
    data = _data(10_000, "chunked")
    blob = BytesBlob(data, mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    writer = _writer(small_blob=0, chunk_threshold=1_000, chunk_size=3_000)

    writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    patches = proxy.find("PATCH")
    assert len(patches) == math.ceil(10_000 / 3_000) == 4
    assert [e.request_body_bytes for e in patches] == [3_000, 3_000, 3_000, 1_000]
    assert [e.request_headers["Content-Range"] for e in patches] == [
        "0-2999",
        "3000-5999",
        "6000-8999",
        "9000-9999",
    ]
    assert _commits(proxy) == [str(blob.digest)]
    assert _get_blob(registry.host, repo_name, blob.digest) == data


def test_chunk_reset_midway_resumes_from_the_registry_offset(registry, repo_name, proxy_factory):
    """Injected connection reset during the second chunk's body: a real registry cannot be
    made to drop a connection, and a resumable upload exists for exactly this failure."""
    size, chunk = 10_000, 3_000
    data = _data(size, "resumed")
    blob = BytesBlob(data, mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    reset = proxy.add_rule(Rule(ResetRequest(after_bytes=0), method="PATCH", nth=2))
    updates: list[ProgressUpdate] = []
    writer = _writer(small_blob=0, chunk_threshold=1_000, chunk_size=chunk, progress=updates.append)

    writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    assert reset.fired == 1
    assert proxy.count("GET", r"/blobs/uploads/") == 1  # asked the registry for its offset
    assert proxy.count("POST") == 1  # the same upload session went on
    sent = sum(e.request_body_bytes for e in proxy.find("PATCH"))
    assert sent <= size + chunk
    assert _get_blob(registry.host, repo_name, blob.digest) == data
    assert updates[-1].complete == updates[-1].total == size
    assert max(u.complete for u in updates) <= size


def test_chunk_reset_after_some_bytes_restarts_the_upload(registry, repo_name, proxy_factory):
    """Injected connection reset after 1,000 bytes of the second chunk (see above).

    Distribution 2.8 keeps the partial bytes but not the upload state, so the session is
    invalid from then on (GET answers 404 BLOB_UPLOAD_INVALID and cancels it): the only way
    on is a fresh upload, and nothing of the blob may be lost or counted twice.
    """
    size, chunk = 10_000, 3_000
    data = _data(size, "partial-chunk")
    blob = BytesBlob(data, mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    reset = proxy.add_rule(Rule(ResetRequest(after_bytes=1_000), method="PATCH", nth=2))
    updates: list[ProgressUpdate] = []
    writer = _writer(small_blob=0, chunk_threshold=1_000, chunk_size=chunk, progress=updates.append)

    writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    assert reset.fired == 1
    exchanges = proxy.exchanges
    posts = [i for i, e in enumerate(exchanges) if e.method == "POST"]
    assert len(posts) == 2  # the invalidated session was given up for a fresh one
    assert any(
        e.method == "GET" and "/blobs/uploads/" in e.path and e.status == 404
        for e in exchanges[posts[0] : posts[1]]
    )
    fresh = [e.request_body_bytes for e in exchanges[posts[1] :] if e.method == "PATCH"]
    assert fresh == [3_000, 3_000, 3_000, 1_000]
    assert _commits(proxy) == [str(blob.digest)]
    assert _get_blob(registry.host, repo_name, blob.digest) == data
    assert updates[-1].complete == updates[-1].total == size
    assert max(u.complete for u in updates) <= size


# -- referrers ----------------------------------------------------------------------------------


def _artifact(subject: Image, payload: bytes, kind: str, note: str) -> Image:
    return Image(
        layers=[BytesBlob(payload, "application/vnd.example.payload")],
        config=BytesBlob(b"{}", mt.OCI_EMPTY),
        artifact_type=kind,
        subject=subject.descriptor(),
        annotations={"org.example.note": note},
    )


def _fallback_index(host: str, repo: str, subject: Image) -> tuple[bytes, dict]:
    tag = subject.manifest().digest.fallback_tag
    body, headers = registry_get_manifest(host, repo, tag)
    assert headers["Content-Type"] == mt.OCI_INDEX
    return body, json.loads(body)


def test_referrers_fallback_tag_lists_artifacts_sorted_without_duplicates(
    registry, repo_name, proxy_factory
):
    image = make_image({"app.txt": b"app\n"})
    writer = _writer()
    writer.write(_ref(registry.host, repo_name), image)
    signature = _artifact(image, b"signature", "application/vnd.example.signature", "sig")
    sbom = _artifact(image, b"sbom", "application/vnd.example.sbom", "sbom")
    fallback = f"sha256-{image.manifest().digest.encoded}"

    writer.write(_ref(registry.host, repo_name, "sig"), signature)

    _, index = _fallback_index(registry.host, repo_name, image)
    manifest = signature.manifest()
    assert index == {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            {
                "mediaType": mt.OCI_MANIFEST,
                "digest": str(manifest.digest),
                "size": len(manifest.raw),
                "annotations": {"org.example.note": "sig"},
                "artifactType": "application/vnd.example.signature",
            }
        ],
    }
    assert json.loads(manifest.raw)["config"] == {
        "mediaType": mt.OCI_EMPTY,
        "digest": str(digest_of(b"{}")),
        "size": 2,
    }

    writer.write(_ref(registry.host, repo_name, "sbom"), sbom)

    _, index = _fallback_index(registry.host, repo_name, image)
    entries = index["manifests"]
    assert [e["digest"] for e in entries] == sorted(
        [str(signature.manifest().digest), str(sbom.manifest().digest)]
    )
    by_type = {e["artifactType"]: e for e in entries}
    assert by_type["application/vnd.example.sbom"]["annotations"] == {"org.example.note": "sbom"}
    assert by_type["application/vnd.example.sbom"]["size"] == len(sbom.manifest().raw)

    before, _ = _fallback_index(registry.host, repo_name, image)
    proxy = proxy_factory(registry.url)
    # Under a new tag, so the signature is put again (its old tag would already name it).
    _writer().write(_ref(proxy.host, repo_name, "sig-again"), signature)

    after, _ = _fallback_index(registry.host, repo_name, image)
    assert after == before
    assert proxy.count("PUT", f"/manifests/{fallback}$") == 0
    assert proxy.count("GET", f"/manifests/{fallback}$") == 1


def test_no_fallback_tag_when_the_registry_has_a_referrers_api(registry, repo_name, proxy_factory):
    """Injected 200 from the referrers API: distribution 2.8 has none (it answers 404)."""
    image = make_image({"api.txt": b"api\n"})
    _writer().write(_ref(registry.host, repo_name), image)
    proxy = proxy_factory(registry.url)
    empty = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}).encode()
    api = proxy.add_rule(
        Rule(
            Respond(200, {"Content-Type": mt.OCI_INDEX}, empty),
            method="GET",
            path=r"/referrers/",
            times=None,
        )
    )
    artifact = _artifact(image, b"attestation", "application/vnd.example.att", "att")

    _writer().write(_ref(proxy.host, repo_name, "att"), artifact)

    assert api.fired == 1
    assert proxy.count(None, r"/manifests/sha256-") == 0
    assert _tag_absent(registry.host, repo_name, image.manifest().digest.fallback_tag)
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:att") == artifact.manifest().raw


# -- nondistributable layers --------------------------------------------------------------------


@pytest.fixture(scope="module")
def foreign_url_registry(tmp_path_factory):
    accept_foreign_urls = {"validation": {"manifests": {"urls": {"allow": ["^https?://"]}}}}
    with LocalRegistry(
        workdir=tmp_path_factory.mktemp("foreign-registry"), extra_config=accept_foreign_urls
    ) as started:
        yield started


def _foreign_image(tmp_path: Path) -> tuple[Image, FileBlob]:
    tar = make_tar({"windows/base.txt": b"licensed base layer\n"})
    path = tmp_path / "foreign.tar.gz"
    path.write_bytes(gzip.compress(tar, mtime=0))
    foreign = FileBlob(
        path,
        mt.OCI_LAYER_NONDIST_GZIP,
        urls=("https://example.com/layers/base.tar.gz",),
        diff_id=digest_of(tar),
    )
    ordinary = make_tar_gz_layer({"app.txt": b"app on a foreign base\n"})
    layers = [foreign, ordinary]
    return Image(layers=layers, config=make_config(layers)), foreign


def test_nondistributable_layer_is_not_uploaded_by_default(
    foreign_url_registry, repo_name, tmp_path
):
    host = foreign_url_registry.host
    image, foreign = _foreign_image(tmp_path)
    updates: list[ProgressUpdate] = []
    writer = _writer(progress=updates.append)

    writer.write(_ref(host, repo_name), image)

    assert not registry_blob_exists(host, repo_name, str(foreign.digest))
    assert registry_blob_exists(host, repo_name, str(image.layers[1].digest))
    raw = skopeo_inspect_raw(f"{host}/{repo_name}:v1")
    assert raw == image.manifest().raw
    assert json.loads(raw)["layers"][0]["urls"] == ["https://example.com/layers/base.tar.gz"]
    assert writer.last_result.skipped_nondistributable == {foreign.digest}
    expected_total = image.layers[1].size + image.config_blob().size + len(raw)
    assert updates[-1].total == updates[-1].complete == expected_total


def test_nondistributable_layer_is_uploaded_when_allowed(foreign_url_registry, repo_name, tmp_path):
    host = foreign_url_registry.host
    image, foreign = _foreign_image(tmp_path)
    writer = _writer(allow_nondistributable_artifacts=True)

    writer.write(_ref(host, repo_name), image)

    assert registry_blob_exists(host, repo_name, str(foreign.digest))
    assert _get_blob(host, repo_name, foreign.digest) == foreign.path.read_bytes()
    assert skopeo_inspect_raw(f"{host}/{repo_name}:v1") == image.manifest().raw
    assert writer.last_result.skipped_nondistributable == set()


# -- progress -----------------------------------------------------------------------------------


def test_progress_counts_existing_and_mounted_blobs_as_complete(registry, repo_name):
    image = _two_layer_image("progress")
    first = image.layers[0]
    assert isinstance(first, BytesBlob)
    registry_push_blob(registry.host, repo_name, first.data)
    updates: list[ProgressUpdate] = []

    _writer(progress=updates.append).write(_ref(registry.host, repo_name), image)

    blob_bytes = sum(b.size or 0 for b in image.blobs())
    assert updates[-1].total == blob_bytes + len(image.manifest().raw)
    assert updates[-1].complete == updates[-1].total
    assert all(0 <= u.complete <= updates[-1].total for u in updates)
    assert all(u.error is None for u in updates)

    # A copy to another repository mounts everything: still complete == total.
    mounted: list[ProgressUpdate] = []
    writer = _writer(progress=mounted.append)
    source = Remote(writer.transport).get(_ref(registry.host, repo_name))
    writer.write(_ref(registry.host, f"{repo_name}/copy"), source)
    assert writer.last_result.mounted == {b.digest for b in image.blobs()}
    assert mounted[-1].total == mounted[-1].complete == updates[-1].total


def test_progress_does_not_overcount_a_retried_upload(registry, repo_name, proxy_factory):
    """Injected 500 on the first PATCH: a real registry does not fail on demand."""
    image = _two_layer_image("retried")
    proxy = proxy_factory(registry.url)
    failure = proxy.add_rule(Rule(Respond(500), method="PATCH"))
    updates: list[ProgressUpdate] = []

    _writer(progress=updates.append, jobs=1, small_blob=0).write(_ref(proxy.host, repo_name), image)

    assert failure.fired == 1
    total = sum(b.size or 0 for b in image.blobs()) + len(image.manifest().raw)
    assert updates[-1].total == updates[-1].complete == total
    assert all(u.complete <= u.total for u in updates)


# -- retries and errors -------------------------------------------------------------------------


def test_429_with_retry_after_is_waited_out(registry, repo_name, proxy_factory):
    """Injected 429: distribution 2.8 has no rate limiting."""
    image = make_image({"limited.txt": b"limited\n"})
    proxy = proxy_factory(registry.url)
    body = json.dumps({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}).encode()
    limit = proxy.add_rule(
        Rule(Respond(429, {"Retry-After": "1"}, body), method="PUT", path=r"/manifests/v1$")
    )

    started = time.monotonic()
    _writer().write(_ref(proxy.host, repo_name), image)
    elapsed = time.monotonic() - started

    assert limit.fired == 1
    assert proxy.count("PUT", r"/manifests/v1$") == 2
    assert 1.0 <= elapsed < 10
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw


def test_500_then_success_retries_the_upload(registry, repo_name, proxy_factory):
    """Injected 500 on a blob commit: a real registry does not fail on demand."""
    image = make_image({"flaky.txt": b"flaky\n"})
    proxy = proxy_factory(registry.url)
    failure = proxy.add_rule(Rule(Respond(500), method="PUT", path=r"digest="))

    _writer(jobs=1).write(_ref(proxy.host, repo_name), image)

    assert failure.fired == 1
    assert len(_commits(proxy)) == 3  # two blobs, one of them twice
    for blob in image.blobs():
        assert registry_blob_exists(registry.host, repo_name, str(blob.digest))
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw


def test_upload_state_is_redacted_from_errors(registry, repo_name, proxy_factory):
    """Injected 400 on the PATCH: a real registry does not fail a valid upload on demand."""
    blob = BytesBlob(_data(100, "redact"), mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    body = json.dumps({"errors": [{"code": "SIZE_INVALID", "message": "bad size"}]}).encode()
    proxy.add_rule(Rule(Respond(400, {"Content-Type": "application/json"}, body), method="PATCH"))

    with pytest.raises(RegistryError) as caught:
        _writer(small_blob=0).write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    (patch,) = proxy.find("PATCH")
    path, _, query = patch.path.partition("?")
    assert query.startswith("_state=")
    state = query.split("=", 1)[1]
    message = str(caught.value)
    assert message == (
        f"upload {blob.describe()}: PATCH http://{proxy.host}{path}?_state=***: 400 "
        "SIZE_INVALID: bad size"
    )
    assert state not in message
    assert caught.value.url == f"http://{proxy.host}{path}?_state=***"


def test_a_blob_not_matching_its_declared_digest_is_never_committed(
    registry, repo_name, proxy_factory, tmp_path
):
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(b"these bytes are not what the digest says")
    declared = digest_of(b"something else entirely")
    layer = FileBlob(path, mt.OCI_LAYER, digest=declared, size=path.stat().st_size)
    config = BytesBlob(b"{}", mt.OCI_CONFIG)
    image = Image(layers=[layer], config=config)
    proxy = proxy_factory(registry.url)

    with pytest.raises(DigestMismatchError) as caught:
        _writer(jobs=1).write(_ref(proxy.host, repo_name), image)

    actual = digest_of(path.read_bytes())
    assert str(caught.value) == (
        f"{path}: content has digest {actual} but {declared} was declared; "
        "the source changed or is corrupt, so it was not pushed"
    )
    assert not any(str(declared) in c or str(actual) in c for c in _commits(proxy))
    assert proxy.count("PUT", r"/manifests/") == 0
    assert not registry_blob_exists(registry.host, repo_name, str(declared))
    assert not registry_blob_exists(registry.host, repo_name, str(actual))
    assert _tag_absent(registry.host, repo_name, "v1")


# -- authentication -----------------------------------------------------------------------------


def test_basic_auth_with_static_credentials(htpasswd_registry, repo_name):
    host = htpasswd_registry.host
    keychain = StaticKeychain(
        {host: Credentials(username=HTPASSWD_USER, password=HTPASSWD_PASSWORD, source="test")}
    )
    image = make_image({"auth.txt": b"authenticated\n"})

    _writer(keychain=keychain).write(_ref(host, repo_name), image)

    creds = (HTPASSWD_USER, HTPASSWD_PASSWORD)
    assert skopeo_inspect_raw(f"{host}/{repo_name}:v1", creds=creds) == image.manifest().raw
    for blob in image.blobs():
        assert registry_blob_exists(host, repo_name, str(blob.digest), creds=creds)


def test_basic_auth_with_a_wrong_password_is_a_clear_auth_error(htpasswd_registry, repo_name):
    host = htpasswd_registry.host
    keychain = StaticKeychain(
        {host: Credentials(username=HTPASSWD_USER, password="not-the-password-7731", source="test")}
    )
    image = make_image({"denied.txt": b"denied\n"})

    with pytest.raises(AuthError) as caught:
        _writer(keychain=keychain, jobs=1).write(_ref(host, repo_name), image)

    message = str(caught.value)
    # The first request is the check whether the tag already names the image.
    assert message.startswith(
        f"check manifest {host}/{repo_name}:v1: authentication to {host} as {HTPASSWD_USER} failed"
    )
    assert f"repository:{repo_name}:pull,push" in message
    assert "not-the-password-7731" not in message
    assert "not-the-password-7731" not in (caught.value.hint or "")
    with pytest.raises(ToolError):
        skopeo_inspect_raw(f"{host}/{repo_name}:v1", creds=(HTPASSWD_USER, HTPASSWD_PASSWORD))


# -- small blobs: one PUT carries the bytes ----------------------------------------------------


def test_a_small_blob_goes_up_with_post_and_put_only(registry, repo_name, proxy_factory):
    layer = BytesBlob(_data(16 * 1024, "small"), mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    writer = _writer()

    writer.write_layer(parse_repository(f"{proxy.host}/{repo_name}"), layer)

    uploads = [e for e in proxy.exchanges if "/blobs/uploads/" in e.path]
    assert [(e.method, e.status) for e in uploads] == [("POST", 202), ("PUT", 201)]
    assert uploads[1].request_body_bytes == layer.size
    assert _commits(proxy) == [str(layer.digest)]
    assert _get_blob(registry.host, repo_name, layer.digest) == layer.data
    assert writer.last_result.uploaded == {layer.digest}


def test_a_small_blob_not_matching_its_digest_is_never_committed(
    registry, repo_name, tmp_path, proxy_factory
):
    path = tmp_path / "small.bin"
    path.write_bytes(b"x" * 10_000)
    declared = digest_of(b"y" * 10_000)
    blob = FileBlob(path, mt.OCI_LAYER, digest=declared, size=10_000)
    proxy = proxy_factory(registry.url)

    with pytest.raises(DigestMismatchError) as caught:
        _writer().write_layer(parse_repository(f"{proxy.host}/{repo_name}"), blob)

    actual = digest_of(b"x" * 10_000)
    assert str(caught.value) == (
        f"{path}: content has digest {actual} but {declared} was declared; "
        "the source changed or is corrupt, so it was not pushed"
    )
    assert proxy.find("PUT", r"/blobs/uploads/") == []
    assert proxy.count("PATCH") == 0
    assert not registry_blob_exists(registry.host, repo_name, str(actual))
    assert not registry_blob_exists(registry.host, repo_name, str(declared))


def test_a_small_blob_whose_put_fails_is_sent_again_whole(registry, repo_name, proxy_factory):
    """Injected 500 on the PUT that carries the blob: a real registry does not fail it on
    demand. That PUT may have been half-applied, so a new session carries the whole blob."""
    layer = BytesBlob(_data(16 * 1024, "retried"), mt.OCI_LAYER)
    proxy = proxy_factory(registry.url)
    failure = proxy.add_rule(Rule(Respond(500), method="PUT", path=r"digest="))

    _writer().write_layer(parse_repository(f"{proxy.host}/{repo_name}"), layer)

    assert failure.fired == 1
    assert proxy.count("POST", r"/blobs/uploads/$") == 2  # a new session for the retry
    assert _commits(proxy) == [str(layer.digest)] * 2
    assert [e.request_body_bytes for e in proxy.find("PUT", r"digest=")] == [layer.size] * 2
    assert proxy.count("PATCH") == 0
    assert _get_blob(registry.host, repo_name, layer.digest) == layer.data
