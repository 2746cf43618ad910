"""Built-in plugin ``archive``: images for local engines, as files or loaded directly.

- ``oci-archive:PATH[:TAG]``: a tarred OCI layout holding the image and its artifacts.
- ``docker-archive:PATH[:NAME[:TAG]]``: a ``docker load`` tar of the image (default name:
  the project's, tagged with the version).
- ``docker-daemon:NAME[:TAG]``: the image loaded into a Docker-compatible engine
  (:mod:`ocipush.oci.daemon`).

A multi-platform image goes to a docker archive or an engine as its image for this machine's
platform; SBOMs and signatures go only to OCI archives, since engines do not keep them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ocipush.oci.archives import (
    ArchiveReference,
    docker_name,
    is_archive_reference,
    local_image,
    parse_archive_reference,
    repo_tag,
    write_archive_file,
)
from ocipush.oci.blobs import Blob
from ocipush.oci.daemon import DAEMON_PREFIX, Daemon
from ocipush.oci.policy import BlobPolicy
from ocipush.registry.progress import ProgressCallback
from ocipush.release.config import TargetConfig
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import BlobAction, PushItem, Target, TargetPlan, TargetResult, inventory
from ocipush.release.project import Project

#: This plugin reads no table of [tool.ocipush].
OCIPUSH_TABLES: tuple[str, ...] = ()

_ENGINE_NOTE = "only the image goes to {kind}; artifacts (SBOMs, signatures) are left out"


def _default_name(project: Project) -> str:
    """The project's name as an image name (lower case, ``[a-z0-9._-]``)."""
    return re.sub(r"[^a-z0-9._-]+", "-", project.metadata.name.lower()).strip("-._") or "app"


def _repo_tags(name: str | None, tags: Sequence[str], project: Project, where: str) -> list[str]:
    """``RepoTags`` for ``name`` (``app`` or ``app:1.0``) and the further ``tags``."""
    version = project.expand_tag("{version}", "tool.ocipush.targets")
    ref = docker_name(name or f"{_default_name(project)}:{version}", where)
    if name is not None and ":" not in name.rpartition("/")[2]:
        ref = ref.with_tag(version)
    assert ref.tag is not None
    return [repo_tag(ref.with_tag(tag)) for tag in dict.fromkeys([ref.tag, *tags])]


def _write_all(blob: Blob) -> tuple[BlobAction, str | None]:
    return "write", None


