"""ocipush plugin ``motd``: adds ``/etc/motd`` to the project's image.

Configured by an optional ``[tool.ocipush.motd]`` table::

    [tool.ocipush.motd]
    message = "Welcome to {name} {version}"   # templates as elsewhere in [tool.ocipush]
    mode = "0644"                             # octal permission bits

Without the table the message is ``"{name} {version}"``.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from ocipush import hookimpl
from ocipush.oci.blobs import Blob
from ocipush.oci.layers import LayerEntry, build_layer, source_date_epoch
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader

NAME = "motd"
DEFAULT_MESSAGE = "{name} {version}"


@dataclass(frozen=True)
class MotdSettings:
    message: str = DEFAULT_MESSAGE
    mode: int = 0o644


@hookimpl
def ocipush_configure(config: ConfigReader) -> MotdSettings:
    """Read ``[tool.ocipush.motd]`` with ocipush's config reader: its problems are reported
    with the core's, each with its key path."""
    table = config.table(NAME)
    if table is None:
        return MotdSettings()
    table.only_known(("message", "mode"))
    message = table.string("message")
    if message is not None:
        table.template(message, table.key_path("message"))
    mode = table.mode("mode")
    return MotdSettings(
        message=message or DEFAULT_MESSAGE,
        mode=MotdSettings.mode if mode is None else mode,
    )


@hookimpl
def ocipush_add_layers(project: Project) -> list[Blob]:
    settings = project.configured(NAME, MotdSettings) or MotdSettings()
    message = project.expand(settings.message, f"tool.ocipush.{NAME}.message")
    with tempfile.TemporaryDirectory(prefix="ocipush-motd-") as scratch:
        source = Path(scratch) / "motd"
        source.write_text(message.rstrip("\n") + "\n", encoding="utf-8")
        entries = [
            LayerEntry("/etc", None, 0o755),
            LayerEntry("/etc/motd", source, settings.mode),
        ]
        # The layer file is kept in ocipush's cache, named by its digest.
        layer = build_layer(
            entries,
            project.cache_dir / "layers",
            mtime=source_date_epoch(dict(project.environ)),
        )
    return [layer]
