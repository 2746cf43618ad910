"""The issue's "done when": the same push succeeds, unchanged, through every personality.

One release (a two-platform index whose layers are over 4 MiB, so chunked, plus an artifact
attached to it) goes through each :data:`support.personalities.PERSONALITIES` proxy, twice:
the second push changes nothing and puts no tag. The registry behind holds the exact bytes.
"""

from __future__ import annotations

import hashlib

import pytest

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image, ImageIndex, manifest_of
from ocipush.oci.model import Platform
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from registry_quirks.conftest import MIB
from support.images import make_config, make_tar_gz_layer
from support.personalities import PERSONALITIES
from support.tools import skopeo_inspect_raw, skopeo_list_tags


def _release(seed: str) -> tuple[ImageIndex, Image]:
    children = []
    for arch in ("amd64", "arm64"):
        platform = Platform("linux", arch)
        # Incompressible, so over 4 MiB once gzipped: the chunked path.
        layer = make_tar_gz_layer({f"{arch}.bin": _noise(seed, arch)})
        children.append(
            Image(layers=[layer], config=make_config([layer], platform), platform=platform)
        )
    index = ImageIndex(children)
    files = Image(
        layers=[BytesBlob(b"wheel bytes", "application/octet-stream")],
        config=BytesBlob(b"{}", mt.OCI_EMPTY),
        artifact_type="application/vnd.example.python-release.v1",
        subject=index.descriptor(),
    )
    return index, files


def _noise(seed: str, arch: str) -> bytes:
    """5 MiB that gzip cannot shrink, the same for the same seed."""
    block = hashlib.sha512(f"{seed}-{arch}".encode()).digest()
    out = bytearray()
    while len(out) < 5 * MIB:
        block = hashlib.sha512(block).digest()
        out += block
    return bytes(out)


@pytest.mark.parametrize("name", sorted(PERSONALITIES))
def test_the_same_push_succeeds_through_every_personality(name, registry, proxy_factory, repo_name):
    proxy = proxy_factory(registry.url)
    PERSONALITIES[name](proxy)
    index, files = _release(repo_name)
    ref = parse_reference(f"{proxy.host}/{repo_name}:1.0")
    files_ref = parse_reference(f"{proxy.host}/{repo_name}:1.0-files")
    writer = Writer(chunk_threshold=4 * MIB)

    writer.publish([{ref: index}, {files_ref: files}])

    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:1.0") == manifest_of(index).raw
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:1.0-files") == files.manifest().raw
    for child in index.children:
        raw = manifest_of(child).raw
        assert skopeo_inspect_raw(f"{registry.host}/{repo_name}@{manifest_of(child).digest}") == raw
    tags = skopeo_list_tags(f"{registry.host}/{repo_name}")
    fallback = manifest_of(index).digest.fallback_tag
    # The referrers API where the registry serves one, else the fallback tag.
    assert (fallback in tags) == (name != "referrers")

    proxy.clear()
    Writer(chunk_threshold=4 * MIB).publish([{ref: index}, {files_ref: files}])
    assert proxy.count("PUT") == 0
    assert proxy.count("PATCH") == 0
