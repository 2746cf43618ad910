"""Installing wheels into a staging tree laid out like the image, and naming the layer.

pypa's ``installer`` writes each wheel into the image's scheme under a staging root, with
console scripts whose shebang is the image's interpreter. Bytecode is compiled only when
asked (``compile-bytecode``), by an interpreter of the image's Python series
(:mod:`ocipush.image.bytecode`).

A wheel of moderate size can instead be installed in memory (:func:`install_in_memory`):
the same ``installer`` run, with its file writes kept as layer entries rather than created on
disk, which is most of an install's time on a slow file system. The entries are those the
staging tree would give (same paths, modes, contents, parent folders). A file installed as
the wheel stores it keeps the member's deflate stream (:class:`_WheelMembers`), so the layer
carries those bytes as they are instead of deflating the file again: deflating is most of a
dependency layer's build time, and the wheel already did it.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import posixpath
import struct
import zipfile
import zlib
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import BinaryIO

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.records import Hash, RecordEntry
from installer.scripts import Script
from installer.sources import WheelFile
from installer.utils import Scheme, copyfileobj_with_hashing

from ocipush.image.bytecode import compile_bytecode
from ocipush.image.errors import ImageError
from ocipush.image.python import PythonRuntime
from ocipush.oci.blobs import FileBlob
from ocipush.oci.layers import LayerEntry, entries_from_directory

__all__ = ["LabelledLayer", "install_in_memory", "install_wheels"]

#: Recorded in each ``.dist-info/INSTALLER``, as pip records "pip".
INSTALLER_NAME = b"ocipush\n"
#: Members deflated to fewer bytes than this are deflated again with their neighbours: each
#: kept deflate stream is a gzip member of its own (18 bytes of framing, no shared window).
SPLICE_MIN = 4096
_LOCAL_HEADER = struct.Struct("<4s22xHH")


class LabelledLayer(FileBlob):
    """A layer file that says what it holds ("dependencies for linux/arm64"), for plans."""

    def __init__(self, blob: FileBlob, label: str) -> None:
        super().__init__(
            blob.path,
            blob.media_type,
            digest=blob.digest,
            size=blob.size,
            annotations=blob.annotations,
            diff_id=blob.diff_id,
        )
        self.label = label

    def describe(self) -> str:
        return f"{self.label} [{self.path.name}]"


def _destination(runtime: PythonRuntime, staging: Path | None) -> SchemeDictionaryDestination:
    return SchemeDictionaryDestination(
        runtime.scheme(),
        interpreter=runtime.interpreter,
        script_kind="posix",
        destdir=None if staging is None else str(staging),
        # Two distributions may ship the same file (namespace packages); pip keeps the last.
        overwrite_existing=True,
    )


@contextlib.contextmanager
def _installing(wheel: Path) -> Iterator[None]:
    """Says which wheel could not be installed, and why, in words."""
    try:
        yield
    except (InstallerError, ValueError, OSError, zipfile.BadZipFile) as error:
        raise ImageError(f"{wheel.name}: cannot be installed into the image: {error}") from None


def _install(wheel: Path, destination: SchemeDictionaryDestination) -> None:
    with WheelFile.open(wheel) as source:
        install(source, destination, {"INSTALLER": INSTALLER_NAME})


def install_wheels(
    wheels: Sequence[Path],
    runtime: PythonRuntime,
    staging: Path,
    *,
    uid: int,
    gid: int,
    bytecode: Mapping[str, str] | None = None,
) -> list[LayerEntry]:
    """Install ``wheels`` under ``staging`` as if it were the image's root.

    :param bytecode: compile ``.pyc`` files, with this environment (``PATH`` finds the
        compiler); ``None`` compiles none.

    :return: the layer entries of everything installed, owned by ``uid``/``gid``.
    """
    destination = _destination(runtime, staging)
    for wheel in wheels:
        with _installing(wheel):
            _install(wheel, destination)
    if bytecode is not None:
        compile_bytecode(staging, runtime, bytecode)
    return [
        entry
        for entry in entries_from_directory(staging, "/", uid=uid, gid=gid)
        # The staging root stands for "/", which the base already has.
        if entry.path != "/"
    ]


class _WheelMembers:
    """A wheel's members read as stored: each deflated member's raw deflate stream, checked
    against the length and CRC the archive records."""

    def __init__(self, handle: BinaryIO) -> None:
        self._handle = handle
        with zipfile.ZipFile(handle) as archive:
            self._infos = {info.filename: info for info in archive.infolist()}

    def deflated(self, name: str) -> tuple[bytes, bytes] | None:
        """``(deflate stream, content)`` of member ``name``; ``None`` when it is not worth
        keeping (stored, small, encrypted).

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
        self._handle.seek(name_length + extra_length, io.SEEK_CUR)
        deflated = self._handle.read(info.compress_size)
        inflater = zlib.decompressobj(-zlib.MAX_WBITS)
        try:
            # Never more than the archive declares: a lying archive cannot fill the memory.
            data = inflater.decompress(deflated, info.file_size + 1)
        except zlib.error:
            raise _damaged(name, "its compressed content does not inflate") from None
        # The stream must be whole and end where the archive says: its bytes become a gzip
        # member as they are.
        if (
            not inflater.eof
            or inflater.unused_data
            or len(data) != info.file_size
            or zlib.crc32(data) != info.CRC
        ):
            raise _damaged(name, "its content does not match the length and CRC the wheel records")
        return deflated, data


