"""The base image: resolve its reference, pick a platform, read its config.

Only manifests and configs are fetched. Layers become :class:`~ocipush.oci.blobs.RemoteBlob`
sources that the writer mounts (same registry) or streams into the target (another
registry or a layout); they never land on disk.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ocipush.errors import InvalidReferenceError, ManifestError, RegistryError
from ocipush.image.errors import BaseImageError
from ocipush.image.settings import SCRATCH
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.model import Descriptor, Index, Manifest, Platform
from ocipush.oci.reference import Reference, parse_reference
from ocipush.registry.remote import Remote

__all__ = ["BaseImage", "ResolvedBase", "platform_matches", "resolve_base"]

log = logging.getLogger(__name__)

#: The variant a platform has when an index leaves it out (the containerd convention).
_DEFAULT_VARIANTS = {"arm64": "v8", "arm": "v7"}
#: Largest config read into memory; real ones are a few KiB.
_CONFIG_LIMIT = 4 * 1024 * 1024


@dataclass(frozen=True)
class BaseImage:
    """The base for one platform.

    :ivar config: the base's image config, parsed (``{}`` on scratch).
    :ivar layers: remote layer blobs, each with its ``diff_id``.
    :ivar digest: the digest of this platform's manifest (``None`` on scratch).
    """

    platform: Platform
    config: Mapping[str, Any] = field(default_factory=dict)
    layers: tuple[Blob, ...] = ()
    digest: Digest | None = None


def _variant(platform: Platform) -> str | None:
    return platform.variant or _DEFAULT_VARIANTS.get(platform.architecture)


def platform_matches(wanted: Platform, offered: Platform) -> bool:
    """Whether ``offered`` serves ``wanted``; a missing variant means the default one."""
    if (wanted.os, wanted.architecture) != (offered.os, offered.architecture):
        return False
    return wanted.variant is None or _variant(wanted) == _variant(offered)


@dataclass(frozen=True)
class ResolvedBase:
    """The base reference and the document it names (``None`` for scratch).

    :ivar name: the base as configured.
    """

    name: str
    reference: Reference | None = None
    document: Manifest | Index | None = None
    remote: Remote | None = field(default=None, compare=False, repr=False)

    @property
    def annotations(self) -> dict[str, str]:
        """``org.opencontainers.image.base.*``: the base's name (no digest) and digest."""
        if self.reference is None or self.document is None:
            return {}
        name = self.reference.repository.name
        if self.reference.tag is not None:
            name += f":{self.reference.tag}"
        return {
            "org.opencontainers.image.base.name": name,
            "org.opencontainers.image.base.digest": str(self.document.digest),
        }

    def _entries(self) -> list[Descriptor]:
        assert isinstance(self.document, Index)
        return [
            entry
            for entry in self.document.manifests
            if mt.is_image(entry.media_type)
            and entry.platform is not None
            # Attestation manifests carry the platform unknown/unknown.
            and entry.platform.os != "unknown"
        ]

    def platforms(self) -> list[Platform]:
        """The platforms the base offers (one for a single manifest, read from its config)."""
        if self.document is None:
            return []
        if isinstance(self.document, Index):
            return [entry.platform for entry in self._entries() if entry.platform]
        return [self.image(None).platform]

    def image(self, wanted: Platform | None) -> BaseImage:
        """The base for ``wanted`` (the only one when ``None`` and the base is one image)."""
        if self.document is None or self.reference is None or self.remote is None:
            return BaseImage(wanted or Platform("linux", "amd64"))
        if isinstance(self.document, Index):
            if wanted is None:
                raise BaseImageError(f"base {self.name} is an index; a platform must be chosen")
            manifest = self._pick(wanted)
        else:
            manifest = self.document
        config = self._config(manifest)
        offered = _config_platform(config, self.name)
        if wanted is not None and not platform_matches(wanted, offered):
            raise BaseImageError(
                f"tool.ocipush.image.platforms: {wanted} — the base {self.name} is a single "
                f"image for {offered}; use a multi-platform base or build for {offered} only"
            )
        diff_ids = config.get("rootfs", {}).get("diff_ids", [])
        if not isinstance(diff_ids, list) or len(diff_ids) != len(manifest.layers):
            raise BaseImageError(
                f"base {self.name} ({offered}): its config lists {len(diff_ids)} diff_ids for "
                f"{len(manifest.layers)} layers; the image is broken, choose another base"
            )
        layers = []
        for descriptor, diff_id in zip(manifest.layers, diff_ids, strict=True):
            blob = self.remote.blob(self.reference.repository, descriptor)
            blob.diff_id = Digest.parse(diff_id)
            layers.append(blob)
        return BaseImage(wanted or offered, config, tuple(layers), manifest.digest)

    def _pick(self, wanted: Platform) -> Manifest:
        assert isinstance(self.document, Index)
        assert self.reference is not None
        assert self.remote is not None
        entries = [
            e for e in self._entries() if e.platform and platform_matches(wanted, e.platform)
        ]
        if wanted.variant is None and len(entries) > 1:
            # Without a variant, prefer the default one (arm64 -> v8), as runtimes do.
            preferred = [
                e for e in entries if e.platform and _variant(e.platform) == _variant(wanted)
            ]
            entries = preferred or entries
        if not entries:
            offered = ", ".join(str(p) for p in self.platforms()) or "none"
            raise BaseImageError(
                f"tool.ocipush.image.platforms: {wanted} — the base {self.name} has no image for "
                f"it (it offers: {offered}); build for those or choose another base"
            )
        document = self.remote.manifest(self.reference.with_digest(entries[0].digest))
        if not isinstance(document, Manifest):
            raise BaseImageError(f"base {self.name}: the {wanted} entry is not an image manifest")
        return document

    def _config(self, manifest: Manifest) -> dict[str, Any]:
        assert self.reference is not None
        assert self.remote is not None
        if manifest.config.size > _CONFIG_LIMIT:
            raise BaseImageError(f"base {self.name}: its config is over {_CONFIG_LIMIT} bytes")
        with self.remote.blob(self.reference.repository, manifest.config).open() as reader:
            raw = reader.read()
        try:
            config = json.loads(raw)
        except ValueError:
            config = None
        if not isinstance(config, dict):
            raise BaseImageError(f"base {self.name}: its image config is not a JSON object")
        return config


