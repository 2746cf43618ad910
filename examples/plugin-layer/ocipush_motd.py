"""ocipush plugin ``motd``: adds ``/etc/motd`` to the project's image.

Configured by an optional ``[tool.ocipush.motd]`` table::

    [tool.ocipush.motd]
    message = "Welcome to {name} {version}"   # templates as elsewhere in [tool.ocipush]
    mode = "0644"                             # octal permission bits

Without the table the message is ``"{name} {version}"``.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ocipush import hookimpl
from ocipush.errors import ConfigProblem
from ocipush.oci.blobs import Blob
from ocipush.oci.layers import LayerEntry, build_layer, source_date_epoch
from ocipush.release.project import Project

NAME = "motd"
DEFAULT_MESSAGE = "{name} {version}"
DEFAULT_MODE = "0644"
_KEYS = ("message", "mode")
_MODE = re.compile(r"0?[0-7]{3}")


def _table(project: Project) -> Mapping[str, Any]:
    return project.settings.plugin_tables.get(NAME, {})


@hookimpl
def ocipush_validate(project: Project) -> list[ConfigProblem]:
    table = _table(project)
    path = f"tool.ocipush.{NAME}"
    problems = [
        ConfigProblem(f"{path}.{key}", 'unknown key — the keys are "message" and "mode"')
        for key in table
        if key not in _KEYS
    ]
    message = table.get("message", DEFAULT_MESSAGE)
    if not isinstance(message, str) or not message.strip():
        problems.append(
            ConfigProblem(f"{path}.message", f"{json.dumps(message)} — expected a non-empty string")
        )
    mode = table.get("mode", DEFAULT_MODE)
    if not isinstance(mode, str) or not _MODE.fullmatch(mode):
        problems.append(
            ConfigProblem(f"{path}.mode", f'{json.dumps(mode)} — expected octal bits like "0644"')
        )
    return problems


@hookimpl
def ocipush_add_layers(project: Project) -> list[Blob]:
    table = _table(project)
    message = project.expand(str(table.get("message", DEFAULT_MESSAGE)), f"tool.ocipush.{NAME}")
    mode = int(str(table.get("mode", DEFAULT_MODE)), 8)
    with tempfile.TemporaryDirectory(prefix="ocipush-motd-") as scratch:
        source = Path(scratch) / "motd"
        source.write_text(message.rstrip("\n") + "\n", encoding="utf-8")
        entries = [LayerEntry("/etc", None, 0o755), LayerEntry("/etc/motd", source, mode)]
        # The layer file is kept in ocipush's cache, named by its digest.
        layer = build_layer(
            entries,
            project.cache_dir / "layers",
            mtime=source_date_epoch(dict(project.environ)),
        )
    return [layer]
