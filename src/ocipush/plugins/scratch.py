"""Built-in plugin ``scratch``: an image of just the contributed layers, on no base.

Used when layers are contributed and no other plugin builds the image. Its platform is
``linux/amd64`` unless ``[tool.ocipush.scratch] platform = "os/arch[/variant]"`` says
otherwise; the plugin owns that table.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.layers import source_date_epoch
from ocipush.oci.model import Platform
from ocipush.release.hookspecs import hookimpl
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader, quote

NAME = "scratch"
DEFAULT_PLATFORM = Platform.parse("linux/amd64")


@hookimpl
def ocipush_configure(config: ConfigReader) -> Platform | None:
    """``[tool.ocipush.scratch]``: its only key is ``platform``."""
    table = config.table(NAME)
    if table is None:
        return None
    table.only_known(("platform",))
    text = table.string("platform")
    if text is None:
        return None
    try:
        return Platform.parse(text)
    except ValueError:
        table.report(
            "platform", f"{quote(text)} — expected os/architecture[/variant], e.g. linux/arm64"
        )
        return None


@hookimpl(trylast=True)
def ocipush_build_image(project: Project, layers: Sequence[Blob]) -> Taggable | None:
    if not layers:
        return None
    platform = project.configured(NAME, Platform) or DEFAULT_PLATFORM
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
