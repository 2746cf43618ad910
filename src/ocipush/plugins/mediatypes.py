"""Built-in plugin ``mediatypes``: media types for Python distributions.

No registry standard exists for wheels and sdists, so these live in ocipush's own vendor
tree; a plugin answering :func:`~ocipush.release.hookspecs.ocipush_file_media_type` first overrides
them.
"""

from __future__ import annotations

from pathlib import Path

from ocipush.release.hookspecs import hookimpl

#: This plugin reads no table of [tool.ocipush].
OCIPUSH_TABLES: tuple[str, ...] = ()

WHEEL = "application/vnd.ocipush.python.wheel.v1+zip"
SDIST = "application/vnd.ocipush.python.sdist.v1.tar+gzip"


@hookimpl(trylast=True)
def ocipush_file_media_type(path: Path) -> str | None:
    if path.suffix == ".whl":
        return WHEEL
    if path.name.endswith(".tar.gz"):
        return SDIST
    return None
