"""The parallel gzip stream: valid gzip that any reader takes, and the same bytes whatever the
number of threads."""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
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
