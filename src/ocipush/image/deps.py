"""Third-party dependencies: resolved by pip for the image's platform; the single layer.

pip decides *what* (``pip install --dry-run --report`` with ``--platform``,
``--python-version`` and ``--only-binary=:all:``, so only wheels for the image qualify). pip
is a dependency of ocipush, so it is there even in the bare environment of an isolated
``python -m build``; the resolution works with pip 22.2 (the first with ``--report``) and
later: the platform options go with ``--target`` (a directory the dry run never writes),
which pips before 24 require for them even in a dry run;
ocipush decides *where*: each wheel is installed with pypa's ``installer`` into the image's
scheme, so console scripts point at the image's interpreter, not at the one running the
build (which is what ``pip install --target`` would write into them).

With ``dependency-layers = "single"`` they are installed as one layer (the layer per
distribution of the default, "auto", is :mod:`ocipush.image.deplayers`'s), cached in the
project's ``build/ocipush`` by the resolved set (names, versions, wheel hashes) plus everything
else that shapes its bytes, so an unchanged set is never downloaded or packed again. pip
reads its usual configuration (``PIP_INDEX_URL``, ``PIP_FIND_LINKS``, ``pip.conf``…).
"""

from __future__ import annotations

import email.parser
import hashlib
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from ocipush.image.errors import DependencyError, MissingWheelError
from ocipush.image.install import LabelledLayer, install_for_layer
from ocipush.image.layer_cache import blob_from_record, blob_record, write_json
from ocipush.image.python import PythonRuntime
from ocipush.oci.blobs import FileBlob
from ocipush.oci.digest import file_digest
from ocipush.oci.layers import build_layer
from ocipush.oci.model import Platform
from ocipush.release.project import metadata_from_wheel
from ocipush.release.templates import canonical_name

__all__ = [
    "Dependency",
    "dependency_layer",
    "dependency_licenses",
    "fetch_wheels",
    "local_wheel",
    "pip_platform_tags",
    "pip_target_options",
    "platform_machine",
    "resolve_dependencies",
    "wheel_license",
    "wheel_requirements",
]

log = logging.getLogger(__name__)

#: Seconds pip may take to resolve or download; a hung index must not hang a release.
PIP_TIMEOUT = 900
#: Bumped whenever the layer's bytes are made another way, so old cache entries are not
#: reused (2: blocks deflated in parallel, wheel members' deflate streams kept).
_CACHE_FORMAT = 2
_NOT_FOUND = re.compile(r"No matching distribution found for (?P<requirement>\S+)")
_EXTRA_MARKER = re.compile(r"\bextra\s*==")
_CONFLICT = re.compile(r"ResolutionImpossible|conflicting dependencies", re.IGNORECASE)

#: OCI architecture -> the machine name in wheel platform tags.
_MACHINES = {
    "amd64": "x86_64",
    "arm64": "aarch64",
    "386": "i686",
    "ppc64le": "ppc64le",
    "s390x": "s390x",
    "riscv64": "riscv64",
}
_ARM_MACHINES = {"v7": "armv7l", "v6": "armv6l"}
#: glibc versions assumed of a Linux base: manylinux_2_17 (manylinux2014) up to 2.28 run on
#: every current distribution release a python image is built from.
_GLIBC_MINORS = range(28, 16, -1)


@dataclass(frozen=True, order=True)
class Dependency:
    """One resolved distribution: what it is, and where its wheel comes from."""

    name: str
    version: str
    url: str
    sha256: str

    @property
    def filename(self) -> str:
        return unquote(urlsplit(self.url).path.rsplit("/", 1)[-1])


def wheel_requirements(wheel: Path) -> list[str]:
    """The ``Requires-Dist`` of ``wheel`` that apply without extras."""
    with zipfile.ZipFile(wheel) as archive:
        name = next(
            (n for n in archive.namelist() if re.fullmatch(r"[^/]+\.dist-info/METADATA", n)), None
        )
        if name is None:
            raise DependencyError(f"{wheel}: not a wheel (it has no .dist-info/METADATA)")
        text = archive.read(name).decode("utf-8")
    requirements = email.parser.Parser().parsestr(text).get_all("Requires-Dist") or []
    return [r for r in requirements if not _EXTRA_MARKER.search(r)]


def platform_machine(platform: Platform) -> str:
    """The machine name of ``platform`` as wheel tags and ``uname -m`` spell it."""
    if platform.os != "linux":
        raise DependencyError(
            f"tool.ocipush.image.platforms: {platform} — only linux images can get "
            "dependency wheels; build for linux/… platforms"
        )
    if platform.architecture == "arm":
        machine = _ARM_MACHINES.get(platform.variant or "v7")
    else:
        machine = _MACHINES.get(platform.architecture)
    if machine is None:
        raise DependencyError(
            f"tool.ocipush.image.platforms: {platform} — no wheel platform tag is known for "
            f"this architecture; known: {', '.join(sorted(_MACHINES))}, arm/v6, arm/v7"
        )
    return machine


