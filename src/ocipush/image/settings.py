"""``[tool.ocipush.image]``: what the image plugin reads, checked key by key.

Every problem is reported at once, by key path, quoting the value and saying what is
expected, so one edit of ``pyproject.toml`` fixes them all.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from ocipush.errors import ConfigProblem
from ocipush.oci.model import Platform

__all__ = ["DEPENDENCY_LAYERS", "RESOLVERS", "SCRATCH", "ImageSettings", "parse_image_settings"]

#: The ``base`` that means "no base": only the layers ocipush makes.
SCRATCH = "scratch"

#: The values ``resolver`` takes; pip, the first, is the default.
RESOLVERS = ("pip", "uv")
#: The values ``dependency-layers`` takes; "auto" (one layer per distribution), the first,
#: is the default.
DEPENDENCY_LAYERS = ("auto", "single")
_ROOT = "tool.ocipush.image"
_PORT = re.compile(r"(?P<number>[0-9]{1,5})(?:/(?P<protocol>tcp|udp|sctp))?")
_KEYS = (
    "base",
    "platforms",
    "entrypoint",
    "cmd",
    "env",
    "workdir",
    "user",
    "ports",
    "volumes",
    "labels",
    "annotations",
    "python",
    "site-packages",
    "requirements",
    "uid",
    "gid",
    "compile-bytecode",
    "resolver",
    "dependency-layers",
)


def _empty() -> Mapping[str, str]:
    return MappingProxyType({})


@dataclass(frozen=True)
class ImageSettings:
    """The validated table. ``None`` means "not configured: use the default".

    :ivar base: a reference (``docker.io/library/python:3.12-slim@sha256:…``) or ``scratch``;
        ``""`` when not set: the default base (:mod:`ocipush.image.default_base`).
    :ivar platforms: the platforms to build; ``()`` means the base's that the dependencies
        can satisfy (``linux/amd64`` on scratch).
    :ivar ports: ``"8080/tcp"`` style, protocol always spelled out.
    :ivar requirements: a requirements (lock) file relative to the project root; ``None``
        installs the wheel's ``Requires-Dist``.
    """

    base: str = ""
    platforms: tuple[Platform, ...] = ()
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    env: Mapping[str, str] = field(default_factory=_empty)
    workdir: str | None = None
    user: str | None = None
    ports: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=_empty)
    annotations: Mapping[str, str] = field(default_factory=_empty)
    python: str | None = None
    site_packages: str | None = None
    requirements: str | None = None
    uid: int = 0
    gid: int = 0
    compile_bytecode: bool = False
    resolver: str = RESOLVERS[0]
    dependency_layers: str = DEPENDENCY_LAYERS[0]


class _Reader:
    """Reads typed values out of the table, collecting problems instead of raising."""

    def __init__(self, table: Mapping[str, Any]) -> None:
        self.table = table
        self.problems: list[ConfigProblem] = []

    def report(self, key: str, message: str) -> None:
        self.problems.append(ConfigProblem(f"{_ROOT}.{key}", message))

    def string(self, key: str, *, absolute: bool = False) -> str | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            self.report(key, f"{json.dumps(value)} — expected a non-empty string")
            return None
        if absolute and not PurePosixPath(value).is_absolute():
            self.report(key, f"{json.dumps(value)} — expected an absolute path in the image")
            return None
        return value

    def strings(
        self, key: str, check: Callable[[str], str | None] | None = None
    ) -> tuple[str, ...] | None:
        value = self.table.get(key)
        if value is None:
            return None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            self.report(key, f"{json.dumps(value)} — expected a list of strings")
            return None
        for item in value:
            problem = check(item) if check else None
            if problem:
                self.report(key, f"{json.dumps(item)} — {problem}")
        return tuple(value)

    def mapping(self, key: str) -> Mapping[str, str]:
        value = self.table.get(key)
        if value is None:
            return _empty()
        if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
            self.report(key, f"{json.dumps(value)} — expected a table of strings")
            return _empty()
        return MappingProxyType(dict(value))

    def boolean(self, key: str) -> bool:
        value = self.table.get(key, False)
        if not isinstance(value, bool):
            self.report(key, f"{json.dumps(value)} — expected true or false")
            return False
        return value

    def integer(self, key: str) -> int:
        value = self.table.get(key, 0)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value < 2**32:
            self.report(key, f"{json.dumps(value)} — expected a number from 0 to 4294967295")
            return 0
        return value


def _platform_problem(text: str) -> str | None:
    try:
        Platform.parse(text)
    except ValueError:
        return "expected os/architecture[/variant], e.g. linux/arm64"
    return None


def _absolute_problem(text: str) -> str | None:
    return None if PurePosixPath(text).is_absolute() else "expected an absolute path in the image"


def _ports(reader: _Reader) -> tuple[str, ...]:
    value = reader.table.get("ports")
    if value is None:
        return ()
    if not isinstance(value, list):
        reader.report("ports", f'{json.dumps(value)} — expected a list such as [8080, "53/udp"]')
        return ()
    ports = []
    for item in value:
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        match = _PORT.fullmatch(text) if isinstance(text, str) else None
        if match is None or not 0 < int(match["number"]) < 65536:
            reader.report(
                "ports",
                f"{json.dumps(item)} — expected a port number (1-65535), optionally with "
                '"/tcp", "/udp" or "/sctp"',
            )
            continue
        ports.append(f"{int(match['number'])}/{match['protocol'] or 'tcp'}")
    return tuple(ports)


def parse_image_settings(
    table: Mapping[str, Any],
) -> tuple[ImageSettings | None, list[ConfigProblem]]:
    """Check ``[tool.ocipush.image]``; returns the settings (``None`` when unusable) and
    every problem found."""
    reader = _Reader(table)
    for key in table:
        if key not in _KEYS:
            reader.report(key, f"unknown key — known keys: {', '.join(_KEYS)}")
    base = reader.string("base")
    platforms = reader.strings("platforms", _platform_problem)
    entrypoint = reader.strings("entrypoint")
    if entrypoint == ():
        reader.report("entrypoint", "[] — name the program to run, e.g. ['/usr/local/bin/app']")
    cmd = reader.strings("cmd")
    env = reader.mapping("env")
    for name in env:
        if not name or "=" in name:
            reader.report(f"env.{name}", "a variable name cannot be empty or contain '='")
    volumes = reader.strings("volumes", _absolute_problem)
    settings = ImageSettings(
        base=base or "",
        platforms=tuple(Platform.parse(p) for p in platforms or () if not _platform_problem(p)),
        entrypoint=entrypoint,
        cmd=cmd,
        env=env,
        workdir=reader.string("workdir", absolute=True),
        user=reader.string("user"),
        ports=_ports(reader),
        volumes=volumes or (),
        labels=reader.mapping("labels"),
        annotations=reader.mapping("annotations"),
        python=reader.string("python", absolute=True),
        site_packages=reader.string("site-packages", absolute=True),
        requirements=reader.string("requirements"),
        uid=reader.integer("uid"),
        gid=reader.integer("gid"),
        compile_bytecode=reader.boolean("compile-bytecode"),
        resolver=reader.string("resolver") or RESOLVERS[0],
        dependency_layers=reader.string("dependency-layers") or DEPENDENCY_LAYERS[0],
    )
    if settings.resolver not in RESOLVERS:
        reader.report("resolver", f'"{settings.resolver}" — expected "pip" (the default) or "uv"')
    if settings.dependency_layers not in DEPENDENCY_LAYERS:
        reader.report(
            "dependency-layers",
            f'"{settings.dependency_layers}" — expected "auto" (the default: one layer per '
            'distribution) or "single" (all dependencies in one layer)',
        )
    if len(set(settings.platforms)) != len(settings.platforms):
        reader.report("platforms", "lists a platform twice; name each once")
    return (None if reader.problems else settings), reader.problems
