"""The core's part of ``[tool.ocipush]``: loading ``pyproject.toml``, the core keys and
which plugin owns every other table.

The core reads ``backend``, ``plugins``, ``jobs``, ``allow-nondistributable-artifacts`` and
``targets``; every other key is a table owned by a plugin (``[[tool.ocipush.layers]]`` by
``files``, ``[tool.ocipush.image]`` by ``image``…), which reads it in ``ocipush_configure``
with the same :class:`~ocipush.release.reader.ConfigReader`. A table nobody owns is an
unknown key; a table whose plugin is disabled says so.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ocipush.errors import ConfigError, ConfigProblem, InvalidReferenceError, LayoutError
from ocipush.oci.archives import (
    DOCKER_ARCHIVE_PREFIX,
    OCI_ARCHIVE_PREFIX,
    docker_name,
    parse_archive_reference,
)
from ocipush.oci.daemon import DAEMON_PREFIX
from ocipush.oci.layout import is_layout_reference, parse_layout_reference
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.reference import TAG_PROBLEM, is_valid_tag, parse_reference
from ocipush.release.reader import ROOT, ConfigReader, quote, type_name, unknown_key
from ocipush.release.templates import project_variables

if sys.version_info >= (3, 11):
    import tomllib
else:
    # tomli is installed only on 3.10; mypy targets 3.10 but may run where it is absent.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "CORE_KEYS",
    "DEFAULT_BACKEND",
    "DEFAULT_JOBS",
    "DEFAULT_TARGET",
    "MAX_JOBS",
    "Settings",
    "TargetConfig",
    "check_owners",
    "check_tag",
    "check_target_ref",
    "load_settings",
    "ocipush_table",
    "parse_settings",
    "read_pyproject",
    "read_settings",
    "static_metadata",
    "target_key",
]

DEFAULT_BACKEND = "setuptools.build_meta"
#: Concurrent uploads: enough to hide latency, few enough that registries do not throttle.
DEFAULT_JOBS = 4
#: Parallel uploads at most: more only adds connections a registry will throttle.
MAX_JOBS = 64
#: The keys of ``[tool.ocipush]`` the core reads; every other key belongs to a plugin.
CORE_KEYS = ("backend", "plugins", "jobs", "allow-nondistributable-artifacts", "targets")


@dataclass(frozen=True)
class TargetConfig:
    """Where images go. ``ref`` and ``tags`` are templates.

    :ivar ref: a registry reference, or ``oci:PATH[:TAG]`` for an image layout directory.
    :ivar tags: more tags to apply to what is pushed to ``ref``.
    :ivar insecure: whether plain http may be used with this registry.
    """

    ref: str
    tags: tuple[str, ...] = ()
    insecure: bool = False

    @property
    def is_layout(self) -> bool:
        return is_layout_reference(self.ref)

    @property
    def is_local(self) -> bool:
        """A layout, an archive or a local engine: what ``ocipush build`` writes."""
        return is_local_reference(self.ref)


DEFAULT_TARGET = TargetConfig("oci:dist/oci")


@dataclass(frozen=True)
class Settings:
    """The core keys of ``[tool.ocipush]``, validated. ``Settings()`` is what an absent
    table means.

    :ivar plugin_tables: every other key's value, as written, by key: the tables plugins
        own (each plugin reads and checks its own in ``ocipush_configure``).
    :ivar targets_overridden: whether ``targets`` came from the command line (``--target``).
    """

    backend: str = DEFAULT_BACKEND
    plugins: tuple[str, ...] = ()
    jobs: int = DEFAULT_JOBS
    allow_nondistributable_artifacts: bool = False
    targets: tuple[TargetConfig, ...] = (DEFAULT_TARGET,)
    plugin_tables: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    targets_overridden: bool = False

    def target_path(self, config: TargetConfig) -> str:
        """Where ``config`` came from, for messages: its ``[[tool.ocipush.targets]]`` entry,
        or the ``--target`` option."""
        if not self.targets_overridden and config in self.targets:
            return f"{ROOT}.targets[{self.targets.index(config)}]"
        return f"--target {config.ref}"


def target_key(path: str, key: str) -> str:
    """The path of ``key`` of the target at ``path`` (a ``--target`` has no keys)."""
    return path if path.startswith("--") else f"{path}.{key}"


# --- grammar of single values ----------------------------------------------------------------


def check_tag(tag: str) -> None:
    """:raises InvalidReferenceError: if ``tag`` is not a valid tag."""
    if not is_valid_tag(tag):
        raise InvalidReferenceError(tag, TAG_PROBLEM)


def check_target_ref(text: str) -> None:
    """Check an expanded target ``ref`` of any kind (registry, layout, archive, engine).

    :raises InvalidReferenceError: saying what is wrong with it.
    """
    if text.startswith((DOCKER_ARCHIVE_PREFIX, DAEMON_PREFIX)):
        try:
            if text.startswith(DAEMON_PREFIX):
                docker_name(text[len(DAEMON_PREFIX) :], text)
            else:
                parse_archive_reference(text)
        except LayoutError as exc:
            raise InvalidReferenceError(text, str(exc)) from None
        return
    if text.startswith(OCI_ARCHIVE_PREFIX):
        text = "oci:" + text[len(OCI_ARCHIVE_PREFIX) :]
    if not is_layout_reference(text):
        parse_reference(text)
        return
    # An empty path, an invalid tag or a digest: the layout parser names each.
    parse_layout_reference(text)


def _is_module_path(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _is_backend(text: str) -> bool:
    module, colon, attribute = text.partition(":")
    return _is_module_path(module) and (not colon or _is_module_path(attribute))


# --- the core keys ---------------------------------------------------------------------------


def _read_target(entry: ConfigReader) -> TargetConfig:
    entry.only_known(("ref", "tags", "insecure"))
    ref = entry.string(
        "ref",
        required='a registry reference such as "ghcr.io/acme/{name}:{version}", '
        'or "oci:PATH[:TAG]" for an image layout (also "oci-archive:PATH[:TAG]", '
        '"docker-archive:PATH[:NAME:TAG]", "docker-daemon:NAME[:TAG]")',
    )
    if ref is not None:
        entry.expanded(ref, entry.key_path("ref"), check_target_ref, tag=True)
    tags = entry.strings("tags", each=lambda tag, at: entry.expanded(tag, at, check_tag, tag=True))
    insecure = entry.boolean("insecure")
    if insecure and ref is not None and is_local_reference(ref):
        entry.report(
            "insecure",
            f'true — an "{ref.partition(":")[0]}:" target is on this machine, so insecure '
            "does not apply; remove it",
        )
    return TargetConfig(ref or "", tags or (), insecure)


def _read_targets(config: ConfigReader) -> tuple[TargetConfig, ...] | None:
    """The configured targets, or ``None`` when none are (so the default applies)."""
    entries = config.tables("targets")
    if entries is None:
        return None
    if not entries and not config.raw("targets"):
        path = config.key_path("targets")
        config.report(
            "targets",
            f"empty array — add a [[{path}]] table, or remove the key "
            f"to push to {quote(DEFAULT_TARGET.ref)}",
        )
    return tuple(_read_target(entry) for entry in entries)


def read_settings(config: ConfigReader) -> Settings:
    """Read the core keys of ``[tool.ocipush]``, recording problems on ``config``; every
    other key is kept, unread, in :attr:`Settings.plugin_tables`."""
    backend = config.string("backend")
    if backend is not None and not _is_backend(backend):
        config.report(
            "backend",
            f"{quote(backend)} — a build backend is a module path, optionally followed by "
            '":object", such as "hatchling.build"',
        )

    def check_plugin(module: str, path: str) -> None:
        if not _is_module_path(module):
            config.report_at(
                path,
                f"{quote(module)} — a plugin is a module importable from the project root, "
                'such as "ci.oci_hooks"',
            )

    plugins = config.strings("plugins", each=check_plugin)
    jobs = config.integer("jobs", minimum=1, maximum=MAX_JOBS)
    targets = _read_targets(config)
    return Settings(
        backend=backend or DEFAULT_BACKEND,
        plugins=plugins or (),
        jobs=jobs or DEFAULT_JOBS,
        allow_nondistributable_artifacts=config.boolean("allow-nondistributable-artifacts"),
        targets=(DEFAULT_TARGET,) if targets is None else targets,
        plugin_tables=MappingProxyType(
            {key: config.raw(key) for key in config if key not in CORE_KEYS}
        ),
    )


def check_owners(
    config: ConfigReader,
    owners: Mapping[str, str],
    *,
    disabled: Mapping[str, str] = MappingProxyType({}),
    unavailable: Collection[str] = (),
) -> None:
    """Report every key of ``[tool.ocipush]`` that neither the core nor a plugin owns.

    :param owners: the tables of the plugins of this run, each with its plugin's name.
    :param disabled: the tables of plugins disabled with ``-p no:NAME``, likewise.
    :param unavailable: tables whose plugin failed to load (already reported).
    """
    known = [*CORE_KEYS, *owners]
    for key in config:
        if key in CORE_KEYS or key in owners or key in unavailable:
            continue
        if key in disabled:
            plugin = disabled[key]
            config.report(
                key,
                f"table {config.key_path(key)} belongs to plugin {plugin!r}, which is "
                f"disabled (-p no:{plugin}); remove the table or enable the plugin",
            )
            continue
        hint = (
            "; a plugin's table needs the plugin installed or listed in tool.ocipush.plugins"
            if isinstance(config.raw(key), Mapping)
            else ""
        )
        config.report(key, unknown_key(key, known, hint=hint))


def parse_settings(
    table: Mapping[str, Any],
    *,
    plugin_names: Collection[str] = (),
    source: str = "pyproject.toml",
    metadata: Mapping[str, str] | None = None,
) -> Settings:
    """Validate the core keys of a ``[tool.ocipush]`` table, with the tables of
    ``plugin_names`` (each named after its plugin) left to them.

    :param source: where ``table`` came from, for the error message.
    :param metadata: :func:`ocipush.release.templates.project_variables` to check templates
        with, when the project's name and version are known; otherwise stand-ins are used.
    :raises ConfigError: listing every problem found.
    """
    config = ConfigReader(table, metadata=metadata)
    settings = read_settings(config)
    check_owners(config, {name: name for name in plugin_names})
    config.raise_problems(source=source)
    return settings


# --- loading ---------------------------------------------------------------------------------

_PYPROJECT = "pyproject.toml"
_TOML_LOCATION = re.compile(
    r"(?P<reason>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)",
    re.DOTALL,
)


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    """The whole ``pyproject.toml`` of ``project_dir``, unvalidated.

    :raises ConfigError: if the file is missing or not TOML, with the position.
    """
    file = project_dir / _PYPROJECT
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    file.name,
                    "no such file — run ocipush in the project's directory, "
                    "or name it with --project DIR",
                )
            ],
            source=str(file.parent),
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(file.name, f"cannot be read — {exc.strerror}")],
            source=str(file.parent),
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(f"byte {exc.start}", "not UTF-8 — TOML files must be UTF-8 encoded")],
            source=str(file),
        ) from exc
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        located = _TOML_LOCATION.fullmatch(str(exc))
        if located is None:
            where, reason = "syntax", str(exc)
        else:
            line, column = located.group("line", "column")
            where = f"line {line}, column {column}" if line else "end of file"
            reason = located.group("reason")
        reason = reason[:1].lower() + reason[1:]
        raise ConfigError(
            [ConfigProblem(where, f"invalid TOML: {reason}")], source=str(file)
        ) from exc
    return document


def static_metadata(document: Mapping[str, Any]) -> dict[str, str] | None:
    """Template variables from ``[project]``, if its name and version are written there.

    :raises ConfigError: if the version written there is not a PEP 440 version.
    """
    project = document.get("project")
    if not isinstance(project, Mapping):
        return None
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    return project_variables(name, version)


def ocipush_table(document: Mapping[str, Any], *, source: str = _PYPROJECT) -> Mapping[str, Any]:
    """``[tool.ocipush]`` of an already read ``pyproject.toml``; empty when absent.

    :raises ConfigError: if ``tool`` or ``tool.ocipush`` is not a table.
    """
    tool = document.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(
            [ConfigProblem("tool", f"expected a table, got {type_name(tool)}")], source=source
        )
    table = tool.get("ocipush", {})
    if not isinstance(table, Mapping):
        raise ConfigError(
            [ConfigProblem(ROOT, f"expected a table, got {type_name(table)}")], source=source
        )
    return table


def load_settings(project_dir: Path, *, plugin_names: Collection[str] = ()) -> Settings:
    """Read and validate the core keys of ``[tool.ocipush]`` in
    ``project_dir/pyproject.toml``; without that table, every setting has its default.

    :param plugin_names: plugins that may own a sub-table named after them.
    :raises ConfigError: if the file is missing or not TOML, or listing every invalid setting.
    """
    source = str(project_dir / _PYPROJECT)
    document = read_pyproject(project_dir)
    table = ocipush_table(document, source=source)
    try:
        metadata = static_metadata(document)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source=source) from None
    return parse_settings(table, plugin_names=plugin_names, source=source, metadata=metadata)
