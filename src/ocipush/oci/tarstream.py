"""A tar archive written entry by entry into a gzip stream, content that comes already
deflated passed on as it is.

``tarfile`` writes through a buffer of its own, so a file's bytes reach the compressor in
pieces that do not line up with the file. Here each header, content and padding is one write,
and a file whose content arrives as its raw deflate stream (a wheel member, see
:mod:`ocipush.image.wheelmembers`) goes to :meth:`GzipSink.splice` as it is, so it is not
compressed a second time. The archive bytes are those of
``tarfile.open(mode="w|", format=PAX_FORMAT)`` with UTF-8 names.
"""

from __future__ import annotations

import tarfile
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Protocol

from ocipush.errors import BlobError
from ocipush.oci.digest import Hasher

__all__ = ["GzipSink", "Packed", "TarStream"]

#: Read from files on disk in pieces this size, so a big file is never held in memory.
_CHUNK = 1024 * 1024
_NUL_BLOCK = b"\0" * tarfile.BLOCKSIZE


class GzipSink(Protocol):
    """Where the archive's bytes go to be compressed."""

    def write(self, data: bytes, /) -> int:
        """Compress ``data``."""

    def splice(self, pieces: Iterable[tuple[bytes, bytes]], /) -> None:
        """Add content given as ``(raw deflate stream, content)`` pieces, in order: the
        stream pieces join into the complete deflate stream of the content pieces."""


class Packed(Protocol):
    """A file's content as a raw deflate stream (a wheel member), read when it is written."""

    @property
    def size(self) -> int:
        """The content's length."""

    @property
    def sha256(self) -> str:
        """The content's SHA-256, hex."""

    def pieces(self) -> Iterator[tuple[bytes, bytes]]:
        """``(deflate stream, content)`` pieces in order, either of a pair possibly empty;
        raises when the stream turns out not to be what was promised."""


class TarStream:
    """Writes entries into ``sink``; :attr:`hasher` is the digest of the archive (the diff ID)."""

    def __init__(self, sink: GzipSink) -> None:
        self._sink = sink
        self._offset = 0
        self.hasher = Hasher()

    def add(self, info: tarfile.TarInfo) -> None:
        """An entry without content: a directory, a link."""
        self._write(info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape"))

    def add_bytes(self, info: tarfile.TarInfo, data: bytes) -> None:
        """A file made in memory."""
        info.size = len(data)
        self.add(info)
        self._write(data)
        self._pad(tarfile.BLOCKSIZE)

    def add_packed(self, info: tarfile.TarInfo, packed: Packed) -> None:
        """A file whose deflate stream goes to the sink as it is."""
        info.size = packed.size
        self.add(info)
        start = self._offset
        self._sink.splice(self._hashed(packed.pieces()))
        if self._offset - start != packed.size:  # the header said otherwise: never write that
            raise BlobError(f"{info.name}: {self._offset - start} bytes, not {packed.size}")
        self._pad(tarfile.BLOCKSIZE)

    def _hashed(self, pieces: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[bytes, bytes]]:
        for deflated, data in pieces:
            self.hasher.update(data)
            self._offset += len(data)
            yield deflated, data

    def add_file(self, info: tarfile.TarInfo, content: BinaryIO, name: str) -> None:
        """A file on disk of ``info.size`` bytes, read in pieces from ``content``."""
        self.add(info)
        left = info.size
        while left:
            piece = content.read(min(left, _CHUNK))
            if not piece:
                raise BlobError(f"{name}: the file got shorter while its layer was written")
            self._write(piece)
            left -= len(piece)
        self._pad(tarfile.BLOCKSIZE)

    def close(self) -> None:
        """The end-of-archive blocks, padded to whole tar records as ``tarfile`` does."""
        self._write(_NUL_BLOCK * 2)
        self._pad(tarfile.RECORDSIZE)

    def _pad(self, unit: int) -> None:
        missing = -self._offset % unit
        if missing:
            self._write(b"\0" * missing)

    def _write(self, data: bytes) -> None:
        self.hasher.update(data)
        self._sink.write(data)
        self._offset += len(data)
