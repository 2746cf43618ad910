"""``dependency-layers = "auto"``: one layer per distribution, so a bump re-pushes one layer.

Each distribution gets its own layer, in the order of canonical names; past
:data:`MAX_LAYERS` the smallest wheels share one layer, so that shared layer stays small and
a bump inside it re-pushes little. A layer's bytes depend only on its wheels, the image's
Python and the install paths (and the configured owner): its files get the time 0, not
``SOURCE_DATE_EPOCH``, so two projects with the same numpy on the same Python get the same
numpy layer, stored once by the registry and once in the user's layer cache
(:mod:`ocipush.image.layer_cache`), which is keyed by exactly those inputs.

Every wheel is installed into its own staging tree, so files written by more than one
distribution are seen: directories (``bin/``, namespace packages) are in each layer that
has files below them, with the same mode and owner, so the unpacked image is the
single-layer install; a file two distributions write with different contents is an error
naming both (the image's file would depend on which layer came last). Identical copies, such
as a ``pkgutil`` namespace ``__init__.py``, are no conflict.

The layers missing from the cache are built side by side, largest first, one per core. A
wheel member is installed with its deflate stream, which goes into the layer as it is
(:mod:`ocipush.image.wheelmembers`): the wheel's builder already did most of the compressing. The
rest (tar headers, small files, generated scripts) is deflated in blocks on every core
(:mod:`ocipush.oci.pgzip`; zlib releases the GIL). Each layer's bytes are fixed by its input
alone, so neither the order in which they finish nor the number of cores changes anything.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from ocipush.image.deps import Dependency, fetch_wheels, pip_target_options, wheel_license
from ocipush.image.errors import DependencyError
from ocipush.image.install import LabelledLayer, install_for_layer
from ocipush.image.layer_cache import CachedLayer, LayerCache
from ocipush.image.python import PythonRuntime
from ocipush.oci.digest import file_digest
from ocipush.oci.layers import LayerEntry, build_layer
from ocipush.oci.model import Platform
from ocipush.release.templates import canonical_name

__all__ = ["MAX_LAYERS", "DependencyLayer", "dependency_layers", "group_dependencies"]

log = logging.getLogger(__name__)

#: At most this many dependency layers; past it the smallest distributions share one.
MAX_LAYERS = 32
#: The file time in dependency layers: fixed, so a layer is the same in every project.
DEPENDENCY_MTIME = 0
#: Wheels up to this size unpacked keep their files in memory from the install to the layer
#: (two layers build at once); a bigger wheel's files are read from it again.
IN_MEMORY_BYTES = 256 * 1024**2
#: How the layer's bytes are made, in cache keys: 2 keeps each wheel member's deflate stream
#: (:mod:`ocipush.image.wheelmembers`); a layer cached by an earlier way is not this one.
LAYER_FORMAT = 2
#: Conflicting files named in one error, at most.
_CONFLICTS_SHOWN = 5


@dataclass(frozen=True)
class DependencyLayer:
    """One dependency layer and the distributions it holds."""

    blob: LabelledLayer
    members: tuple[Dependency, ...]

    @property
    def history(self) -> str:
        """The ``created_by`` of its history entry in the image config."""
        names = ", ".join(f"{d.name} {d.version}" for d in self.members)
        return f"ocipush: {'dependency' if len(self.members) == 1 else 'dependencies'} {names}"


def group_dependencies(
    dependencies: Sequence[Dependency], size: Callable[[Dependency], int], cap: int = MAX_LAYERS
) -> list[tuple[Dependency, ...]]:
    """The layers' members, ordered by canonical name: one each, or, with more than ``cap``,
    the smallest (by ``size``, then name) together so that there are ``cap`` layers."""
    ordered = sorted(dependencies, key=lambda d: canonical_name(d.name))
    if len(ordered) <= cap:
        return [(d,) for d in ordered]
    smallest = sorted(ordered, key=lambda d: (size(d), canonical_name(d.name)))
    shared = set(smallest[: len(ordered) - cap + 1])
    groups: list[tuple[Dependency, ...]] = [(d,) for d in ordered if d not in shared]
    groups.append(tuple(d for d in ordered if d in shared))
    return sorted(groups, key=lambda group: canonical_name(group[0].name))


@dataclass(frozen=True)
class _Build:
    """What every layer of one image's dependencies shares."""

    runtime: PythonRuntime
    uid: int
    gid: int
    bytecode: Mapping[str, str] | None
    what: str

    def key(self, members: Sequence[Dependency]) -> str:
        return LayerCache.key(
            {
                "kind": "dependencies",
                "layer-format": LAYER_FORMAT,
                "wheels": sorted(d.sha256 for d in members),
                "python": self.runtime.version_text,
                "interpreter": self.runtime.interpreter,
                "scheme": self.runtime.scheme(),
                "owner": [self.uid, self.gid],
                "bytecode": self.bytecode is not None,
            }
        )

    def layer(
        self,
        members: Sequence[Dependency],
        wheels: Mapping[str, Path],
        cache: LayerCache,
        key: str,
        compressor: Executor,
    ) -> CachedLayer:
        """Install ``members`` each on its own, pack them as one layer, cache it."""
        scratch = cache.scratch()
        try:
            entries: list[LayerEntry] = []
            files: dict[str, tuple[str, str]] = {}
            for number, member in enumerate(members):
                installed = self._install(wheels[member.sha256], scratch / str(number))
                owner = f"{member.name} {member.version}"
                for entry in installed:
                    if entry.link is not None:
                        _note(files, entry.path, (owner, f"-> {entry.link}"), self.what)
                    elif entry.packed is not None:
                        fingerprint = entry.packed.sha256
                        _note(files, entry.path, (owner, f"sha256:{fingerprint}"), self.what)
                    elif entry.data is not None:
                        fingerprint = hashlib.sha256(entry.data).hexdigest()
                        _note(files, entry.path, (owner, f"sha256:{fingerprint}"), self.what)
                    elif entry.source is not None:
                        fingerprint = str(file_digest(entry.source)[0])
                        _note(files, entry.path, (owner, fingerprint), self.what)
                entries += installed
            blob = build_layer(
                entries, scratch / "out", mtime=DEPENDENCY_MTIME, compressor=compressor
            )
            return cache.put(key, blob, files, _label(members, self.runtime))
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _install(self, wheel: Path, staging: Path) -> list[LayerEntry]:
        """A big wheel's files are read from it again when the layer is written, not held."""
        return install_for_layer(
            [wheel],
            self.runtime,
            staging,
            uid=self.uid,
            gid=self.gid,
            bytecode=self.bytecode,
            keep_members=_unpacked_size(wheel) <= IN_MEMORY_BYTES,
        )


