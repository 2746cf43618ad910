"""Installing wheels into a staging tree laid out like the image, and naming the layer.

pypa's ``installer`` writes each wheel into the image's scheme under a staging root, with
console scripts whose shebang is the image's interpreter. Bytecode is compiled only when
asked (``compile-bytecode``), by an interpreter of the image's Python series
(:mod:`ocipush.image.bytecode`).

A wheel of moderate size can instead be installed in memory (:func:`install_in_memory`):
the same ``installer`` run, with its file writes kept as layer entries rather than created on
disk, which is most of an install's time on a slow file system. The entries are those the
staging tree would give (same paths, modes, contents, parent folders). A file installed as
the wheel stores it is a :class:`~ocipush.image.wheelmembers.WheelMember`: the layer carries
the wheel's deflate stream of it instead of deflating the file again.
"""

from __future__ import annotations

import base64
import contextlib
import io
import posixpath
import zipfile
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
from ocipush.image.errors import WheelInstallError
from ocipush.image.python import PythonRuntime
from ocipush.image.wheelmembers import WheelMember, WheelMembers
from ocipush.oci.blobs import FileBlob
from ocipush.oci.layers import LayerEntry, entries_from_directory

__all__ = ["LabelledLayer", "install_for_layer", "install_in_memory", "install_wheels"]

#: Recorded in each ``.dist-info/INSTALLER``, as pip records "pip".
INSTALLER_NAME = b"ocipush\n"


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
        raise WheelInstallError(wheel.name, error) from None


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


class _MemoryDestination(SchemeDictionaryDestination):
    """installer's scheme destination with each file kept in :attr:`files` (image path →
    content or wheel member, executable) instead of written: the one place where it touches
    the disk."""

    def __init__(self, runtime: PythonRuntime, members: WheelMembers, *, keep: bool) -> None:
        base = _destination(runtime, None)
        super().__init__(
            base.scheme_dict,
            interpreter=base.interpreter,
            script_kind=base.script_kind,
            overwrite_existing=True,
        )
        self._members = members
        self._keep = keep
        self.files: dict[str, tuple[bytes | WheelMember, bool]] = {}

    def write_to_fs(
        self, scheme: Scheme, path: str, stream: BinaryIO, is_executable: bool
    ) -> RecordEntry:
        root = self.scheme_dict[scheme]
        target = posixpath.normpath(posixpath.join(root, path))
        if not target.startswith(root.rstrip("/") + "/"):
            raise ValueError(f"Attempting to write {path} outside of the target directory")
        # A member streamed unchanged (scripts get a new shebang) is taken as stored.
        member = None
        if isinstance(stream, zipfile.ZipExtFile) and scheme != "scripts":
            member = self._members.take(stream.name, keep=self._keep)
        if member is None:
            content = io.BytesIO()
            digest, size = copyfileobj_with_hashing(stream, content, self.hash_algorithm)
            self.files[target] = (content.getvalue(), is_executable)
            return RecordEntry(path, Hash(self.hash_algorithm, digest), size)
        self.files[target] = (member, is_executable)
        # RECORD's form of a hash, as installer writes it: URL-safe base64, unpadded.
        hashed = base64.urlsafe_b64encode(bytes.fromhex(member.sha256)).decode("ascii")
        return RecordEntry(path, Hash("sha256", hashed.rstrip("=")), member.size)

    def write_script(self, name: str, module: str, attr: str, section: str) -> RecordEntry:
        script_name, data = Script(name, module, attr, section).generate(  # type: ignore[arg-type]
            self.interpreter, self.script_kind
        )
        return self.write_to_fs(Scheme("scripts"), script_name, io.BytesIO(data), True)


def install_in_memory(
    wheel: Path, runtime: PythonRuntime, *, uid: int, gid: int, keep_members: bool = True
) -> list[LayerEntry]:
    """The layer entries of ``wheel`` installed for ``runtime`` (no bytecode), made in memory:
    the files with their content or as wheel members, and every folder leading to them.

    :param keep_members: hold the wheel members' bytes until the layer is written (the
        wheel is inflated once); ``False`` reads them from the wheel again then (big wheels).
    """
    with _installing(wheel), wheel.open("rb") as handle:
        destination = _MemoryDestination(runtime, WheelMembers(wheel, handle), keep=keep_members)
        _install(wheel, destination)
    entries = []
    for path, (content, executable) in destination.files.items():
        mode = 0o755 if executable else 0o644
        if isinstance(content, bytes):
            entries.append(LayerEntry(path, None, mode, uid, gid, data=content))
        else:
            entries.append(LayerEntry(path, None, mode, uid, gid, packed=content))
    folders: set[str] = set()
    for path in destination.files:
        # String walk up to the first folder already seen: pathlib's parents cost a quarter
        # of the whole install on wheels of thousands of files.
        parent = posixpath.dirname(path)
        while parent != "/" and parent not in folders:
            folders.add(parent)
            parent = posixpath.dirname(parent)
    return [*(LayerEntry(d, None, 0o755, uid, gid) for d in sorted(folders)), *entries]


def install_for_layer(
    wheels: Sequence[Path],
    runtime: PythonRuntime,
    staging: Path,
    *,
    uid: int,
    gid: int,
    bytecode: Mapping[str, str] | None,
    keep_members: bool,
) -> list[LayerEntry]:
    """The layer entries of ``wheels`` installed in this order (a later wheel's file replaces
    an earlier one's, as in one install): in memory, unless ``.pyc`` files are compiled
    (``bytecode``: see :func:`install_wheels`), which needs the files on disk under
    ``staging``.

    :param keep_members: see :func:`install_in_memory`.
    """
    if bytecode is not None:
        staging.mkdir(parents=True, exist_ok=True)
        return install_wheels(wheels, runtime, staging, uid=uid, gid=gid, bytecode=bytecode)
    return [
        entry
        for wheel in wheels
        for entry in install_in_memory(wheel, runtime, uid=uid, gid=gid, keep_members=keep_members)
    ]
