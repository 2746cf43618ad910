"""Peak memory of one large push: a generated blob (default 4 GiB) from an OCI layout to a local
registry, by ``python -m ocipush.cli copy`` in a child process; reports the child's ru_maxrss.

The layer is written in 4 MiB pieces of pseudo-random bytes (no compression can shortcut it),
so generation needs disk but no memory. Not a test: ``python benchmarks/memory.py [--gib N]``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ocipush.testing import LocalRegistry

MiB = 1024 * 1024
PIECE = 4 * MiB


def _blob(root: Path, data: bytes) -> dict[str, object]:
    digest = hashlib.sha256(data).hexdigest()
    (root / "blobs" / "sha256" / digest).write_bytes(data)
    return {"digest": f"sha256:{digest}", "size": len(data)}


def make_layout(root: Path, size: int) -> None:
    (root / "blobs" / "sha256").mkdir(parents=True)
    scratch = root / "layer.tmp"
    hasher = hashlib.sha256()
    seed = hashlib.sha256(b"ocipush-memory").digest() * (PIECE // 32)
    with scratch.open("wb") as out:
        written = 0
        while written < size:
            piece = seed[: min(PIECE, size - written)]
            # Vary each piece cheaply so the content is not one repeated block.
            piece = written.to_bytes(8, "big") + piece[8:]
            hasher.update(piece)
            out.write(piece)
            written += len(piece)
    digest = hasher.hexdigest()
    scratch.rename(root / "blobs" / "sha256" / digest)
    config = _blob(root, b'{"architecture":"amd64","os":"linux","rootfs":{"type":"layers"}}')
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config},
            "layers": [
                {
                    "mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": f"sha256:{digest}",
                    "size": size,
                }
            ],
        }
    ).encode()
    entry = _blob(root, manifest)
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                **entry,
                "annotations": {"org.opencontainers.image.ref.name": "mem"},
            }
        ],
    }
    (root / "index.json").write_text(json.dumps(index))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gib", type=float, default=4.0, help="blob size in GiB (default 4)")
    parser.add_argument("--timeout", type=float, default=900, help="seconds the push may take")
    args = parser.parse_args()
    size = int(args.gib * 1024 * MiB)
    work = Path(tempfile.mkdtemp(prefix="ocipush-memory-"))
    free = shutil.disk_usage(work).free
    if free < 2.2 * size:
        print(f"need about {2.2 * size / MiB:.0f} MiB free in {work}, have {free / MiB:.0f}")
        return 1
    try:
        make_layout(work / "layout", size)
        with LocalRegistry(workdir=work / "registry") as registry:
            environment = {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}
            command = [sys.executable, "-m", "ocipush.cli", "copy", "--no-progress"]
            command += [f"oci:{work / 'layout'}:mem", f"{registry.host}/bench/memory:mem"]
            started = time.monotonic()
            result = subprocess.run(command, env=environment, timeout=args.timeout, check=False)
            elapsed = time.monotonic() - started
            # Linux reports ru_maxrss in KiB; the only child waited for is the push.
            peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
        print(
            f"push of {size / MiB:.0f} MiB: exit {result.returncode}, {elapsed:.1f} s, "
            f"peak RSS {peak / MiB:.1f} MiB"
        )
        return result.returncode
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
