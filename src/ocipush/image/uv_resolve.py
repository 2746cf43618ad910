"""``resolver = "uv"``: the dependencies resolved by uv instead of pip (faster), same answer.

``uv pip compile`` resolves for the image's platform and Python (``--python-platform``,
``--python-version``, wheels only) and writes a PEP 751 lock, which is then read like a
user's ``pylock.toml`` (:mod:`ocipush.image.locks`): same wheels, same hashes, same layer
as pip's. pip's index settings in the environment (``PIP_INDEX_URL``,
``PIP_EXTRA_INDEX_URL``, ``PIP_FIND_LINKS``, ``PIP_NO_INDEX``) are passed on as uv options,
so both resolvers read the same indexes; uv's own ``UV_*`` settings apply too.
"""

from __future__ import annotations

import re
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from ocipush.image.deps import PIP_TIMEOUT, Dependency, platform_machine
from ocipush.image.errors import DependencyError, MissingWheelError
from ocipush.image.locks import pylock_dependencies, uv_program
from ocipush.image.python import PythonRuntime
from ocipush.oci.model import Platform

__all__ = ["uv_resolve"]

#: uv's platform names for the machines it resolves for (glibc 2.28, as pip's tags allow).
_UV_PLATFORMS = {"x86_64": "x86_64-manylinux_2_28", "aarch64": "aarch64-manylinux_2_28"}
_NO_WHEEL = re.compile(r"(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)(==\S+)? has no wheels? with a")


def _index_options(environ: Mapping[str, str]) -> list[str]:
    options = []
    if environ.get("PIP_NO_INDEX", "").lower() in ("1", "true", "yes", "on"):
        options.append("--no-index")
    if environ.get("PIP_INDEX_URL"):
        options += ["--index-url", environ["PIP_INDEX_URL"]]
    for url in environ.get("PIP_EXTRA_INDEX_URL", "").split():
        options += ["--extra-index-url", url]
    for location in environ.get("PIP_FIND_LINKS", "").split():
        options += ["--find-links", location]
    return options


def uv_resolve(
    requirements: Sequence[str],
    *,
    platform: Platform,
    runtime: PythonRuntime,
    environ: Mapping[str, str],
    source: str,
) -> tuple[Dependency, ...]:
    """Resolve ``requirements`` (requirement lines) with uv for ``platform``.

    :raises MissingWheelError: a dependency has no wheel for ``platform``.
    :raises DependencyError: uv is missing or cannot resolve them.
    """
    what = f"dependencies of {source} for {platform} (Python {runtime.version_text})"
    machine = platform_machine(platform)
    if machine not in _UV_PLATFORMS:
        raise DependencyError(
            f'tool.ocipush.image.resolver: "uv" resolves for linux/amd64 and linux/arm64 '
            f"only, not {platform}; use the default pip resolver"
        )
    with tempfile.TemporaryDirectory(prefix="ocipush-uv-") as scratch:
        listing = Path(scratch) / "requirements.txt"
        listing.write_text("".join(f"{line}\n" for line in requirements), encoding="utf-8")
        command = [
            uv_program(),
            *("pip", "compile", str(listing), "--format", "pylock.toml"),
            *("--python-version", runtime.version_text),
            *("--python-platform", _UV_PLATFORMS[machine]),
            *("--only-binary", ":all:", "--quiet", "--no-header"),
            *_index_options(environ),
        ]
        try:
            done = subprocess.run(
                command,
                env=dict(environ),
                capture_output=True,
                text=True,
                timeout=PIP_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise DependencyError(f"{what}: uv took over {PIP_TIMEOUT} s") from None
    if done.returncode != 0:
        tail = "\n  ".join(line for line in done.stderr.strip().splitlines()[-6:] if line)
        missing = _NO_WHEEL.search(done.stderr)
        if missing:
            raise MissingWheelError(
                f"{what}: no wheel of {missing['name']} for {platform}; ocipush installs "
                f"wheels only.\n  uv said: {tail}",
                requirement=missing["name"],
                platform=str(platform),
            )
        raise DependencyError(f"{what}: uv could not resolve them:\n  {tail}")
    return pylock_dependencies(
        done.stdout, Path(scratch) / "pylock.toml", platform=platform, runtime=runtime, exclude=None
    )
