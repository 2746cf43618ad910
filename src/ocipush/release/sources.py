"""What of a project may go into a layer: files inside its root, chosen on purpose.

A layer takes the files under its ``source`` that its ``include`` globs match, minus its
``exclude`` globs, minus what no image should hold: version control folders, caches,
virtual environments, secrets, ocipush's own outputs (:data:`DEFAULT_EXCLUDES`) and what
the project's ``.gitignore`` files ignore (read with pathspec, as git and hatchling do).
An ``include`` brings such a file back only by naming it, or the excluded folder holding
it, without wildcards (``".env.example"``, ``"node_modules/**"``). Symbolic links are kept
as links and must point inside the source.

Everything is resolved, symbolic links included, inside the project root unless the table
says ``allow-outside = true``; otherwise the run stops naming the key and the path.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import pathspec

from ocipush.errors import ConfigError, ConfigProblem

__all__ = [
    "DEFAULT_EXCLUDES",
    "Selection",
    "SourceFile",
    "glob_regex",
    "inside",
    "outside_problem",
    "select_files",
]

#: Left out of every layer unless an ``include`` names them (gitignore syntax, matched
#: against paths relative to the project root; a leading ``/`` anchors at the root).
DEFAULT_EXCLUDES: tuple[str, ...] = (
    # version control
    ".git",
    ".hg",
    ".svn",
    ".bzr",
    # Python caches, build metadata and virtual environments (also any folder holding a
    # pyvenv.cfg, whatever its name)
    "__pycache__/",
    "*.py[cod]",
    "*.egg-info/",
    ".venv/",
    "venv/",
    # tool caches
    ".tox/",
    ".nox/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    "node_modules/",
    # secrets
    ".env*",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*.pem",
    "*.key",
    # distributions, layouts and the layer cache of earlier runs (ocipush's own outputs)
    "/dist/",
    "/build/",
)
_DEFAULTS = pathspec.GitIgnoreSpec.from_lines(DEFAULT_EXCLUDES)
_GITIGNORE = ".gitignore"
_VENV_MARKER = "pyvenv.cfg"
_WILDCARD = re.compile(r"[*?\[]")


def glob_regex(pattern: str) -> re.Pattern[str]:
    """``**`` spans directories, ``*`` and ``?`` stay within one path component."""
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out))


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, symbolic links resolved, lies within ``root`` (also resolved)."""
    return path.resolve().is_relative_to(root.resolve())


def outside_problem(key: str, shown: str, path: Path, root: Path) -> ConfigError:
    """The error for content (or an output) outside the project root."""
    resolved = path.resolve()
    via = "" if resolved == path.absolute() else f" (it resolves to {resolved})"
    return ConfigError(
        [
            ConfigProblem(
                key,
                f'"{shown}" is outside the project root {root}{via}; only files inside the '
                "project are published — move it into the project, or set "
                "allow-outside = true on this table if that is really meant",
            )
        ]
    )


@dataclass(frozen=True)
class SourceFile:
    """A file (or symbolic link) a layer takes.

    :ivar relative: its path below the layer source, ``/``-separated; empty when the source
        is this one file.
    :ivar path: where it is on disk.
    :ivar link: the target of a symbolic link, stored as a link instead of content.
    """

    relative: str
    path: Path
    link: str | None = None


@dataclass(frozen=True)
class Selection:
    """The outcome of :func:`select_files`.

    :ivar excluded: what default excludes and ``.gitignore`` left out, relative to the
        project root (folders end with ``/``), for ``ocipush plan``.
    :ivar outside: the resolved source when it lies outside the project root (allowed).
    """

    files: tuple[SourceFile, ...]
    excluded: tuple[str, ...] = ()
    outside: Path | None = None


