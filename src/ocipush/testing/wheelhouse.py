"""An offline package index of checkouts, for isolated builds in tests."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ocipush.errors import OcipushError
from ocipush.release.config import read_pyproject
from ocipush.testing.base import default_cache_dir

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

# --- an offline package index for isolated builds ---------------------------------------------

WHEELHOUSE_TIMEOUT = 900


class WheelhouseError(OcipushError):
    """The wheelhouse could not be made (the package index unreachable, a build failing)."""


def _pip(arguments: Sequence[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--quiet", "--disable-pip-version-check"]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=WHEELHOUSE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise WheelhouseError(f"{what}: pip took over {WHEELHOUSE_TIMEOUT} s") from None
    except subprocess.CalledProcessError as error:
        raise WheelhouseError(f"{what} failed:\n{error.stderr.strip()}") from None


def wheelhouse(
    projects: Sequence[Path], requirements: Sequence[str], *, cache_dir: Path | None = None
) -> Path:
    """A fresh directory of wheels that ``pip install --no-index --find-links`` can use.

    It holds a wheel of each of ``projects`` (built now, since their sources change), and
    their ``[project] dependencies`` and ``requirements`` with everything those depend on,
    for this interpreter: downloaded from the package index once, then kept in ``cache_dir``
    (default :func:`default_cache_dir`) under a key made of the list. Isolated ``python -m
    build`` runs of a project whose ``[build-system]`` requires one of ``projects`` then work
    offline and install exactly these files: see :func:`wheelhouse_environ`.

    :raises WheelhouseError: when a download or a build fails.
    """
    requirements = [*requirements]
    for project in projects:
        declared = read_pyproject(project).get("project", {}).get("dependencies", [])
        requirements += [str(requirement) for requirement in declared]
    material = "\n".join([sys.version, *sorted(requirements)]).encode()
    key = hashlib.sha256(material).hexdigest()[:16]
    cached = (cache_dir or default_cache_dir()) / f"wheelhouse-{key}"
    if not (cached / ".complete").is_file():
        cached.mkdir(parents=True, exist_ok=True)
        _pip(
            ["download", "--only-binary=:all:", "-d", str(cached), *requirements],
            f"downloading {', '.join(requirements)}",
        )
        (cached / ".complete").write_text("\n".join(requirements), encoding="utf-8")
    out = Path(tempfile.mkdtemp(prefix="ocipush-wheelhouse-"))
    for wheel in cached.glob("*.whl"):
        shutil.copy2(wheel, out / wheel.name)
    for project in projects:
        # With what is installed: building the fixture is not the path under test.
        _pip(
            ["wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(project)],
            f"building a wheel of {project}",
        )
    return out


def wheelhouse_environ(directory: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with pip pointed at ``directory`` only.

    Every pip that runs under it, including those of isolated build environments and the
    one ocipush runs to resolve image dependencies, installs from ``directory``.
    """
    base = dict(os.environ if environ is None else environ)
    for name in [name for name in base if name.startswith("PIP_")]:
        del base[name]
    return {**base, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(directory)}
