"""The parallel gzip stream: valid gzip that any reader takes, and the same bytes whatever the
number of threads."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import zlib
from concurrent.futures import ThreadPoolExecutor

import pytest

from ocipush.oci.pgzip import BLOCK, ParallelGzipWriter


def _compress(data: bytes, threads: int) -> bytes:
    out = io.BytesIO()
    with ThreadPoolExecutor(threads) as pool:
        writer = ParallelGzipWriter(out, pool, level=6, ahead=2)
        for start in range(0, len(data), 10_000):  # written in pieces, as tar does
            writer.write(data[start : start + 10_000])
        writer.close()
    return out.getvalue()


def _sample(size: int) -> bytes:
    """Half text that compresses, half hex noise that compresses less."""
    words = b"".join(b"line %d of a module\n" % n for n in range(size // 40))
    noise = b"".join(hashlib.sha256(b"%d" % n).hexdigest().encode() for n in range(size // 128))
    return (words + noise)[:size]


@pytest.mark.parametrize("size", [0, 1, BLOCK, 3 * BLOCK + 12345])
def test_the_stream_is_gzip_and_the_same_for_any_number_of_threads(size, tmp_path):
    data = _sample(size)
    one, four = _compress(data, 1), _compress(data, 4)
    assert one == four
    assert gzip.decompress(one) == data
    archive = tmp_path / "data.gz"
    archive.write_bytes(one)
    # The gzip tool checks the CRC and length of the trailer too.
    tested = subprocess.run(["gzip", "-t", str(archive)], capture_output=True, check=False)
    assert tested.returncode == 0, tested.stderr
    if size > BLOCK:  # primed with the previous block: about one stream's ratio
        assert len(one) < len(gzip.compress(data, compresslevel=6, mtime=0)) * 1.02


def _raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    return compressor.compress(data) + compressor.flush()


@pytest.mark.parametrize("ends_with_splice", [False, True])
def test_spliced_deflate_streams_are_members_of_the_same_gzip_file(ends_with_splice, tmp_path):
    """Already deflated content (a wheel's member) is carried as it is, between blocks this
    writer deflates; the file reads back whole and the same for any number of threads."""
    own, kept, more = _sample(BLOCK + 777), _sample(50_000)[::-1], b"tail" * 300
    kept_stream = _raw_deflate(kept)

    def compress(threads: int) -> bytes:
        out = io.BytesIO()
        with ThreadPoolExecutor(threads) as pool:
            writer = ParallelGzipWriter(out, pool, level=6, ahead=1)
            writer.write(own)
            writer.splice([(kept_stream, kept)])
            # Two in a row (no empty member between), the second in pieces as big wheels give.
            pieces = [(kept_stream[:1000], b""), (kept_stream[1000:], kept[:9]), (b"", kept[9:])]
            writer.splice(pieces)
            if not ends_with_splice:
                writer.write(more)
            writer.close()
        return out.getvalue()

    one = compress(1)
    assert one == compress(4)
    assert one.count(kept_stream) == 2  # carried as they are
    assert one.count(b"\x1f\x8b\x08") == 3 + (0 if ends_with_splice else 1)
    assert gzip.decompress(one) == own + kept + kept + (b"" if ends_with_splice else more)
    archive = tmp_path / "data.gz"
    archive.write_bytes(one)
    tested = subprocess.run(["gzip", "-t", str(archive)], capture_output=True, check=False)
    assert tested.returncode == 0, tested.stderr


def test_a_stream_of_spliced_content_only_is_valid(tmp_path):
    data = _sample(10_000)
    out = io.BytesIO()
    with ThreadPoolExecutor(2) as pool:
        writer = ParallelGzipWriter(out, pool, level=6)
        writer.splice([(_raw_deflate(data), data)])
        writer.close()
    assert gzip.decompress(out.getvalue()) == data
