"""``make demo``: build examples/hello-app through ``ocipush.backend``, show what landed, run it.

The example is copied to a temporary directory and built as its users build it: ``python -m
build`` in an isolated environment, with ``OCIPUSH_PUSH=1`` and a registry target added to
the copy's ``[tool.ocipush]``: a throwaway local registry (``ocipush.testing.LocalRegistry``),
or the one given with ``--registry HOST:PORT``. The isolated environment installs the
example's build requirements (``ocipush``, ``hatchling``) from a local wheelhouse
(``ocipush.testing.wheelhouse``): ocipush as a wheel of this checkout, the rest downloaded
from the package index once and cached.

Before the build, a minimal Debian bookworm with python3 is pushed to that registry as the
base (``ocipush.testing.debian_base_layer``: debootstrap once, then cached in
``~/.cache/ocipush-tests``, or ``$OCIPUSH_TEST_CACHE``) and named as ``base`` in the copy's
``[tool.ocipush.image]``. After it, the image is copied out of the registry by digest
(``skopeo``), unpacked (``umoci``) and its entrypoint run in a chroot, and its output shown.

That needs root, skopeo, umoci, and debootstrap or a cached base. Without them, the demo
says why and builds the example as it is: on scratch (the app and static layers, no
interpreter), with its artifacts. Without a registry (no ``docker-registry`` binary) the
build writes only the OCI layout target, and the demo says so.

It prints the image digest and refs of each target, and the artifacts that name the image
as their subject: in a registry through the referrers fallback tag ``sha256-<hex>``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ocipush.testing import (
    DebianBaseError,
    LocalRegistry,
    LocalRegistryError,
    debian_base_layer,
    default_cache_dir,
    push_base_image,
    wheelhouse,
    wheelhouse_environ,
)

EXAMPLE = Path(__file__).resolve().parent / "hello-app"
CHECKOUT = EXAMPLE.parents[1]
REPOSITORY = "examples/hello-app"
BASE_REPOSITORY = "examples/debian-python"
# The line of the example's [tool.ocipush.image] that the demo points at its Debian base.
SCRATCH_BASE = 'base = "scratch"\n'
# What running the image takes besides the base: the unpacking and running tools.
RUN_TOOLS = ("skopeo", "umoci", "chroot")
BUILD_TIMEOUT = 600
RUN_TIMEOUT = 120
HTTP_TIMEOUT = 10
INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
TITLE = "org.opencontainers.image.title"


def _get_json(url: str, accept: str) -> dict[str, Any]:
    """GET a manifest from the registry, bypassing any proxy: it is on loopback."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"Accept": accept})  # noqa: S310
    with opener.open(request, timeout=HTTP_TIMEOUT) as response:
        document: dict[str, Any] = json.load(response)
    return document


def _titles(manifest: dict[str, Any]) -> str:
    return ", ".join(
        layer.get("annotations", {}).get(TITLE, layer["digest"]) for layer in manifest["layers"]
    )


def _registry_referrers(host: str, digest: str) -> list[tuple[str, str, str]]:
    """(digest, artifactType, file names) of each referrer, read from the fallback tag."""
    base = f"http://{host}/v2/{REPOSITORY}/manifests"
    index = _get_json(f"{base}/{digest.replace(':', '-')}", INDEX)
    found = []
    for entry in index.get("manifests", []):
        manifest = _get_json(f"{base}/{entry['digest']}", MANIFEST)
        found.append((entry["digest"], entry.get("artifactType", ""), _titles(manifest)))
    return found


def _layout_referrers(layout: Path, digest: str) -> list[tuple[str, str, str]]:
    """(digest, artifactType, file names) of each manifest in ``layout`` naming ``digest``."""
    index = json.loads((layout / "index.json").read_text(encoding="utf-8"))
    found = []
    for entry in index.get("manifests", []):
        algorithm, _, encoded = entry["digest"].partition(":")
        manifest = json.loads((layout / "blobs" / algorithm / encoded).read_bytes())
        if manifest.get("subject", {}).get("digest") == digest:
            found.append((entry["digest"], manifest.get("artifactType", ""), _titles(manifest)))
    return found


