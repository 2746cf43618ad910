"""OCI image layouts: a directory of blobs plus an ``index.json`` naming images by tag.

A layout holds ``oci-layout`` (the format version), ``index.json`` (an index whose entries
carry their tag in the ``org.opencontainers.image.ref.name`` annotation) and every blob,
manifest and index under ``blobs/<algorithm>/<encoded>``. Users name one as ``oci:PATH[:TAG]``.
"""

from __future__ import annotations

import json
import logging
import os
import re
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

from ocipush.errors import InvalidReferenceError, LayoutError, ManifestError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob, FileBlob, StreamBlob
from ocipush.oci.digest import Digest, HashingReader
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.model import Descriptor, Index, Manifest, parse_manifest

# The tag grammar is the registry's, so that a layout tag can also be pushed as-is.
from ocipush.oci.policy import BlobPolicy
from ocipush.oci.reference import TAG_PROBLEM, is_valid_tag

if TYPE_CHECKING:
    from collections.abc import Iterator

__all__ = [
    "LAYOUT_PREFIX",
    "REF_NAME_ANNOTATION",
    "LayoutReference",
    "collect_garbage",
    "delete_layout_tag",
    "is_layout_reference",
    "layout_referrers",
    "parse_layout_reference",
    "read_layout",
    "read_layout_digest",
    "tag_layout",
    "write_layout",
]

_log = logging.getLogger(__name__)

REF_NAME_ANNOTATION = "org.opencontainers.image.ref.name"
LAYOUT_PREFIX = "oci:"
_LAYOUT_FILE = "oci-layout"
_INDEX_FILE = "index.json"
_LAYOUT_VERSION = "1.0.0"
_EMPTY_INDEX = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": []}
_REPAIR = "repair it or write the image to a new layout"
#: ``@sha256:…`` (or another algorithm) in a layout reference: a digest, which it cannot name.
_DIGEST_SUFFIX = re.compile(r"@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[^/]*$")


@dataclass(frozen=True)
class LayoutReference:
    """An image in a layout directory, by tag, or the layout's only image when ``tag`` is None."""

    path: Path
    tag: str | None = None

    def __str__(self) -> str:
        return f"{LAYOUT_PREFIX}{self.path}" + (f":{self.tag}" if self.tag else "")


def is_layout_reference(text: str) -> bool:
    """Whether ``text`` names a layout (``oci:PATH[:TAG]``) rather than a registry image."""
    return text.startswith(LAYOUT_PREFIX)


def parse_layout_reference(text: str) -> LayoutReference:
    """Parse ``oci:PATH[:TAG]``.

    The tag is what follows the last ``:`` when that is a valid tag and a path precedes it;
    otherwise the whole text after ``oci:`` is the path, so paths may contain colons.

    :raises InvalidReferenceError: quoting ``text`` and saying what is wrong.
    """
    if not is_layout_reference(text):
        raise InvalidReferenceError(text, "not a layout reference: write oci:PATH or oci:PATH:TAG")
    rest = text[len(LAYOUT_PREFIX) :]
    if _DIGEST_SUFFIX.search(rest):
        raise InvalidReferenceError(
            text, "a layout image is named by tag (oci:PATH:TAG), not by digest; drop @DIGEST"
        )
    path, colon, tag = rest.rpartition(":")
    # What follows the last colon is a tag unless it is part of the path (has a "/").
    if colon and path and "/" not in tag and "\\" not in tag:
        if not is_valid_tag(tag):
            raise InvalidReferenceError(text, f"{tag!r} is not a valid tag: {TAG_PROBLEM}")
        return LayoutReference(Path(path), tag)
    if not rest:
        raise InvalidReferenceError(
            text, "the layout path is empty; write oci:PATH or oci:PATH:TAG"
        )
    return LayoutReference(Path(rest))


# ---------------------------------------------------------------------------------------------
# reading


