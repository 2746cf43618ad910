"""Built-in plugin ``scratch``: an image of just the contributed layers, on no base.

Used when layers are contributed and no other plugin builds the image. Its platform is
``linux/amd64`` unless ``[tool.ocipush.scratch] platform = "os/arch[/variant]"`` says otherwise.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from ocipush.errors import ConfigProblem
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.layers import source_date_epoch
from ocipush.oci.model import Platform
from ocipush.release.hookspecs import hookimpl
from ocipush.release.project import Project

NAME = "scratch"
DEFAULT_PLATFORM = "linux/amd64"


def _platform(project: Project) -> Platform:
    table = project.settings.plugin_tables.get(NAME, {})
    return Platform.parse(str(table.get("platform", DEFAULT_PLATFORM)))


@hookimpl
def ocipush_validate(project: Project) -> list[ConfigProblem]:
    table = project.settings.plugin_tables.get(NAME)
    if table is None:
        return []
    problems = [
        ConfigProblem(f"tool.ocipush.{NAME}.{key}", 'unknown key — the only key is "platform"')
        for key in table
        if key != "platform"
    ]
    value = table.get("platform", DEFAULT_PLATFORM)
    try:
        Platform.parse(value if isinstance(value, str) else "")
    except ValueError:
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{NAME}.platform",
                f"{json.dumps(value)} — expected os/architecture[/variant], e.g. linux/arm64",
            )
        )
    return problems


@hookimpl(trylast=True)
def ocipush_build_image(project: Project, layers: Sequence[Blob]) -> Taggable | None:
    if not layers:
        return None
    platform = _platform(project)
    created = datetime.fromtimestamp(source_date_epoch(dict(project.environ)), tz=timezone.utc)
    config = {
        "created": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "architecture": platform.architecture,
        "os": platform.os,
        **({"variant": platform.variant} if platform.variant else {}),
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in layers]},
        "history": [{"created": created.strftime("%Y-%m-%dT%H:%M:%SZ"), "created_by": "ocipush"}]
        * len(layers),
    }
    blob = BytesBlob(
        json.dumps(config, sort_keys=True, separators=(",", ":")).encode(), mt.OCI_CONFIG
    )
    return Image(layers=layers, config=blob, platform=platform)
