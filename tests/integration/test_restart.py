"""The registry restarted mid-push (``LocalRegistry.restart()``: kill, start on the same storage
and port). Upload sessions survive a restart on distribution 2.8 (state lives in storage and in
the signed ``_state`` parameter), so what survives depends on where the kill lands:

- between two chunks (the next PATCH's headers sent, none of its body): the upload resumes at
  the registry's offset and only that chunk is sent again;
- inside a chunk's body: the registry keeps the partial bytes but the session is invalid
  (404 BLOB_UPLOAD_INVALID), so the blob starts again in a new session.

The restart is triggered from the progress callback, which runs on the uploading thread in the
middle of a PATCH body: that pins the kill to an exact byte offset.
"""

from __future__ import annotations

import threading
import time

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image
from ocipush.oci.reference import parse_reference
from ocipush.registry.progress import ProgressUpdate
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Timeouts, Transport
from ocipush.registry.writer import Writer
from ocipush.testing import LocalRegistry
from support.images import make_config, make_tar_gz_layer
from support.proxy import Proxy
from support.tools import skopeo_inspect_raw

MiB = 1024 * 1024
CHUNK = 2 * MiB
SIZE = 5 * MiB
# Enough tries, spaced enough, to outlast a registry start (well under a second).
SETTLE = 0.3
RETRY = RetryPolicy(attempts=8, initial_delay=0.05, max_delay=0.5)


class CountingProxy(Proxy):
    """Counts every request body byte it reads from the client, per method.

    Exchanges cut by an upstream failure are not in :attr:`Proxy.exchanges`, but their bytes
    were sent all the same: this is what "bytes resent" is measured with.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__(upstream)
        self.received: dict[str, int] = {}
        self._count_lock = threading.Lock()

    def _serve(self, handler) -> None:
        # From the class: on a kept-alive connection the instance already holds our wrapper.
        read = type(handler).request_body.__get__(handler)

        def counted():
            for data in read():
                with self._count_lock:
                    self.received[handler.command] = self.received.get(handler.command, 0) + len(
                        data
                    )
                yield data

        handler.request_body = counted
        super()._serve(handler)


def _image(seed: str) -> Image:
    data = (seed.encode() * (SIZE // len(seed) + 1))[:SIZE]
    big = BytesBlob(data, mt.OCI_LAYER)
    small = make_tar_gz_layer({"small.txt": seed.encode()})
    # diff_id only matters for the config's shape; the big layer reuses the small one's.
    big.diff_id = small.diff_id
    return Image(layers=[big, small], config=make_config([big, small]))


def _restart_at(registry: LocalRegistry, complete: int) -> tuple[list[ProgressUpdate], object]:
    """A progress callback that restarts ``registry`` once progress first exceeds ``complete``."""
    done = threading.Event()

    def progress(update: ProgressUpdate) -> None:
        if not done.is_set() and update.complete > complete:
            done.set()
            # Let the proxy pass on what was sent so far, so the kill lands mid-request.
            time.sleep(SETTLE)
            registry.restart()

    return [], progress


def _push_with_restart(tmp_path_factory, repo_name, restart_after: int):
    registry = LocalRegistry(workdir=tmp_path_factory.mktemp("restarted")).start()
    try:
        proxy = CountingProxy(registry.url).start()
        image = _image(repo_name)
        _, progress = _restart_at(registry, restart_after)
        connection = ConnectionOptions(timeouts=Timeouts(connect=2, read=10), retry=RETRY)
        writer = Writer(
            Transport(connection, jobs=1),
            jobs=1,
            retry=RETRY,
            chunk_threshold=CHUNK,
            chunk_size=CHUNK,
            progress=progress,
        )
        descriptor = writer.write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)
        assert descriptor.digest == image.manifest().digest
        assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw
        proxy.stop()
        return proxy, image
    finally:
        registry.stop()


def test_restart_between_chunks_resumes_and_resends_at_most_one_chunk(tmp_path_factory, repo_name):
    # The first body piece of the second chunk is counted just before it is sent.
    proxy, _ = _push_with_restart(tmp_path_factory, repo_name, CHUNK)

    big = [e for e in proxy.find("PATCH") if e.request_headers.get("Content-Range")]
    small = sum(e.request_body_bytes for e in proxy.find("PATCH") if e not in big)
    sent = proxy.received["PATCH"] - small
    assert proxy.count("POST", r"/blobs/uploads/$") == 3  # one session per blob: resumed
    assert proxy.count("GET", r"/blobs/uploads/") >= 1  # asked where to go on from
    assert SIZE < sent <= SIZE + CHUNK
    assert [e.request_headers["Content-Range"] for e in big if e.status == 202] == [
        f"0-{CHUNK - 1}",
        f"{CHUNK}-{2 * CHUNK - 1}",
        f"{2 * CHUNK}-{SIZE - 1}",
    ]


def test_restart_inside_a_chunk_starts_that_blob_again(tmp_path_factory, repo_name):
    proxy, _ = _push_with_restart(tmp_path_factory, repo_name, CHUNK + MiB)

    big = [e for e in proxy.find("PATCH") if e.request_headers.get("Content-Range")]
    small = sum(e.request_body_bytes for e in proxy.find("PATCH") if e not in big)
    sent = proxy.received["PATCH"] - small
    # The session was lost with the cut chunk: a second session for the big blob.
    assert proxy.count("POST", r"/blobs/uploads/$") == 4
    assert SIZE < sent <= 2 * SIZE + CHUNK