def read_layout(path: Path, tag: str | None = None) -> Image | ImageIndex:
    """Load the image or index tagged ``tag`` from the layout at ``path``.

    Manifests and indexes are checked against their digests now; config and layer blobs are
    :class:`FileBlob` objects checked when they are sent. Nondistributable layers may be
    absent from the layout.

    :param tag: the ``org.opencontainers.image.ref.name`` of the entry; None picks the only
        entry of ``index.json``.
    :raises LayoutError: the layout is missing, malformed, incomplete, or ``tag`` is ambiguous
        or unknown; the message says which file and what to do.
    :raises DigestMismatchError: a manifest or index file does not match its digest.
    """
    _check_layout_file(path)
    index = _read_index_file(path)
    return _load(path, _select(path, index, tag))


def read_layout_digest(path: Path, digest: Digest) -> Image | ImageIndex:
    """Load the manifest or index ``digest`` that ``index.json`` of the layout lists.

    :raises LayoutError: the layout does not list it.
    """
    _check_layout_file(path)
    for entry in _read_index_file(path).manifests:
        if entry.digest == digest:
            return _load(path, entry)
    raise LayoutError(f"{path}: index.json lists no manifest {digest}")


def layout_referrers(path: Path, subject: Digest) -> list[Descriptor]:
    """What refers to ``subject`` in the layout: the entries of ``index.json`` whose
    manifest names it as its ``subject`` (a layout has no referrers index of its own)."""
    _check_layout_file(path)
    found: dict[Digest, Descriptor] = {}
    for entry in _read_index_file(path).manifests:
        file = _blob_path(path, entry.digest)
        document = parse_manifest(_read_document(file, entry), entry.media_type, where=str(file))
        if document.subject is not None and document.subject.digest == subject:
            found.setdefault(entry.digest, document.referrer_descriptor())
    return list(found.values())


def _check_layout_file(root: Path) -> None:
    file = root / _LAYOUT_FILE
    raw = _read_bytes(
        file,
        f"{root} is not an OCI image layout; pass the directory holding oci-layout and index.json",
    )
    try:
        obj = json.loads(raw)
    except ValueError as exc:
        raise LayoutError(f"{file}: not valid JSON ({exc}); {_REPAIR}") from None
    version = obj.get("imageLayoutVersion") if isinstance(obj, dict) else None
    if not isinstance(version, str) or version.split(".")[0] != "1":
        raise LayoutError(
            f"{file}: imageLayoutVersion is {version!r} but ocipush reads version 1 layouts "
            f'(the file should hold {{"imageLayoutVersion": "{_LAYOUT_VERSION}"}}); {_REPAIR}'
        )


def _read_index_file(root: Path) -> Index:
    file = root / _INDEX_FILE
    raw = _read_bytes(file, f"every OCI image layout has one; {_REPAIR}")
    try:
        return Index.parse(raw, mt.OCI_INDEX, where=str(file))
    except ManifestError as exc:
        raise LayoutError(f"{exc}; {_REPAIR}") from None


def _select(root: Path, index: Index, tag: str | None) -> Descriptor:
    if tag is None:
        if len(index.manifests) == 1:
            return index.manifests[0]
        if not index.manifests:
            raise LayoutError(f"{root}: the layout holds no image; write one to it first")
        raise LayoutError(
            f"{root}: the layout holds {len(index.manifests)} images ({_inventory(index)}); "
            f"pass oci:{root}:TAG to choose one"
        )
    matches = [d for d in index.manifests if d.annotations.get(REF_NAME_ANNOTATION) == tag]
    if not matches:
        raise LayoutError(
            f"{root}: no image is tagged {tag!r}; {_inventory(index)}; "
            f"pass oci:{root}:TAG with one of them"
        )
    if len(matches) > 1:
        raise LayoutError(
            f"{root / _INDEX_FILE}: {len(matches)} entries are tagged {tag!r}; "
            "remove all but one of them"
        )
    return matches[0]


def _inventory(index: Index) -> str:
    """The tags an index lists, for messages that ask the user to choose."""
    tags = sorted(
        d.annotations[REF_NAME_ANNOTATION]
        for d in index.manifests
        if REF_NAME_ANNOTATION in d.annotations
    )
    untagged = len(index.manifests) - len(tags)
    text = f"available tags: {', '.join(tags)}" if tags else "no tags"
    return f"{text}, and {untagged} untagged" if untagged else text


