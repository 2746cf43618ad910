"""Media types of the OCI image spec and their Docker v2 equivalents."""

from __future__ import annotations

import re

__all__ = [
    "DOCKER_CONFIG",
    "DOCKER_FOREIGN_LAYER",
    "DOCKER_LAYER",
    "DOCKER_MANIFEST",
    "DOCKER_MANIFEST_LIST",
    "MANIFEST_ACCEPT",
    "MANIFEST_TYPES",
    "OCI_CONFIG",
    "OCI_EMPTY",
    "OCI_INDEX",
    "OCI_LAYER",
    "OCI_LAYER_NONDIST",
    "OCI_LAYER_NONDIST_GZIP",
    "OCI_LAYER_NONDIST_ZSTD",
    "OCI_LAYER_UNCOMPRESSED",
    "OCI_LAYER_ZSTD",
    "OCI_MANIFEST",
    "is_distributable",
    "is_image",
    "is_index",
    "is_manifest",
    "is_valid_media_type",
]

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
OCI_LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
OCI_LAYER_UNCOMPRESSED = "application/vnd.oci.image.layer.v1.tar"
OCI_LAYER_NONDIST = "application/vnd.oci.image.layer.nondistributable.v1.tar"
OCI_LAYER_NONDIST_GZIP = "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
OCI_LAYER_NONDIST_ZSTD = "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"

DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"
DOCKER_FOREIGN_LAYER = "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"

#: Every manifest type ocipush reads or writes; sent as ``Accept`` on manifest requests,
#: because distribution answers 404 to a HEAD for an OCI manifest without it.
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)

#: The ``Accept`` header for manifest requests.
MANIFEST_ACCEPT = ", ".join(MANIFEST_TYPES)

_INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_MANIFEST_LIST})
_IMAGE_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
_NONDISTRIBUTABLE = frozenset(
    {OCI_LAYER_NONDIST, OCI_LAYER_NONDIST_GZIP, OCI_LAYER_NONDIST_ZSTD, DOCKER_FOREIGN_LAYER}
)


def is_index(media_type: str) -> bool:
    """Whether ``media_type`` is an OCI image index or a Docker manifest list."""
    return media_type in _INDEX_TYPES


def is_image(media_type: str) -> bool:
    """Whether ``media_type`` is a single-image manifest (OCI or Docker v2)."""
    return media_type in _IMAGE_TYPES


def is_manifest(media_type: str) -> bool:
    """Whether ``media_type`` is stored under ``/manifests/`` rather than ``/blobs/``."""
    return media_type in _INDEX_TYPES or media_type in _IMAGE_TYPES


def is_distributable(media_type: str) -> bool:
    """Whether a layer of this type may be uploaded (foreign layers may not, by default)."""
    return media_type not in _NONDISTRIBUTABLE


# RFC 6838 restricted names; OCI media types carry no parameters.
_MEDIA_TYPE = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
)


def is_valid_media_type(text: str) -> bool:
    """Whether ``text`` is a ``type/subtype`` media type without parameters."""
    return bool(_MEDIA_TYPE.fullmatch(text))
