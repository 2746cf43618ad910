"""Built-in plugin ``files``: ``[[tool.ocipush.layers]]`` as reproducible tar+gzip layers.

It owns the ``layers`` table. What each layer takes is chosen by
:mod:`ocipush.release.sources` (inside the project root, default excludes and ``.gitignore``
applied); the plan lists it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.oci.blobs import Blob
from ocipush.oci.layers import build_layer, entries_from_files, source_date_epoch
from ocipush.oci.layout import parse_layout_reference
from ocipush.plugins.outputs import output_path
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader, quote
from ocipush.release.sources import Selection, select_files

NAME = "files"
#: The table this plugin owns: ``[[tool.ocipush.layers]]``.
TABLE = "layers"
OCIPUSH_TABLES = (TABLE,)
#: Excluded paths a plan names before it only counts them (``-v`` lists them all).
LISTED_EXCLUDED = 5


@dataclass(frozen=True)
class LayerConfig:
    """Files from the project copied into the image as one layer.

    :ivar source: a directory or file, relative to the project root.
    :ivar dest: the absolute path in the image where ``source`` lands.
    :ivar include: glob patterns, relative to ``source``, of files to take.
    :ivar exclude: glob patterns of files to leave out even if included.
    :ivar allow_outside: whether ``source`` (or a symbolic link in it) may lead outside the
        project root.
    """

    source: str
    dest: str
    include: tuple[str, ...] = ("**/*",)
    exclude: tuple[str, ...] = ()
    file_mode: int = 0o644
    dir_mode: int = 0o755
    uid: int = 0
    gid: int = 0
    allow_outside: bool = False


@dataclass(frozen=True)
class FilesSettings:
    """The ``[[tool.ocipush.layers]]`` of a project, in order."""

    layers: tuple[LayerConfig, ...] = ()


_DEFAULTS = LayerConfig(source="", dest="")
_ABSOLUTE_EXAMPLE = 'an absolute path in the image, such as "/srv/static"'


_KEYS = (
    "source",
    "dest",
    "include",
    "exclude",
    "file-mode",
    "dir-mode",
    "uid",
    "gid",
    "allow-outside",
)


def read_layer(entry: ConfigReader) -> LayerConfig:
    """One ``[[tool.ocipush.layers]]`` entry, its problems recorded on ``entry``."""
    entry.only_known(_KEYS)
    source = entry.string(
        "source", required='a directory or file relative to the project root, such as "static"'
    )
    if source is not None and (
        PurePosixPath(source).is_absolute() or PureWindowsPath(source).is_absolute()
    ):
        entry.report("source", f"{quote(source)} — must be relative to the project root")
        source = None
    dest = entry.string("dest", required=_ABSOLUTE_EXAMPLE)
    if dest is not None and not dest.startswith("/"):
        entry.report("dest", f"{quote(dest)} — must be {_ABSOLUTE_EXAMPLE}")
    elif dest is not None and ".." in PurePosixPath(dest).parts:
        entry.report("dest", f'{quote(dest)} — must not contain ".."; write {_ABSOLUTE_EXAMPLE}')
    include = entry.strings("include", non_empty='at least one glob pattern, such as "**/*"')
    exclude = entry.strings("exclude")
    file_mode = entry.mode("file-mode")
    dir_mode = entry.mode("dir-mode")
    uid = entry.integer("uid", minimum=0)
    gid = entry.integer("gid", minimum=0)
    return LayerConfig(
        source=source or "",
        dest=dest or "",
        include=_DEFAULTS.include if include is None else include,
        exclude=_DEFAULTS.exclude if exclude is None else exclude,
        file_mode=_DEFAULTS.file_mode if file_mode is None else file_mode,
        dir_mode=_DEFAULTS.dir_mode if dir_mode is None else dir_mode,
        uid=_DEFAULTS.uid if uid is None else uid,
        gid=_DEFAULTS.gid if gid is None else gid,
        allow_outside=entry.boolean("allow-outside"),
    )


@hookimpl
def ocipush_configure(config: ConfigReader) -> FilesSettings:
    return FilesSettings(tuple(read_layer(entry) for entry in config.tables(TABLE) or ()))


def _layers(project: Project) -> tuple[LayerConfig, ...]:
    settings = project.configured(NAME, FilesSettings)
    return () if settings is None else settings.layers


def _key(number: int) -> str:
    return f"tool.ocipush.{TABLE}[{number}]"


def _own_outputs(project: Project) -> list[Path]:
    """Where this run writes (distributions, layouts, the result file): never content."""
    outputs = [project.dist_dir]
    for number, target in enumerate(project.settings.targets):
        if target.is_layout:
            try:
                ref = project.expand(target.ref, f"tool.ocipush.targets[{number}].ref")
            except ConfigError:
                continue  # the core reports the target's own problem
            outputs.append(project.root / parse_layout_reference(ref).path)
    try:
        result_file = output_path(project)
    except ConfigError:
        result_file = None  # the outputs plugin reports its own problem
    if result_file is not None:
        outputs.append(result_file)
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
def ocipush_validate(project: Project) -> list[ConfigProblem]:
    """Each layer's files are chosen now, so a missing ``source`` stops the run before
    anything is built or pushed."""
    problems: list[ConfigProblem] = []
    for number, config in enumerate(_layers(project)):
        if not config.source:
            continue  # its problem is reported already
        try:
            _select(project, config, number)
        except ConfigError as error:
            problems += error.problems
    return problems


@hookimpl
def ocipush_add_layers(project: Project) -> list[Blob]:
    mtime = source_date_epoch(dict(project.environ))
    layers: list[Blob] = []
    for number, config in enumerate(_layers(project)):
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
    for number, config in enumerate(_layers(project)):
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
