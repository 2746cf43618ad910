"""The base when ``[tool.ocipush.image]`` names none: the official slim Python image.

The rule: ``docker.io/library/python:X.Y-slim`` for the lowest Python series from
:data:`SERIES` that the wheel's ``Requires-Python`` allows and the registry has (a series
is allowed when its first or a late patch release is: ``>=3.11.4`` allows 3.11, whose
``-slim`` tag follows the newest patch). ``OCIPUSH_DEFAULT_BASE`` replaces the repository
(``registry.example/mirror/python``) or, with a tag or digest, names the base outright.
Tags move, so the chosen base is logged and the image records it; pin ``base`` for
reproducible images.
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Mapping
from email.parser import Parser
from pathlib import Path

from packaging.specifiers import InvalidSpecifier, SpecifierSet

from ocipush.image.base import ResolvedBase, resolve_base
from ocipush.image.errors import BaseImageError, ImageError
from ocipush.registry.remote import Remote

__all__ = ["DEFAULT_REPOSITORY", "OVERRIDE", "SERIES", "default_base"]

log = logging.getLogger(__name__)

DEFAULT_REPOSITORY = "docker.io/library/python"
#: The environment variable that replaces the default.
OVERRIDE = "OCIPUSH_DEFAULT_BASE"
#: The Python series tried, oldest first.
SERIES = tuple((3, minor) for minor in range(10, 16))


def _requires_python(wheel: Path) -> SpecifierSet:
    with zipfile.ZipFile(wheel) as archive:
        metadata = next(n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        text = archive.read(metadata).decode("utf-8")
    declared = Parser().parsestr(text, headersonly=True).get("Requires-Python") or ""
    try:
        return SpecifierSet(declared)
    except InvalidSpecifier:
        raise ImageError(
            f"{wheel.name}: Requires-Python {declared!r} is not a version specifier; fix "
            "requires-python in pyproject.toml or set tool.ocipush.image.base"
        ) from None


def _allows(spec: SpecifierSet, series: tuple[int, int]) -> bool:
    major, minor = series
    return any(spec.contains(f"{major}.{minor}.{patch}", prereleases=True) for patch in (0, 99))


def _names_a_tag(text: str) -> bool:
    last = text.rpartition("/")[2]
    return ":" in last or "@" in last


def default_base(wheel: Path, environ: Mapping[str, str], remote: Remote) -> ResolvedBase:
    """The base by the module's rule.

    :raises ImageError: no series fits ``Requires-Python``, or the registry has none of
        those that do; the message says which were tried and to set ``base``.
    """
    override = environ.get(OVERRIDE, "").strip()
    if override and _names_a_tag(override):
        log.info("no base configured: using %s from %s", override, OVERRIDE)
        return resolve_base(override, remote)
    repository = override or DEFAULT_REPOSITORY
    spec = _requires_python(wheel)
    fitting = [series for series in SERIES if _allows(spec, series)]
    if not fitting:
        raise ImageError(
            f"tool.ocipush.image.base: not set, and Requires-Python {str(spec)!r} of "
            f"{wheel.name} allows none of Python {SERIES[0][0]}.{SERIES[0][1]} to "
            f"{SERIES[-1][0]}.{SERIES[-1][1]}; set base to an image with a Python it allows"
        )
    tried = []
    for major, minor in fitting:
        name = f"{repository}:{major}.{minor}-slim"
        try:
            base = resolve_base(name, remote)
        except BaseImageError:
            tried.append(name)
            continue
        log.info(
            "no base configured: using %s, the lowest Python that Requires-Python %r allows",
            name,
            str(spec) or "(any)",
        )
        return base
    raise ImageError(
        f"tool.ocipush.image.base: not set, and the registry has none of {', '.join(tried)}; "
        "set base, or point OCIPUSH_DEFAULT_BASE at a repository that has them"
    )
