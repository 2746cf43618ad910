"""Pinned dependency sets: ``requirements = "pylock.toml"`` (PEP 751) or ``"uv.lock"``.

A lock names exactly which wheels to install; nothing is resolved. ``pylock.toml`` (or
``pylock.NAME.toml``) is read as the PEP 751 specification describes it, with ``tomllib``,
and checked: lock version 1, each package's name, version, markers and wheels with sha256
hashes. ``uv.lock`` has no published specification, so uv itself turns it into a PEP 751
lock (``uv export --format pylock.toml --frozen --no-dev --no-emit-project``); uv must then
be installed (``pip install uv``).

For each image platform, a package applies when its marker holds in the image's environment
(Linux, the architecture, the image's Python), and its wheel is the one the image's Python
prefers among those the lock lists (``packaging.tags``). A package with no such wheel stops
the build, naming the package and the platform. Wheels are then fetched and checked against
the lock's hashes like resolved ones (:func:`ocipush.image.deps.dependency_layer`).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from packaging.markers import InvalidMarker, Marker
from packaging.tags import Tag, compatible_tags, cpython_tags
from packaging.utils import InvalidWheelFilename, canonicalize_name, parse_wheel_filename

from ocipush.image.deps import Dependency, pip_platform_tags, platform_machine
from ocipush.image.errors import DependencyError, MissingWheelError
from ocipush.image.python import PythonRuntime
from ocipush.oci.model import Platform

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = ["is_lock", "locked_dependencies", "pylock_dependencies", "uv_program"]

#: Seconds ``uv export`` may take (it reads the lock; no network with ``--frozen``).
UV_TIMEOUT = 120


def is_lock(name: str) -> bool:
    """Whether a ``requirements`` file name is a lock rather than a pip requirements file."""
    file = Path(name).name
    return file == "uv.lock" or (file.startswith("pylock.") and file.endswith(".toml"))


def uv_program() -> str:
    """uv on ``PATH``, or the one the ``uv`` package installed.

    :raises DependencyError: neither is there.
    """
    found = shutil.which("uv")
    if found is None:
        try:
            import uv  # noqa: PLC0415 - only when reading a uv.lock

            found = uv.find_uv_bin()
        except (ImportError, FileNotFoundError):
            found = None
    if found is None:
        raise DependencyError(
            'ocipush needs uv for uv.lock and resolver = "uv"; install it (pip install uv), '
            "or for a uv.lock export it once (uv export --format pylock.toml -o pylock.toml) "
            "and name pylock.toml"
        )
    return str(found)


def _pylock_text(lock: Path, environ: Mapping[str, str]) -> str:
    if lock.name != "uv.lock":
        return lock.read_text(encoding="utf-8")
    command = [
        uv_program(),
        *("export", "--format", "pylock.toml"),
        *("--frozen", "--no-dev", "--no-emit-project", "--quiet"),
    ]
    done = subprocess.run(
        command,
        cwd=lock.parent,
        env=dict(environ),
        capture_output=True,
        text=True,
        timeout=UV_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise DependencyError(f"{lock}: uv could not read it ({said}); run `uv lock` and retry")
    return done.stdout


def _environment(platform: Platform, runtime: PythonRuntime) -> dict[str, str]:
    """The marker environment of the image (PEP 508), as far as the image's files tell."""
    machine = platform_machine(platform)
    return {
        "implementation_name": "cpython",
        "platform_python_implementation": "CPython",
        "os_name": "posix",
        "sys_platform": "linux",
        "platform_system": "Linux",
        "platform_machine": machine,
        "python_version": runtime.version_text,
        "python_full_version": f"{runtime.version_text}.0",
        "implementation_version": f"{runtime.version_text}.0",
    }


def _tags(platform: Platform, runtime: PythonRuntime) -> dict[Tag, int]:
    """Wheel tags the image's Python accepts, most preferred first (lower is better)."""
    platforms = [*pip_platform_tags(platform), f"linux_{platform_machine(platform)}"]
    version = runtime.version
    ordered = [
        *cpython_tags(version, platforms=platforms),
        *compatible_tags(version, f"cp{version[0]}{version[1]}", platforms),
    ]
    return {tag: rank for rank, tag in reversed(list(enumerate(ordered)))}


def _field(table: Mapping[str, Any], key: str, kind: type, where: str) -> Any:
    value = table.get(key)
    if not isinstance(value, kind):
        raise DependencyError(f"{where}: {key} is {value!r}; PEP 751 wants a {kind.__name__} there")
    return value


