"""A real base image without a daemon: Debian bookworm with ``python3`` from ``debootstrap``."""

from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from ocipush.errors import OcipushError
from ocipush.image.layer_cache import blob_from_record, blob_record, write_json
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob
from ocipush.oci.images import Image
from ocipush.oci.layers import LayerEntry, build_layer, entries_from_directory
from ocipush.oci.reference import parse_reference
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from ocipush.testing.registry import tail_of_file

if TYPE_CHECKING:
    pass

DEBIAN_SUITE = "bookworm"
DEBIAN_VARIANT = "minbase"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: The interpreter bookworm's ``python3`` package installs; console scripts get it as shebang.
DEBIAN_PYTHON = "/usr/bin/python3.11"
#: Where installed packages go: on ``sys.path`` of Debian's python3 but not owned by dpkg.
DEBIAN_SITE_PACKAGES = "/usr/local/lib/python3.11/dist-packages"
#: Names the cached layer; bump the version when the packing below changes, so a stale layer
#: is not reused.
DEBIAN_CACHE_KEY = f"debootstrap-{DEBIAN_SUITE}-{DEBIAN_VARIANT}-python3-v1"
DEBOOTSTRAP_TIMEOUT = 900
# Not worth a layer: debootstrap's download cache, apt lists, and kernel-provided trees.
_DEBIAN_EXCLUDE = (
    "dev/**",
    "proc/**",
    "sys/**",
    "run/**",
    "tmp/**",
    "var/cache/apt/archives/**",
    "var/lib/apt/lists/**",
    "var/log/**",
)
# uname's machine name to the OCI architecture; debootstrap builds for the host.
_OCI_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


class DebianBaseError(OcipushError):
    """The Debian base layer could not be built (not root, no debootstrap, mirror failure)."""


def default_cache_dir() -> Path:
    """``$OCIPUSH_TEST_CACHE``, else ``~/.cache/ocipush-tests``: kept between runs on purpose."""
    configured = os.environ.get("OCIPUSH_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "ocipush-tests"


def _cached_layer(directory: Path) -> FileBlob | None:
    record_path = directory / "layer.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        return blob_from_record(directory / record["file"], record)
    except (OSError, ValueError, KeyError, TypeError):
        # Absent, or left half-written by an interrupted run: build it again.
        return None


def _debootstrap(rootfs: Path) -> None:
    if os.geteuid() != 0:
        raise DebianBaseError(
            "building the Debian base needs root (debootstrap chroots and creates device "
            "nodes); run as root or with sudo, or point OCIPUSH_TEST_CACHE at a cache that "
            f"already holds {DEBIAN_CACHE_KEY}"
        )
    if shutil.which("debootstrap") is None:
        raise DebianBaseError(
            "building the Debian base needs debootstrap, which is not on PATH; install the "
            "Debian package debootstrap (`make system-deps`, or apt-get install debootstrap)"
        )
    command = [
        "debootstrap",
        f"--variant={DEBIAN_VARIANT}",
        "--include=python3",
        DEBIAN_SUITE,
        str(rootfs),
        DEBIAN_MIRROR,
    ]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise DebianBaseError(
            f"{' '.join(command)} did not finish in {DEBOOTSTRAP_TIMEOUT} s; check that "
            f"{DEBIAN_MIRROR} is reachable (HTTP_PROXY is honoured) and retry"
        ) from None
    except subprocess.CalledProcessError as error:
        log = tail_of_file(rootfs / "debootstrap" / "debootstrap.log")
        raise DebianBaseError(
            f"{' '.join(command)} exited with {error.returncode}; check that {DEBIAN_MIRROR} "
            f"is reachable. stderr:\n{error.stderr.strip()}\ndebootstrap.log ends with:\n{log}"
        ) from None


def debian_base_layer(cache_dir: Path | None = None) -> FileBlob:
    """One reproducible layer holding a minimal Debian bookworm with ``python3``.

    Built once with ``debootstrap --variant=minbase --include=python3`` (needs root and the
    Debian mirror; a few minutes), packed with :func:`ocipush.oci.layers.build_layer`, and kept in
    ``cache_dir`` (default :func:`default_cache_dir`) under :data:`DEBIAN_CACHE_KEY`; later
    calls only read the cache. Its interpreter is :data:`DEBIAN_PYTHON`.

    :raises DebianBaseError: when the layer is not cached and cannot be built.
    """
    directory = (cache_dir or default_cache_dir()) / DEBIAN_CACHE_KEY
    cached = _cached_layer(directory)
    if cached is not None:
        return cached
    directory.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=directory))
    try:
        _debootstrap(rootfs)
        entries = entries_from_directory(rootfs, "/", exclude=_DEBIAN_EXCLUDE)
        entries = [entry for entry in entries if entry.path != "/"]
        # Runtimes mount over these; they must exist, empty, in the image.
        entries += [LayerEntry(f"/{name}", None, 0o755) for name in ("dev", "proc", "sys", "run")]
        entries.append(LayerEntry("/tmp", None, 0o1777))  # noqa: S108 (a path in the image)
        blob = build_layer(entries, directory)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    # Written last and renamed into place: a record always names a complete layer file.
    write_json(directory / "layer.json", {"file": blob.path.name, **blob_record(blob)})
    return blob


def push_base_image(registry_host: str, repo: str, layer: FileBlob) -> str:
    """Push a one-layer image of ``layer`` (from :func:`debian_base_layer`) to a registry.

    It is tagged with the suite (``bookworm``) and its config sets ``PATH`` and
    ``Cmd = ["python3"]``, like Debian's own images. The registry is reached directly, never
    through a proxy from the environment: it is meant to be a local one.

    :return: ``registry_host/repo@digest``, a pinned ``[tool.ocipush.image] base``.
    """
    machine = platform.machine().lower()
    made_by = f"debootstrap --variant={DEBIAN_VARIANT} --include=python3 {DEBIAN_SUITE}"
    config = {
        "architecture": _OCI_ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["python3"],
        },
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id)]},
        "history": [{"created_by": made_by}],
    }
    image = Image(
        layers=[layer],
        config=BytesBlob(json.dumps(config, sort_keys=True).encode(), mt.OCI_CONFIG),
    )
    writer = Writer(Transport(ConnectionOptions(proxies={})))
    descriptor = writer.write(parse_reference(f"{registry_host}/{repo}:{DEBIAN_SUITE}"), image)
    return f"{registry_host}/{repo}@{descriptor.digest}"
