"""Installing wheels into a staging tree laid out like the image, and naming the layer.

pypa's ``installer`` writes each wheel into the image's scheme under a staging root, with
console scripts whose shebang is the image's interpreter. Bytecode is compiled only when
asked (``compile-bytecode``), by an interpreter of the image's Python series
(:mod:`ocipush.image.bytecode`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.exceptions import InstallerError
from installer.sources import WheelFile

from ocipush.image.bytecode import compile_bytecode
from ocipush.image.errors import ImageError
from ocipush.image.python import PythonRuntime
from ocipush.oci.blobs import FileBlob
from ocipush.oci.layers import LayerEntry, entries_from_directory

__all__ = ["LabelledLayer", "install_wheels"]

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
    destination = SchemeDictionaryDestination(
        runtime.scheme(),
        interpreter=runtime.interpreter,
        script_kind="posix",
        destdir=str(staging),
        # Two distributions may ship the same file (namespace packages); pip keeps the last.
        overwrite_existing=True,
    )
    for wheel in wheels:
        try:
            with WheelFile.open(wheel) as source:
                install(source, destination, {"INSTALLER": INSTALLER_NAME})
        except (InstallerError, ValueError, OSError) as error:
            raise ImageError(f"{wheel.name}: cannot be installed into the image: {error}") from None
    if bytecode is not None:
        compile_bytecode(staging, runtime, bytecode)
    return [
        entry
        for entry in entries_from_directory(staging, "/", uid=uid, gid=gid)
        # The staging root stands for "/", which the base already has.
        if entry.path != "/"
    ]
