"""Built-in plugin ``outputs``: the machine-readable result file (``outputs.json``)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan, TargetResult
from ocipush.release.project import Project
from ocipush.release.sources import inside, outside_problem

_KEY = "tool.ocipush.outputs.json"


def result_document(results: Sequence[TargetResult], project: Project) -> dict[str, object]:
    """What ``--json`` prints and ``outputs.json`` holds."""
    return {
        "project": project.metadata.name,
        "version": project.metadata.version,
        "targets": [result.to_json() for result in results],
    }


def _output_path(project: Project) -> Path | None:
    """Where ``outputs.json`` goes: inside the project root unless ``allow-outside``."""
    if project.settings.outputs_json is None:
        return None
    text = project.expand(project.settings.outputs_json, _KEY)
    path = project.root / text
    if not project.settings.outputs_allow_outside and not inside(path, project.root):
        raise outside_problem(_KEY, text, path, project.root)
    return path


@hookimpl
def ocipush_validate(project: Project) -> Sequence[ConfigProblem] | None:
    # Checked before anything is pushed, so a bad path never costs a release.
    try:
        _output_path(project)
    except ConfigError as error:
        return error.problems
    return None


@hookimpl
def ocipush_modify_plan(plan: Plan, project: Project) -> Plan | None:
    path = _output_path(project)
    if path is None or inside(path, project.root):
        return None
    note = f"{_KEY}: writes {path.resolve()}, outside the project root (allow-outside = true)"
    return dataclasses.replace(plan, notes=(*plan.notes, note))


@hookimpl
def ocipush_after_push(results: Sequence[TargetResult], project: Project) -> None:
    path = _output_path(project)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(result_document(results, project), indent=2) + "\n", encoding="utf-8"
    )
