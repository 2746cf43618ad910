"""Referrers across registries and layouts: list them, read them, copy them with a subject.

A :class:`Place` is where an image and what refers to it live: a registry repository
(referrers from the API or the ``sha256-<hex>`` fallback tag) or an OCI layout (entries
of ``index.json`` whose manifest names the subject). ``ocipush referrers``, ``verify`` and
``copy`` all read through it, so they see the same things.

Copying writes each referrer after its subject, by digest; the writer keeps the
destination's referrers list (API or fallback tag) consistent as each one lands.
"""

from __future__ import annotations

import logging
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ocipush.attest.intoto import PREDICATE_TYPE_ANNOTATION
from ocipush.errors import OcipushError
from ocipush.oci.archives import (
    DOCKER_ARCHIVE_PREFIX,
    ArchiveReference,
    docker_name,
    is_archive_reference,
    local_image,
    parse_archive_reference,
    repo_tag,
    unpack_oci_archive,
    write_archive_file,
)
from ocipush.oci.daemon import DAEMON_PREFIX, Daemon
from ocipush.oci.digest import Digest
from ocipush.oci.images import ImageIndex, Taggable
from ocipush.oci.layout import (
    is_layout_reference,
    layout_referrers,
    parse_layout_reference,
    read_layout,
    read_layout_digest,
    write_layout,
)
from ocipush.oci.model import Descriptor
from ocipush.oci.reference import Reference, parse_reference
from ocipush.registry.remote import Remote
from ocipush.registry.writer import Writer

__all__ = ["Place", "Referrer", "copy", "open_place", "subjects_of", "walk_referrers"]

log = logging.getLogger(__name__)

#: How deep referrers of referrers are followed (a signature on an SBOM on an image is 2).
MAX_DEPTH = 4


class Place(Protocol):
    """Where an image and its referrers are read from."""

    def root(self) -> Taggable:
        """The image or index named."""
        ...

    def referrers(self, subject: Digest) -> list[Descriptor]:
        """The manifests referring to ``subject``."""
        ...

    def read(self, digest: Digest) -> Taggable:
        """The manifest (with its blobs) ``digest``, e.g. a referrer."""
        ...


@dataclass(frozen=True)
class _RegistryPlace:
    ref: Reference
    remote: Remote

    def root(self) -> Taggable:
        return self.remote.get(self.ref)

    def referrers(self, subject: Digest) -> list[Descriptor]:
        return self.remote.referrers(self.ref.repository, subject)

    def read(self, digest: Digest) -> Taggable:
        return self.remote.get(self.ref.with_digest(digest))


@dataclass(frozen=True)
class _LayoutPlace:
    path: Path
    tag: str | None
    #: What keeps ``path`` alive (the temporary directory an archive was unpacked into).
    keep: object = field(default=None, compare=False, repr=False)

    def root(self) -> Taggable:
        return read_layout(self.path, self.tag)

    def referrers(self, subject: Digest) -> list[Descriptor]:
        return layout_referrers(self.path, subject)

    def read(self, digest: Digest) -> Taggable:
        return read_layout_digest(self.path, digest)


def open_place(text: str, remote: Remote) -> Place:
    """``oci:PATH[:TAG]``, ``oci-archive:PATH[:TAG]`` (unpacked into a temporary directory
    that lives as long as the place) or a registry reference.

    :raises OcipushError: ``text`` names a docker archive or an engine, which ocipush only
        writes.
    """
    if is_layout_reference(text):
        layout = parse_layout_reference(text)
        return _LayoutPlace(layout.path, layout.tag)
    if text.startswith((DOCKER_ARCHIVE_PREFIX, DAEMON_PREFIX)):
        kind = text.partition(":")[0]
        raise OcipushError(
            f"{text}: ocipush writes {kind}: but does not read it; read from a registry, "
            "an oci: layout or an oci-archive: instead"
        )
    if is_archive_reference(text):
        archive = parse_archive_reference(text)
        scratch = tempfile.TemporaryDirectory(prefix="ocipush-archive-")
        unpack_oci_archive(archive.path, Path(scratch.name))
        return _LayoutPlace(Path(scratch.name), archive.tag, keep=scratch)
    return _RegistryPlace(parse_reference(text), remote)


def subjects_of(item: Taggable) -> list[tuple[Digest, str]]:
    """The digests an image's referrers may name: the item, then each child, labelled."""
    found = [(item.descriptor().digest, "index" if isinstance(item, ImageIndex) else "image")]
    if isinstance(item, ImageIndex):
        found += [
            (child.descriptor().digest, f"image {child.platform or 'child'}")
            for child in item.walk()
        ]
    return found


