"""The project being published: its identity, settings, and the distributions of this run.

Plugins receive a :class:`Project`; it is everything they may know about the release
without reaching into ``pyproject.toml`` themselves.
"""

from __future__ import annotations

import configparser
import email.parser
import logging
import os
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol, TypeVar, runtime_checkable

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.registry.keychain import DefaultKeychain
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.release.config import Settings, ocipush_table, read_pyproject, read_settings
from ocipush.release.distributions import BuildOptions, Distribution, ReleaseBuilder, release_files
from ocipush.release.reader import ConfigReader
from ocipush.release.templates import (
    expand_template,
    project_variables,
    tag_variables,
    template_placeholders,
)
from ocipush.release.versions import SkippedTag, parse_version, skip_reason

log = logging.getLogger(__name__)

__all__ = [
    "NeedsDistributions",
    "Project",
    "ProjectMetadata",
    "load_project",
    "metadata_from_dist_info",
    "metadata_from_wheel",
]

#: What setuptools reports when it finds no version.
_UNKNOWN_VERSION = "0.0.0"

_T = TypeVar("_T")


@runtime_checkable
class NeedsDistributions(Protocol):
    """What a plugin's settings (returned from ``ocipush_configure``) implement when the
    plugin publishes this release's wheel or sdist, so that the run builds them."""

    def needed_distributions(self) -> frozenset[Distribution]: ...


@dataclass(frozen=True)
class ProjectMetadata:
    """Core metadata of the project (PEP 621 / core metadata fields ocipush uses)."""

    name: str
    version: str
    summary: str = ""
    license: str = ""
    urls: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    scripts: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Project:
    """A project on its way to a registry.

    :ivar root: the directory holding ``pyproject.toml``.
    :ivar metadata: name, version and the rest.
    :ivar settings: the core keys of ``[tool.ocipush]``, validated, and the plugins' tables.
    :ivar plugin_settings: what each plugin's ``ocipush_configure`` returned, by plugin name.
    :ivar distributions: the wheel and sdist built in this run (or found in ``dist/``).
    :ivar output_dir: where built files go (``dist/`` by default).
    :ivar environ: the environment templates read ``{env:VAR}`` from.
    :ivar connection: how to reach registries (credentials, TLS, plain http, timeouts).
    :ivar file_media_type: the media type plugins give a file (see ``ocipush_file_media_type``).
    """

    root: Path
    metadata: ProjectMetadata
    settings: Settings
    plugin_settings: Mapping[str, object] = field(default_factory=lambda: MappingProxyType({}))
    distributions: tuple[Path, ...] = ()
    output_dir: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    connection: ConnectionOptions = field(
        default_factory=lambda: ConnectionOptions(keychain=DefaultKeychain()), repr=False
    )
    file_media_type: Callable[[Path], str] = field(
        default=lambda _path: "application/octet-stream", compare=False, repr=False
    )

    def configured(self, plugin: str, kind: type[_T]) -> _T | None:
        """What ``plugin``'s ``ocipush_configure`` returned, if it is a ``kind``."""
        found = self.plugin_settings.get(plugin)
        return found if isinstance(found, kind) else None

    @property
    def wheel(self) -> Path | None:
        return next((d for d in self.distributions if d.suffix == ".whl"), None)

    @property
    def sdist(self) -> Path | None:
        return next((d for d in self.distributions if d.name.endswith(".tar.gz")), None)

    @property
    def variables(self) -> dict[str, str]:
        """Template variables: name, version, major, minor, micro, and wheel/sdist paths."""
        variables = project_variables(self.metadata.name, self.metadata.version)
        if self.wheel is not None:
            variables["wheel"] = str(self.wheel)
        if self.sdist is not None:
            variables["sdist"] = str(self.sdist)
        return variables

    def expand(self, template: str, path: str) -> str:
        """Expand a config template; ``path`` is its key path, for errors."""
        return expand_template(template, self.variables, environ=self.environ, path=path)

    def expand_tag(self, template: str, path: str) -> str:
        """Expand a template that makes a tag or a reference: ``{version}`` is spelt as
        tags allow (``1.0+abc`` gives ``1.0-abc``)."""
        return expand_template(
            template, tag_variables(self.variables), environ=self.environ, path=path
        )

    def release_tags(
        self, tags: Iterable[tuple[str, str]]
    ) -> tuple[tuple[str, ...], tuple[SkippedTag, ...]]:
        """Split expanded tags into those this version may move and those it may not.

        :param tags: pairs of (expanded tag, the template it came from).
        :return: the tags to push, in order and without repeats, and the skipped ones
            with their reasons (see :mod:`ocipush.release.versions`).
        """
        version = parse_version(self.metadata.version)
        kept: list[str] = []
        skipped: list[SkippedTag] = []
        for tag, template in tags:
            reason = skip_reason(version, template_placeholders(template), tag)
            if reason is not None:
                skipped.append(SkippedTag(tag, reason))
            elif tag not in kept:
                kept.append(tag)
        return tuple(kept), tuple(skipped)

    @property
    def dist_dir(self) -> Path:
        return self.output_dir or self.root / "dist"

    def transport(self, *, insecure: Iterable[str] = ()) -> Transport:
        """A transport to registries with the run's connection options."""
        return self.connection.transport(jobs=self.settings.jobs, insecure=insecure)

    @property
    def cache_dir(self) -> Path:
        """Where generated layers are kept between runs (``build/ocipush``)."""
        return self.root / "build" / "ocipush"


