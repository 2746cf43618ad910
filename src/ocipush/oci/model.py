"""Descriptors, manifests and indexes, keeping the exact bytes they were made from.

A digest is always of the bytes sent: :class:`Manifest` and :class:`Index` hold ``raw`` and
derive everything else from it, so re-serialising can never change what gets pushed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ocipush.errors import InvalidReferenceError, ManifestError
from ocipush.oci import media_types as mt
from ocipush.oci.digest import Digest, digest_of

__all__ = ["Descriptor", "Index", "Manifest", "Platform", "parse_manifest"]


@dataclass(frozen=True, order=True)
class Platform:
    """``os/architecture[/variant]`` of an image, as in an index entry."""

    os: str
    architecture: str
    variant: str | None = None
    os_version: str | None = None

    @classmethod
    def parse(cls, text: str) -> Platform:
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise ValueError(
                f"platform {text!r} is not os/architecture[/variant], e.g. linux/amd64"
            )
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else None)

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            obj["variant"] = self.variant
        if self.os_version:
            obj["os.version"] = self.os_version
        return obj

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Platform:
        if not isinstance(obj, dict):
            raise ManifestError(where, "platform must be an object")
        os_, arch = obj.get("os"), obj.get("architecture")
        if not isinstance(os_, str) or not isinstance(arch, str):
            raise ManifestError(where, "platform needs string 'os' and 'architecture'")
        variant, os_version = obj.get("variant"), obj.get("os.version")
        return cls(
            os_,
            arch,
            variant if isinstance(variant, str) else None,
            os_version if isinstance(os_version, str) else None,
        )

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def _string_map(value: Any, where: str, key: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise ManifestError(where, f"{key!r} must map strings to strings")
    return dict(value)


@dataclass(frozen=True)
class Descriptor:
    """A typed pointer to content: media type, digest and size, plus optional metadata."""

    media_type: str
    digest: Digest
    size: int
    annotations: Mapping[str, str] = field(default_factory=dict, compare=False)
    urls: tuple[str, ...] = ()
    platform: Platform | None = None
    artifact_type: str | None = None

    def to_json(self) -> dict[str, Any]:
        obj: dict[str, Any] = {
            "mediaType": self.media_type,
            "digest": str(self.digest),
            "size": self.size,
        }
        if self.urls:
            obj["urls"] = list(self.urls)
        if self.annotations:
            obj["annotations"] = dict(self.annotations)
        if self.platform is not None:
            obj["platform"] = self.platform.to_json()
        if self.artifact_type:
            obj["artifactType"] = self.artifact_type
        return obj

    @classmethod
    def from_json(cls, obj: Any, where: str) -> Descriptor:
        if not isinstance(obj, dict):
            raise ManifestError(where, "a descriptor must be a JSON object")
        media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
        if not isinstance(media_type, str) or not media_type:
            raise ManifestError(where, "descriptor has no 'mediaType' string")
        if not isinstance(digest, str):
            raise ManifestError(where, "descriptor has no 'digest' string")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ManifestError(where, "descriptor 'size' must be a non-negative integer")
        try:
            parsed_digest = Digest.parse(digest)
        except InvalidReferenceError as exc:
            raise ManifestError(where, f"descriptor digest {digest!r}: {exc.problem}") from None
        urls = obj.get("urls") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise ManifestError(where, "descriptor 'urls' must be a list of strings")
        platform = obj.get("platform")
        artifact_type = obj.get("artifactType")
        return cls(
            media_type=media_type,
            digest=parsed_digest,
            size=size,
            annotations=_string_map(obj.get("annotations"), where, "annotations"),
            urls=tuple(urls),
            platform=None if platform is None else Platform.from_json(platform, where),
            artifact_type=artifact_type if isinstance(artifact_type, str) else None,
        )


def _load_json(raw: bytes, where: str) -> dict[str, Any]:
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(where, f"not valid JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ManifestError(where, "expected a JSON object")
    return obj


def _media_type_of(obj: Mapping[str, Any], declared: str | None, where: str) -> str:
    embedded = obj.get("mediaType")
    if embedded is not None and not isinstance(embedded, str):
        raise ManifestError(where, "'mediaType' must be a string")
    if embedded and declared and embedded != declared:
        raise ManifestError(
            where, f"the content says mediaType {embedded!r} but it was served as {declared!r}"
        )
    media_type = embedded or declared
    if media_type:
        return media_type
    # Old OCI documents may omit mediaType: infer from their shape.
    return mt.OCI_INDEX if "manifests" in obj else mt.OCI_MANIFEST


def _serialize(obj: Mapping[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def _descriptors(obj: Mapping[str, Any], key: str, where: str) -> tuple[Descriptor, ...]:
    entries = obj.get(key, [])
    if not isinstance(entries, list):
        raise ManifestError(where, f"{key!r} must be a list")
    return tuple(Descriptor.from_json(d, f"{where} {key}[{i}]") for i, d in enumerate(entries))


def _optional_fields(obj: Mapping[str, Any], where: str) -> dict[str, Any]:
    """``subject``, ``artifactType`` and ``annotations``: shared by manifests and indexes."""
    subject = obj.get("subject")
    artifact_type = obj.get("artifactType")
    return {
        "subject": None if subject is None else Descriptor.from_json(subject, f"{where} subject"),
        "artifact_type": artifact_type if isinstance(artifact_type, str) else None,
        "annotations": _string_map(obj.get("annotations"), where, "annotations"),
    }


def _document(
    media_type: str,
    artifact_type: str | None,
    body: Mapping[str, Any],
    subject: Descriptor | None,
    annotations: Mapping[str, str] | None,
) -> bytes:
    """Compact JSON with keys in spec order."""
    obj: dict[str, Any] = {"schemaVersion": 2, "mediaType": media_type}
    if artifact_type:
        obj["artifactType"] = artifact_type
    obj.update(body)
    if subject is not None:
        obj["subject"] = subject.to_json()
    if annotations:
        obj["annotations"] = dict(annotations)
    return _serialize(obj)


class _Document:
    """What manifests and indexes share: exact bytes, and the descriptors pointing at them."""

    raw: bytes
    media_type: str
    artifact_type: str | None
    annotations: Mapping[str, str]

    @property
    def digest(self) -> Digest:
        return digest_of(self.raw)

    def descriptor(self, platform: Platform | None = None) -> Descriptor:
        """The descriptor an index uses for this document."""
        return Descriptor(
            self.media_type,
            self.digest,
            len(self.raw),
            platform=platform,
            artifact_type=self.artifact_type,
        )

    def _referrer_artifact_type(self) -> str | None:
        return self.artifact_type

    def referrer_descriptor(self) -> Descriptor:
        """The entry a referrers list keeps: annotations and the artifact type."""
        return Descriptor(
            self.media_type,
            self.digest,
            len(self.raw),
            annotations=self.annotations,
            artifact_type=self._referrer_artifact_type(),
        )


@dataclass(frozen=True)
class Manifest(_Document):
    """An image (or artifact) manifest and its exact bytes."""

    raw: bytes = field(repr=False)
    media_type: str
    config: Descriptor
    layers: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def _referrer_artifact_type(self) -> str | None:
        # image-spec 1.1: without an artifactType, the config's media type stands in.
        return self.artifact_type or self.config.media_type

    @classmethod
    def parse(
        cls, raw: bytes, media_type: str | None = None, *, where: str = "manifest"
    ) -> Manifest:
        obj = _load_json(raw, where)
        kind = _media_type_of(obj, media_type, where)
        if not mt.is_image(kind):
            raise ManifestError(where, f"{kind!r} is not an image manifest type")
        return cls(
            raw=raw,
            media_type=kind,
            config=Descriptor.from_json(obj.get("config"), f"{where} config"),
            layers=_descriptors(obj, "layers", where),
            **_optional_fields(obj, where),
        )

    @classmethod
    def build(
        cls,
        config: Descriptor,
        layers: Sequence[Descriptor],
        *,
        media_type: str = mt.OCI_MANIFEST,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Manifest:
        """Serialise a new manifest (compact JSON, keys in spec order)."""
        body = {"config": config.to_json(), "layers": [d.to_json() for d in layers]}
        raw = _document(media_type, artifact_type, body, subject, annotations)
        return cls.parse(raw, media_type)


@dataclass(frozen=True)
class Index(_Document):
    """An OCI image index or Docker manifest list, and its exact bytes."""

    raw: bytes = field(repr=False)
    media_type: str
    manifests: tuple[Descriptor, ...]
    subject: Descriptor | None = None
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: bytes, media_type: str | None = None, *, where: str = "index") -> Index:
        obj = _load_json(raw, where)
        kind = _media_type_of(obj, media_type, where)
        if not mt.is_index(kind):
            raise ManifestError(where, f"{kind!r} is not an index type")
        return cls(
            raw=raw,
            media_type=kind,
            manifests=_descriptors(obj, "manifests", where),
            **_optional_fields(obj, where),
        )

    @classmethod
    def build(
        cls,
        manifests: Sequence[Descriptor],
        *,
        media_type: str = mt.OCI_INDEX,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
    ) -> Index:
        body = {"manifests": [d.to_json() for d in manifests]}
        raw = _document(media_type, artifact_type, body, subject, annotations)
        return cls.parse(raw, media_type)


def parse_manifest(raw: bytes, media_type: str | None, *, where: str) -> Manifest | Index:
    """Parse either kind, by the declared media type or, failing that, the content."""
    obj = _load_json(raw, where)
    kind = _media_type_of(obj, media_type, where)
    if mt.is_index(kind):
        return Index.parse(raw, kind, where=where)
    if mt.is_image(kind):
        return Manifest.parse(raw, kind, where=where)
    raise ManifestError(where, f"unsupported manifest media type {kind!r}")
