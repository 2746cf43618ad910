"""Reproducible tar+gzip layers: same inputs, same digest, on any machine at any time.

Entries are sorted; owners, modes and times are normalised; the gzip header has no name
and mtime 0; the compression level is fixed. The layer is written to disk while both
digests (compressed and uncompressed) are computed, so it is never held in memory.
"""

from __future__ import annotations

import gzip
import os
import re
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from ocipush import media_types as mt
from ocipush.blobs import FileBlob
from ocipush.digest import Hasher
from ocipush.errors import BlobError

__all__ = ["LayerEntry", "build_layer", "entries_from_directory", "source_date_epoch"]

#: Fixed so that a zlib default change can never change a digest.
COMPRESS_LEVEL = 6


def source_date_epoch(environ: os._Environ[str] | dict[str, str] | None = None) -> int:
    """``SOURCE_DATE_EPOCH`` when set (reproducible-builds.org), else 0."""
    value = (os.environ if environ is None else environ).get("SOURCE_DATE_EPOCH", "")
    return int(value) if value.strip().isdigit() else 0


@dataclass(frozen=True)
class LayerEntry:
    """One path in the layer.

    :ivar path: where it lands in the image, absolute (``/srv/static/app.css``).
    :ivar source: the file to copy; ``None`` for a directory.
    :ivar mode: permission bits.
    :ivar link: a symlink target instead of content.
    """

    path: str
    source: Path | None
    mode: int
    uid: int = 0
    gid: int = 0
    link: str | None = None


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class _HashingWriter:
    """A write-only file object that hashes what passes through to ``target``."""

    def __init__(self, target: _Sink) -> None:
        self._target = target
        self.hasher = Hasher()

    def write(self, data: bytes) -> int:
        self.hasher.update(data)
        self._target.write(data)
        return len(data)

    def flush(self) -> None:
        self._target.flush()


def _glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans directories, ``*`` and ``?`` stay within one path component."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def entries_from_directory(
    source: Path,
    dest: str,
    *,
    include: Sequence[str] = ("**/*",),
    exclude: Sequence[str] = (),
    file_mode: int = 0o644,
    dir_mode: int = 0o755,
    uid: int = 0,
    gid: int = 0,
) -> list[LayerEntry]:
    """Entries for ``source`` (a directory or one file) placed at ``dest``.

    Files get ``file_mode`` plus execute bits when the source is executable; directories
    get ``dir_mode``. Globs match paths relative to ``source`` with ``/`` separators.
    """
    if not source.exists():
        raise BlobError(f"{source}: layer source does not exist")
    dest_path = PurePosixPath(dest)
    entries = [
        LayerEntry(str(parent), None, dir_mode, uid, gid)
        for parent in reversed(dest_path.parents)
        if str(parent) != "/"
    ]
    if source.is_file():
        mode = file_mode | (0o111 if os.access(source, os.X_OK) else 0)
        return [*entries, LayerEntry(str(dest_path), source, mode, uid, gid)]
    entries.append(LayerEntry(str(dest_path), None, dir_mode, uid, gid))
    includes = [_glob_regex(p) for p in include]
    excludes = [_glob_regex(p) for p in exclude]
    directories: set[str] = set()
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if not any(r.fullmatch(relative) for r in includes):
            continue
        if any(r.fullmatch(relative) for r in excludes):
            continue
        # Intermediate directories of included files, so the layer is self-contained.
        parts = PurePosixPath(relative).parts
        for depth in range(1, len(parts)):
            directories.add("/".join(parts[:depth]))
        target = str(dest_path / relative)
        if path.is_symlink():
            entries.append(LayerEntry(target, None, 0o777, uid, gid, link=os.readlink(path)))
        else:
            executable = os.stat(path).st_mode & stat.S_IXUSR
            entries.append(
                LayerEntry(target, path, file_mode | (0o111 if executable else 0), uid, gid)
            )
    entries += [LayerEntry(str(dest_path / d), None, dir_mode, uid, gid) for d in directories]
    return entries


def build_layer(
    entries: Iterable[LayerEntry],
    directory: Path,
    *,
    mtime: int = 0,
    media_type: str = mt.OCI_LAYER,
    annotations: dict[str, str] | None = None,
) -> FileBlob:
    """Write a reproducible tar+gzip layer of ``entries`` into ``directory``.

    The file is named by its digest, so building the same layer twice reuses the file.
    Returns a blob with ``digest``, ``size`` and ``diff_id`` known.
    """
    directory.mkdir(parents=True, exist_ok=True)
    unique = {entry.path.rstrip("/") or "/": entry for entry in entries}
    ordered = [unique[path] for path in sorted(unique)]
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".layer-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw:
            compressed = _HashingWriter(raw)
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=compressed, compresslevel=COMPRESS_LEVEL, mtime=0
            ) as gz:
                uncompressed = _HashingWriter(gz)
                with tarfile.open(
                    fileobj=uncompressed, mode="w|", format=tarfile.PAX_FORMAT
                ) as tar:  # type: ignore[call-overload]
                    for entry in ordered:
                        _add(tar, entry, mtime)
        digest = compressed.hasher.digest()
        final = directory / f"{digest.algorithm}-{digest.encoded}.tar.gz"
        os.replace(temp_name, final)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return FileBlob(
        final,
        media_type,
        digest=digest,
        size=compressed.hasher.size,
        diff_id=uncompressed.hasher.digest(),
        annotations=annotations,
    )


def _add(tar: tarfile.TarFile, entry: LayerEntry, mtime: int) -> None:
    info = tarfile.TarInfo(entry.path.lstrip("/"))
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = mtime
    if entry.link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link
        tar.addfile(info)
    elif entry.source is None:
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    else:
        info.size = entry.source.stat().st_size
        with entry.source.open("rb") as content:
            tar.addfile(info, content)
