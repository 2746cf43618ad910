"""An attached document as an OCI artifact: one layer, the empty config, a subject."""

from __future__ import annotations

from collections.abc import Mapping

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.model import Descriptor

__all__ = ["EMPTY_CONFIG", "TITLE", "attached", "subject_of"]

TITLE = "org.opencontainers.image.title"
#: The empty JSON object, the config of every artifact (image-spec 1.1).
EMPTY_CONFIG = b"{}"


def subject_of(item: Taggable) -> Descriptor:
    """The ``subject`` descriptor naming ``item`` (no platform: a subject names bytes)."""
    descriptor = item.descriptor()
    return Descriptor(descriptor.media_type, descriptor.digest, descriptor.size)


def attached(
    layer: Blob,
    subject: Descriptor,
    *,
    annotations: Mapping[str, str] | None = None,
) -> Image:
    """An artifact whose type is its one layer's media type, referring to ``subject``."""
    return Image(
        layers=[layer],
        config=BytesBlob(EMPTY_CONFIG, mt.OCI_EMPTY),
        artifact_type=layer.media_type,
        subject=subject,
        annotations=annotations,
    )
