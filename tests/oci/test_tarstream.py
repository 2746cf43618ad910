"""The tar writer behind layers: the bytes ``tarfile`` writes, with content that comes
already deflated handed to the compressor whole."""

from __future__ import annotations

import io
import tarfile

import pytest

from ocipush.errors import BlobError
from ocipush.oci.digest import digest_of
from ocipush.oci.tarstream import TarStream


class _Collect:
    """A sink that keeps what it is given; spliced content is kept as its plain bytes."""

    def __init__(self) -> None:
        self.out = bytearray()
        self.spliced: list[tuple[bytes, bytes]] = []

    def write(self, data: bytes) -> int:
        self.out += data
        return len(data)

    def splice(self, pieces) -> None:
        for deflated, data in pieces:
            self.spliced.append((deflated, data))
            self.out += data


class _Packed:
    """Content whose "deflate stream" the test makes up: the sink must pass it on as is."""

    def __init__(self, data: bytes) -> None:
        self.data, self.size, self.sha256 = data, len(data), ""

    def pieces(self):
        yield b"stream-1", self.data[:10]
        yield b"stream-2", self.data[10:]


def _info(name: str, **fields: object) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mtime, info.mode, info.uname, info.gname = 1234, 0o644, "", ""
    for key, value in fields.items():
        setattr(info, key, value)
    return info


def test_the_archive_is_byte_for_byte_what_tarfile_writes():
    long_name = "srv/" + "é" * 120 + ".txt"  # needs a PAX header
    entries = [
        (_info("srv", type=tarfile.DIRTYPE, mode=0o755), None),
        (_info("srv/link", type=tarfile.SYMTYPE, linkname="t" * 300), None),
        (_info(long_name), b"caf\xc3\xa9\n" * 101),
        (_info("srv/empty"), b""),
        (_info("srv/block", mode=0o755), b"x" * 1024),
    ]
    expected = io.BytesIO()
    with tarfile.open(fileobj=expected, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            if data is None:
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))

    sink = _Collect()
    stream = TarStream(sink)
    for info, data in entries:
        if data is None:
            stream.add(info)
        elif info.name == long_name:
            stream.add_file(info, io.BytesIO(data), "café.txt")
        elif info.name == "srv/block":
            stream.add_packed(info, _Packed(data))
        else:
            stream.add_bytes(info, data)
    stream.close()

    assert bytes(sink.out) == expected.getvalue()
    assert len(sink.out) % tarfile.RECORDSIZE == 0
    assert sink.spliced == [(b"stream-1", b"x" * 10), (b"stream-2", b"x" * 1014)]
    assert stream.hasher.digest() == digest_of(expected.getvalue())


def test_a_file_that_got_shorter_is_an_error_naming_it():
    stream = TarStream(_Collect())
    info = _info("srv/data.bin")
    info.size = 100
    with pytest.raises(BlobError, match=r"^/srv/data\.bin: the file got shorter"):
        stream.add_file(info, io.BytesIO(b"only 12 byte"), "/srv/data.bin")


def test_packed_content_of_another_length_than_promised_is_an_error():
    packed = _Packed(b"x" * 100)
    packed.size = 200
    with pytest.raises(BlobError, match=r"^srv/data\.bin: 100 bytes, not 200$"):
        TarStream(_Collect()).add_packed(_info("srv/data.bin"), packed)