def _add_target(project: Path, host: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    text += (
        "\n# Added by examples/demo.py\n"
        "[[tool.ocipush.targets]]\n"
        f'ref = "{host}/{REPOSITORY}:{{version}}"\n'
    )
    pyproject.write_text(text, encoding="utf-8")


def _set_base(project: Path, base: str) -> None:
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    if text.count(SCRATCH_BASE) != 1:
        raise SystemExit(
            f"demo: {EXAMPLE / 'pyproject.toml'} should have one line {SCRATCH_BASE.strip()!r} "
            "in [tool.ocipush.image] for the demo to replace with its Debian base"
        )
    text = text.replace(SCRATCH_BASE, f'base = "{base}"  # set by examples/demo.py\n')
    pyproject.write_text(text, encoding="utf-8")


def _loopback_environ(**extra: str) -> dict[str, str]:
    """The environment, with 127.0.0.1 in ``NO_PROXY``: a proxy must not see registry traffic."""
    environ = dict(os.environ, **extra)
    for name in ("NO_PROXY", "no_proxy"):
        environ[name] = ",".join(filter(None, [environ.get(name, ""), "127.0.0.1"]))
    return environ


def _why_not_runnable() -> str | None:
    """What is missing to unpack and run the image here, or ``None``."""
    if os.geteuid() != 0:
        return "running the image needs root (umoci unpack and chroot); run `make demo` as root"
    missing = [tool for tool in RUN_TOOLS if shutil.which(tool) is None]
    if missing:
        return (
            f"{', '.join(missing)} not found on PATH; install the Debian packages skopeo and "
            "umoci (`make system-deps`)"
        )
    return None


def _push_base(host: str) -> str | None:
    """Push the Debian base to ``host``: its pinned reference, or ``None`` (and why not)."""
    problem = _why_not_runnable()
    if problem is None:
        print(
            f"demo: Debian bookworm base with python3 (cache {default_cache_dir()}; "
            "without it, debootstrap from the Debian mirror takes a few minutes)",
            flush=True,
        )
        started = time.monotonic()
        try:
            layer = debian_base_layer()
        except DebianBaseError as error:
            problem = str(error)
        else:
            base = push_base_image(host, BASE_REPOSITORY, layer)
            seconds = time.monotonic() - started
            print(f"demo: base {base} ({layer.size / 1e6:.0f} MB layer, {seconds:.1f} s)")
            return base
    print(f"demo: no runnable image: {problem}")
    print(
        "demo: falling back to the example as it is: an image on scratch (the app and "
        "static/ layers, no interpreter) and its artifacts"
    )
    return None


def _build(project: Path) -> None:
    print("demo: a wheelhouse of this checkout's ocipush and hatchling", flush=True)
    index = wheelhouse([CHECKOUT], ["hatchling"])
    environ = wheelhouse_environ(index, _loopback_environ(OCIPUSH_PUSH="1"))
    environ.setdefault("SOURCE_DATE_EPOCH", "1704067200")
    command = [sys.executable, "-m", "build", str(project)]
    print(f"$ OCIPUSH_PUSH=1 python -m build {project.name}", flush=True)
    completed = subprocess.run(
        command,
        cwd=project,
        env=environ,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"demo: python -m build failed with exit code {completed.returncode}")
    for line in completed.stdout.splitlines() + completed.stderr.splitlines():
        if line.startswith(("ocipush:", "Successfully built")):
            print(f"  {line}")


def _report(project: Path, host: str | None) -> str | None:
    """Print what landed; returns the digest of the image in the registry, if any."""
    outputs = json.loads((project / "build" / "ocipush-outputs.json").read_text("utf-8"))
    pushed: str | None = None
    print(f"\npublished {outputs['project']} {outputs['version']}")
    for target in outputs["targets"]:
        digest = target["digest"]
        print(f"\ntarget {target['target']} ({target['kind']})")
        print(f"  image      {digest}")
        for ref in target["refs"]:
            print(f"  ref        {ref}")
        if target["kind"] == "registry" and host is not None:
            pushed = digest
            referrers = _registry_referrers(host, digest)
            where = f"fallback tag {digest.replace(':', '-')}"
        else:
            referrers = _layout_referrers(project / "dist" / "oci", digest)
            where = "manifests in the layout with this subject"
        print(f"  referrers  ({where})")
        for referrer, artifact_type, files in referrers:
            print(f"    referrer {referrer}  {artifact_type}  [{files}]")
    return pushed


def _step(command: list[str], cwd: Path, env: Mapping[str, str]) -> str:
    """Run one step of running the image, echoed as typed; its stdout."""
    print(f"$ {' '.join(command)}", flush=True)
    try:
        completed = subprocess.run(
            command,
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise SystemExit(f"demo: {command[0]} did not finish in {RUN_TIMEOUT} s") from None
    if completed.returncode != 0:
        sys.stderr.write(completed.stdout + completed.stderr)
        raise SystemExit(f"demo: {command[0]} failed with exit code {completed.returncode}")
    return completed.stdout


def _run_image(ref: str, work: Path) -> None:
    """Copy ``ref`` out of the registry, unpack it and run its process in a chroot."""
    print(f"\nrunning {ref}")
    work.mkdir()
    tools = _loopback_environ()
    # --insecure-policy: the host's policy.json may demand signatures, and this image is ours.
    source = f"docker://{ref}"
    _step(
        ["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false", source, "oci:layout:app"],
        work,
        tools,
    )
    _step(["umoci", "unpack", "--image", "layout:app", "bundle"], work, tools)
    process = json.loads((work / "bundle" / "config.json").read_text("utf-8"))["process"]
    # Only the image's environment: the program sees what it would in a container. It sets
    # no workdir or user, so chroot's defaults (/ and root) are the image's.
    env = dict(entry.split("=", 1) for entry in process["env"])
    output = _step(["chroot", "bundle/rootfs", *process["args"]], work, env)
    for line in output.splitlines():
        print(f"  {line}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--registry",
        metavar="HOST:PORT",
        help="push to this plain-http registry instead of starting a throwaway one",
    )
    args = parser.parse_args(argv)
    registry: LocalRegistry | None = None
    host: str | None = args.registry
    if host is None:
        try:
            registry = LocalRegistry(log_level="warn").start()
            host = registry.host
        except LocalRegistryError as error:
            print(f"demo: no local registry ({error.args[0].splitlines()[0]})")
            print("demo: falling back to the OCI layout target only (dist/oci)")
            print("demo: no runnable image either: its Debian base is pushed to the registry")
    try:
        with tempfile.TemporaryDirectory(prefix="ocipush-demo-") as scratch:
            project = Path(scratch) / EXAMPLE.name
            shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("build", "dist"))
            base: str | None = None
            if host is not None:
                print(f"demo: registry at {host}")
                base = _push_base(host)
                if base is not None:
                    _set_base(project, base)
                _add_target(project, host)
            _build(project)
            pushed = _report(project, host)
            if base is not None and pushed is not None:
                _run_image(f"{host}/{REPOSITORY}@{pushed}", Path(scratch) / "run")
    finally:
        if registry is not None:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
