"""This release's wheel and sdist, and the project's metadata, from the project's own backend.

``ocipush push``, ``build`` and ``plan`` publish what they build, as ``ko build`` and
``jib:build`` do: a wheel (or sdist) of this version already in ``dist/`` is used only when
it is newer than every project file (or with ``--no-build``); otherwise it is built with the
project's ``[build-system]`` through pypa/build, in an isolated environment by default, just
as ``python -m build`` would. The same environment answers PEP 517's
``prepare_metadata_for_build_wheel`` when ``pyproject.toml`` leaves the version (or name) to
the backend (``dynamic = ["version"]``), so hatchling, setuptools-scm and setuptools projects
all publish the version their backend reports.

A wheel built here through ``ocipush.backend`` does not publish on its own: the environment
variable :data:`INNER_BUILD` tells the wrapper that ocipush itself is the frontend.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ocipush.errors import ProjectBuildError
from ocipush.release.templates import canonical_name
from ocipush.release.versions import parse_version

if TYPE_CHECKING:
    # Imported when a build runs: the build backend wrapper needs none of it to delegate.
    import build as pypa_build
    import build.env

__all__ = [
    "INNER_BUILD",
    "BuildOptions",
    "Distribution",
    "ReleaseBuilder",
    "file_release",
    "find_distributions",
    "newest_source",
    "release_files",
]

log = logging.getLogger(__name__)

Distribution = Literal["wheel", "sdist"]
Reporter = Callable[[str], None]

#: Set in the backend's environment when ocipush builds: ``ocipush.backend`` then only
#: builds, since the ocipush run that asked for the wheel publishes it.
INNER_BUILD = "OCIPUSH_INNER_BUILD"
#: Directories that never go into a distribution, or that builds write: their files do
#: not make a built wheel stale.
_NOT_SOURCES = frozenset({"build", "dist", "node_modules", "__pycache__", "htmlcov"})
_OUTPUT_LINES = 12


@dataclass(frozen=True)
class BuildOptions:
    """How a run gets the distributions it publishes.

    :ivar isolation: build in a fresh environment holding only the build requirements, as
        ``python -m build`` does (``--no-isolation`` builds with what is installed).
    :ivar build: ``False`` takes ``dist/`` as it is (``--no-build``).
    """

    isolation: bool = True
    build: bool = True


def newest_source(root: Path, *, skip: Sequence[Path] = ()) -> tuple[float, Path | None]:
    """The modification time and path of the newest file that can go into a distribution.

    Output and cache directories, hidden folders (VCS, tool caches) and virtual
    environments are passed over: they are not sources, and builds write to them.
    """
    skipped = {path.resolve() for path in skip}
    newest: tuple[float, Path | None] = (0.0, None)
    for directory, folders, files in os.walk(root):
        here = Path(directory)
        folders[:] = [
            name
            for name in folders
            if not (
                name.startswith(".")
                or name in _NOT_SOURCES
                or name.endswith(".egg-info")
                or (here / name / "pyvenv.cfg").exists()
                or (here / name).resolve() in skipped
            )
        ]
        for name in files:
            path = here / name
            with contextlib.suppress(OSError):
                mtime = path.stat().st_mtime
                if mtime > newest[0]:
                    newest = (mtime, path)
    return newest


def file_release(path: Path) -> tuple[Distribution, str, str] | None:
    """(kind, canonical name, normalised version) read from a distribution's file name."""
    kind: Distribution
    if path.suffix == ".whl":
        name, _, rest = path.name.partition("-")
        version, kind = rest.partition("-")[0], "wheel"
    elif path.name.endswith(".tar.gz"):
        name, _, version = path.name[: -len(".tar.gz")].rpartition("-")
        kind = "sdist"
    else:
        return None
    try:
        return kind, canonical_name(name), str(parse_version(version))
    except ValueError:
        return None


def find_distributions(directory: Path, name: str, version: str) -> tuple[Path, ...]:
    """The wheel(s) and sdist of exactly this name and version in ``directory``."""
    if not directory.is_dir():
        return ()
    wanted = (canonical_name(name), str(parse_version(version)))
    found = []
    for path in sorted(directory.iterdir()):
        release = file_release(path)
        if release is not None and release[1:] == wanted:
            found.append(path)
    return tuple(found)


def _kind(path: Path) -> Distribution:
    return "wheel" if path.suffix == ".whl" else "sdist"


def release_files(
    builder: ReleaseBuilder,
    out: Path,
    needed: frozenset[Distribution],
    *,
    name: str,
    version: str,
    options: BuildOptions | None,
    report: Reporter,
) -> tuple[Path, ...]:
    """This release's distributions: fresh ones from ``out``, the ``needed`` rest built.

    :param options: ``None`` takes whatever ``out`` holds, building nothing.
    :raises ProjectBuildError: with ``--no-build``, when a needed file is not in ``out``.
    """
    found = find_distributions(out, name, version)
    if options is None:
        return found
    release = f"{name} {version}"
    newest_time, newest_path = newest_source(builder.root, skip=[out])
    files: list[Path] = []
    for kind in sorted(needed, reverse=True):  # the wheel first, as an image needs it
        existing = [path for path in found if _kind(path) == kind]
        shown = [_relative(path, builder.root) for path in existing]
        if existing and not options.build:
            report(f"--no-build: using {', '.join(shown)} as it is")
        elif existing and all(path.stat().st_mtime > newest_time for path in existing):
            report(f"using {', '.join(shown)}: newer than every project file")
        elif not options.build:
            raise ProjectBuildError(
                f"--no-build: no {kind} of {release} in {out}; build it (python -m build) "
                "or drop --no-build to let ocipush build it"
            )
        else:
            if existing and newest_path is not None:
                report(
                    f"{', '.join(shown)} is older than {_relative(newest_path, builder.root)}: "
                    "building it again"
                )
            existing = [builder.build(kind, out)]
            version_built = file_release(existing[0])
            if version_built is not None and version_built[2] != str(parse_version(version)):
                raise ProjectBuildError(
                    f"{builder.root}: the backend built {existing[0].name}, but reported "
                    f"version {version}; the version changed during the build (an "
                    "uncommitted change with setuptools-scm?)"
                )
        files += existing
    return tuple(files)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