class ArchiveTarget:
    """A tar file: an OCI archive (every item) or a docker archive (the image)."""

    def __init__(self, ref: ArchiveReference, tags: Sequence[str], project: Project) -> None:
        self.path: Path = ref.path if ref.path.is_absolute() else project.root / ref.path
        self.docker = ref.docker
        self.allow_nondistributable = project.settings.allow_nondistributable_artifacts
        if ref.docker:
            self.kind = "docker-archive"
            self.tags = _repo_tags(ref.name, tags, project, str(ref))
        else:
            self.kind = "oci-archive"
            version = project.expand_tag("{version}", "tool.ocipush.targets")
            self.tags = list(dict.fromkeys([ref.tag or version, *tags]))
        self._shown = f"{self.kind}:{ref.path}:{self.tags[0]}"

    @property
    def name(self) -> str:
        return self._shown

    def _entries(self, items: Sequence[PushItem]) -> list[tuple[PushItem, tuple[str, ...]]]:
        if self.docker:
            image = next((i for i in items if i.role == "image"), None)
            return [] if image is None else [(image, tuple(self.tags))]
        return [(i, tuple(self.tags) if i.role == "image" else i.tags) for i in items]

    def plan(self, items: Sequence[PushItem], *, check: bool) -> TargetPlan:
        entries = self._entries(items)
        if self.docker:
            entries = [(PushItem(local_image(i.item), i.role, name=i.name), t) for i, t in entries]

        def action(blob: Blob) -> tuple[BlobAction, str | None]:
            # A docker-archive keeps every layer: `docker load` needs them all.
            if BlobPolicy(self.docker or self.allow_nondistributable).skips(blob):
                return "skip-nondistributable", None
            return "write", None

        tags = {id(item): item_tags for item, item_tags in entries}
        blobs, manifests = inventory(
            [item for item, _ in entries],
            root_refs=lambda item, digest: (
                tuple(f"{self.kind}:{self.path}:{t}" for t in tags.get(id(item), ()))
                or (f"{self.kind}:{self.path}@{digest}",)
            ),
            child_ref=lambda digest: f"{self.kind}:{self.path}@{digest}",
            blob_action=action,
        )
        notes = (_ENGINE_NOTE.format(kind="a docker archive"),) if self.docker else ()
        left_out = notes if len(entries) < len(items) else ()
        return TargetPlan(
            self.name, self.kind, tuple(i for i, _ in entries), blobs, manifests, notes=left_out
        )

    def push(self, plan: TargetPlan, *, progress: ProgressCallback | None) -> TargetResult:
        entries = self._entries(plan.items)
        descriptors = write_archive_file(
            self.path,
            [(item.item, tags) for item, tags in entries],
            repo_tags=self.tags if self.docker else None,
            allow_nondistributable=self.allow_nondistributable,
        )
        refs: list[str] = []
        digest: str | None = None
        artifacts: list[str] = []
        for (item, tags), descriptor in zip(entries, descriptors, strict=True):
            refs += [f"{self.kind}:{self.path}:{t}@{descriptor.digest}" for t in tags] or [
                f"{self.kind}:{self.path}@{descriptor.digest}"
            ]
            if item.role == "image":
                digest = str(descriptor.digest)
            else:
                artifacts.append(str(descriptor.digest))
        return TargetResult(self.name, self.kind, digest, tuple(refs), tuple(artifacts))


class DaemonTarget:
    """A Docker-compatible engine the image is loaded into, under one or more names."""

    kind = "docker-daemon"

    def __init__(self, name: str, tags: Sequence[str], project: Project) -> None:
        self.tags = _repo_tags(name, tags, project, f"{DAEMON_PREFIX}{name}")
        self.daemon = Daemon(project.environ)

    @property
    def name(self) -> str:
        return f"{DAEMON_PREFIX}{self.tags[0]}"

    def plan(self, items: Sequence[PushItem], *, check: bool) -> TargetPlan:
        image = [
            PushItem(local_image(i.item), i.role, name=i.name) for i in items if i.role == "image"
        ]
        blobs, manifests = inventory(
            image,
            root_refs=lambda item, digest: tuple(f"{DAEMON_PREFIX}{t}" for t in self.tags),
            child_ref=lambda digest: f"{DAEMON_PREFIX}@{digest}",
            blob_action=_write_all,
        )
        notes = [f"loaded through {self.daemon.host}"]
        if len(image) < len(items):
            notes.append(_ENGINE_NOTE.format(kind="an engine"))
        return TargetPlan(self.name, self.kind, tuple(image), blobs, manifests, notes=tuple(notes))

    def push(self, plan: TargetPlan, *, progress: ProgressCallback | None) -> TargetResult:
        if not plan.items:
            return TargetResult(self.name, self.kind, None, ())
        descriptor = self.daemon.load(local_image(plan.items[0].item), self.tags)
        refs = tuple(f"{DAEMON_PREFIX}{t}@{descriptor.digest}" for t in self.tags)
        return TargetResult(self.name, self.kind, str(descriptor.digest), refs)


@hookimpl(trylast=True)
def ocipush_make_target(
    config: TargetConfig, ref: str, tags: Sequence[str], project: Project
) -> Target | None:
    if is_archive_reference(ref):
        return ArchiveTarget(parse_archive_reference(ref), tags, project)
    if ref.startswith(DAEMON_PREFIX):
        return DaemonTarget(ref[len(DAEMON_PREFIX) :], tags, project)
    return None