def _metadata_from_table(project: Mapping[str, Any]) -> ProjectMetadata | None:
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    license_value = project.get("license")
    if isinstance(license_value, dict):
        license_value = license_value.get("text", "")
    urls = project.get("urls")
    scripts = project.get("scripts")
    description = project.get("description")
    return ProjectMetadata(
        name=name,
        version=version,
        summary=description if isinstance(description, str) else "",
        license=license_value if isinstance(license_value, str) else "",
        urls=dict(urls) if isinstance(urls, dict) else {},
        scripts=dict(scripts) if isinstance(scripts, dict) else {},
    )


def metadata_from_core(text: str, scripts: Mapping[str, str] | None = None) -> ProjectMetadata:
    """Parse a core metadata file (``METADATA`` / ``PKG-INFO``)."""
    message = email.parser.Parser().parsestr(text)
    urls = {}
    for entry in message.get_all("Project-URL") or []:
        label, _, url = entry.partition(",")
        urls[label.strip()] = url.strip()
    return ProjectMetadata(
        name=message.get("Name", ""),
        version=message.get("Version", ""),
        summary=message.get("Summary", "") or "",
        license=message.get("License-Expression") or message.get("License") or "",
        urls=urls,
        scripts=dict(scripts or {}),
    )


def metadata_from_dist_info(directory: Path) -> ProjectMetadata:
    """Core metadata and console scripts from a ``.dist-info`` directory."""
    text = (directory / "METADATA").read_text(encoding="utf-8")
    entry_points = directory / "entry_points.txt"
    scripts = (
        _console_scripts(entry_points.read_text(encoding="utf-8")) if entry_points.is_file() else {}
    )
    return metadata_from_core(text, scripts)


def _console_scripts(entry_points: str) -> dict[str, str]:
    """The ``console_scripts`` of an ``entry_points.txt``."""
    parser = configparser.ConfigParser(delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment, method-assign]
    parser.read_string(entry_points)
    return dict(parser["console_scripts"]) if parser.has_section("console_scripts") else {}