def pip_platform_tags(platform: Platform) -> list[str]:
    """The wheel platform tags an image of ``platform`` runs (pure wheels always qualify)."""
    machine = platform_machine(platform)
    tags = [f"manylinux_2_{minor}_{machine}" for minor in _GLIBC_MINORS]
    if machine in ("x86_64", "i686"):
        tags += [f"manylinux2014_{machine}", f"manylinux2010_{machine}", f"manylinux1_{machine}"]
    elif machine in ("aarch64", "ppc64le", "s390x", "armv7l"):
        tags.append(f"manylinux2014_{machine}")
    return tags


def pip_target_options(platform: Platform, runtime: PythonRuntime) -> list[str]:
    options = ["--only-binary=:all:", "--python-version", runtime.version_text]
    for tag in pip_platform_tags(platform):
        options += ["--platform", tag]
    return options


def _run_pip(
    arguments: Sequence[str], environ: Mapping[str, str], what: str
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "pip", *arguments, "--disable-pip-version-check", "--no-input"]
    log.debug("running %s", " ".join(command))
    try:
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=dict(environ),
            timeout=PIP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise DependencyError(
            f"{what}: pip took over {PIP_TIMEOUT} s; check the package index is reachable"
        ) from None


def resolve_dependencies(
    requirements: Sequence[str],
    *,
    platform: Platform,
    runtime: PythonRuntime,
    exclude: str | None,
    environ: Mapping[str, str],
    source: str,
) -> tuple[Dependency, ...]:
    """Ask pip which wheels satisfy ``requirements`` on ``platform`` with the image's Python.

    :param requirements: pip arguments naming what to install: a wheel path, or
        ``-r FILE``.
    :param exclude: a distribution to leave out (the project itself, installed separately).
    :param source: where the requirements come from, for messages.
    :raises MissingWheelError: when a dependency has no wheel for ``platform``.
    """
    what = f"dependencies of {source} for {platform} (Python {runtime.version_text})"
    with tempfile.TemporaryDirectory(prefix="ocipush-resolve-") as scratch:
        report = Path(scratch) / "report.json"
        completed = _run_pip(
            [
                "install",
                "--dry-run",
                "--ignore-installed",
                "--quiet",
                "--target",
                str(Path(scratch) / "never-written"),
                "--report",
                str(report),
                *pip_target_options(platform, runtime),
                *requirements,
            ],
            environ,
            what,
        )
        if completed.returncode != 0:
            raise _resolution_error(completed.stderr, what, platform, runtime)
        document = json.loads(report.read_text(encoding="utf-8"))
    found = []
    for item in document.get("install", []):
        metadata = item.get("metadata", {})
        name = str(metadata.get("name", ""))
        if exclude is not None and canonical_name(name) == canonical_name(exclude):
            continue
        info = item.get("download_info", {})
        sha256 = _archive_sha256(info)
        if not sha256:
            raise DependencyError(
                f"{what}: pip gave no sha256 for {name} ({info.get('url')}); only wheel "
                "archives can go into an image, not directories or VCS checkouts"
            )
        found.append(Dependency(name, str(metadata.get("version", "")), info["url"], sha256))
    return tuple(sorted(found))


def _archive_sha256(info: Mapping[str, Any]) -> str | None:
    """The sha256 of a resolved archive, as pip's report gives it (``hashes`` since pip 23,
    ``hash = "sha256=…"`` before); computed from the file for a local archive that an older
    pip reports with no hash."""
    archive = info.get("archive_info", {})
    sha256 = archive.get("hashes", {}).get("sha256")
    algorithm, _, value = str(archive.get("hash", "")).partition("=")
    if not sha256 and algorithm == "sha256":
        sha256 = value
    url = str(info.get("url", ""))
    if not sha256 and url.startswith("file:") and "archive_info" in info:
        local = Path(unquote(urlsplit(url).path))
        if local.is_file():
            sha256 = file_digest(local)[0].encoded
    return str(sha256) if sha256 else None


def _resolution_error(
    stderr: str, what: str, platform: Platform, runtime: PythonRuntime
) -> DependencyError:
    tail = "\n  ".join(line for line in stderr.strip().splitlines()[-6:] if line.strip())
    missing = _NOT_FOUND.search(stderr)
    if missing:
        requirement = missing["requirement"]
        return MissingWheelError(
            f"{what}: no wheel of {requirement} for {platform} (Python {runtime.version_text}); "
            f"ocipush installs wheels only. Publish or build a wheel of {requirement} for "
            f"{platform}, or drop {platform} from tool.ocipush.image.platforms.\n  pip said: "
            f"{tail}",
            requirement=requirement,
            platform=str(platform),
        )
    hint = " (conflicting requirements)" if _CONFLICT.search(stderr) else ""
    return DependencyError(f"{what}: pip could not resolve them{hint}:\n  {tail}")


def _cache_key(
    dependencies: Sequence[Dependency],
    runtime: PythonRuntime,
    *,
    mtime: int,
    uid: int,
    gid: int,
    bytecode: bool,
) -> str:
    material: dict[str, object] = {
        "format": _CACHE_FORMAT,
        "wheels": [[d.name, d.version, d.sha256] for d in dependencies],
        "scheme": runtime.scheme(),
        "interpreter": runtime.interpreter,
        "mtime": mtime,
        "owner": [uid, gid],
    }
    if bytecode:  # only then, so that earlier caches stay valid
        material["bytecode"] = runtime.version_text
    encoded = json.dumps(material, sort_keys=True).encode()
    return hashlib.sha256(encoded).hexdigest()