def _load(root: Path, descriptor: Descriptor) -> Image | ImageIndex:
    file = _blob_path(root, descriptor.digest)
    document = parse_manifest(
        _read_document(file, descriptor), descriptor.media_type, where=str(file)
    )
    if isinstance(document, Index):
        children = [_load(root, child) for child in document.manifests]
        return ImageIndex(children, index=document, platform=descriptor.platform)
    return Image(
        layers=[_file_blob(root, layer) for layer in document.layers],
        config=_file_blob(root, document.config),
        manifest=document,
        platform=descriptor.platform,
    )


def _read_document(file: Path, descriptor: Descriptor) -> bytes:
    """A manifest or index file's bytes, after checking them against ``descriptor``."""
    with _open(file, f"the layout is incomplete; {_REPAIR}") as reader:
        # The size is checked first so that a corrupt file is never read whole.
        actual_size = os.fstat(reader.fileno()).st_size
        if actual_size != descriptor.size:
            raise LayoutError(
                f"{file}: {actual_size} bytes but its descriptor says {descriptor.size}; "
                f"the layout is corrupt, {_REPAIR}"
            )
        hashing = HashingReader(reader, descriptor.digest.algorithm)
        data = hashing.read()
    hashing.hasher.verify(descriptor.digest, str(file))
    return data


def _file_blob(root: Path, descriptor: Descriptor) -> FileBlob:
    file = _blob_path(root, descriptor.digest)
    if mt.is_distributable(descriptor.media_type) and not file.is_file():
        raise LayoutError(
            f"{file}: missing {descriptor.media_type} blob {descriptor.digest}; "
            f"the layout is incomplete, {_REPAIR}"
        )
    return FileBlob(
        file,
        descriptor.media_type,
        digest=descriptor.digest,
        size=descriptor.size,
        annotations=descriptor.annotations,
        urls=descriptor.urls,
    )


# ---------------------------------------------------------------------------------------------
# writing


def write_layout(
    path: Path,
    item: Taggable,
    tag: str | None = None,
    *,
    allow_nondistributable: bool = False,
    record: bool = True,
) -> Descriptor:
    """Write ``item`` with all its blobs to the layout at ``path``, creating it if needed.

    Blobs already in the layout are not written again; every blob written is checked
    against its digest, and a stream's digest and size are recorded on it
    (:meth:`StreamBlob.complete`). ``index.json`` is replaced atomically at the end, so an
    interrupted write leaves it as it was.

    :param tag: stored as the entry's ``org.opencontainers.image.ref.name``, replacing any
        entry with the same tag; None adds an untagged entry unless the digest is listed.
    :param allow_nondistributable: also copy nondistributable (foreign) layers.
    :param record: add the entry to ``index.json``; ``False`` only writes the blobs, so a
        caller can put everything in place before any tag moves.
    :return: the entry added to ``index.json`` (or that would be, without ``record``).
    :raises LayoutError: ``path`` is not a layout or cannot be written, or ``tag`` is invalid.
    :raises DigestMismatchError: a blob's content does not match its declared digest.
    """
    if tag is not None and not is_valid_tag(tag):
        raise LayoutError(f"{tag!r} cannot tag an image in {path}: {TAG_PROBLEM}")
    policy = BlobPolicy(allow_nondistributable)
    try:
        _prepare(path)
        for node in [*item.walk(), item] if isinstance(item, ImageIndex) else [item]:
            if isinstance(node, Image):
                for blob in node.blobs():
                    if not policy.skips(blob):
                        _write_blob(path, blob)
            document = manifest_of(node)
            _write_blob(path, BytesBlob(document.raw, document.media_type))
        return _record(path, item.descriptor(), tag) if record else item.descriptor()
    except OSError as exc:
        raise LayoutError(
            f"{exc.filename or path}: cannot write the layout: {exc.strerror or exc}; "
            "check that the directory is writable and has free space"
        ) from exc


