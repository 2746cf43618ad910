"""Blobs of declared digest pushed without client-side hashing (``hash_known_digests=False``):
the registry's own digest check on the commit PUT is what stands between a corrupt source
and the registry, so both the good and the corrupt case run against the real registry."""

from __future__ import annotations

import pytest

from ocipush.errors import RegistryError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob
from ocipush.oci.digest import digest_of
from ocipush.oci.images import Image
from ocipush.oci.layout import read_layout, write_layout
from ocipush.oci.reference import parse_reference
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.writer import Writer
from support.images import make_image
from support.tools import ToolError, registry_blob_exists, registry_get_manifest, skopeo_inspect_raw

NO_RETRY = RetryPolicy(attempts=1, initial_delay=0)


def test_a_layout_pushed_without_hashing_lands_byte_for_byte(registry, repo_name, tmp_path):
    image = make_image({"unhashed.txt": b"pushed without client-side hashing\n" * 1000})
    write_layout(tmp_path / "layout", image, "v1")
    from_layout = read_layout(tmp_path / "layout", "v1")
    writer = Writer(hash_known_digests=False, retry=NO_RETRY)

    descriptor = writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), from_layout)

    assert descriptor.digest == image.manifest().digest
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw
    assert writer.last_result.uploaded == {b.digest for b in image.blobs()}


def test_without_hashing_the_registry_refuses_a_corrupt_blob_and_no_tag_moves(
    registry, repo_name, tmp_path
):
    path = tmp_path / "layer.tar.gz"
    path.write_bytes(b"these bytes are not what the digest says")
    declared = digest_of(b"something else entirely")
    layer = FileBlob(path, mt.OCI_LAYER, digest=declared, size=path.stat().st_size)
    image = Image(layers=[layer], config=BytesBlob(b"{}", mt.OCI_CONFIG))
    writer = Writer(hash_known_digests=False, retry=NO_RETRY)

    with pytest.raises(RegistryError) as caught:
        writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), image)

    assert caught.value.status == 400
    assert caught.value.codes == ("DIGEST_INVALID",)
    assert f"commit blob {declared}" in str(caught.value)
    assert "tags left unchanged" in " ".join(caught.value.notes)
    assert not registry_blob_exists(registry.host, repo_name, str(declared))
    with pytest.raises(ToolError, match=": 404 "):
        registry_get_manifest(registry.host, repo_name, "v1")