def _unpacked_size(wheel: Path) -> int:
    try:
        with zipfile.ZipFile(wheel) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (OSError, zipfile.BadZipFile):
        return IN_MEMORY_BYTES + 1  # let the installer say what is wrong with it


def _label(members: Sequence[Dependency], runtime: PythonRuntime) -> str:
    names = ", ".join(f"{d.name} {d.version}" for d in members)
    if len(members) == 1:
        return f"dependency {names} for Python {runtime.version_text}"
    return f"{len(members)} small dependencies ({names}) for Python {runtime.version_text}"


def _note(files: dict[str, tuple[str, str]], path: str, value: tuple[str, str], what: str) -> None:
    """Record who wrote ``path``; two different contents from two owners is a conflict."""
    earlier = files.setdefault(path, value)
    if earlier[1] != value[1]:
        raise _conflict_error([(path, earlier[0], value[0])], what)


def _conflict_error(conflicts: Sequence[tuple[str, str, str]], what: str) -> DependencyError:
    shown = "; ".join(f"{path} (by {a} and by {b})" for path, a, b in conflicts[:_CONFLICTS_SHOWN])
    more = len(conflicts) - _CONFLICTS_SHOWN
    return DependencyError(
        f"{what}: {len(conflicts)} file(s) are written by two distributions with "
        f"different contents: {shown}{f' and {more} more' if more > 0 else ''}; only one can be "
        "in the image, and which one would depend on the install order (pip warns about this "
        "too). Drop or replace one of the two distributions in your requirements"
    )