def _prepare(root: Path) -> None:
    """Make ``root`` a layout, refusing a directory that holds anything else."""
    if root.exists() and not root.is_dir():
        raise LayoutError(
            f"{root}: is a file, not a directory, so no OCI image layout can be written "
            "there; remove it or choose another path"
        )
    if (root / _LAYOUT_FILE).exists():
        _check_layout_file(root)
    elif root.is_dir() and any(root.iterdir()):
        raise LayoutError(
            f"{root}: not an OCI image layout (no {_LAYOUT_FILE} file) and not empty; "
            "write to a new or empty directory"
        )
    else:
        root.mkdir(parents=True, exist_ok=True)
        _replace_file(root / _LAYOUT_FILE, json.dumps({"imageLayoutVersion": _LAYOUT_VERSION}))
    if not (root / _INDEX_FILE).exists():
        _replace_file(root / _INDEX_FILE, json.dumps(_EMPTY_INDEX))


def _write_blob(root: Path, blob: Blob) -> None:
    declared = blob.digest
    if declared is not None and _blob_path(root, declared).is_file():
        _log.debug("%s: already in %s", declared, root)
        return
    with _scratch_file(root) as scratch:
        reader = HashingReader(blob.open(), declared.algorithm if declared else "sha256")
        try:
            with scratch.open("xb") as out:
                for chunk in reader.chunks():
                    out.write(chunk)
        finally:
            reader.close()
        hasher = reader.hasher
        if declared is not None:
            hasher.verify(declared, blob.describe())
        target = _blob_path(root, hasher.digest())
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(scratch, target)
    _log.debug("%s: wrote %s (%d bytes)", blob.describe(), target, hasher.size)
    if declared is None and isinstance(blob, StreamBlob):
        blob.complete(hasher.digest(), hasher.size)


def _record(root: Path, descriptor: Descriptor, tag: str | None) -> Descriptor:
    """Add ``descriptor`` to ``index.json``, keeping every entry it does not replace."""
    entry = replace(descriptor, annotations={REF_NAME_ANNOTATION: tag} if tag else {})
    index = _read_index_file(root)
    if tag is None and any(d.digest == entry.digest for d in index.manifests):
        return entry
    document: dict[str, Any] = json.loads(index.raw)
    # Kept entries are copied as found, so fields ocipush does not model survive.
    kept = [
        found
        for found, parsed in zip(document.get("manifests", []), index.manifests, strict=True)
        if tag is None or parsed.annotations.get(REF_NAME_ANNOTATION) != tag
    ]
    document["manifests"] = [*kept, entry.to_json()]
    _replace_file(root / _INDEX_FILE, json.dumps(document, indent=2))
    return entry


# ---------------------------------------------------------------------------------------------
# editing: tags, deletion, garbage collection


def tag_layout(layout: LayoutReference, new_tag: str) -> Descriptor:
    """Point ``new_tag`` at the image ``layout`` names, in the same layout.

    :raises LayoutError: no such image, or ``new_tag`` is not a valid tag.
    """
    if not is_valid_tag(new_tag):
        raise LayoutError(f"{new_tag!r} cannot tag an image in {layout.path}: {TAG_PROBLEM}")
    _check_layout_file(layout.path)
    entry = _select(layout.path, _read_index_file(layout.path), layout.tag)
    recorded = _record(layout.path, entry, new_tag)
    collect_garbage(layout.path)
    return recorded


def delete_layout_tag(layout: LayoutReference) -> Descriptor:
    """Remove the entry tagged ``layout.tag`` from ``index.json``, then every blob and
    referrer no remaining entry reaches.

    :return: the entry removed.
    :raises LayoutError: ``layout`` names no tag, or no image has it.
    """
    if layout.tag is None:
        raise LayoutError(
            f"{layout}: name the tag to delete, as oci:{layout.path}:TAG; a layout's images "
            "are deleted by tag"
        )
    _check_layout_file(layout.path)
    index = _read_index_file(layout.path)
    entry = _select(layout.path, index, layout.tag)
    document: dict[str, Any] = json.loads(index.raw)
    document["manifests"] = [
        found
        for found, parsed in zip(document.get("manifests", []), index.manifests, strict=True)
        if parsed.annotations.get(REF_NAME_ANNOTATION) != layout.tag
    ]
    _replace_file(layout.path / _INDEX_FILE, json.dumps(document, indent=2))
    collect_garbage(layout.path)
    return entry


