"""A wheel's files taken as the wheel stores them: each one's raw deflate stream, checked.

Deflating is most of a layer's build time, and whoever built the wheel already did it: a
file installed unchanged goes into its layer as the wheel's own deflate stream
(:meth:`ocipush.oci.pgzip.ParallelGzipWriter.splice`). Only a stream that inflates to
exactly the length, CRC and hash on record is used, and it is read in pieces, never inflated
past the length declared, so a big or lying wheel cannot fill the memory.

A member either keeps its bytes from the install to the layer (the wheel is inflated once), or,
for a big wheel, is read from the wheel again when the layer is written (nothing of it stays in
memory; the content hash taken at install time is checked again).
"""

from __future__ import annotations

import hashlib
import struct
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ocipush.image.errors import WheelInstallError

__all__ = ["SPLICE_MIN", "WheelMember", "WheelMembers"]

#: Members deflated to fewer bytes than this are deflated again with their neighbours: each
#: kept deflate stream is a gzip member of its own (18 bytes of framing, no shared window).
SPLICE_MIN = 4096
#: Read and inflated in pieces of at most this many bytes.
_PIECE = 1024 * 1024
_LOCAL_HEADER = struct.Struct("<4s22xHH")


class WheelMember:
    """One file of a wheel as a raw deflate stream (:class:`ocipush.oci.layers.Packed`).

    :ivar size: its length installed.
    :ivar sha256: its content's SHA-256, hex.
    """

    def __init__(
        self,
        wheel: Path,
        info: zipfile.ZipInfo,
        start: int,
        sha256: str,
        kept: tuple[bytes, bytes] | None,
    ) -> None:
        self._wheel = wheel
        self._info = info
        self._start = start
        self._kept = kept
        self.size = info.file_size
        self.sha256 = sha256

    def pieces(self) -> Iterator[tuple[bytes, bytes]]:
        """(deflate stream, content) pieces in order, read again from the wheel unless kept.

        :raises WheelInstallError: the wheel no longer holds what was installed.
        """
        if self._kept is not None:
            yield self._kept
            return
        hasher = hashlib.sha256()
        try:
            with self._wheel.open("rb") as handle:
                for deflated, data in _inflate(handle, self._start, self._info):
                    hasher.update(data)
                    yield deflated, data
            if hasher.hexdigest() != self.sha256:
                raise _damaged(self._info.filename, "it changed since it was installed")
        except (OSError, ValueError) as error:
            raise WheelInstallError(self._wheel.name, error) from None

    def __repr__(self) -> str:
        return f"WheelMember({self._wheel.name}!{self._info.filename})"


class WheelMembers:
    """The members of the wheel open as ``handle`` (at ``wheel``) worth keeping deflated."""

    def __init__(self, wheel: Path, handle: BinaryIO) -> None:
        self._wheel = wheel
        self._handle = handle
        with zipfile.ZipFile(handle) as archive:
            self._infos = {info.filename: info for info in archive.infolist()}

    def take(self, name: str, *, keep: bool) -> WheelMember | None:
        """Member ``name``, read and checked once (``keep``: its bytes kept for the layer);
        ``None`` when it is not worth keeping deflated (stored, small, encrypted).

        :raises ValueError: the member is damaged.
        """
        info = self._infos.get(name)
        if (
            info is None
            or info.compress_type != zipfile.ZIP_DEFLATED
            or info.compress_size < SPLICE_MIN
            or info.flag_bits & 0x1  # encrypted
        ):
            return None
        self._handle.seek(info.header_offset)
        signature, name_length, extra_length = _LOCAL_HEADER.unpack(
            self._handle.read(_LOCAL_HEADER.size)
        )
        if signature != b"PK\x03\x04":
            raise _damaged(name, "its entry in the archive is not where the index says")
        start = info.header_offset + _LOCAL_HEADER.size + name_length + extra_length
        hasher = hashlib.sha256()
        deflated, data = [], []
        for stream_piece, data_piece in _inflate(self._handle, start, info):
            hasher.update(data_piece)
            if keep:
                deflated.append(stream_piece)
                data.append(data_piece)
        kept = (b"".join(deflated), b"".join(data)) if keep else None
        return WheelMember(self._wheel, info, start, hasher.hexdigest(), kept)


def _inflate(handle: BinaryIO, start: int, info: zipfile.ZipInfo) -> Iterator[tuple[bytes, bytes]]:
    """The member's deflate stream from ``start``, with what it inflates to, in pieces;
    checked against the length and CRC the archive records."""
    handle.seek(start)
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    left, size, crc = info.compress_size, 0, 0
    try:
        while left:
            deflated = handle.read(min(left, _PIECE))
            if not deflated:
                raise _damaged(info.filename, "the archive ends inside it")
            left -= len(deflated)
            data = inflater.decompress(deflated, _PIECE)
            while True:
                size, crc = size + len(data), zlib.crc32(data, crc)
                if size > info.file_size:  # never inflate past what was declared
                    raise _damaged(info.filename, "it is longer than the archive says")
                yield deflated, data
                deflated = b""
                if not inflater.unconsumed_tail:
                    break
                data = inflater.decompress(inflater.unconsumed_tail, _PIECE)
        # With every byte read, what zlib still holds is at most the rest of one match.
        rest = inflater.flush()
        size, crc = size + len(rest), zlib.crc32(rest, crc)
        if rest and size <= info.file_size:
            yield b"", rest
    except zlib.error:
        raise _damaged(info.filename, "its compressed content does not inflate") from None
    # The stream must be whole and end where the archive says: its bytes become a gzip member
    # as they are.
    if not inflater.eof or inflater.unused_data or size != info.file_size or crc != info.CRC:
        raise _damaged(info.filename, "its content does not match the length and CRC on record")


def _damaged(name: str, why: str) -> ValueError:
    """The error for a wheel member that cannot be used, with what to do."""
    return ValueError(
        f"{name} in it is damaged ({why}); delete the wheel so that it is downloaded again"
    )
