"""The plan: what goes to which target, as an immutable value that renders as a table or JSON.

A plan is made without writing anything anywhere; executing it is a separate step, so
``ocipush plan`` shows exactly what ``ocipush push`` will do.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ocipush.oci.blobs import Blob, BytesBlob, DeferredBlob, FileBlob, RemoteBlob
from ocipush.oci.digest import Digest
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.policy import BlobAction
from ocipush.registry.progress import ProgressCallback
from ocipush.release.versions import SkippedTag

__all__ = [
    "BlobAction",
    "BlobSource",
    "Plan",
    "PlannedBlob",
    "PlannedManifest",
    "PushItem",
    "Target",
    "TargetPlan",
    "TargetResult",
    "inventory",
]


@dataclass(frozen=True)
class PushItem:
    """One image, index or artifact to publish to a target.

    :ivar item: the content.
    :ivar role: ``"image"`` or ``"artifact"`` (or a plugin's own word), for display.
    :ivar tags: tags (templates already expanded) it gets at the target; empty means it
        is pushed by digest, found through its subject.
    :ivar name: a short label for tables ("release files").
    :ivar skipped_tags: tags its configuration names that this version may not move.
    """

    item: Taggable = field(compare=False)
    role: str
    tags: tuple[str, ...] = ()
    name: str = ""
    skipped_tags: tuple[SkippedTag, ...] = ()


@dataclass(frozen=True)
class BlobSource:
    """Where a planned blob's bytes come from; ``plan --json``'s ``source`` object.

    :ivar kind: ``file``, ``bytes`` (made in memory), ``registry`` (another repository),
        ``stream`` (made while uploading) or ``deferred`` (made just before the push).
    :ivar description: the same, for people.
    :ivar path: the file, for ``file``.
    :ivar repository: the repository holding it, for ``registry``.
    """

    kind: str
    description: str
    path: str | None = None
    repository: str | None = None

    @classmethod
    def of(cls, blob: Blob) -> BlobSource:
        description = blob.describe()
        if isinstance(blob, FileBlob):
            return cls("file", description, path=str(blob.path))
        if isinstance(blob, RemoteBlob):
            return cls("registry", description, repository=blob.repository.name)
        if isinstance(blob, DeferredBlob):
            return cls("deferred", description)
        if isinstance(blob, BytesBlob):
            return cls("bytes", description)
        return cls("stream", description)

    def to_json(self) -> dict[str, Any]:
        data = {"kind": self.kind, "description": self.description}
        if self.path is not None:
            data["path"] = self.path
        if self.repository is not None:
            data["repository"] = self.repository
        return data


@dataclass(frozen=True)
class PlannedBlob:
    """:ivar digest: ``None`` for a streamed layer, known only after upload."""

    digest: str | None
    size: int
    media_type: str
    source: BlobSource
    action: BlobAction
    mount_from: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "digest": self.digest,
            "size": self.size,
            "mediaType": self.media_type,
            "source": self.source.to_json(),
            "action": self.action,
        }
        if self.mount_from:
            data["mountFrom"] = self.mount_from
        return data


@dataclass(frozen=True)
class PlannedManifest:
    """:ivar digest: ``None`` when it names a streamed layer, known only after upload.
    :ivar role: the item's role; ``index`` for a multi-platform index.
    :ivar platform: a child image's platform (``linux/arm64``)."""

    digest: str | None
    size: int
    media_type: str
    role: str
    refs: tuple[str, ...]
    subject: str | None = None
    platform: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "digest": self.digest,
            "size": self.size,
            "mediaType": self.media_type,
            "role": self.role,
            "refs": list(self.refs),
        }
        if self.subject:
            data["subject"] = self.subject
        if self.platform:
            data["platform"] = self.platform
        return data


@dataclass(frozen=True)
class TargetPlan:
    """Everything one target will receive.

    :ivar target: the target as the user wrote it, expanded (``ghcr.io/acme/app:1.0``).
    :ivar kind: ``"registry"``, ``"layout"`` or a plugin's own kind.
    :ivar items: the content to publish, in order (images before what refers to them).
    :ivar blobs: distinct blobs with their intended action.
    :ivar manifests: manifests and indexes, with the refs each will be reachable by.
    :ivar scopes: token scopes asked of the registry (push scope first).
    :ivar notes: things the user should know (filtered layers, unchecked existence...).
    :ivar skipped_tags: configured tags this run leaves where they are, with the reason
        (release-safe tags: see :mod:`ocipush.release.versions`).
    """

    target: str
    kind: str
    items: tuple[PushItem, ...]
    blobs: tuple[PlannedBlob, ...] = ()
    manifests: tuple[PlannedManifest, ...] = ()
    scopes: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    skipped_tags: tuple[SkippedTag, ...] = ()
    #: The target that made this plan and will execute it.
    executor: Target | None = field(default=None, compare=False, repr=False)

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(ref for manifest in self.manifests for ref in manifest.refs)

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "blobs": [b.to_json() for b in self.blobs],
            "manifests": [m.to_json() for m in self.manifests],
            "tags": list(self.refs),
            "scopes": list(self.scopes),
            "notes": list(self.notes),
            "skippedTags": [skipped.to_json() for skipped in self.skipped_tags],
        }

    def skipped_tag_notes(self) -> list[str]:
        """One line per skipped tag, for people."""
        return [
            f"tag {skipped.tag} of {self.target} not moved: {skipped.reason}"
            for skipped in self.skipped_tags
        ]


