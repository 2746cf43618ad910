"""The project's own layer: its wheel installed for the image's interpreter.

It sits above the dependencies because it changes with every commit while they rarely do;
a code-only change therefore rebuilds and uploads just this layer.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping
from pathlib import Path

from ocipush.image.install import LabelledLayer, install_wheels
from ocipush.image.python import PythonRuntime
from ocipush.oci.layers import build_layer

__all__ = ["app_layer"]


def app_layer(
    wheel: Path,
    runtime: PythonRuntime,
    directory: Path,
    *,
    mtime: int,
    uid: int,
    gid: int,
    bytecode: Mapping[str, str] | None = None,
) -> LabelledLayer:
    """Install ``wheel`` (without its dependencies) into a layer written to ``directory``,
    with bytecode when ``bytecode`` (the environment to compile in) is given."""
    with tempfile.TemporaryDirectory(prefix="ocipush-app-") as staging:
        entries = install_wheels(
            [wheel], runtime, Path(staging), uid=uid, gid=gid, bytecode=bytecode
        )
        blob = build_layer(entries, directory, mtime=mtime)
    return LabelledLayer(blob, f"{wheel.name} for Python {runtime.version_text}")
