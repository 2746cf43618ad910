"""``[tool.ocipush.image]``: what the image plugin reads, checked key by key with the
one config reader (:mod:`ocipush.release.reader`), so its problems read like every other.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from types import MappingProxyType
from typing import Any

from ocipush.errors import ConfigProblem
from ocipush.oci.model import Platform
from ocipush.release.distributions import Distribution
from ocipush.release.reader import ConfigReader, quote

__all__ = [
    "DEPENDENCY_LAYERS",
    "RESOLVERS",
    "SCRATCH",
    "ImageSettings",
    "parse_image_settings",
    "read_image_settings",
]

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

    def needed_distributions(self) -> frozenset[Distribution]:
        """The image installs the project's wheel."""
        return frozenset({"wheel"})


_MAX_ID = 2**32 - 1


def _platform_problem(text: str) -> str | None:
    try:
        Platform.parse(text)
    except ValueError:
        return "expected os/architecture[/variant], e.g. linux/arm64"
    return None


def _checked(
    table: ConfigReader, problem: Callable[[str], str | None]
) -> Callable[[str, str], None]:
    """An ``each`` check for :meth:`ConfigReader.strings` reporting ``problem(text)``."""

    def check(text: str, path: str) -> None:
        found = problem(text)
        if found:
            table.report_at(path, f"{quote(text)} — {found}")

    return check


def _absolute_problem(text: str) -> str | None:
    return None if PurePosixPath(text).is_absolute() else "expected an absolute path in the image"


def _absolute(table: ConfigReader, key: str) -> str | None:
    value = table.string(key)
    problem = None if value is None else _absolute_problem(value)
    if problem:
        table.report(key, f"{quote(value)} — {problem}")
        return None
    return value


def _ports(table: ConfigReader) -> tuple[str, ...]:
    items: list[object] | None = table.value(
        "ports", "an array", expected='an array such as [8080, "53/udp"]'
    )
    ports = []
    for index, item in enumerate(items or ()):
        text = str(item) if isinstance(item, int) and not isinstance(item, bool) else item
        match = _PORT.fullmatch(text) if isinstance(text, str) else None
        if match is None or not 0 < int(match["number"]) < 65536:
            table.report_at(
                f"{table.key_path('ports')}[{index}]",
                f"{quote(item)} — expected a port number (1-65535), optionally with "
                '"/tcp", "/udp" or "/sctp"',
            )
            continue
        ports.append(f"{int(match['number'])}/{match['protocol'] or 'tcp'}")
    return tuple(ports)


def read_image_settings(table: ConfigReader) -> ImageSettings:
    """Read ``[tool.ocipush.image]``, recording every problem on ``table``; the result is
    usable only when none was recorded."""
    table.only_known(_KEYS)
    platforms = table.strings("platforms", each=_checked(table, _platform_problem)) or ()
    entrypoint = table.strings("entrypoint")
    if entrypoint == ():
        table.report("entrypoint", '[] — name the program to run, e.g. ["/usr/local/bin/app"]')
    env = table.string_table("env")
    for name in env:
        if not name or "=" in name:
            table.report_at(
                f"{table.key_path('env')}.{quote(name)}",
                "a variable name cannot be empty or contain '='",
            )
    settings = ImageSettings(
        base=table.string("base") or "",
        platforms=tuple(Platform.parse(p) for p in platforms if not _platform_problem(p)),
        entrypoint=entrypoint,
        cmd=table.strings("cmd"),
        env=MappingProxyType(env),
        workdir=_absolute(table, "workdir"),
        user=table.string("user"),
        ports=_ports(table),
        volumes=table.strings("volumes", each=_checked(table, _absolute_problem)) or (),
        labels=MappingProxyType(table.string_table("labels")),
        annotations=MappingProxyType(table.string_table("annotations")),
        python=_absolute(table, "python"),
        site_packages=_absolute(table, "site-packages"),
        requirements=table.string("requirements"),
        uid=table.integer("uid", minimum=0, maximum=_MAX_ID) or 0,
        gid=table.integer("gid", minimum=0, maximum=_MAX_ID) or 0,
        compile_bytecode=table.boolean("compile-bytecode"),
        resolver=table.choice("resolver", RESOLVERS) or RESOLVERS[0],
        dependency_layers=table.choice("dependency-layers", DEPENDENCY_LAYERS)
        or DEPENDENCY_LAYERS[0],
    )
    if len(set(settings.platforms)) != len(settings.platforms):
        table.report("platforms", "lists a platform twice; name each once")
    return settings


def parse_image_settings(
    table: Mapping[str, Any],
) -> tuple[ImageSettings | None, list[ConfigProblem]]:
    """Check ``[tool.ocipush.image]`` on its own; returns the settings (``None`` when
    unusable) and every problem found."""
    reader = ConfigReader(table, _ROOT)
    settings = read_image_settings(reader)
    return (None if reader.problems else settings), reader.problems