def _config_platform(config: Mapping[str, Any], name: str) -> Platform:
    try:
        return Platform.from_json(config, f"base {name} config")
    except ManifestError as error:
        raise BaseImageError(f"{error}; the base is not a runnable image") from None


def resolve_base(text: str, remote: Remote) -> ResolvedBase:
    """Parse ``text`` and fetch the manifest or index it names (``scratch``: nothing).

    Logs a warning when the base is not pinned by digest: the image would change whenever
    the tag moves.
    """
    if text == SCRATCH:
        return ResolvedBase(text)
    try:
        reference = parse_reference(text)
    except InvalidReferenceError as error:
        raise BaseImageError(
            f'tool.ocipush.image.base: "{text}" is not an image reference ({error.problem}); '
            'write e.g. "docker.io/library/python:3.12-slim@sha256:…" or "scratch"'
        ) from None
    try:
        document = remote.manifest(reference)
    except RegistryError as error:
        if error.status == 404:
            raise BaseImageError(
                f'tool.ocipush.image.base: "{text}" was not found in its registry ({error}); '
                "check the name, tag and digest"
            ) from None
        raise
    if reference.digest is None:
        log.warning(
            "base %s is not pinned by digest: rebuilding may give a different image when the tag "
            "moves; pin it as %s@%s",
            text,
            text,
            document.digest,
        )
    return ResolvedBase(text, reference, document, remote)
