"""Built-in plugin ``files``: ``[[tool.ocipush.layers]]`` as reproducible tar+gzip layers."""

from __future__ import annotations

from ocipush.blobs import Blob
from ocipush.hookspecs import hookimpl
from ocipush.layers import build_layer, entries_from_directory, source_date_epoch
from ocipush.project import Project


@hookimpl
def ocipush_add_layers(project: Project) -> list[Blob]:
    mtime = source_date_epoch(dict(project.environ))
    layers: list[Blob] = []
    for config in project.settings.layers:
        entries = entries_from_directory(
            project.root / config.source,
            config.dest,
            include=config.include,
            exclude=config.exclude,
            file_mode=config.file_mode,
            dir_mode=config.dir_mode,
            uid=config.uid,
            gid=config.gid,
        )
        layers.append(build_layer(entries, project.cache_dir / "layers", mtime=mtime))
    return layers
