"""Resource bounds of a large push: connections and threads, measured from the client side.

Connections are this process's established TCP sockets to the registry port: the sockets in
``/proc/net/tcp`` whose inode is one of our own file descriptors.
"""

from __future__ import annotations

import os
import threading
import time

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image
from ocipush.oci.reference import parse_reference
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.writer import Writer
from support.tools import skopeo_inspect_raw

BLOBS = 2_000
JOBS = 8
SAMPLE_EVERY = 0.05
MAX_SAMPLES = 4_000  # 200 s of sampling at most, far beyond the push
_ESTABLISHED = "01"


def _own_socket_inodes() -> set[str]:
    inodes = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _writer_threads() -> int:
    """Threads the writer started (its pool names them ``ocipush_N``); other tests' servers
    may come and go in the same process, so the whole count would say nothing."""
    return sum(thread.name.startswith("ocipush") for thread in threading.enumerate())


def connections_to(port: int) -> int:
    """Established TCP connections from this process to ``127.0.0.1:port``."""
    mine = _own_socket_inodes()
    count = 0
    with open("/proc/net/tcp") as table:
        next(table)
        for line in table:
            fields = line.split()
            remote, state, inode = fields[2], fields[3], fields[9]
            if state == _ESTABLISHED and int(remote.split(":")[1], 16) == port and inode in mine:
                count += 1
    return count


def test_two_thousand_blobs_stay_within_jobs_plus_one_connections_and_bounded_threads(
    local_registry_factory, repo_name
):
    # A registry of its own: idle keep-alive connections that earlier in-process runs left
    # to the shared registry would be counted as this writer's.
    registry = local_registry_factory(log_level="warn")
    layers = [BytesBlob(f"{repo_name} blob {i}\n".encode(), mt.OCI_LAYER) for i in range(BLOBS - 1)]
    image = Image(layers=layers, config=BytesBlob(b"{}", mt.OCI_CONFIG))
    port = int(registry.host.rsplit(":", 1)[1])
    writer = Writer(jobs=JOBS, retry=RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.1))
    samples: list[tuple[int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set() and len(samples) < MAX_SAMPLES:
            samples.append((connections_to(port), _writer_threads()))
            done.wait(SAMPLE_EVERY)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    started = time.monotonic()
    try:
        writer.write(parse_reference(f"{registry.host}/{repo_name}:v1"), image)
    finally:
        done.set()
        sampler.join(5)
    elapsed = time.monotonic() - started
    peak_connections = max(c for c, _ in samples)
    peak_threads = max(t for _, t in samples)
    print(
        f"resources: {BLOBS} blobs in {elapsed:.1f} s, {len(samples)} samples, "
        f"peak {peak_connections} connections, peak {peak_threads} writer threads"
    )

    assert len(samples) > 10
    assert 1 <= peak_connections <= JOBS + 1
    # The pool's workers and nothing else: no thread per blob.
    assert 1 <= peak_threads <= JOBS
    assert writer.last_result.uploaded == {b.digest for b in image.blobs()}
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw
