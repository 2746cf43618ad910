"""``compile-bytecode = true``: ``.pyc`` files in the image, made for the image's Python.

Bytecode is specific to a Python series (its magic number and marshal format), so it is
compiled by an interpreter of the image's series found on this machine (``pythonX.Y`` on
``PATH``, or the one running ocipush when it matches), never by whichever Python runs
ocipush. The files use ``unchecked-hash`` invalidation (PEP 552): they record the source's
hash, not its time, so the layer is the same on every build, and Python trusts them without
re-hashing the source at start-up. ``PYTHONHASHSEED=0`` keeps set constants in one order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

from ocipush.image.errors import ImageError
from ocipush.image.python import PythonRuntime

__all__ = ["compile_bytecode", "compiler_for"]

#: Seconds compiling one layer's tree may take.
TIMEOUT = 600


def compiler_for(runtime: PythonRuntime, environ: Mapping[str, str]) -> str:
    """An interpreter of the image's Python series on this machine.

    :raises ImageError: there is none, saying how to get one.
    """
    if sys.version_info[:2] == runtime.version:
        return sys.executable
    name = f"python{runtime.version_text}"
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    if found is None:
        raise ImageError(
            f"tool.ocipush.image.compile-bytecode: the image's Python is {runtime.version_text} "
            f"but this machine has no {name} on PATH to compile for it (ocipush runs on "
            f"{sys.version_info[0]}.{sys.version_info[1]}); install Python "
            f"{runtime.version_text} (e.g. `uv python install {runtime.version_text}`) or set "
            "compile-bytecode = false"
        )
    return found


def compile_bytecode(staging: Path, runtime: PythonRuntime, environ: Mapping[str, str]) -> None:
    """Compile every module under the site directory of ``staging`` (the image's root),
    recording their paths inside the image."""
    site = staging / runtime.site_packages.lstrip("/")
    if not site.is_dir():
        return
    command = [
        compiler_for(runtime, environ),
        *("-m", "compileall", "-q", "-j", "1"),
        *("--invalidation-mode", "unchecked-hash"),
        *("-s", str(staging), "-p", "/"),
        str(site),
    ]
    clean = {k: v for k, v in environ.items() if not k.startswith("PYTHON")}
    done = subprocess.run(
        command,
        env={**clean, "PYTHONHASHSEED": "0"},
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        said = (done.stdout + done.stderr).strip().splitlines()
        raise ImageError(
            f"tool.ocipush.image.compile-bytecode: compiling for Python {runtime.version_text} "
            f"failed: {said[-1] if said else 'no output'}; a module may not be valid Python "
            f"{runtime.version_text}, or set compile-bytecode = false"
        )