@dataclass(frozen=True)
class Referrer:
    """A manifest referring to ``subject``, as a referrers list describes it."""

    subject: Digest
    descriptor: Descriptor

    def to_json(self) -> dict[str, Any]:
        return {"subject": str(self.subject), **self.descriptor.to_json()}

    def line(self) -> str:
        """``DIGEST  TYPE  on SUBJECT  [what a bundle signs]``, for terminals."""
        descriptor = self.descriptor
        kind = descriptor.artifact_type or descriptor.media_type
        signs = descriptor.annotations.get(PREDICATE_TYPE_ANNOTATION, "")
        return f"{descriptor.digest}  {kind}  on {self.subject}  {signs}".rstrip()


def walk_referrers(place: Place, item: Taggable) -> list[Referrer]:
    """Every referrer of ``item`` and its children, then of those referrers, subjects
    before what refers to them (at most :data:`MAX_DEPTH` levels)."""
    found: list[Referrer] = []
    seen: set[Digest] = set()
    subjects = [digest for digest, _ in subjects_of(item)]
    for _ in range(MAX_DEPTH):
        following: list[Digest] = []
        for subject in subjects:
            for descriptor in place.referrers(subject):
                if descriptor.digest in seen:
                    continue
                seen.add(descriptor.digest)
                found.append(Referrer(subject, descriptor))
                following.append(descriptor.digest)
        if not following:
            break
        subjects = following
    return found


def copy(source: str, destination: str, writer: Writer, *, referrers: bool = True) -> str:
    """Copy ``source`` to ``destination`` (registry references or ``oci:`` layouts), then
    every referrer, each after its subject. ``destination`` may also be an archive or a
    local engine (``oci-archive:``, ``docker-archive:``, ``docker-daemon:``).

    :return: where the copy landed, ``REPOSITORY@DIGEST`` or ``oci:PATH@DIGEST``.
    """
    local = _LocalDestination.parse(destination)
    if local is None and not is_layout_reference(destination):
        parse_reference(destination)  # fail on a bad target before reading anything
    place = open_place(source, Remote(writer.transport))
    item = place.root()
    if local is not None:
        return local.write(place, item, referrers=referrers, writer=writer)
    landed = _write(destination, item, writer, tag=True)
    if referrers:
        for referrer in walk_referrers(place, item):
            log.info("copying referrer %s of %s", referrer.descriptor.digest, referrer.subject)
            _write(destination, place.read(referrer.descriptor.digest), writer, tag=False)
    return landed


@dataclass(frozen=True)
class _LocalDestination:
    """An archive or a local engine: written in one go, so referrers come along at once
    (into an OCI archive; a docker archive or an engine keeps only the image)."""

    text: str
    archive: ArchiveReference | None
    repo_tags: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> _LocalDestination | None:
        if text.startswith(DAEMON_PREFIX):
            ref = docker_name(text[len(DAEMON_PREFIX) :], text)
            return cls(text, None, (repo_tag(ref),))
        if not is_archive_reference(text):
            return None
        archive = parse_archive_reference(text)
        names = (repo_tag(docker_name(archive.name, text)),) if archive.name else ()
        return cls(text, archive, names)

    def write(self, place: Place, item: Taggable, *, referrers: bool, writer: Writer) -> str:
        archive = self.archive
        if archive is None:
            descriptor = Daemon().load(local_image(item), self.repo_tags)
            return f"{self.text}@{descriptor.digest}"
        if archive.docker:
            entries: list[tuple[Taggable, tuple[str, ...]]] = [(local_image(item), ())]
        else:
            entries = [(item, (archive.tag,) if archive.tag else ())]
            if referrers:
                entries += [
                    (place.read(found.descriptor.digest), ())
                    for found in walk_referrers(place, item)
                ]
        descriptors = write_archive_file(
            archive.path,
            entries,
            repo_tags=self.repo_tags if archive.docker else None,
            allow_nondistributable=writer.allow_nondistributable,
        )
        prefix = self.text.partition(":")[0]
        return f"{prefix}:{archive.path}@{descriptors[0].digest}"


def _write(text: str, item: Taggable, writer: Writer, *, tag: bool) -> str:
    """Write ``item`` to ``text``: with its tag, or (``tag=False``) by digest only."""
    if is_layout_reference(text):
        layout = parse_layout_reference(text)
        descriptor = write_layout(
            layout.path,
            item,
            layout.tag if tag else None,
            allow_nondistributable=writer.allow_nondistributable,
        )
        return f"oci:{layout.path}@{descriptor.digest}"
    ref = parse_reference(text)
    if not tag:
        ref = ref.with_digest(item.descriptor().digest)
    descriptor = writer.multi_write({ref: item})[ref]
    log.info("%s", writer.last_result.summary())
    return f"{ref.repository.name}@{descriptor.digest}"
