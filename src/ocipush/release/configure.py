"""A run's configuration, read once before anything is built or sent: the core keys, every
plugin's tables (``ocipush_configure``), plugins' own checks (``ocipush_validate``) and the
targets as this environment expands them. Every problem found is reported together, each
with its key path, as one :class:`~ocipush.errors.ConfigError` (exit status 2).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ocipush.errors import ConfigError, ConfigProblem, InvalidReferenceError
from ocipush.release.config import (
    Settings,
    check_owners,
    check_target_ref,
    ocipush_table,
    read_settings,
    static_metadata,
    target_key,
)
from ocipush.release.manager import PluginManager
from ocipush.release.project import Project, ProjectMetadata
from ocipush.release.reader import ConfigReader, quote
from ocipush.release.templates import PROBE_METADATA

__all__ = ["configure_run", "read_configuration"]


def read_configuration(
    table: Mapping[str, Any],
    manager: PluginManager,
    *,
    root: Path,
    metadata: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> tuple[Project, ConfigReader]:
    """Read ``[tool.ocipush]``: the core keys, then each plugin's tables in its
    ``ocipush_configure``, then which keys nobody owns; problems are recorded on the reader.

    :param metadata: the project's template variables, when ``[project]`` spells them out.
    :param overrides: :class:`Settings` fields the command line replaces.
    :return: the project as plugins see it while configuring (no distributions yet; name and
        version are stand-ins unless ``metadata`` is given), and the reader.
    """
    config = ConfigReader(table, metadata=metadata)
    settings = dataclasses.replace(read_settings(config), **(overrides or {}))
    known = metadata or PROBE_METADATA
    project = Project(
        root=root,
        metadata=ProjectMetadata(known["name"], known["version"]),
        settings=settings,
        environ=dict(environ or {}),
    )
    configured = manager.configure(project, config)
    check_owners(
        config,
        manager.table_owners(),
        disabled=manager.disabled_tables(),
        unavailable=manager.unavailable,
    )
    return dataclasses.replace(project, plugin_settings=configured), config


def configure_run(
    document: Mapping[str, Any],
    manager: PluginManager,
    *,
    root: Path,
    environ: Mapping[str, str],
    problems: Sequence[ConfigProblem] = (),
    overrides: Mapping[str, Any] | None = None,
    plugin_tables: Mapping[str, Any] | None = None,
) -> tuple[Settings, Mapping[str, object]]:
    """Read and check the whole configuration of a run.

    :param problems: found already (plugins that failed to load); reported first.
    :param overrides: :class:`Settings` fields the command line replaces.
    :param plugin_tables: plugin tables the command line replaces, whole.
    :return: the settings and what each plugin's ``ocipush_configure`` returned.
    :raises ConfigError: with every problem found.
    """
    source = str(root / "pyproject.toml")
    table = {**ocipush_table(document, source=source), **(plugin_tables or {})}
    found = list(problems)
    try:
        metadata = static_metadata(document)
    except ConfigError as error:
        found += error.problems
        metadata = None
    project, config = read_configuration(
        table, manager, root=root, metadata=metadata, environ=environ, overrides=overrides
    )
    found += config.problems
    found += _target_problems(project, found)
    found += manager.validate_problems(project)
    if found:
        raise ConfigError(found, source=source)
    return project.settings, project.plugin_settings


def _target_problems(project: Project, found: Sequence[ConfigProblem]) -> list[ConfigProblem]:
    """Each target expanded as this run will (``{env:VAR}`` from the environment), with
    the grammar of the result checked; a target with a problem found already is skipped."""
    problems: list[ConfigProblem] = []
    for config in project.settings.targets:
        path = project.settings.target_path(config)
        if any(p.path == path or p.path.startswith((f"{path}.", f"{path}[")) for p in found):
            continue
        ref_path = target_key(path, "ref")
        try:
            ref = project.expand_tag(config.ref, ref_path)
        except ConfigError as error:
            problems += error.problems
        else:
            problems += _ref_problems(config.ref, ref, ref_path)
        for index, tag in enumerate(config.tags):
            try:
                project.expand_tag(tag, f"{path}.tags[{index}]")
            except ConfigError as error:
                problems += error.problems
    return problems


def _ref_problems(template: str, ref: str, path: str) -> list[ConfigProblem]:
    try:
        check_target_ref(ref)
    except InvalidReferenceError as error:
        shown = (
            quote(template) if ref == template else f"{quote(template)} (expands to {quote(ref)})"
        )
        return [ConfigProblem(path, f"{shown} — {error.problem}")]
    return []
