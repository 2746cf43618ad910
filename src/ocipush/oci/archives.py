"""Image archives: a tarred OCI layout (``oci-archive:``) and a ``docker load`` tar
(``docker-archive:``), written as one stream.

An OCI archive holds ``oci-layout``, ``index.json`` and ``blobs/<algorithm>/<encoded>``; a
docker archive holds the same blobs with ``manifest.json`` (config and layer paths plus
``RepoTags``) for one image instead, which ``docker load``, ``podman load`` and
``skopeo copy docker-archive:`` read. Blobs go straight from their
source into the stream, checked against their digests on the way; only a layer whose size
is unknown (a stream) is spooled to a temporary file first, since a tar header names the
size before the bytes. The same writer feeds the daemon target (:mod:`ocipush.oci.daemon`).
"""

from __future__ import annotations

import io
import json
import platform as host
import tarfile
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import BinaryIO

from ocipush.errors import InvalidReferenceError, LayoutError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob, StreamBlob
from ocipush.oci.digest import CHUNK, Digest, HashingReader
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.layout import REF_NAME_ANNOTATION, parse_layout_reference
from ocipush.oci.model import Descriptor, Platform
from ocipush.oci.policy import BlobPolicy
from ocipush.oci.reference import DOCKER_HUB, Reference, parse_reference

__all__ = [
    "DOCKER_ARCHIVE_PREFIX",
    "OCI_ARCHIVE_PREFIX",
    "ArchiveReference",
    "is_archive_reference",
    "local_image",
    "parse_archive_reference",
    "unpack_oci_archive",
    "write_archive",
    "write_archive_file",
]

OCI_ARCHIVE_PREFIX = "oci-archive:"
DOCKER_ARCHIVE_PREFIX = "docker-archive:"
#: Docker's names for the machines Python reports, for choosing an index's image.
_ARCHITECTURES = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}


@dataclass(frozen=True)
class ArchiveReference:
    """``oci-archive:PATH[:TAG]`` or ``docker-archive:PATH[:NAME[:TAG]]``.

    :ivar docker: whether this is a docker archive (with ``manifest.json``).
    :ivar tag: the OCI archive's tag (``org.opencontainers.image.ref.name``).
    :ivar name: the docker archive's image name (``RepoTags``), as given.
    """

    path: Path
    docker: bool
    tag: str | None = None
    name: str | None = None

    def __str__(self) -> str:
        if self.docker:
            return f"{DOCKER_ARCHIVE_PREFIX}{self.path}" + (f":{self.name}" if self.name else "")
        return f"{OCI_ARCHIVE_PREFIX}{self.path}" + (f":{self.tag}" if self.tag else "")


def is_archive_reference(text: str) -> bool:
    return text.startswith((OCI_ARCHIVE_PREFIX, DOCKER_ARCHIVE_PREFIX))


def parse_archive_reference(text: str) -> ArchiveReference:
    """Parse an archive reference.

    An OCI archive's tag follows the last ``:`` as in ``oci:`` layouts. A docker archive's
    path ends at the first ``:`` and the rest is an image name (``app:1.0``), as skopeo
    reads it.

    :raises LayoutError: quoting ``text`` and saying what to write.
    """
    if text.startswith(OCI_ARCHIVE_PREFIX):
        layout = parse_layout_reference("oci:" + text[len(OCI_ARCHIVE_PREFIX) :])
        return ArchiveReference(layout.path, docker=False, tag=layout.tag)
    if not text.startswith(DOCKER_ARCHIVE_PREFIX):
        raise LayoutError(
            f"{text!r} is not an archive reference: write oci-archive:PATH[:TAG] or "
            "docker-archive:PATH[:NAME:TAG]"
        )
    path, _, name = text[len(DOCKER_ARCHIVE_PREFIX) :].partition(":")
    if not path:
        raise LayoutError(
            f"{text!r}: the archive path is empty; write docker-archive:PATH[:NAME:TAG]"
        )
    if name:
        docker_name(name, text)
    return ArchiveReference(Path(path), docker=True, name=name or None)


def docker_name(name: str, where: str) -> Reference:
    """``name`` (``app:1.0``) as an image reference with a tag, for ``RepoTags``."""
    try:
        ref = parse_reference(name)
    except InvalidReferenceError as error:
        raise LayoutError(
            f"{where!r}: {name!r} is not an image name ({error.problem}); write e.g. app:1.0"
        ) from None
    if ref.digest is not None:
        raise LayoutError(f"{where!r}: {name!r} names a digest; a loaded image needs a tag")
    return ref


