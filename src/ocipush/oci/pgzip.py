"""A gzip stream compressed by several threads, pigz's way, with bytes that depend only on
the input.

The input is cut into blocks of :data:`BLOCK` bytes. Each block is deflated on its own by a
worker (zlib releases the GIL while it compresses), primed with the 32 KiB before it as its
dictionary, so the ratio stays close to a single stream's, and ended with a sync flush, so the
pieces join into one valid deflate stream; the last block finishes it. The CRC and length
are computed in order by the writer. Block boundaries depend only on the input, never on
timing or on the number of workers, so the same input gives the same bytes anywhere.
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from concurrent.futures import Executor, Future
from typing import Protocol

__all__ = ["BLOCK", "ParallelGzipWriter"]

#: Input bytes per independently deflated block (pigz uses 128 KiB).
BLOCK = 256 * 1024
_WINDOW = 32 * 1024
#: A gzip header with no name and time 0, as ``gzip.GzipFile(filename="", mtime=0)`` writes
#: for levels 2 to 8 (no extra flags, OS "unknown").
_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"


class _Sink(Protocol):
    def write(self, data: bytes, /) -> int: ...


def _deflate(data: bytes, dictionary: bytes, last: bool, level: int) -> bytes:
    if dictionary:
        compressor = zlib.compressobj(
            level, zlib.DEFLATED, -zlib.MAX_WBITS, 8, zlib.Z_DEFAULT_STRATEGY, dictionary
        )
    else:
        compressor = zlib.compressobj(level, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush(
        zlib.Z_FINISH if last else zlib.Z_SYNC_FLUSH
    )


class ParallelGzipWriter:
    """A write-only gzip stream into ``sink``, its blocks deflated on ``pool``.

    At most ``ahead`` blocks wait to be written, which bounds the memory used. :meth:`close`
    writes the last block and the trailer (it does not close ``sink``).
    """

    def __init__(self, sink: _Sink, pool: Executor, *, level: int, ahead: int = 8) -> None:
        self._sink = sink
        self._pool = pool
        self._level = level
        self._ahead = ahead
        self._buffer = bytearray()
        self._previous = b""
        self._pending: deque[Future[bytes]] = deque()
        self._crc = 0
        self._size = 0
        sink.write(_HEADER)

    def write(self, data: bytes) -> int:
        self._buffer += data
        while len(self._buffer) >= BLOCK:
            block = bytes(self._buffer[:BLOCK])
            del self._buffer[:BLOCK]
            self._submit(block, last=False)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: only whole blocks are written before :meth:`close`."""

    def close(self) -> None:
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        while self._pending:
            self._sink.write(self._pending.popleft().result())
        self._sink.write(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))

    def _submit(self, block: bytes, *, last: bool) -> None:
        self._crc = zlib.crc32(block, self._crc)
        self._size += len(block)
        self._pending.append(self._pool.submit(_deflate, block, self._previous, last, self._level))
        self._previous = block[-_WINDOW:]
        while len(self._pending) > self._ahead:
            self._sink.write(self._pending.popleft().result())