def metadata_from_wheel(wheel: Path) -> ProjectMetadata:
    """Core metadata and console scripts read from a built wheel."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        text = archive.read(f"{dist_info}/METADATA").decode("utf-8")
        entry_points = f"{dist_info}/entry_points.txt"
        scripts = (
            _console_scripts(archive.read(entry_points).decode("utf-8"))
            if entry_points in names
            else {}
        )
    return metadata_from_core(text, scripts)


def _declared_metadata(root: Path, table: Mapping[str, Any]) -> ProjectMetadata | None:
    """The metadata ``[project]`` spells out, or ``None`` when its backend decides."""
    project = table.get("project")
    if not isinstance(project, dict):
        raise ConfigError(
            [ConfigProblem("project", "missing — ocipush needs the project's name and version")],
            source=str(root / "pyproject.toml"),
        )
    return _metadata_from_table(project)


def _reported_metadata(root: Path, builder: ReleaseBuilder) -> ProjectMetadata:
    """Metadata from the backend (PEP 517 ``prepare_metadata_for_build_wheel``)."""
    metadata = metadata_from_dist_info(builder.metadata())
    if metadata.version in ("", _UNKNOWN_VERSION):
        # setuptools reports 0.0.0 when it finds no version: never publish that by accident.
        raise ConfigError(
            [
                ConfigProblem(
                    "project.version",
                    f"the build backend reported version {metadata.version or '(none)'!r} "
                    "for a version marked dynamic; configure where it comes from (e.g. "
                    "[tool.hatch.version] path, [tool.setuptools.dynamic] version, or "
                    "setuptools-scm with a git tag), or set [project] version",
                )
            ],
            source=str(root / "pyproject.toml"),
        )
    return metadata


def needed_distributions(plugin_settings: Mapping[str, object]) -> frozenset[Distribution]:
    """The distributions the configured plugins publish (see :class:`NeedsDistributions`)."""
    needed: set[Distribution] = set()
    for settings in plugin_settings.values():
        if isinstance(settings, NeedsDistributions):
            needed |= settings.needed_distributions()
    return frozenset(needed)


def load_project(
    root: Path,
    *,
    settings: Settings | None = None,
    plugin_settings: Mapping[str, object] | None = None,
    distributions: tuple[Path, ...] | None = None,
    output_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    document: Mapping[str, Any] | None = None,
    build: BuildOptions | None = None,
    report: Callable[[str], None] = log.info,
) -> Project:
    """Read ``root/pyproject.toml``: settings, metadata, and the distributions to publish.

    :param document: the file's contents, when the caller has read it already.
    :param settings: the validated settings; by default the core keys are read here.
    :param plugin_settings: what the plugins' ``ocipush_configure`` returned: it says which
        distributions the run needs.
    :param distributions: the files built in this run (by the build backend wrapper); the
        metadata is then the wheel's.
    :param build: how to get this release's distributions when ``distributions`` is not
        given (see :mod:`ocipush.release.distributions`); ``None`` takes what ``dist/`` holds.
    :param report: where to say what is being built or reused.
    """
    table = read_pyproject(root) if document is None else document
    source = str(root / "pyproject.toml")
    if settings is None:
        config = ConfigReader(ocipush_table(table, source=source))
        settings = read_settings(config)
        config.raise_problems(source=source)
    plugin_settings = MappingProxyType(dict(plugin_settings or {}))
    out = output_dir or root / "dist"
    wheel = next((d for d in distributions or () if d.suffix == ".whl"), None)
    if distributions is not None and wheel is not None:
        # Handed the wheel just built (the build backend wrapper): it is the release.
        metadata = metadata_from_wheel(wheel)
    else:
        options = build or BuildOptions(build=False)
        with ReleaseBuilder(root, isolation=options.isolation, report=report) as builder:
            metadata = _declared_metadata(root, table) or _reported_metadata(root, builder)
            if distributions is None:
                distributions = release_files(
                    builder,
                    out,
                    needed_distributions(plugin_settings),
                    name=metadata.name,
                    version=metadata.version,
                    options=build,
                    report=report,
                )
    return Project(
        root=root,
        metadata=metadata,
        settings=settings,
        plugin_settings=plugin_settings,
        distributions=distributions,
        output_dir=out,
        environ=dict(os.environ if environ is None else environ),
    )
