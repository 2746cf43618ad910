"""Dependency-layer build time for a numpy + pandas + idna app, against tar | gzip and pigz.

The dependency set is resolved by pip for linux/amd64 and Python 3.11 (the package index
ocipush would use; wheels are downloaded once, untimed). Then, each ``--runs`` times:

- **ocipush cold**: ``dependency-layers = "auto"`` with an empty layer cache: every wheel
  installed (in memory) and packed as its own reproducible tar+gzip layer, in parallel
  (one worker per core);
- **tar | gzip -6**: the same wheels installed into one tree (untimed), then
  ``tar -cf - . | gzip -6 > /dev/null``, the single-threaded baseline;
- **tar | pigz -6**: the same with ``pigz -6`` (Debian ``pigz``), which uses every core: the
  machine's compression ceiling;
- **ocipush pack only**: the same installed files, already in memory (untimed), packed as one
  layer: the wheels' deflate streams kept as they are, the rest deflated in blocks on every
  core; the packing step alone (the baselines start from an installed tree too);
- **ocipush single**: ``dependency-layers = "single"`` from scratch: today's one layer;
- **ocipush cold, big-wheel way**: the same, every wheel handled as one past
  ``IN_MEMORY_BYTES`` is (its files not held from the install to the layer but read from the
  wheel again, in pieces);
- **ocipush warm**: "auto" again with the cache filled by the cold run: no wheel is read.

Not a test: ``python benchmarks/deplayers.py [--runs 3]``. Medians are printed as Markdown.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ocipush.image import deplayers
from ocipush.image.deplayers import DependencyLayer, dependency_layers
from ocipush.image.deps import (
    dependency_layer,
    fetch_wheels,
    pip_target_options,
    resolve_dependencies,
)
from ocipush.image.install import install_in_memory, install_wheels
from ocipush.image.layer_cache import LayerCache
from ocipush.image.python import PythonRuntime
from ocipush.oci.layers import build_layer
from ocipush.oci.model import Platform

PLATFORM = Platform("linux", "amd64")
RUNTIME = PythonRuntime(
    "/usr/local/bin/python3.11", (3, 11), "/usr/local/lib/python3.11/site-packages"
)
REQUIREMENTS = ["numpy", "pandas", "idna"]


def _timed(action: Callable[[], object]) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this process and its children (the machine is shared:
    CPU time does not grow when other work takes the cores)."""

    def cpu() -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime

    started, started_cpu = time.perf_counter(), cpu()
    action()
    return time.perf_counter() - started, cpu() - started_cpu


def _shell(command: str, cwd: Path) -> None:
    subprocess.run(["sh", "-c", command], cwd=cwd, check=True, timeout=600)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("pigz") is None:
        print("pigz is missing: apt-get install pigz (make system-deps)", file=sys.stderr)
        return 1
    environ = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="ocipush-bench-deps-") as scratch:
        work = Path(scratch)
        dependencies = resolve_dependencies(
            REQUIREMENTS,
            platform=PLATFORM,
            runtime=RUNTIME,
            exclude=None,
            environ=environ,
            source="benchmark",
        )
        options = pip_target_options(PLATFORM, RUNTIME)
        wheels = fetch_wheels(dependencies, work / "wheels", options, environ, "benchmark")
        tree = work / "tree"
        install_wheels(wheels, RUNTIME, tree, uid=0, gid=0)
        tree_bytes = sum(p.stat().st_size for p in tree.rglob("*") if p.is_file())

        def auto(wheels_dir: Path) -> list[DependencyLayer]:
            return dependency_layers(
                dependencies,
                platform=PLATFORM,
                runtime=RUNTIME,
                cache=LayerCache(work / "cache"),
                wheels_dir=wheels_dir,
                environ=environ,
                uid=0,
                gid=0,
                what="benchmark",
            )

        def cold() -> None:
            LayerCache(work / "cache").clear()
            layers.append(auto(work / "wheels"))

        def streamed() -> None:
            """As a wheel past IN_MEMORY_BYTES is built: files read from it again."""
            kept = deplayers.IN_MEMORY_BYTES
            deplayers.IN_MEMORY_BYTES = 0
            try:
                cold()
            finally:
                deplayers.IN_MEMORY_BYTES = kept

        def warm() -> None:
            auto(work / "no-wheels-needed")

        def single() -> None:
            shutil.rmtree(work / "single", ignore_errors=True)
            dependency_layer(
                dependencies,
                platform=PLATFORM,
                runtime=RUNTIME,
                cache_dir=work / "single",
                environ={**environ, "PIP_FIND_LINKS": str(work / "wheels")},
                mtime=0,
                uid=0,
                gid=0,
                what="benchmark",
            )
            shutil.copytree(work / "wheels", work / "single" / "wheels", dirs_exist_ok=True)

        installed = [e for wheel in wheels for e in install_in_memory(wheel, RUNTIME, uid=0, gid=0)]

        def pack() -> None:
            with ThreadPoolExecutor(os.cpu_count() or 1) as compressor:
                build_layer(installed, work / "packed", compressor=compressor)

        layers: list[list[DependencyLayer]] = []
        rows: dict[str, list[tuple[float, float]]] = {}
        for _ in range(args.runs):
            rows.setdefault("tar | gzip -6 (installed tree)", []).append(
                _timed(lambda: _shell("tar -cf - . | gzip -6 > /dev/null", tree))
            )
            rows.setdefault("tar | pigz -6 (installed tree)", []).append(
                _timed(lambda: _shell("tar -cf - . | pigz -6 > /dev/null", tree))
            )
            rows.setdefault("ocipush pack only (installed files in memory)", []).append(
                _timed(pack)
            )
            rows.setdefault('ocipush cold, "auto" (install + pack, from wheels)', []).append(
                _timed(cold)
            )
            rows.setdefault('ocipush cold, "auto", big-wheel way (files read again)', []).append(
                _timed(streamed)
            )
            rows.setdefault('ocipush warm, "auto" (every layer cached)', []).append(_timed(warm))
            rows.setdefault('ocipush cold, "single" (install + pack, from wheels)', []).append(
                _timed(single)
            )
        pigz = statistics.median(wall for wall, _ in rows["tar | pigz -6 (installed tree)"])
        names = ", ".join(f"{d.name} {d.version}" for d in dependencies)
        built = layers[-1]
        layer_bytes = sum(layer.blob.size or 0 for layer in built)
        print(f"Dependencies: {names}; installed tree {tree_bytes / 2**20:.1f} MiB;")
        print(f"{len(built)} layers, {layer_bytes / 2**20:.1f} MiB compressed; ")
        print(f"{os.cpu_count()} cores; median of {args.runs} runs.\n")
        print("| what | wall s | vs pigz | CPU s |\n|---|---|---|---|")
        for name, times in rows.items():
            median = statistics.median(wall for wall, _ in times)
            cpu = statistics.median(used for _, used in times)
            cell = name.replace("|", "\\|")  # a pipe in a row name would split its cell
            print(f"| {cell} | {median:.2f} | {median / pigz:.2f} | {cpu:.2f} |")
        print(f"\nload average at the end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
