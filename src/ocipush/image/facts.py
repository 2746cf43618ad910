"""What went into each platform's image: the facts SBOMs and provenance are made from.

The builder knows them exactly (the resolved wheels with their hashes, the base manifest's
digest); an image carries them as :class:`BuiltImage` so that plugins describing the image
never guess them back from its layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ocipush.image.deps import Dependency
from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.images import Image
from ocipush.oci.model import Platform

__all__ = ["BuildFacts", "BuiltImage", "facts_of"]


@dataclass(frozen=True)
class BuildFacts:
    """The inputs of one platform's image.

    :ivar base: the base as configured (``python:3.12-slim@sha256:…``), ``None`` for scratch.
    :ivar base_repository: the base's repository (``docker.io/library/python``).
    :ivar base_digest: the digest of the base manifest for this platform.
    :ivar dependencies: the distributions in the dependency layer, sorted.
    :ivar licenses: each dependency's license from its wheel metadata, by name.
    """

    platform: Platform | None
    base: str | None = None
    base_repository: str | None = None
    base_digest: Digest | None = None
    dependencies: tuple[Dependency, ...] = ()
    licenses: Mapping[str, str] | None = None


class BuiltImage(Image):
    """An image that knows what it was built from."""

    def __init__(
        self,
        *,
        facts: BuildFacts,
        layers: Sequence[Blob],
        config: Blob,
        annotations: Mapping[str, str],
        platform: Platform | None,
    ) -> None:
        super().__init__(layers=layers, config=config, annotations=annotations, platform=platform)
        self.facts = facts


def facts_of(image: Image) -> BuildFacts:
    """The facts of ``image``; an image built otherwise (layers only) has none but its
    platform."""
    return image.facts if isinstance(image, BuiltImage) else BuildFacts(image.platform)
