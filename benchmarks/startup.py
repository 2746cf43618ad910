"""Start-up time saved by ``compile-bytecode = true``: the sample app on the Debian base.

For each app size (hello-app's one module, and an app of ``--modules`` generated modules
imported at start), the image is built twice, without and with ``compile-bytecode``, into an
OCI layout, unpacked with umoci and run in a chroot ``--runs`` times. Each run sets
``PYTHONDONTWRITEBYTECODE=1`` so it starts like a fresh container on a read-only image: without
``.pyc`` files every start compiles the app again. Reports median wall times.

Needs root (chroot), umoci and the cached Debian base (``ocipush.testing.debian_base_layer``,
as the image tests use). Not a test: ``python benchmarks/startup.py [--runs 20]``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ocipush.cli import main as ocipush
from ocipush.testing import LocalRegistry, debian_base_layer, push_base_image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from image.sample import _table, build_wheel

RUN_TIMEOUT = 60
CHROOT = shutil.which("chroot") or "/usr/sbin/chroot"


def _module(number: int) -> str:
    """A module with some classes and functions, like an ordinary application module."""
    body = [f'"""Module {number}."""', "import dataclasses", ""]
    for index in range(20):
        body += [
            "@dataclasses.dataclass",
            f"class Record{index}:",
            "    name: str",
            "    size: int = 0",
            "",
            "    def describe(self) -> str:",
            f"        return f'{{self.name}} ({{self.size}}) #{index}'",
            "",
            f"def handle_{index}(items: list[int]) -> dict[str, int]:",
            "    totals = {'even': 0, 'odd': 0}",
            "    for item in items:",
            "        totals['even' if item % 2 == 0 else 'odd'] += item",
            "    return totals",
            "",
        ]
    return "\n".join(body)


def write_app(root: Path, base: str, modules: int, *, compiled: bool) -> Path:
    package = root / "src" / "startup_app"
    package.mkdir(parents=True)
    imports = "".join(f"from startup_app import m{n}  # noqa: F401\n" for n in range(modules))
    (package / "__init__.py").write_text(imports + "\n\ndef main():\n    print('started')\n")
    for number in range(modules):
        (package / f"m{number}.py").write_text(_module(number))
    (root / "pyproject.toml").write_text(
        _table("build-system", {"requires": ["hatchling"], "build-backend": "hatchling.build"})
        + _table("project", {"name": "startup-app", "version": "1.0.0"})
        + _table("project.scripts", {"app": "startup_app:main"})
        + _table("tool.hatch.build.targets.wheel", {"packages": ["src/startup_app"]})
        + _table("tool.ocipush.image", {"base": base, "compile-bytecode": compiled})
    )
    build_wheel(root, root / "dist")
    return root


def unpacked_image(root: Path) -> Path:
    layout = root / "layout"
    code = ocipush(["build", "--no-progress", "--project", str(root), "--target", f"oci:{layout}"])
    if code != 0:
        raise SystemExit(f"ocipush build failed in {root}")
    bundle = root / "bundle"
    subprocess.run(
        ["umoci", "unpack", "--rootless", "--image", f"{layout}:1.0.0", str(bundle)],
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    return bundle / "rootfs"


def median_start(rootfs: Path, runs: int) -> float:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(
            [CHROOT, str(rootfs), "/usr/bin/app"],
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
        times.append(time.perf_counter() - started)
        if done.stdout != "started\n":
            raise SystemExit(f"the app did not start: {done.stderr}")
    return statistics.median(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="starts per image (median)")
    parser.add_argument("--modules", type=int, default=200, help="modules of the larger app")
    args = parser.parse_args()
    os.environ.setdefault("SOURCE_DATE_EPOCH", "1700000000")
    layer = debian_base_layer()
    rows = []
    with tempfile.TemporaryDirectory(prefix="ocipush-startup-") as scratch:
        work = Path(scratch)
        with LocalRegistry(workdir=work / "registry") as registry:
            base = push_base_image(registry.host, "bench/debian-python", layer)
            for modules in (1, args.modules):
                timings = {}
                for compiled in (False, True):
                    root = work / f"app-{modules}-{compiled}"
                    rootfs = unpacked_image(write_app(root, base, modules, compiled=compiled))
                    timings[compiled] = median_start(rootfs, args.runs)
                    print(f"{modules} modules, pyc={compiled}: done", file=sys.stderr)
                rows.append((modules, timings[False], timings[True]))
    print(f"Median start-up of the app in a chroot, {args.runs} runs each (Debian bookworm,")
    print("Python 3.11, PYTHONDONTWRITEBYTECODE=1 as on a read-only image):\n")
    print("| app modules | without .pyc | compile-bytecode | saved |")
    print("|---|---|---|---|")
    for modules, plain, compiled in rows:
        saved = plain - compiled
        print(
            f"| {modules} | {plain * 1000:.0f} ms | {compiled * 1000:.0f} ms | "
            f"{saved * 1000:.0f} ms ({saved / plain:.0%}) |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
