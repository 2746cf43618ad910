"""What files a base image holds, without keeping its bytes.

Each base layer is streamed once through a gzip/tar reader that looks only at the headers;
the listing (path, kind, link target) is cached as JSON under the project's cache directory
by the layer's digest, so later builds read a few KiB instead of the layer. Layers are
merged in order with OCI whiteouts (``.wh.NAME`` removes ``NAME``, ``.wh..wh..opq`` empties
a directory), giving the files of the base's root filesystem.
"""

from __future__ import annotations

import gzip
import json
import logging
import tarfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ocipush.image.errors import BaseImageError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob

__all__ = ["BaseFiles", "base_files"]

log = logging.getLogger(__name__)

#: Small files whose text is kept with the listing (user and group databases).
KEPT_FILES = frozenset({"/etc/passwd", "/etc/group"})
_KEPT_LIMIT = 1024 * 1024
_WHITEOUT = ".wh."
_OPAQUE = ".wh..wh..opq"
#: Bump when the cached format changes, so stale listings are not read.
_FORMAT = 2


@dataclass(frozen=True)
class BaseFiles:
    """The merged file list: absolute path -> ``(kind, link target)``; kind is ``"f"``,
    ``"d"`` or ``"l"`` (symbolic link, with its target as written); and the text of the
    :data:`KEPT_FILES` the base has."""

    entries: Mapping[str, tuple[str, str]]
    contents: Mapping[str, str]

    def exists(self, path: str) -> bool:
        return path in self.entries

    def is_dir(self, path: str) -> bool:
        return self.entries.get(path, ("", ""))[0] == "d"

    def link_target(self, path: str) -> str | None:
        """Where the link ``path`` points, as an absolute path; ``None`` if not a link."""
        kind, target = self.entries.get(path, ("", ""))
        if kind != "l":
            return None
        return str(PurePosixPath(path).parent / target) if not target.startswith("/") else target


def _normal(name: str) -> str:
    """A tar member name as an absolute path (``./usr/bin/`` -> ``/usr/bin``)."""
    name = name.removeprefix("./").strip("/")
    return "/" if name in ("", ".") else "/" + name


_Listing = tuple[list[tuple[str, str, str]], dict[str, str]]


def _list_layer(blob: Blob) -> _Listing:
    """Stream ``blob`` and return its tar entries and the text of the kept files; other
    data is skipped, never kept."""
    compressed = blob.media_type not in (mt.OCI_LAYER_UNCOMPRESSED, mt.OCI_LAYER_NONDIST)
    if "zstd" in blob.media_type:
        raise BaseImageError(
            f"base layer {blob.describe()} is zstd-compressed, which ocipush cannot read to "
            "find the Python in it; set python and site-packages under [tool.ocipush.image]"
        )
    listed: list[tuple[str, str, str]] = []
    kept: dict[str, str] = {}
    with blob.open() as raw:
        stream = gzip.GzipFile(fileobj=raw, mode="rb") if compressed else raw
        try:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for member in tar:
                    kind = "d" if member.isdir() else "l" if member.issym() else "f"
                    target = member.linkname if member.issym() else ""
                    if member.islnk():
                        target = _normal(member.linkname)
                    path = _normal(member.name)
                    listed.append((path, kind, target))
                    if path in KEPT_FILES and member.isfile() and member.size <= _KEPT_LIMIT:
                        data = tar.extractfile(member)
                        if data is not None:
                            kept[path] = data.read().decode("utf-8", "replace")
        except (tarfile.TarError, OSError, EOFError) as error:
            raise BaseImageError(
                f"base layer {blob.describe()} is not a readable tar ({error}); choose "
                "another base, or set python and site-packages under [tool.ocipush.image]"
            ) from None
    return listed, kept


def _cached_listing(blob: Blob, cache_dir: Path) -> _Listing:
    digest = blob.digest
    file = None
    if digest is not None:
        file = cache_dir / "listings" / f"{digest.algorithm}-{digest.encoded}.json"
        try:
            cached = json.loads(file.read_text(encoding="utf-8"))
            if cached.get("format") == _FORMAT:
                entries = [(str(p), str(k), str(t)) for p, k, t in cached["entries"]]
                return entries, dict(cached["contents"])
        except (OSError, ValueError, KeyError, AttributeError):
            pass
    log.info("listing the files of base layer %s", blob.describe())
    listed, kept = _list_layer(blob)
    if file is not None:
        file.parent.mkdir(parents=True, exist_ok=True)
        partial = file.with_suffix(".partial")
        record = {"format": _FORMAT, "entries": listed, "contents": kept}
        partial.write_text(json.dumps(record), encoding="utf-8")
        partial.replace(file)
    return listed, kept


def base_files(layers: Iterable[Blob], cache_dir: Path) -> BaseFiles:
    """The files of the root filesystem ``layers`` make, each layer listed once per cache."""
    merged: dict[str, tuple[str, str]] = {}
    contents: dict[str, str] = {}
    for blob in layers:
        listed, kept = _cached_listing(blob, cache_dir)
        for path, kind, target in listed:
            parent, _, name = path.rpartition("/")
            parent = parent or "/"
            if name == _OPAQUE:
                prefix = parent.rstrip("/") + "/"
                for known in [p for p in merged if p.startswith(prefix)]:
                    del merged[known]
            elif name.startswith(_WHITEOUT):
                gone = f"{parent.rstrip('/')}/{name[len(_WHITEOUT) :]}"
                for known in [p for p in merged if p == gone or p.startswith(gone + "/")]:
                    del merged[known]
            else:
                merged[path] = (kind, target)
                contents.pop(path, None)
        contents.update(kept)
    return BaseFiles(merged, {p: text for p, text in contents.items() if p in merged})