def repo_tag(ref: Reference) -> str:
    """How ``docker images`` spells ``ref``: Docker Hub's prefixes left out."""
    repository = ref.repository
    if repository.registry.host != DOCKER_HUB:
        return f"{repository.name}:{ref.tag}"
    return f"{repository.path.removeprefix('library/')}:{ref.tag}"


def local_image(item: Taggable, wanted: Platform | None = None) -> Image:
    """The image of ``item`` a local engine runs: ``item`` itself, or the child of an index
    for ``wanted`` (default: this machine's platform).

    :raises LayoutError: the index has no image for it, naming those it has.
    """
    if isinstance(item, Image):
        return item
    machine = host.machine().lower()
    wanted = wanted or Platform("linux", _ARCHITECTURES.get(machine, machine))
    images = [node for node in item.walk() if isinstance(node, Image)]
    for image in images:
        found = image.platform
        if found and (found.os, found.architecture) == (wanted.os, wanted.architecture):
            return image
    offered = ", ".join(str(i.platform) for i in images if i.platform) or "none"
    raise LayoutError(
        f"the image has no {wanted} variant for a local engine (it has: {offered}); "
        "add the platform to tool.ocipush.image.platforms"
    )


class _TarStream:
    """A deterministic tar written in one pass: fixed owner and time, each blob once."""

    def __init__(self, out: BinaryIO) -> None:
        self._tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)  # noqa: SIM115
        self._written: set[Digest] = set()

    def _info(self, name: str, size: int) -> tarfile.TarInfo:
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, 0o644, 0
        return info

    def add_bytes(self, name: str, data: bytes) -> None:
        self._tar.addfile(self._info(name, len(data)), io.BytesIO(data))

    def add_blob(self, blob: Blob) -> Digest:
        """Write ``blob`` under ``blobs/``, checking its digest; returns the digest."""
        if blob.digest is not None and blob.digest in self._written:
            return blob.digest
        with _sized(blob) as (reader, size):
            hashing = HashingReader(reader, blob.digest.algorithm if blob.digest else "sha256")
            digest = blob.digest or _peek_digest(reader)
            self._tar.addfile(self._info(_blob_name(digest), size), hashing)
            hashing.hasher.verify(digest, blob.describe())
        if blob.digest is None and isinstance(blob, StreamBlob):
            blob.complete(digest, size)
        self._written.add(digest)
        return digest

    def close(self) -> None:
        self._tar.close()


def _peek_digest(reader: BinaryIO) -> Digest:
    """The digest of a spooled file, read once and rewound."""
    hashing = HashingReader(reader)
    for _ in hashing.chunks():
        pass
    reader.seek(0)
    return hashing.hasher.digest()


@contextmanager
def _sized(blob: Blob) -> Iterator[tuple[BinaryIO, int]]:
    """``blob``'s reader and size; a blob of unknown size is spooled to a temporary file."""
    reader = blob.open()
    try:
        if blob.size is not None and blob.digest is not None:
            yield reader, blob.size
            return
        with tempfile.TemporaryFile() as spool:
            while data := reader.read(CHUNK):
                spool.write(data)
            size = spool.tell()
            spool.seek(0)
            yield spool, size
    finally:
        reader.close()


def _blob_name(digest: Digest) -> str:
    return f"blobs/{digest.algorithm}/{digest.encoded}"


