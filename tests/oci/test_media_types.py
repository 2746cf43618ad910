"""Media types: the exact strings of the specs and their classification."""

from __future__ import annotations

import pytest

from ocipush.oci import media_types as mt


def test_spec_strings() -> None:
    assert mt.OCI_MANIFEST == "application/vnd.oci.image.manifest.v1+json"
    assert mt.OCI_INDEX == "application/vnd.oci.image.index.v1+json"
    assert mt.OCI_CONFIG == "application/vnd.oci.image.config.v1+json"
    assert mt.OCI_EMPTY == "application/vnd.oci.empty.v1+json"
    assert mt.OCI_LAYER == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert mt.OCI_LAYER_ZSTD == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert mt.OCI_LAYER_UNCOMPRESSED == "application/vnd.oci.image.layer.v1.tar"
    assert mt.OCI_LAYER_NONDIST == "application/vnd.oci.image.layer.nondistributable.v1.tar"
    assert mt.OCI_LAYER_NONDIST_GZIP == (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
    )
    assert mt.OCI_LAYER_NONDIST_ZSTD == (
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
    )
    assert mt.DOCKER_MANIFEST == "application/vnd.docker.distribution.manifest.v2+json"
    assert mt.DOCKER_MANIFEST_LIST == "application/vnd.docker.distribution.manifest.list.v2+json"
    assert mt.DOCKER_CONFIG == "application/vnd.docker.container.image.v1+json"
    assert mt.DOCKER_LAYER == "application/vnd.docker.image.rootfs.diff.tar.gzip"
    assert mt.DOCKER_FOREIGN_LAYER == "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"


def test_manifest_accept_list_covers_oci_and_docker() -> None:
    assert mt.MANIFEST_TYPES == (
        mt.OCI_MANIFEST,
        mt.OCI_INDEX,
        mt.DOCKER_MANIFEST,
        mt.DOCKER_MANIFEST_LIST,
    )
    assert all(mt.is_manifest(t) for t in mt.MANIFEST_TYPES)


@pytest.mark.parametrize(
    ("media_type", "index", "image", "manifest"),
    [
        (mt.OCI_INDEX, True, False, True),
        (mt.DOCKER_MANIFEST_LIST, True, False, True),
        (mt.OCI_MANIFEST, False, True, True),
        (mt.DOCKER_MANIFEST, False, True, True),
        (mt.OCI_CONFIG, False, False, False),
        (mt.OCI_EMPTY, False, False, False),
        (mt.OCI_LAYER, False, False, False),
        (mt.DOCKER_CONFIG, False, False, False),
        ("application/json", False, False, False),
        ("", False, False, False),
        # Exact match only: parameters or different case are not recognised.
        (mt.OCI_MANIFEST + "; charset=utf-8", False, False, False),
        (mt.OCI_INDEX.upper(), False, False, False),
    ],
)
def test_classification(media_type: str, index: bool, image: bool, manifest: bool) -> None:
    assert mt.is_index(media_type) is index
    assert mt.is_image(media_type) is image
    assert mt.is_manifest(media_type) is manifest


@pytest.mark.parametrize(
    ("media_type", "distributable"),
    [
        (mt.OCI_LAYER, True),
        (mt.OCI_LAYER_ZSTD, True),
        (mt.OCI_LAYER_UNCOMPRESSED, True),
        (mt.DOCKER_LAYER, True),
        (mt.OCI_EMPTY, True),
        ("application/vnd.example.artifact+tar", True),
        (mt.OCI_LAYER_NONDIST, False),
        (mt.OCI_LAYER_NONDIST_GZIP, False),
        (mt.OCI_LAYER_NONDIST_ZSTD, False),
        (mt.DOCKER_FOREIGN_LAYER, False),
    ],
)
def test_is_distributable(media_type: str, distributable: bool) -> None:
    assert mt.is_distributable(media_type) is distributable


def test_all_is_complete() -> None:
    public = {name for name in vars(mt) if not name.startswith("_") and name.isupper()}
    public |= {"is_distributable", "is_image", "is_index", "is_manifest", "is_valid_media_type"}
    assert set(mt.__all__) == public


@pytest.mark.parametrize(
    ("text", "valid"),
    [
        ("application/vnd.acme.release.v1", True),
        ("application/vnd.oci.image.layer.v1.tar+gzip", True),
        ("text/plain; charset=utf-8", False),
        ("application", False),
        ("/json", False),
        ("", False),
    ],
)
def test_is_valid_media_type(text: str, valid: bool) -> None:
    assert mt.is_valid_media_type(text) is valid
