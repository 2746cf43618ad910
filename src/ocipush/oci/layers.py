"""Reproducible tar+gzip layers: same inputs, same digest, on any machine at any time.

Entries are sorted; owners, modes and times are normalised; the gzip header has no name
and mtime 0; the compression level is fixed. The layer is written to disk while both
digests (compressed and uncompressed) are computed, so it is never held in memory.
"""

from __future__ import annotations

import contextlib
import gzip
import os
import stat
import tarfile
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Protocol

from ocipush.errors import BlobError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import FileBlob
from ocipush.oci.digest import Hasher
from ocipush.oci.pgzip import ParallelGzipWriter
from ocipush.oci.tarstream import GzipSink, Packed, TarStream
from ocipush.release.sources import SourceFile, glob_regex

__all__ = [
    "LayerEntry",
    "Packed",
    "build_layer",
    "entries_from_directory",
    "entries_from_files",
    "layer_path",
    "source_date_epoch",
]

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
    :ivar source: the file to copy; ``None`` for a directory (or content given as ``data``).
    :ivar mode: permission bits.
    :ivar link: a symlink target instead of content.
    :ivar data: the file's content, when it was made in memory rather than on disk.
    :ivar packed: the file's content as a raw deflate stream (a wheel's member), instead of
        ``source`` or ``data``: a layer deflated in blocks carries the stream as it is.
    """

    path: str
    source: Path | None
    mode: int
    uid: int = 0
    gid: int = 0
    link: str | None = None
    data: bytes | None = None
    packed: Packed | None = None


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


def layer_path(path: str) -> str:
    """``path`` as a normalised absolute path in the image (``//`` and ``.`` collapsed).

    :raises BlobError: when a component is ``..``: no entry may leave ``/``.
    """
    parts = PurePosixPath("/" + path).parts[1:]
    if ".." in parts:
        raise BlobError(f'"{path}": a path in a layer must not contain ".." (it would leave /)')
    return "/" + "/".join(parts)


def entries_from_files(
    files: Iterable[SourceFile],
    dest: str,
    *,
    file_mode: int = 0o644,
    dir_mode: int = 0o755,
    uid: int = 0,
    gid: int = 0,
) -> list[LayerEntry]:
    """Entries for ``files`` placed under ``dest``, with every folder leading to them.

    A file whose ``relative`` path is empty is the source itself and lands at ``dest``.
    Files get ``file_mode`` plus execute bits when the source is executable; directories
    get ``dir_mode``; symbolic links are stored as links.
    """
    dest_path = PurePosixPath(layer_path(dest))
    directories = {str(parent) for parent in dest_path.parents if str(parent) != "/"}
    entries = []
    for file in files:
        target = PurePosixPath(layer_path(str(dest_path / file.relative)))
        directories.update(str(parent) for parent in target.parents)
        directories.discard("/")
        if file.link is not None:
            entries.append(LayerEntry(str(target), None, 0o777, uid, gid, link=file.link))
        else:
            executable = os.stat(file.path).st_mode & stat.S_IXUSR
            mode = file_mode | (0o111 if executable else 0)
            entries.append(LayerEntry(str(target), file.path, mode, uid, gid))
    directories -= {entry.path for entry in entries}
    return [*(LayerEntry(d, None, dir_mode, uid, gid) for d in sorted(directories)), *entries]


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
    """Entries for a tree ocipush made itself (a staging folder, a root file system):
    no default excludes, and symbolic links kept whatever they point at.

    Project content goes through :func:`ocipush.release.sources.select_files` instead. Globs match
    paths relative to ``source`` with ``/`` separators.
    """
    if not source.exists():
        raise BlobError(f"{source}: layer source does not exist")
    modes = {"file_mode": file_mode, "dir_mode": dir_mode, "uid": uid, "gid": gid}
    if source.is_file():
        return entries_from_files([SourceFile("", source)], dest, **modes)
    includes = [glob_regex(p) for p in include]
    excludes = [glob_regex(p) for p in exclude]
    files = []
    for path in sorted(source.rglob("*")):
        relative = path.relative_to(source).as_posix()
        if path.is_dir() and not path.is_symlink():
            continue
        if not any(r.fullmatch(relative) for r in includes):
            continue
        if any(r.fullmatch(relative) for r in excludes):
            continue
        link = os.readlink(path) if path.is_symlink() else None
        files.append(SourceFile(relative, path, link))
    entries = entries_from_files(files, dest, **modes)
    if not files:  # an empty tree is still its folder
        entries.append(LayerEntry(layer_path(dest), None, dir_mode, uid, gid))
    return entries


def build_layer(
    entries: Iterable[LayerEntry],
    directory: Path,
    *,
    mtime: int = 0,
    media_type: str = mt.OCI_LAYER,
    annotations: dict[str, str] | None = None,
    compressor: Executor | None = None,
) -> FileBlob:
    """Write a reproducible tar+gzip layer of ``entries`` into ``directory``.

    The file is named by its digest, so building the same layer twice reuses the file.
    Returns a blob with ``digest``, ``size`` and ``diff_id`` known.

    :param compressor: deflate in blocks on these threads
        (:class:`~ocipush.oci.pgzip.ParallelGzipWriter`: other bytes than one stream, the
        same for any number of threads), and keep the ``deflated`` form of entries that have
        one; ``None``: one gzip stream.
    """
    directory.mkdir(parents=True, exist_ok=True)
    unique = {layer_path(entry.path): entry for entry in entries}
    ordered = [unique[path] for path in sorted(unique)]
    handle, temp_name = tempfile.mkstemp(dir=directory, prefix=".layer-", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as raw:
            compressed = _HashingWriter(raw)
            with _gzip_stream(compressed, compressor) as gz:
                tar = TarStream(gz)
                for entry in ordered:
                    _add(tar, entry, mtime)
                tar.close()
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
        diff_id=tar.hasher.digest(),
        annotations=annotations,
    )


class _SerialGzip:
    """One gzip stream: content given deflated is compressed again, as part of the stream."""

    def __init__(self, gz: gzip.GzipFile) -> None:
        self._gz = gz

    def write(self, data: bytes) -> int:
        return self._gz.write(data)

    def splice(self, pieces: Iterable[tuple[bytes, bytes]]) -> None:
        for _, data in pieces:
            self._gz.write(data)


@contextlib.contextmanager
def _gzip_stream(sink: _HashingWriter, compressor: Executor | None) -> Iterator[GzipSink]:
    if compressor is None:
        with gzip.GzipFile(
            filename="", mode="wb", fileobj=sink, compresslevel=COMPRESS_LEVEL, mtime=0
        ) as gz:
            yield _SerialGzip(gz)
        return
    parallel = ParallelGzipWriter(sink, compressor, level=COMPRESS_LEVEL)
    yield parallel
    parallel.close()


def _add(tar: TarStream, entry: LayerEntry, mtime: int) -> None:
    info = tarfile.TarInfo(layer_path(entry.path).lstrip("/"))
    info.mode = entry.mode
    info.uid, info.gid = entry.uid, entry.gid
    info.uname = info.gname = ""
    info.mtime = mtime
    if entry.link is not None:
        info.type = tarfile.SYMTYPE
        info.linkname = entry.link
        tar.add(info)
    elif entry.packed is not None:
        tar.add_packed(info, entry.packed)
    elif entry.data is not None:
        tar.add_bytes(info, entry.data)
    elif entry.source is None:
        info.type = tarfile.DIRTYPE
        tar.add(info)
    else:
        with entry.source.open("rb") as content:
            info.size = os.fstat(content.fileno()).st_size
            tar.add_file(info, content, str(entry.source))