def write_archive(
    out: BinaryIO,
    items: Sequence[tuple[Taggable, Sequence[str]]],
    *,
    repo_tags: Sequence[str] | None = None,
    allow_nondistributable: bool = False,
) -> list[Descriptor]:
    """Write ``items`` as a tarred OCI layout to ``out``.

    :param items: each item with its ``index.json`` tags
        (``org.opencontainers.image.ref.name``); an item without tags gets one untagged entry.
    :param repo_tags: make a docker archive instead: the first item must be one image (see
        :func:`local_image`), listed in ``manifest.json`` under these names, and there is no
        ``oci-layout`` or ``index.json`` (podman would load that untagged, as an OCI
        archive). Every layer is then written, nondistributable ones too, so that the
        engine can run it.
    :return: the descriptor of each item.
    """
    tar = _TarStream(out)
    if repo_tags is None:
        tar.add_bytes("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
    # A docker-archive keeps every layer: `docker load` needs them all.
    policy = BlobPolicy(allow_nondistributable or repo_tags is not None)
    entries: list[Descriptor] = []
    descriptors = []
    for item, tags in items:
        for node in [*item.walk(), item] if isinstance(item, ImageIndex) else [item]:
            if isinstance(node, Image):
                for blob in node.blobs():
                    if not policy.skips(blob):
                        tar.add_blob(blob)
            document = manifest_of(node)
            tar.add_blob(BytesBlob(document.raw, document.media_type))
        descriptor = item.descriptor()
        descriptors.append(descriptor)
        entries += [replace(descriptor, annotations={REF_NAME_ANNOTATION: t}) for t in tags]
        if not tags:
            entries.append(descriptor)
    if repo_tags is None:
        index = {
            "schemaVersion": 2,
            "mediaType": mt.OCI_INDEX,
            "manifests": [entry.to_json() for entry in entries],
        }
        tar.add_bytes("index.json", json.dumps(index, indent=2).encode())
    else:
        image = items[0][0]
        assert isinstance(image, Image)
        manifest = image.manifest()
        docker = [
            {
                "Config": _blob_name(manifest.config.digest),
                "RepoTags": list(repo_tags),
                "Layers": [_blob_name(layer.digest) for layer in manifest.layers],
            }
        ]
        tar.add_bytes("manifest.json", json.dumps(docker).encode())
    tar.close()
    return descriptors


def write_archive_file(
    path: Path,
    items: Sequence[tuple[Taggable, Sequence[str]]],
    *,
    repo_tags: Sequence[str] | None = None,
    allow_nondistributable: bool = False,
) -> list[Descriptor]:
    """:func:`write_archive` to the file ``path``, replacing it only once complete, so a
    failed write leaves any earlier archive as it was.

    :raises LayoutError: the file cannot be written, saying where and what to do.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        scratch_file = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept for os.replace
            dir=path.parent, prefix=f".{path.name}.", delete=False
        )
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    scratch = Path(scratch_file.name)
    try:
        with scratch_file as out:
            descriptors = write_archive(
                out,  # type: ignore[arg-type]
                items,
                repo_tags=repo_tags,
                allow_nondistributable=allow_nondistributable,
            )
        scratch.chmod(0o644)
        scratch.replace(path)
    except OSError as exc:
        scratch.unlink(missing_ok=True)
        raise _unwritable(path, exc) from exc
    except BaseException:
        scratch.unlink(missing_ok=True)
        raise
    return descriptors


def _unwritable(path: Path, exc: OSError) -> LayoutError:
    return LayoutError(
        f"{exc.filename or path}: cannot write the archive: {exc.strerror or exc}; "
        "check that the directory is writable and has free space"
    )


def unpack_oci_archive(archive: Path, into: Path) -> None:
    """Extract the OCI layout in ``archive`` into the empty directory ``into``.

    Only regular files and directories whose names stay inside ``into`` are taken; anything
    else (links, devices, ``..``) means the file is not an archive ocipush should trust.

    :raises LayoutError: the file cannot be read or is not a tarred OCI layout.
    """
    root = into.resolve()
    try:
        with tarfile.open(archive) as tar:
            for member in tar:
                target = (root / member.name).resolve()
                if not target.is_relative_to(root) or not (member.isfile() or member.isdir()):
                    raise LayoutError(
                        f"{archive}: entry {member.name!r} is not a plain file inside the "
                        "archive; it is not an OCI archive ocipush reads"
                    )
                if member.isdir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                source = tar.extractfile(member)
                assert source is not None
                with source, target.open("wb") as out:
                    while data := source.read(CHUNK):
                        out.write(data)
    except (OSError, tarfile.TarError) as error:
        raise LayoutError(
            f"{archive}: cannot be read as an OCI archive ({error}); name a tar written by "
            "oci-archive: or `skopeo copy … oci-archive:…`"
        ) from None
    if not (root / "oci-layout").is_file():
        raise LayoutError(
            f"{archive}: holds no oci-layout file, so it is not an OCI archive (a docker "
            "archive is read by docker load or podman load, not by ocipush)"
        )