def _damaged(name: str, why: str) -> ValueError:
    return ValueError(
        f"{name} in it is damaged ({why}); delete the wheel so that it is downloaded again"
    )


class _MemoryDestination(SchemeDictionaryDestination):
    """installer's scheme destination with each file kept in :attr:`files` (image path →
    content, executable, deflate stream) instead of written: the one place where it touches
    the disk."""

    def __init__(self, runtime: PythonRuntime, members: _WheelMembers) -> None:
        base = _destination(runtime, None)
        super().__init__(
            base.scheme_dict,
            interpreter=base.interpreter,
            script_kind=base.script_kind,
            overwrite_existing=True,
        )
        self._members = members
        self.files: dict[str, tuple[bytes, bool, bytes | None]] = {}

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        root = self.scheme_dict[scheme]
        target = posixpath.normpath(posixpath.join(root, path))
        if not target.startswith(root.rstrip("/") + "/"):
            raise ValueError(f"Attempting to write {path} outside of the target directory")
        # A member streamed unchanged (scripts get a new shebang) is taken as stored.
        stored = None
        if isinstance(stream, zipfile.ZipExtFile) and scheme != "scripts":
            stored = self._members.deflated(stream.name)
        if stored is None:
            content = io.BytesIO()
            digest, size = copyfileobj_with_hashing(stream, content, self.hash_algorithm)
            self.files[target] = (content.getvalue(), is_executable, None)
            return RecordEntry(path, Hash(self.hash_algorithm, digest), size)
        deflated, data = stored
        self.files[target] = (data, is_executable, deflated)
        # RECORD's form of a hash, as installer writes it: URL-safe base64, unpadded.
        hashed = hashlib.new(self.hash_algorithm, data).digest()
        digest = base64.urlsafe_b64encode(hashed).decode("ascii").rstrip("=")
        return RecordEntry(path, Hash(self.hash_algorithm, digest), len(data))

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        script_name, data = Script(name, module, attr, section).generate(  # type: ignore[arg-type]
            self.interpreter, self.script_kind
        )
        return self.write_to_fs(Scheme("scripts"), script_name, io.BytesIO(data), True)


def install_in_memory(
    wheel: Path, runtime: PythonRuntime, *, uid: int, gid: int
) -> list[LayerEntry]:
    """The layer entries of ``wheel`` installed for ``runtime`` (no bytecode), made in memory:
    the files with their content (and the wheel's deflate stream of it where it has one), and
    every folder leading to them."""
    with _installing(wheel), wheel.open("rb") as handle:
        destination = _MemoryDestination(runtime, _WheelMembers(handle))
        _install(wheel, destination)
    entries = [
        LayerEntry(
            path, None, 0o755 if executable else 0o644, uid, gid, data=data, deflated=deflated
        )
        for path, (data, executable, deflated) in destination.files.items()
    ]
    folders: set[str] = set()
    for path in destination.files:
        # String walk up to the first folder already seen: pathlib's parents cost a quarter
        # of the whole install on wheels of thousands of files.
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in folders:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return [*(LayerEntry(d, None, 0o755, uid, gid) for d in sorted(folders)), *entries]
