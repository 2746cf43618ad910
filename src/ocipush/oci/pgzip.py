"""A gzip stream compressed by several threads, pigz's way, with bytes that depend only on
the input.

The input is cut into blocks of :data:`BLOCK` bytes. Each block is deflated on its own by a
worker (zlib releases the GIL while it compresses), primed with the 32 KiB before it as its
dictionary, so the ratio stays close to a single stream's, and ended with a sync flush, so the
pieces join into one valid deflate stream; the last block finishes it. The CRC and length
are computed in order by the writer. Block boundaries depend only on the input, never on
timing or on the number of workers, so the same input gives the same bytes anywhere.

Content that is already deflated (a wheel's member: most of a dependency layer) is not
compressed again: :meth:`ParallelGzipWriter.splice` ends the gzip member being written and
adds one made of that deflate stream, with its own CRC and length. A gzip file may hold any
number of members, one after another (RFC 1952, section 2.2); every gzip reader, and the
container tools' (Go's ``compress/gzip``, pigz), reads them as one stream. eStargz layers are
such files too, and run on Docker, containerd, CRI-O and Podman that know nothing of eStargz
(containerd/stargz-snapshotter, docs/estargz.md).
"""

from __future__ import annotations

import struct
import zlib
from collections import deque
from collections.abc import Iterable
from concurrent.futures import Executor, Future
from typing import Protocol

__all__ = ["BLOCK", "ParallelGzipWriter"]

#: Input bytes per independently deflated block (pigz uses 128 KiB).
BLOCK = 256 * 1024
_WINDOW = 32 * 1024
#: Spliced bytes that may wait behind blocks still being deflated before the writer waits.
_HELD = 16 * 1024 * 1024
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

    Output waits in order in a queue of bytes and blocks being deflated; at most ``ahead``
    blocks are being deflated at once, which bounds the memory used. :meth:`close` writes the
    last block and the trailer (it does not close ``sink``).
    """

    # A member is opened by the first bytes written after the start or after a splice, so
    # that a splice never leaves an empty member behind. Ending a member does not wait for
    # its blocks: its trailer only needs the CRC, which is computed as blocks are submitted.

    def __init__(self, sink: _Sink, pool: Executor, *, level: int, ahead: int = 8) -> None:
        self._sink = sink
        self._pool = pool
        self._level = level
        self._ahead = ahead
        self._buffer = bytearray()
        self._previous = b""
        self._queue: deque[Future[bytes] | bytes] = deque()
        self._deflating = 0
        self._held = 0
        self._crc = 0
        self._size = 0
        self._open = False
        self._spliced = False

    def write(self, data: bytes) -> int:
        if data and not self._open:
            self._queue_bytes(_HEADER)
            self._open = True
        self._buffer += data
        while len(self._buffer) >= BLOCK:
            block = bytes(self._buffer[:BLOCK])
            del self._buffer[:BLOCK]
            self._submit(block, last=False)
        return len(data)

    def flush(self) -> None:
        """Nothing to do: only whole blocks are written before :meth:`close`."""

    def splice(self, pieces: Iterable[tuple[bytes, bytes]]) -> None:
        """Add content as a member of its own, given as ``(raw deflate stream, content)``
        pieces: the stream pieces, joined, must be the complete deflate stream of the content
        pieces (the caller got the content by inflating them). The stream is written as it
        comes, so a big one is never held."""
        self._end_member()
        self._queue_bytes(_HEADER)
        crc = size = 0
        for deflated, data in pieces:
            self._queue_bytes(deflated)
            crc, size = zlib.crc32(data, crc), size + len(data)
        self._queue_bytes(struct.pack("<II", crc, size & 0xFFFFFFFF))
        self._spliced = True

    def close(self) -> None:
        if not self._open and not self._spliced:  # no input at all: still one valid member
            self._queue_bytes(_HEADER)
            self._open = True
        self._end_member()
        self._drain(0)

    def _end_member(self) -> None:
        if not self._open:
            return
        self._submit(bytes(self._buffer), last=True)
        self._buffer.clear()
        self._queue_bytes(struct.pack("<II", self._crc, self._size & 0xFFFFFFFF))
        self._open = False
        self._crc = self._size = 0
        self._previous = b""

    def _submit(self, block: bytes, *, last: bool) -> None:
        self._crc = zlib.crc32(block, self._crc)
        self._size += len(block)
        self._queue.append(self._pool.submit(_deflate, block, self._previous, last, self._level))
        self._deflating += 1
        self._previous = block[-_WINDOW:]
        self._drain(self._ahead)

    def _queue_bytes(self, data: bytes) -> None:
        """Queue output that needs no deflating; past :data:`_HELD` bytes waiting behind
        blocks, wait for those blocks (a spliced stream may be big)."""
        self._queue.append(data)
        self._held += len(data)
        self._drain(self._ahead if self._held <= _HELD else 0)

    def _drain(self, deflating: int) -> None:
        """Write out queued output until at most ``deflating`` blocks are still queued."""
        while self._deflating > deflating or (self._queue and isinstance(self._queue[0], bytes)):
            item = self._queue.popleft()
            if isinstance(item, bytes):
                self._held -= len(item)
                self._sink.write(item)
            else:
                self._deflating -= 1
                self._sink.write(item.result())