def collect_garbage(root: Path) -> list[Digest]:
    """Remove what nothing tagged reaches, as ``umoci gc`` does: untagged ``index.json``
    entries that refer to a subject no longer in the layout, then every blob that no entry
    reaches (manifests, configs, layers). Other tags' content is never touched.

    :return: the digests of the blobs removed.
    """
    index = _read_index_file(root)
    reachable: set[Digest] = set()
    for entry in index.manifests:
        if REF_NAME_ANNOTATION in entry.annotations:
            _reach(root, entry, reachable)
    kept = [e for e in index.manifests if REF_NAME_ANNOTATION in e.annotations]
    pending = [e for e in index.manifests if REF_NAME_ANNOTATION not in e.annotations]
    # Untagged entries stay while their subject (if any) does; referrers of referrers too.
    changed = True
    while changed:
        changed = False
        for entry in list(pending):
            subject = _subject(root, entry)
            if subject is None or subject in reachable:
                _reach(root, entry, reachable)
                kept.append(entry)
                pending.remove(entry)
                changed = True
    if pending:
        document: dict[str, Any] = json.loads(index.raw)
        gone = {e.digest for e in pending}
        document["manifests"] = [
            found
            for found, parsed in zip(document.get("manifests", []), index.manifests, strict=True)
            if parsed.digest not in gone or parsed in kept
        ]
        _replace_file(root / _INDEX_FILE, json.dumps(document, indent=2))
    removed = []
    for file in sorted((root / "blobs").glob("*/*")):
        try:
            digest = Digest.parse(f"{file.parent.name}:{file.name}")
        except ValueError:
            continue  # not a blob ocipush could have written; leave it
        if digest not in reachable:
            file.unlink()
            removed.append(digest)
    if removed:
        _log.info("%s: removed %d unreferenced blob(s)", root, len(removed))
    return removed


def _document_of(root: Path, entry: Descriptor) -> Index | Manifest | None:
    file = _blob_path(root, entry.digest)
    if not file.is_file():
        return None
    return parse_manifest(_read_document(file, entry), entry.media_type, where=str(file))


def _subject(root: Path, entry: Descriptor) -> Digest | None:
    document = _document_of(root, entry)
    return None if document is None or document.subject is None else document.subject.digest


def _reach(root: Path, entry: Descriptor, reachable: set[Digest]) -> None:
    """Add ``entry`` and everything it names (children, config, layers) to ``reachable``."""
    reachable.add(entry.digest)
    document = _document_of(root, entry)
    if isinstance(document, Index):
        for child in document.manifests:
            if child.digest not in reachable:
                _reach(root, child, reachable)
    elif document is not None:
        reachable.update(d.digest for d in (document.config, *document.layers))


# ---------------------------------------------------------------------------------------------
# files


def _blob_path(root: Path, digest: Digest) -> Path:
    # Digest.parse admits only known algorithms and hex, so this cannot leave the layout.
    return root / "blobs" / digest.algorithm / digest.encoded


def _open(file: Path, hint: str) -> BinaryIO:
    try:
        return file.open("rb")
    except FileNotFoundError:
        raise LayoutError(f"{file}: missing; {hint}") from None
    except OSError as exc:
        raise LayoutError(f"{file}: cannot read: {exc.strerror}; check its permissions") from None


def _read_bytes(file: Path, hint_if_missing: str) -> bytes:
    with _open(file, hint_if_missing) as reader:
        return reader.read()


@contextmanager
def _scratch_file(directory: Path) -> Iterator[Path]:
    """A fresh path in the layout, removed on exit unless the caller moved it into place.

    The caller creates it (exclusive mode) rather than :mod:`tempfile`, so it gets the usual
    umask permissions instead of 0600 and other users can read the layout.
    """
    scratch = directory / f".ocipush-{uuid.uuid4().hex}.tmp"
    try:
        yield scratch
    finally:
        scratch.unlink(missing_ok=True)


def _replace_file(file: Path, text: str) -> None:
    """Write ``file`` atomically: readers see the old content or the new, never a mix."""
    with _scratch_file(file.parent) as scratch:
        with scratch.open("x", encoding="utf-8") as out:
            out.write(text + "\n")
        os.replace(scratch, file)