@dataclass
class _Walk:
    """State of one selection walk."""

    root: Path
    source: Path
    key: str
    includes: list[tuple[str, re.Pattern[str], tuple[str, ...]]]
    excludes: list[re.Pattern[str]]
    allow_outside: bool
    defaults: pathspec.GitIgnoreSpec = field(default_factory=lambda: _DEFAULTS)
    ignores: dict[str, pathspec.GitIgnoreSpec] = field(default_factory=dict)
    matched: set[str] = field(default_factory=set)
    files: list[SourceFile] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)

    def load_ignore(self, directory: Path, relative: str) -> None:
        file = directory / _GITIGNORE
        if file.is_file() and not file.is_symlink():
            lines = file.read_text(encoding="utf-8", errors="replace").splitlines()
            self.ignores[relative] = pathspec.GitIgnoreSpec.from_lines(lines)

    def ignored(self, from_root: str, is_dir: bool, *, below: str = "") -> bool:
        """Default excludes, then each ``.gitignore`` from the root down (deeper ones win).

        :param below: match as if this folder were the root (and ignore ``.gitignore``
            files above it): for a source that is itself excluded but named on purpose.
        """
        name = from_root + "/" if is_dir else from_root
        if self.defaults.match_file(name[len(below) + 1 :] if below else name):
            return True
        verdict = False
        for base, spec in sorted(self.ignores.items(), key=lambda item: len(item[0])):
            if (base or below) and not from_root.startswith(base + "/"):
                continue
            if below and not (base == below or base.startswith(below + "/")):
                continue
            result = spec.check_file(name[len(base) + 1 :] if base else name)
            if result.include is not None:
                verdict = result.include
        return verdict

    def names(self, relative: str, reasons: Sequence[str]) -> list[str]:
        """The include patterns matching ``relative`` that name every excluded part of it."""
        return [
            pattern
            for pattern, regex, literal in self.includes
            if regex.fullmatch(relative)
            and all(literal[: len(r.split("/"))] == tuple(r.split("/")) for r in reasons)
        ]

    def may_hold(self, relative: str) -> bool:
        """Whether an include names something inside the excluded folder ``relative``."""
        parts = tuple(relative.split("/"))
        return any(literal[: len(parts)] == parts for _, _, literal in self.includes)

    def link_target(self, path: Path, relative: str) -> str:
        target = os.readlink(path)
        landing = posixpath.normpath(posixpath.join(posixpath.dirname(relative), target))
        leaves = target.startswith("/") or landing == ".." or landing.startswith("../")
        if leaves and not self.allow_outside:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"{self.key}.source",
                        f'"{self.source / relative}" is a symbolic link to "{target}", which '
                        "leaves the layer; point it inside the source, or set "
                        "allow-outside = true on this table if that is really meant",
                    )
                ]
            )
        return target

    def walk(self) -> None:
        base = self.source.relative_to(self.root).as_posix() if self.source != self.root else ""
        self.load_ignore(self.root, "")
        for ancestor in reversed(PurePosixPath(base).parents if base else []):
            if str(ancestor) != ".":
                self.load_ignore(self.root / ancestor, str(ancestor))
        # A source that is itself excluded (say "build/static") was named on purpose: only
        # what is excluded below it counts.
        below = base if base and self.ignored(base, True) else ""
        if base:
            self.load_ignore(self.source, base)
        # Below an excluded folder, only what is excluded in it counts as a further reason.
        stack: list[tuple[Path, str, tuple[str, ...], str]] = [(self.source, "", (), below)]
        while stack:
            directory, relative_dir, reasons, below = stack.pop()
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=lambda e: e.name)
            for entry in entries:
                relative = f"{relative_dir}{entry.name}"
                from_root = f"{base}/{relative}" if base else relative
                is_dir = entry.is_dir(follow_symlinks=False)
                own = reasons
                if self.ignored(from_root, is_dir, below=below) or (
                    is_dir and (Path(entry.path) / _VENV_MARKER).is_file()
                ):
                    own = (*reasons, relative)
                if is_dir:
                    if own != reasons and not self.may_hold(relative):
                        self.excluded.append(from_root + "/")
                        continue
                    self.load_ignore(Path(entry.path), from_root)
                    inner = from_root if own != reasons else below
                    stack.append((Path(entry.path), relative + "/", own, inner))
                    continue
                if not entry.is_symlink() and not entry.is_file(follow_symlinks=False):
                    continue  # sockets, pipes, devices: never content (a pipe blocks a read)
                named = self.names(relative, own)
                if not named:
                    if own:
                        self.excluded.append(from_root)
                    continue
                self.matched.update(p for p, regex, _ in self.includes if regex.fullmatch(relative))
                if any(regex.fullmatch(relative) for regex in self.excludes):
                    continue
                link = self.link_target(Path(entry.path), relative) if entry.is_symlink() else None
                self.files.append(SourceFile(relative, Path(entry.path), link))


