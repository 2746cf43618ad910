"""``make demo``: build examples/hello-app through ``ocipush.backend`` and show what landed.

The example is copied to a temporary directory and built with ``python -m build
--no-isolation`` and ``OCIPUSH_PUSH=1``, with a registry target added to the copy's
``[tool.ocipush]``: a throwaway local registry (``ocipush.testing.LocalRegistry``), or the
one given with ``--registry HOST:PORT``. Without a registry (no ``docker-registry``
binary) the build writes only the OCI layout target, and the demo says so.

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
import urllib.request
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ocipush.testing import LocalRegistry, LocalRegistryError

EXAMPLE = Path(__file__).resolve().parent / "hello-app"
REPOSITORY = "examples/hello-app"
BUILD_TIMEOUT = 120
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


def _build(project: Path) -> None:
    environ = dict(os.environ, OCIPUSH_PUSH="1")
    environ.setdefault("SOURCE_DATE_EPOCH", "1704067200")
    # The registry is on loopback: never send that traffic to a proxy from the environment.
    for name in ("NO_PROXY", "no_proxy"):
        environ[name] = ",".join(filter(None, [environ.get(name, ""), "127.0.0.1"]))
    command = [sys.executable, "-m", "build", "--no-isolation", str(project)]
    print(f"$ OCIPUSH_PUSH=1 python -m build --no-isolation {project.name}", flush=True)
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


def _report(project: Path, host: str | None) -> None:
    outputs = json.loads((project / "build" / "ocipush-outputs.json").read_text("utf-8"))
    print(f"\npublished {outputs['project']} {outputs['version']}")
    for target in outputs["targets"]:
        digest = target["digest"]
        print(f"\ntarget {target['target']} ({target['kind']})")
        print(f"  image      {digest}")
        for ref in target["refs"]:
            print(f"  ref        {ref}")
        if target["kind"] == "registry" and host is not None:
            referrers = _registry_referrers(host, digest)
            where = f"fallback tag {digest.replace(':', '-')}"
        else:
            referrers = _layout_referrers(project / "dist" / "oci", digest)
            where = "manifests in the layout with this subject"
        print(f"  referrers  ({where})")
        for referrer, artifact_type, files in referrers:
            print(f"    referrer {referrer}  {artifact_type}  [{files}]")


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
    try:
        with tempfile.TemporaryDirectory(prefix="ocipush-demo-") as scratch:
            project = Path(scratch) / EXAMPLE.name
            shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("build", "dist"))
            if host is not None:
                print(f"demo: registry at {host}")
                _add_target(project, host)
            _build(project)
            _report(project, host)
    finally:
        if registry is not None:
            registry.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
