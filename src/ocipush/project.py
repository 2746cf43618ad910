"""The project being published: its identity, settings, and the distributions of this run.

Plugins receive a :class:`Project`; it is everything they may know about the release
without reaching into ``pyproject.toml`` themselves.
"""

from __future__ import annotations

import configparser
import email.parser
import os
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from ocipush.config import (
    Settings,
    canonical_name,
    expand_template,
    project_variables,
    read_pyproject,
    settings_from_document,
)
from ocipush.errors import ConfigError, ConfigProblem, OcipushError
from ocipush.keychain import DefaultKeychain
from ocipush.transport import ConnectionOptions, Transport

__all__ = [
    "Project",
    "ProjectMetadata",
    "find_distributions",
    "load_metadata",
    "load_project",
    "metadata_from_wheel",
]

#: Seconds a backend may take to report dynamic metadata.
_METADATA_TIMEOUT = 300


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
    :ivar settings: the validated ``[tool.ocipush]`` table.
    :ivar distributions: the wheel and sdist built in this run (or found in ``dist/``).
    :ivar output_dir: where built files go (``dist/`` by default).
    :ivar environ: the environment templates read ``{env:VAR}`` from.
    :ivar connection: how to reach registries (credentials, TLS, plain http, timeouts).
    :ivar file_media_type: the media type plugins give a file (see ``ocipush_file_media_type``).
    """

    root: Path
    metadata: ProjectMetadata
    settings: Settings
    distributions: tuple[Path, ...] = ()
    output_dir: Path | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ), repr=False)
    connection: ConnectionOptions = field(
        default_factory=lambda: ConnectionOptions(keychain=DefaultKeychain()), repr=False
    )
    file_media_type: Callable[[Path], str] = field(
        default=lambda _path: "application/octet-stream", compare=False, repr=False
    )

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


def _dynamic_metadata(root: Path, backend: str) -> ProjectMetadata:
    """Ask the project's real backend for its metadata, as a build frontend would."""
    module, _, attribute = backend.partition(":")
    script = (
        "import importlib, sys\n"
        f"backend = importlib.import_module({module!r})\n"
        + (f"backend = getattr(backend, {attribute!r})\n" if attribute else "")
        + "print(backend.prepare_metadata_for_build_wheel(sys.argv[1]))\n"
    )
    with tempfile.TemporaryDirectory(prefix="ocipush-metadata-") as out:
        try:
            completed = subprocess.run(
                [sys.executable, "-c", script, out],
                cwd=root,
                capture_output=True,
                text=True,
                timeout=_METADATA_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OcipushError(
                f"{root}: backend {backend} took over {_METADATA_TIMEOUT}s to report metadata"
            ) from None
        if completed.returncode != 0:
            tail = completed.stderr.strip().splitlines()[-5:]
            raise OcipushError(
                f"{root}: backend {backend} could not report the project's metadata "
                "(needed for a dynamic name or version):\n  " + "\n  ".join(tail)
            )
        dist_info = Path(out) / completed.stdout.strip().splitlines()[-1]
        text = (dist_info / "METADATA").read_text(encoding="utf-8")
        entry_points = dist_info / "entry_points.txt"
        scripts = (
            _console_scripts(entry_points.read_text(encoding="utf-8"))
            if entry_points.is_file()
            else {}
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


def load_metadata(root: Path, settings: Settings, table: Mapping[str, Any]) -> ProjectMetadata:
    """The project's metadata: static from ``[project]``, else from its backend."""
    project = table.get("project")
    if isinstance(project, dict):
        static = _metadata_from_table(project)
        if static is not None:
            return static
    else:
        raise ConfigError(
            [ConfigProblem("project", "missing — ocipush needs the project's name and version")],
            source=str(root / "pyproject.toml"),
        )
    return _dynamic_metadata(root, settings.backend)


def find_distributions(directory: Path, metadata: ProjectMetadata) -> tuple[Path, ...]:
    """The wheel(s) and sdist of exactly this name and version in ``directory``."""
    if not directory.is_dir():
        return ()
    wanted = (_normalize(metadata.name), metadata.version)
    found = []
    for path in sorted(directory.iterdir()):
        if path.suffix == ".whl":
            name, _, rest = path.name.partition("-")
            version = rest.partition("-")[0]
        elif path.name.endswith(".tar.gz"):
            name, _, version = path.name[: -len(".tar.gz")].rpartition("-")
        else:
            continue
        if (_normalize(name), version) == wanted:
            found.append(path)
    return tuple(found)


def _normalize(name: str) -> str:
    """Distribution file names spell the canonical name with ``_`` for ``-``."""
    return canonical_name(name).replace("-", "_")


def load_project(
    root: Path,
    *,
    plugin_names: tuple[str, ...] = (),
    distributions: tuple[Path, ...] | None = None,
    output_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    document: Mapping[str, Any] | None = None,
) -> Project:
    """Read ``root/pyproject.toml``: settings, metadata, and the distributions to publish.

    :param document: the file's contents, when the caller has read it already.
    :param distributions: the files built in this run; by default those of this name and
        version found in ``dist/``.
    """
    table = read_pyproject(root) if document is None else document
    settings = settings_from_document(
        table, plugin_names=plugin_names, source=str(root / "pyproject.toml")
    )
    metadata = load_metadata(root, settings, table)
    out = output_dir or root / "dist"
    if distributions is None:
        distributions = find_distributions(out, metadata)
    return Project(
        root=root,
        metadata=metadata,
        settings=settings,
        distributions=distributions,
        output_dir=out,
        environ=dict(os.environ if environ is None else environ),
    )
