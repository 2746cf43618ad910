"""The image's Python: which interpreter runs the app, and where packages go.

Nothing is read from the base's layers (they stay remote): the interpreter and its version
come from the configuration or the base's environment (``PYTHON_VERSION`` and ``PATH``, as
the python.org images set them), and ``site-packages`` follows from both.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from ocipush.image.errors import ImageError

__all__ = ["PythonRuntime", "detect_python", "environment_of"]

_VERSIONED_NAME = re.compile(r"python(?P<major>[0-9]+)\.(?P<minor>[0-9]+)")
_VERSION = re.compile(r"(?P<major>[0-9]+)\.(?P<minor>[0-9]+)")
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
) -> PythonRuntime:
    """The runtime from the configuration, filling gaps from the base's environment.

    :param env: the base image's environment.
    :param python: ``tool.ocipush.image.python``, if set.
    :param site_packages: ``tool.ocipush.image.site-packages``, if set.
    :param base: the base as configured, for messages.
    :raises ImageError: when the interpreter or its version cannot be told.
    """
    declared = _VERSION.match(env.get("PYTHON_VERSION", ""))
    if python is None:
        path = env.get("PATH", "").split(":")
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