class ReleaseBuilder:
    """Runs the project's build backend, creating its environment once, on first use.

    A context manager: the isolated environment is removed on exit.
    """

    def __init__(self, root: Path, *, isolation: bool = True, report: Reporter = log.info) -> None:
        self.root = root
        self.isolation = isolation
        self._report = report
        self._stack = contextlib.ExitStack()
        self._builder: pypa_build.ProjectBuilder | None = None
        self._env: pypa_build.env.DefaultIsolatedEnv | None = None
        self._prepared: set[Distribution] = set()
        self._output: list[str] = []

    def __enter__(self) -> ReleaseBuilder:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._stack.close()

    def metadata(self) -> Path:
        """The ``.dist-info`` directory the backend reports for a wheel of this project."""
        with self._backend_call("report the project's metadata (its version)"):
            builder = self._ready("wheel")
            out = Path(self._stack.enter_context(tempfile.TemporaryDirectory()))
            return Path(builder.metadata_path(out))

    def build(self, distribution: Distribution, out: Path) -> Path:
        """Build ``distribution`` into ``out`` and return its path."""
        how = "an isolated environment" if self.isolation else "the current environment"
        self._report(f"building the {distribution} with the project's backend, in {how}")
        with self._backend_call(f"build the {distribution}"):
            builder = self._ready(distribution)
            return Path(builder.build(distribution, out))

    def _project_builder(self) -> pypa_build.ProjectBuilder:
        if self._builder is not None:
            return self._builder
        import build as pypa_build  # noqa: PLC0415
        import build.env  # noqa: PLC0415

        with self._backend_call("read [build-system]"):
            if self.isolation:
                self._env = self._stack.enter_context(pypa_build.env.DefaultIsolatedEnv())
                self._builder = pypa_build.ProjectBuilder.from_isolated_env(
                    self._env, self.root, runner=self._run
                )
                self._install(self._builder.build_system_requires, "its build requirements")
            else:
                self._builder = pypa_build.ProjectBuilder(self.root, runner=self._run)
        return self._builder

    def _ready(self, distribution: Distribution) -> pypa_build.ProjectBuilder:
        """The builder, with what the backend asks for to build ``distribution`` installed."""
        builder = self._project_builder()
        if distribution not in self._prepared:
            requires = builder.get_requires_for_build(distribution)
            if self._env is not None:
                self._install(requires, f"what its backend needs to build a {distribution}")
            else:
                missing = builder.check_dependencies(distribution)
                if missing:
                    names = sorted({chain[0] for chain in missing})
                    raise ProjectBuildError(
                        f"{self.root}: --no-isolation builds with what is installed, and "
                        f"{', '.join(names)} (needed to build the {distribution}) is not; "
                        "install it or drop --no-isolation"
                    )
            self._prepared.add(distribution)
        return builder

    def _install(self, requirements: set[str], what: str) -> None:
        if not requirements or self._env is None:
            return
        self._report(f"installing {what}: {', '.join(sorted(requirements))}")
        self._env.install(requirements)

    def _run(
        self,
        cmd: Sequence[str],
        cwd: str | None = None,
        extra_environ: Mapping[str, str] | None = None,
    ) -> None:
        """Run one backend hook; its output is logged (``-v``) and kept for errors."""
        environ = {**os.environ, **(extra_environ or {}), INNER_BUILD: "1"}
        completed = subprocess.run(
            list(cmd), cwd=cwd, env=environ, capture_output=True, text=True, check=False
        )
        output = (completed.stdout + completed.stderr).splitlines()
        for line in output:
            log.info("  %s", line)
        self._output = output
        if completed.returncode != 0:
            raise subprocess.CalledProcessError(completed.returncode, list(cmd))

    @contextlib.contextmanager
    def _backend_call(self, what: str) -> Iterator[None]:
        """Turn pypa/build's failures into one error naming the project and the step."""
        import build as pypa_build  # noqa: PLC0415

        try:
            yield
        except (pypa_build.BuildException, pypa_build.BuildBackendException) as error:
            raise self._error(what, str(error), self._output) from None
        except subprocess.CalledProcessError as error:
            # Installing requirements failed: pip's own words say why.
            stderr = error.stderr or b""
            text = stderr.decode(errors="replace") if isinstance(stderr, bytes) else stderr
            raise self._error(what, "installing requirements failed", text.splitlines()) from None

    def _error(self, what: str, reason: str, output: Sequence[str]) -> ProjectBuildError:
        tail = [line for line in output if line.strip()][-_OUTPUT_LINES:]
        said = ("\n  " + "\n  ".join(tail)) if tail else ""
        return ProjectBuildError(
            f"{self.root}: the project's build backend could not {what}: {reason}{said}"
        )