def _check_overlaps(layers: Sequence[CachedLayer], what: str) -> None:
    owners: dict[str, tuple[str, str]] = {}
    conflicts = []
    for layer in layers:
        for path, (owner, fingerprint) in layer.files.items():
            earlier = owners.setdefault(path, (owner, fingerprint))
            if earlier[1] != fingerprint:
                conflicts.append((path, earlier[0], owner))
    if conflicts:
        raise _conflict_error(conflicts, what)


def dependency_layers(
    dependencies: Sequence[Dependency],
    *,
    platform: Platform,
    runtime: PythonRuntime,
    cache: LayerCache,
    wheels_dir: Path,
    environ: Mapping[str, str],
    uid: int,
    gid: int,
    what: str,
    bytecode: bool = False,
    cap: int = MAX_LAYERS,
    workers: int | None = None,
) -> list[DependencyLayer]:
    """The dependency layers of one platform image, in image order.

    :param cache: where built layers are kept and looked up.
    :param wheels_dir: where wheels are downloaded to (those with a ``file:`` URL are used
        where they are); only the wheels of layers missing from the cache are fetched.
    :param workers: layers built at once; default one per core.
    :raises DependencyError: a wheel cannot be fetched or installed, or two distributions
        write one file differently.
    """
    build = _Build(runtime, uid, gid, environ if bytecode else None, what)
    options = pip_target_options(platform, runtime)
    fetched: dict[str, Path] = {}

    def fetch(members: Sequence[Dependency]) -> None:
        wanted = [d for d in members if d.sha256 not in fetched]
        for member, path in zip(
            wanted, fetch_wheels(wanted, wheels_dir, options, environ, what), strict=True
        ):
            fetched[member.sha256] = path
            cache.remember_wheel(
                member.sha256, size=path.stat().st_size, license_text=wheel_license(path)
            )

    def size(dependency: Dependency) -> int:
        known = cache.wheel_size(dependency.sha256)
        return fetched[dependency.sha256].stat().st_size if known is None else known

    if len(dependencies) > cap:  # sizes are needed: fetch only the wheels never seen
        unknown = [d for d in dependencies if cache.wheel_size(d.sha256) is None]
        if unknown:
            fetch(unknown)
    groups = group_dependencies(dependencies, size, cap)
    keys = [build.key(group) for group in groups]
    found: dict[str, CachedLayer] = {}
    for key in keys:
        hit = cache.get(key)
        if hit is not None:
            found[key] = hit
    missing = [(key, group) for key, group in zip(keys, groups, strict=True) if key not in found]
    log.info(
        "%s: %d dependency layers, %d from the layer cache",
        what,
        len(keys),
        len(keys) - len(missing),
    )
    if missing:
        fetch([d for _, group in missing for d in group])
        # Largest first, so that the last layer to finish is a small one.
        missing.sort(key=lambda item: -sum(fetched[d.sha256].stat().st_size for d in item[1]))
        cores = workers or os.cpu_count() or 1
        # Layers are installed and packed side by side, their blocks deflated on every core.
        with (
            ThreadPoolExecutor(cores, thread_name_prefix="ocipush-deflate") as compressor,
            ThreadPoolExecutor(
                min(len(missing), cores), thread_name_prefix="ocipush-layer"
            ) as pool,
        ):
            futures = [
                pool.submit(build.layer, group, fetched, cache, key, compressor)
                for key, group in missing
            ]
            for future in futures:
                made = future.result()
                found[made.key] = made
    layers = [found[key] for key in keys]
    _check_overlaps(layers, what)
    for deleted in cache.evict(keep=set(keys)):
        log.info(
            "layer cache: evicted %s (%d bytes, least recently used)", deleted.label, deleted.size
        )
    return [
        DependencyLayer(LabelledLayer(layer.blob, _label(group, runtime)), group)
        for layer, group in zip(layers, groups, strict=True)
    ]