def locked_dependencies(
    lock: Path,
    *,
    platform: Platform,
    runtime: PythonRuntime,
    exclude: str,
    environ: Mapping[str, str],
) -> tuple[Dependency, ...]:
    """The wheels ``lock`` pins for ``platform``, with their hashes.

    :param exclude: the project's own name (a lock may list the project itself).
    :raises DependencyError: the lock is malformed, naming the entry.
    :raises MissingWheelError: a package applies but has no wheel for ``platform``.
    """
    return pylock_dependencies(
        _pylock_text(lock, environ), lock, platform=platform, runtime=runtime, exclude=exclude
    )


def pylock_dependencies(
    text: str, lock: Path, *, platform: Platform, runtime: PythonRuntime, exclude: str | None
) -> tuple[Dependency, ...]:
    """The wheels the PEP 751 document ``text`` pins for ``platform``.

    :param lock: the file it stands for: messages name it, relative wheel paths start there.
    """
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise DependencyError(f"{lock}: not valid TOML ({error})") from None
    version = str(document.get("lock-version", ""))
    if version.split(".", maxsplit=1)[0] != "1":
        raise DependencyError(
            f"{lock}: lock-version is {version or 'missing'}; ocipush reads PEP 751 locks of "
            "version 1"
        )
    environment = _environment(platform, runtime)
    tags = _tags(platform, runtime)
    found = []
    for number, package in enumerate(_field(document, "packages", list, str(lock))):
        where = f"{lock}: packages[{number}]"
        if not isinstance(package, dict):
            raise DependencyError(f"{where} is not a table")
        name = _field(package, "name", str, where)
        if exclude is not None and canonicalize_name(name) == canonicalize_name(exclude):
            continue
        if not _applies(package.get("marker"), environment, where):
            continue
        chosen = _best_wheel(package, tags, f"{where} ({name})")
        if chosen is None:
            raise MissingWheelError(
                f"{lock}: {name} {package.get('version', '')} has no wheel for {platform} "
                f"(Python {runtime.version_text}) in the lock; ocipush installs wheels only. "
                f"Lock a version of {name} with such a wheel, or drop {platform} from "
                "tool.ocipush.image.platforms",
                requirement=name,
                platform=str(platform),
            )
        url, sha256 = _wheel_source(chosen, lock, f"{where} ({name})")
        found.append(Dependency(name, str(package.get("version", "")), url, sha256))
    return tuple(sorted(found))


def _applies(marker: object, environment: Mapping[str, str], where: str) -> bool:
    if marker is None:
        return True
    try:
        parsed = Marker(str(marker))
    except InvalidMarker as error:
        raise DependencyError(f"{where}: marker {marker!r} is not valid ({error})") from None
    # Locks may test extras and dependency groups; an image installs the default set.
    try:
        lock_context: dict[str, str | AbstractSet[str]] = {
            **environment,
            "extras": frozenset(),
            "dependency_groups": frozenset(),
        }
        return parsed.evaluate(lock_context, context="lock_file")
    except TypeError:  # packaging before 25 knows no lock-file context
        return parsed.evaluate({**environment, "extra": ""})


def _best_wheel(
    package: Mapping[str, Any], tags: Mapping[Tag, int], where: str
) -> Mapping[str, Any] | None:
    best: tuple[int, Mapping[str, Any]] | None = None
    for wheel in package.get("wheels") or []:
        if not isinstance(wheel, dict):
            raise DependencyError(f"{where}: a wheels entry is not a table")
        filename = wheel.get("name") or _basename(wheel.get("url") or wheel.get("path") or "")
        try:
            wheel_tags = parse_wheel_filename(str(filename))[3]
        except InvalidWheelFilename:
            raise DependencyError(
                f"{where}: {filename!r} is not a wheel file name; give each wheel a name, url "
                "or path ending in .whl"
            ) from None
        ranks = [tags[tag] for tag in wheel_tags if tag in tags]
        if ranks and (best is None or min(ranks) < best[0]):
            best = (min(ranks), wheel)
    return None if best is None else best[1]


def _basename(location: str) -> str:
    return unquote(urlsplit(location).path).rsplit("/", 1)[-1]


def _wheel_source(wheel: Mapping[str, Any], lock: Path, where: str) -> tuple[str, str]:
    hashes = wheel.get("hashes")
    sha256 = hashes.get("sha256") if isinstance(hashes, dict) else None
    if not isinstance(sha256, str) or len(sha256) != 64:
        raise DependencyError(
            f"{where}: the wheel has no sha256 hash; ocipush installs only wheels a lock "
            "pins by hash — regenerate the lock with hashes"
        )
    if isinstance(wheel.get("url"), str):
        return wheel["url"], sha256.lower()
    if isinstance(wheel.get("path"), str):
        path = Path(wheel["path"])
        return (lock.parent / path).resolve().as_uri(), sha256.lower()
    raise DependencyError(f"{where}: the wheel has neither url nor path; say where it is")
