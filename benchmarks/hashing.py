"""Hash vs no hash: pushing layout blobs whose digest is declared, with and without hashing.

The registry checks a blob's digest on the commit PUT, so hashing a blob whose digest the
layout already names is a second check of the same thing. This pushes one generated layout
(4x256 MiB by default, the push benchmark's ``layers4`` image) into a fresh local registry
with ``Writer(hash_known_digests=True)`` and ``=False`` in turn, ``--repeat`` times, and
prints the medians. In-process, so both sides pay the same start-up (none).

    .venv/bin/python benchmarks/hashing.py --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from push import TAG, MiB, generate_layout

from ocipush.oci.layout import read_layout
from ocipush.oci.reference import parse_reference
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from ocipush.testing import LocalRegistry


def _push(root: Path, *, hashing: bool) -> float:
    with LocalRegistry(log_level="warn") as registry:
        writer = Writer(Transport(ConnectionOptions(proxies={})), hash_known_digests=hashing)
        image = read_layout(root, TAG)
        os.sync()
        started = time.perf_counter()
        writer.multi_write({parse_reference(f"{registry.host}/bench/hashing:{TAG}"): image})
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=3, metavar="N")
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--mib", type=int, default=256, help="size of each layer in MiB")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ocipush-hashing-") as scratch:
        layout = generate_layout(Path(scratch) / "layout", args.layers, args.mib * MiB)
        times: dict[bool, list[float]] = {True: [], False: []}
        for repetition in range(args.repeat):
            for hashing in (True, False):  # take turns, so drift is shared
                seconds = _push(layout.root, hashing=hashing)
                times[hashing].append(seconds)
                print(f"[{repetition + 1}] hashing={hashing}: {seconds:.2f} s", file=sys.stderr)
    hashed, counted = (statistics.median(times[h]) for h in (True, False))
    print(
        f"{args.layers}x{args.mib}MiB, median of {args.repeat}: hashing {hashed:.2f} s, "
        f"no hashing {counted:.2f} s ({counted / hashed:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
