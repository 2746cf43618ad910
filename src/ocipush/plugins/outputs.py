"""Built-in plugin ``outputs``: the machine-readable result file (``outputs.json``).

It owns the ``outputs`` table: ``json`` (where to write, a template) and ``allow-outside``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan, TargetResult
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader
from ocipush.release.sources import inside, outside_problem

NAME = "outputs"
_KEY = "tool.ocipush.outputs.json"


@dataclass(frozen=True)
class OutputsSettings:
    """``[tool.ocipush.outputs]``: ``json`` is a template, relative to the project root."""

    json: str | None = None
    allow_outside: bool = False


@hookimpl
def ocipush_configure(config: ConfigReader) -> OutputsSettings | None:
    table = config.table(NAME)
    if table is None:
        return None
    table.only_known(("json", "allow-outside"))
    return OutputsSettings(table.string("json"), table.boolean("allow-outside"))


def result_document(results: Sequence[TargetResult], project: Project) -> dict[str, object]:
    """What ``--json`` prints and ``outputs.json`` holds."""
    return {
        "project": project.metadata.name,
        "version": project.metadata.version,
        "targets": [result.to_json() for result in results],
    }


def output_path(project: Project) -> Path | None:
    """Where ``outputs.json`` goes, if configured (unchecked: see :func:`_checked_path`)."""
    settings = project.configured(NAME, OutputsSettings)
    if settings is None or settings.json is None:
        return None
    return project.root / project.expand(settings.json, _KEY)


def _checked_path(project: Project) -> Path | None:
    """Where ``outputs.json`` goes: inside the project root unless ``allow-outside``."""
    settings = project.configured(NAME, OutputsSettings)
    path = output_path(project)
    if path is None or settings is None or settings.allow_outside or inside(path, project.root):
        return path
    raise outside_problem(_KEY, str(settings.json), path, project.root)


@hookimpl
def ocipush_validate(project: Project) -> Sequence[ConfigProblem] | None:
    # Checked before anything is pushed, so a bad path never costs a release.
    try:
        _checked_path(project)
    except ConfigError as error:
        return error.problems
    return None


@hookimpl
def ocipush_modify_plan(plan: Plan, project: Project) -> Plan | None:
    path = _checked_path(project)
    if path is None or inside(path, project.root):
        return None
    note = f"{_KEY}: writes {path.resolve()}, outside the project root (allow-outside = true)"
    return dataclasses.replace(plan, notes=(*plan.notes, note))


@hookimpl
def ocipush_after_push(results: Sequence[TargetResult], project: Project) -> None:
    path = _checked_path(project)
    if path is None:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(result_document(results, project), indent=2) + "\n", encoding="utf-8"
    )