def local_wheel(dependency: Dependency, wheels: Path) -> Path:
    """Where the wheel of ``dependency`` is on this machine: its ``file:`` URL, or the cache."""
    if dependency.url.startswith("file:"):
        return Path(unquote(urlsplit(dependency.url).path))
    return wheels / dependency.filename


def wheel_license(wheel: Path) -> str | None:
    """The license of a wheel (``License-Expression``, else ``License``), if it says one."""
    try:
        return metadata_from_wheel(wheel).license or None
    except (OSError, ValueError, KeyError, StopIteration, zipfile.BadZipFile):
        return None


def dependency_licenses(
    dependencies: Sequence[Dependency],
    cache_dir: Path,
    recorded: Callable[[str], str | None] | None = None,
) -> dict[str, str]:
    """Each dependency's license from its wheel's metadata, by name.

    :param recorded: the license noted for a wheel hash when it was built into a cached layer,
        for wheels no longer (or never) on this machine; those without either are left out.
    """
    licenses = {}
    for dependency in dependencies:
        local = local_wheel(dependency, cache_dir / "wheels")
        if local.is_file():
            license_text = wheel_license(local)
        else:
            license_text = recorded(dependency.sha256) if recorded is not None else None
        if license_text:
            licenses[dependency.name] = license_text
    return licenses


def fetch_wheels(
    dependencies: Sequence[Dependency],
    wheels: Path,
    target_options: Sequence[str],
    environ: Mapping[str, str],
    what: str,
) -> list[Path]:
    """The wheel files, verified against the resolved hashes; downloaded only if missing."""
    wheels.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    wanted: list[Dependency] = []
    for dependency in dependencies:
        local = local_wheel(dependency, wheels)
        if not (local.is_file() and file_digest(local)[0].encoded == dependency.sha256):
            local = wheels / dependency.filename
            wanted.append(dependency)
        paths.append(local)
    if wanted:
        lines = [f"{d.name} @ {d.url} --hash=sha256:{d.sha256}" for d in wanted]
        with tempfile.TemporaryDirectory(prefix="ocipush-wheels-") as scratch:
            listing = Path(scratch) / "requirements.txt"
            listing.write_text("\n".join(lines) + "\n", encoding="utf-8")
            completed = _run_pip(
                [
                    "download",
                    "--no-deps",
                    "--require-hashes",
                    "--quiet",
                    *target_options,
                    "-d",
                    str(wheels),
                    "-r",
                    str(listing),
                ],
                environ,
                what,
            )
        if completed.returncode != 0:
            tail = "\n  ".join(completed.stderr.strip().splitlines()[-6:])
            raise DependencyError(f"{what}: downloading the wheels failed:\n  {tail}")
    return paths


def dependency_layer(
    dependencies: Sequence[Dependency],
    *,
    platform: Platform,
    runtime: PythonRuntime,
    cache_dir: Path,
    environ: Mapping[str, str],
    mtime: int,
    uid: int,
    gid: int,
    what: str,
    bytecode: bool = False,
) -> FileBlob | None:
    """The layer holding ``dependencies`` installed for ``runtime`` (``None`` if there are none),
    with ``.pyc`` files when ``bytecode``.

    Reused from ``cache_dir`` when this exact set was packed before.
    """
    if not dependencies:
        return None
    key = _cache_key(dependencies, runtime, mtime=mtime, uid=uid, gid=gid, bytecode=bytecode)
    index = cache_dir / "deps" / f"{key}.json"
    layers = cache_dir / "layers"
    cached = _cached_layer(index, layers, what)
    if cached is not None:
        log.info("%s: dependency layer %s reused from the cache", what, cached.digest)
        return cached
    options = pip_target_options(platform, runtime)
    wheels = fetch_wheels(dependencies, cache_dir / "wheels", options, environ, what)
    with (
        tempfile.TemporaryDirectory(prefix="ocipush-deps-") as staging,
        ThreadPoolExecutor(os.cpu_count() or 1, thread_name_prefix="ocipush-deflate") as pool,
    ):
        # Every wheel in one layer: their files are read from them again as the layer is
        # written rather than all held at once.
        entries = install_for_layer(
            wheels,
            runtime,
            Path(staging),
            uid=uid,
            gid=gid,
            bytecode=environ if bytecode else None,
            keep_members=False,
        )
        blob = build_layer(entries, layers, mtime=mtime, compressor=pool)
    index.parent.mkdir(parents=True, exist_ok=True)
    write_json(index, {"file": blob.path.name, **blob_record(blob)})
    return LabelledLayer(blob, what)


def _cached_layer(index: Path, layers: Path, what: str) -> FileBlob | None:
    try:
        record = json.loads(index.read_text(encoding="utf-8"))
        blob = blob_from_record(layers / record["file"], record)
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return None if blob is None else LabelledLayer(blob, what)
