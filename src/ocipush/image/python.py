"""The image's Python: which interpreter runs the app, and where packages go.

The interpreter and its version come from the configuration, or the base's environment
(``PYTHON_VERSION`` and ``PATH``, as the python.org images set them), or else the base's
files (:mod:`ocipush.image.listing`): Debian, Ubuntu, distroless and Chainguard bases say
nothing in their environment, so the interpreter is found as ``PREFIX/bin/pythonX.Y`` next
to its standard library ``PREFIX/lib/pythonX.Y/os.py``. The site directory is
``PREFIX/lib/pythonX.Y/site-packages`` unless the base lacks it and its Python is Debian's
(``/usr/bin`` on a system with ``/etc/debian_version``: Debian, Ubuntu, distroless), whose
``sys.path`` has ``/usr/local/lib/pythonX.Y/dist-packages`` instead (not owned by dpkg).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from ocipush.image.errors import ImageError
from ocipush.image.listing import BaseFiles

__all__ = ["PythonRuntime", "detect_from_files", "detect_python", "environment_of"]

_VERSIONED_NAME = re.compile(r"python(?P<major>[0-9]+)\.(?P<minor>[0-9]+)")
_VERSION = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)")
_INTERPRETER = re.compile(r"(?P<prefix>/.*)/bin/python(?P<major>3)\.(?P<minor>[0-9]+)")
#: Which interpreter wins when a base has several: these prefixes first, in order.
_PREFERRED_PREFIXES = ("/usr/local", "/usr")
#: Where python.org builds (and so the official ``python`` images) install the interpreter.
_PYTHON_ORG_BIN = "/usr/local/bin"


@dataclass(frozen=True)
class PythonRuntime:
    """The interpreter inside the image.

    :ivar interpreter: its absolute path; console scripts get it as their shebang.
    :ivar version: ``(major, minor)``; dependency wheels are chosen for it.
    :ivar site_packages: where distributions are installed.
    """

    interpreter: str
    version: tuple[int, int]
    site_packages: str

    @property
    def version_text(self) -> str:
        return f"{self.version[0]}.{self.version[1]}"

    @property
    def scripts(self) -> str:
        """Console scripts go next to the interpreter, as an installer in the image would."""
        return str(PurePosixPath(self.interpreter).parent)

    @property
    def prefix(self) -> str:
        return str(PurePosixPath(self.scripts).parent)

    def scheme(self) -> dict[str, str]:
        """The install scheme (``purelib``, ``scripts``…) as paths inside the image."""
        return {
            "purelib": self.site_packages,
            "platlib": self.site_packages,
            "scripts": self.scripts,
            "data": self.prefix,
            "headers": f"{self.prefix}/include/python{self.version_text}",
        }


def environment_of(config: Mapping[str, object]) -> dict[str, str]:
    """The ``Env`` of an image config (``["K=V", …]``) as a mapping."""
    inner = config.get("config")
    entries = inner.get("Env") if isinstance(inner, Mapping) else None
    env: dict[str, str] = {}
    for entry in entries if isinstance(entries, Sequence) else ():
        if isinstance(entry, str) and "=" in entry:
            name, _, value = entry.partition("=")
            env[name] = value
    return env


def detect_python(
    env: Mapping[str, str],
    *,
    python: str | None,
    site_packages: str | None,
    base: str,
    files: Callable[[], BaseFiles] | None = None,
) -> PythonRuntime:
    """The runtime from the configuration, filling gaps from the base's environment, then
    from its files.

    :param env: the base image's environment.
    :param python: ``tool.ocipush.image.python``, if set.
    :param site_packages: ``tool.ocipush.image.site-packages``, if set.
    :param base: the base as configured, for messages.
    :param files: the base's files, listed when first called (only if needed).
    :raises ImageError: when the interpreter or its version cannot be told.
    """
    declared = _VERSION.match(env.get("PYTHON_VERSION", ""))
    if python is None:
        path = env.get("PATH", "").split(":")
        if (declared is None or _PYTHON_ORG_BIN not in path) and files is not None:
            runtime = detect_from_files(files(), base)
            if site_packages is not None:
                runtime = replace(runtime, site_packages=site_packages)
            return runtime
        if declared is None or _PYTHON_ORG_BIN not in path:
            raise ImageError(
                f"tool.ocipush.image.python: the base {base} does not say where its Python is "
                "(no PYTHON_VERSION and /usr/local/bin on PATH in its environment); set "
                'python = "/usr/bin/python3.11" (the interpreter\'s path, with its version)'
            )
        python = f"{_PYTHON_ORG_BIN}/python{declared['major']}.{declared['minor']}"
    named = _VERSIONED_NAME.fullmatch(PurePosixPath(python).name)
    found = named or declared
    if found is None:
        raise ImageError(
            f'tool.ocipush.image.python: "{python}" does not say which Python version it is and '
            f"the base {base} sets no PYTHON_VERSION; name the versioned interpreter, "
            'e.g. "/usr/bin/python3.11"'
        )
    version = (int(found["major"]), int(found["minor"]))
    if site_packages is None:
        prefix = PurePosixPath(python).parent.parent
        site_packages = str(prefix / "lib" / f"python{version[0]}.{version[1]}" / "site-packages")
    return PythonRuntime(python, version, site_packages)


def _preference(prefix: str) -> tuple[int, str]:
    ranked = _PREFERRED_PREFIXES.index(prefix) if prefix in _PREFERRED_PREFIXES else 99
    return ranked, prefix


def detect_from_files(files: BaseFiles, base: str) -> PythonRuntime:
    """The interpreter and site directory a base's files show (see the module's rules).

    Among several interpreters, the one ``PREFIX/bin/python3`` points to wins, then the
    preferred prefixes (``/usr/local``, ``/usr``), then the newest version.

    :raises ImageError: the base has no usable Python, saying what to set instead.
    """
    found: list[tuple[str, tuple[int, int]]] = []
    for path in files.entries:
        match = _INTERPRETER.fullmatch(path)
        if match is None:
            continue
        version = (int(match["major"]), int(match["minor"]))
        stdlib = f"{match['prefix']}/lib/python{version[0]}.{version[1]}"
        if files.exists(f"{stdlib}/os.py"):
            found.append((path, version))
    if not found:
        raise ImageError(
            f"tool.ocipush.image.python: the base {base} has no Python interpreter that "
            "ocipush can find (PREFIX/bin/python3.X with PREFIX/lib/python3.X/os.py); choose a "
            'base with Python, or set python = "/path/to/python3.X" and site-packages'
        )

    def rank(candidate: tuple[str, tuple[int, int]]) -> tuple[bool, tuple[int, str], int]:
        path, version = candidate
        prefix = str(PurePosixPath(path).parent.parent)
        default = files.link_target(f"{prefix}/bin/python3")
        named = default is not None and PurePosixPath(default).name == PurePosixPath(path).name
        return (not named, _preference(prefix), -version[1])

    interpreter, version = min(found, key=rank)
    prefix = PurePosixPath(interpreter).parent.parent
    text = f"{version[0]}.{version[1]}"
    site = prefix / "lib" / f"python{text}" / "site-packages"
    if not files.is_dir(str(site)) and _is_debian_python(files, str(prefix)):
        # Debian's site.py reads /usr/local/lib/python3.X/dist-packages (for what dpkg does
        # not own) and /usr/lib/python3/dist-packages, never site-packages.
        site = PurePosixPath("/usr/local/lib") / f"python{text}" / "dist-packages"
    return PythonRuntime(interpreter, version, str(site))


def _is_debian_python(files: BaseFiles, prefix: str) -> bool:
    """Debian's (and Ubuntu's, distroless's) packaged Python: under /usr, on a Debian system
    or with dpkg's own ``dist-packages``."""
    return prefix == "/usr" and (
        files.exists("/etc/debian_version") or files.is_dir("/usr/lib/python3/dist-packages")
    )