@dataclass(frozen=True)
class TargetResult:
    """What a target received: the digest of its main item and every ref now pointing at
    something pushed in this run."""

    target: str
    kind: str
    digest: str | None
    refs: tuple[str, ...]
    artifacts: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "kind": self.kind,
            "digest": self.digest,
            "refs": list(self.refs),
            "artifacts": list(self.artifacts),
        }


class Target(Protocol):
    """A place content is published to. Plugins may add kinds of their own.

    ``plan`` must not write anything; ``push`` executes exactly what ``plan`` returned.
    """

    @property
    def name(self) -> str:
        """The target as shown to users."""
        ...

    def plan(self, items: Sequence[PushItem], *, check: bool) -> TargetPlan:
        """Describe what :meth:`push` would do with ``items``.

        :param check: ask the destination which blobs it has (read-only requests).
        """
        ...

    def push(self, plan: TargetPlan, *, progress: ProgressCallback | None) -> TargetResult:
        """Publish what ``plan`` lists, and say where it landed."""
        ...


@dataclass(frozen=True)
class Plan:
    """The whole release: project identity plus one :class:`TargetPlan` per target.

    :ivar notes: what the user should know about the release as a whole.
    :ivar details: the long form (every file of every layer...), shown with ``-v``.
    """

    project: str
    version: str
    targets: tuple[TargetPlan, ...]
    notes: tuple[str, ...] = ()
    details: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "project": self.project,
            "version": self.version,
            "targets": [t.to_json() for t in self.targets],
            "notes": list(self.notes),
            "details": list(self.details),
        }

    def render_json(self) -> str:
        return json.dumps(self.to_json(), indent=2)

    def render_table(self, *, verbose: bool = False) -> str:
        """A plain-text view for terminals and CI logs; ``verbose`` adds the details."""
        lines = [f"plan for {self.project} {self.version}"]
        lines += [f"note: {note}" for note in self.notes]
        if verbose:
            lines += [f"  {detail}" for detail in self.details]
        for target in self.targets:
            lines.append("")
            lines.append(f"target {target.target} ({target.kind})")
            if target.scopes:
                lines.append(f"  scopes: {' '.join(target.scopes)}")
            lines.append(
                _table(
                    ["blob", "size", "media type", "action"],
                    [
                        [
                            _short(b.digest),
                            _size(b.size),
                            b.media_type,
                            f"mount from {b.mount_from}" if b.action == "mount" else b.action,
                        ]
                        for b in target.blobs
                    ],
                )
            )
            lines.append(
                _table(
                    ["manifest", "role", "platform", "refs"],
                    [
                        [
                            _short(m.digest),
                            m.role,
                            m.platform or "-",
                            ", ".join(m.refs) or "(by digest)",
                        ]
                        for m in target.manifests
                    ],
                )
            )
            lines += [f"  note: {note}" for note in target.notes]
            lines += [
                f"  skipped tag {skipped.tag}: {skipped.reason}" for skipped in target.skipped_tags
            ]
        return "\n".join(lines)


def _short(digest: str | None) -> str:
    if digest is None:
        return "(after upload)"
    algorithm, _, encoded = digest.partition(":")
    return f"{algorithm}:{encoded[:12]}" if encoded else digest


def _size(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    value = count / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    if not rows:
        return f"  ({headers[0]}s: none)"
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    out = ["  " + "  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    out += [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    return "\n".join(out)


def inventory(
    items: Sequence[PushItem],
    *,
    root_refs: Callable[[PushItem, Digest | None], tuple[str, ...]],
    child_ref: Callable[[Digest], str],
    blob_action: Callable[[Blob], tuple[BlobAction, str | None]],
) -> tuple[tuple[PlannedBlob, ...], tuple[PlannedManifest, ...]]:
    """List the distinct blobs and every manifest of ``items``, as a target will store them.

    :param root_refs: the refs a top-level item will have, given its digest (``None`` when
        it depends on streamed layers and is known only after upload).
    :param child_ref: how a target names a child manifest (by digest).
    :param blob_action: what the target will do with a blob, and the mount source if any.
    """
    blobs: dict[object, PlannedBlob] = {}
    manifests: list[PlannedManifest] = []
    for entry in items:
        nodes = list(entry.item.walk()) if isinstance(entry.item, ImageIndex) else []
        for node in [*nodes, entry.item]:
            if isinstance(node, Image):
                for blob in [*node.layers, *([] if node.streaming else [node.config_blob()])]:
                    key = blob.digest or id(blob)
                    if key not in blobs:
                        action, source = blob_action(blob)
                        blobs[key] = PlannedBlob(
                            str(blob.digest) if blob.digest else None,
                            blob.size or 0,
                            blob.media_type,
                            BlobSource.of(blob),
                            action,
                            source,
                        )
            streaming = isinstance(node, Image) and node.streaming
            document = None if streaming else manifest_of(node)
            digest = document.digest if document is not None else None
            top = node is entry.item
            role = "index" if top and isinstance(node, ImageIndex) else entry.role
            manifests.append(
                PlannedManifest(
                    str(digest) if digest else None,
                    len(document.raw) if document is not None else 0,
                    node.media_type,
                    role,
                    root_refs(entry, digest)
                    if node is entry.item
                    else ((child_ref(digest),) if digest else ()),
                    str(document.subject.digest)
                    if document is not None and document.subject
                    else None,
                    None if top or node.platform is None else str(node.platform),
                )
            )
    return tuple(blobs.values()), tuple(manifests)
