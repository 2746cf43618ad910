"""Built-in plugin ``outputs``: the machine-readable result file (``outputs.json``)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from ocipush.hookspecs import hookimpl
from ocipush.plan import TargetResult
from ocipush.project import Project


def result_document(results: Sequence[TargetResult], project: Project) -> dict[str, object]:
    """What ``--json`` prints and ``outputs.json`` holds."""
    return {
        "project": project.metadata.name,
        "version": project.metadata.version,
        "targets": [result.to_json() for result in results],
    }


@hookimpl
def ocipush_after_push(results: Sequence[TargetResult], project: Project) -> None:
    if project.settings.outputs_json is None:
        return
    path = project.root / project.expand(project.settings.outputs_json, "tool.ocipush.outputs.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(result_document(results, project), indent=2) + "\n", encoding="utf-8"
    )
