"""Built-in plugin ``files``: ``[[tool.ocipush.layers]]`` as reproducible tar+gzip layers.

What each layer takes is chosen by :mod:`ocipush.release.sources` (inside the project root, default
excludes and ``.gitignore`` applied); the plan lists it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from ocipush.oci.blobs import Blob
from ocipush.oci.layers import build_layer, entries_from_files, source_date_epoch
from ocipush.oci.layout import parse_layout_reference
from ocipush.release.config import LayerConfig
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan
from ocipush.release.project import Project
from ocipush.release.sources import Selection, select_files

#: Excluded paths a plan names before it only counts them (``-v`` lists them all).
LISTED_EXCLUDED = 5
_OUTPUTS = "tool.ocipush.outputs.json"


def _key(number: int) -> str:
    return f"tool.ocipush.layers[{number}]"


def _own_outputs(project: Project) -> list[Path]:
    """Where this run writes (distributions, layouts, the result file): never content."""
    outputs = [project.dist_dir]
    for number, target in enumerate(project.settings.targets):
        if target.is_layout:
            ref = project.expand(target.ref, f"tool.ocipush.targets[{number}].ref")
            outputs.append(project.root / parse_layout_reference(ref).path)
    if project.settings.outputs_json is not None:
        outputs.append(project.root / project.expand(project.settings.outputs_json, _OUTPUTS))
    return outputs


def _select(project: Project, config: LayerConfig, number: int) -> Selection:
    return select_files(
        project.root,
        config.source,
        key=_key(number),
        include=config.include,
        exclude=config.exclude,
        allow_outside=config.allow_outside,
        outputs=_own_outputs(project),
    )


@hookimpl
def ocipush_add_layers(project: Project) -> list[Blob]:
    mtime = source_date_epoch(dict(project.environ))
    layers: list[Blob] = []
    for number, config in enumerate(project.settings.layers):
        entries = entries_from_files(
            _select(project, config, number).files,
            config.dest,
            file_mode=config.file_mode,
            dir_mode=config.dir_mode,
            uid=config.uid,
            gid=config.gid,
        )
        layers.append(build_layer(entries, project.cache_dir / "layers", mtime=mtime))
    return layers


@hookimpl
def ocipush_modify_plan(plan: Plan, project: Project) -> Plan | None:
    """Say what each layer holds and what was left out by default."""
    notes: list[str] = []
    details: list[str] = []
    for number, config in enumerate(project.settings.layers):
        selection = _select(project, config, number)
        head = f"layer {_key(number)} ({config.source} -> {config.dest}):"
        notes.append(f"{head} {len(selection.files)} file(s)")
        if selection.outside is not None:
            notes.append(
                f"{head} takes files from {selection.outside}, outside the project root "
                "(allow-outside = true)"
            )
        excluded = selection.excluded
        if excluded:
            shown = ", ".join(excluded[:LISTED_EXCLUDED])
            more = len(excluded) - LISTED_EXCLUDED
            if more > 0:
                shown += f" and {more} more (ocipush plan -v lists them)"
            notes.append(f"{head} excluded by default or .gitignore: {shown}")
        details += [f"{head} holds {file.relative or config.source}" for file in selection.files]
        details += [f"{head} excluded {path}" for path in excluded]
    if not notes:
        return None
    return dataclasses.replace(plan, notes=(*plan.notes, *notes), details=(*plan.details, *details))