def _defaults_with(root: Path, outputs: Sequence[Path]) -> pathspec.GitIgnoreSpec:
    """The default excludes plus ``outputs`` inside ``root``, anchored there."""
    anchored = [
        "/" + output.resolve().relative_to(root.resolve()).as_posix()
        for output in outputs
        if inside(output, root) and output.resolve() != root.resolve()
    ]
    return (
        pathspec.GitIgnoreSpec.from_lines([*DEFAULT_EXCLUDES, *anchored]) if anchored else _DEFAULTS
    )


def _literal(pattern: str) -> tuple[str, ...]:
    """The leading components of a glob written without wildcards."""
    parts = []
    for part in pattern.split("/"):
        if _WILDCARD.search(part):
            break
        parts.append(part)
    return tuple(parts)


def select_files(
    root: Path,
    source: str,
    *,
    key: str,
    include: Sequence[str] = ("**/*",),
    exclude: Sequence[str] = (),
    allow_outside: bool = False,
    outputs: Sequence[Path] = (),
) -> Selection:
    """The files of ``source`` (relative to ``root``) that a layer takes.

    :param key: the key path of the layer table, for errors (``tool.ocipush.layers[0]``).
    :param outputs: more of the run's own outputs to leave out like ``dist/`` (layouts,
        result files), wherever they are configured to go.
    :raises ConfigError: for a source outside the root, a symbolic link leaving the layer,
        an ``include`` that matches nothing, or a layer that would be empty.
    """
    path = root / source
    if not path.exists():
        raise ConfigError([ConfigProblem(f"{key}.source", f'"{source}" does not exist')])
    outside = None
    if not inside(path, root):
        if not allow_outside:
            raise outside_problem(f"{key}.source", source, path, root)
        outside = path.resolve()
    if path.is_file():
        # Naming a single file is explicit: no default exclude applies to it.
        return Selection((SourceFile("", path.resolve()),), outside=outside)
    walk = _Walk(
        root=root.resolve() if outside is None else path.resolve(),
        source=path.resolve(),
        key=key,
        includes=[(p, glob_regex(p), _literal(p)) for p in include],
        excludes=[glob_regex(p) for p in exclude],
        allow_outside=allow_outside,
        defaults=_defaults_with(root, outputs),
    )
    walk.walk()
    for number, pattern in enumerate(include):
        if pattern not in walk.matched:
            raise ConfigError(
                [
                    ConfigProblem(
                        f"{key}.include[{number}]",
                        f'"{pattern}" matched no file in "{source}" (after the default '
                        "excludes and .gitignore); fix the pattern, or name an excluded file "
                        "without wildcards to take it",
                    )
                ]
            )
    if not walk.files:
        raise ConfigError(
            [
                ConfigProblem(
                    f"{key}.exclude",
                    f'leaves no file of "{source}" in the layer; an empty layer is never '
                    "meant — remove the layer or narrow the excludes",
                )
            ]
        )
    files = sorted(walk.files, key=lambda file: file.relative)
    return Selection(tuple(files), tuple(sorted(walk.excluded)), outside)
