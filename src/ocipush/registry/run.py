"""One writer call's shared state: worker pool, progress, dedupe, cancellation, result.

The writer's orchestration, each :class:`~ocipush.registry.upload.BlobUpload` and the
referrers update all work inside one :class:`PushRun`, talking to each target repository
through the :class:`~ocipush.registry.session.Session` it opened for it.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from ocipush.errors import PushInterruptedError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.model import Descriptor
from ocipush.oci.reference import Repository
from ocipush.registry.progress import ProgressCallback, ProgressTracker
from ocipush.registry.session import Session

__all__ = ["PushResult", "PushRun", "head_manifest_digest"]

#: How many missing blobs an interruption message names before it only counts them.
_LISTED_MISSING = 5


def head_manifest_digest(session: Session, identifier: str) -> Digest | None:
    """The digest the session's repository has under ``identifier``; ``None`` if absent."""
    response = session.request(
        "HEAD",
        session.manifests(identifier),
        headers={"Accept": mt.MANIFEST_ACCEPT},
        expected=(200, 403, 404),
        what=f"check manifest {session.repository.name}:{identifier}",
    )
    if response.status != 200:
        return None
    header = response.headers.get("Docker-Content-Digest")
    try:
        return Digest.parse(header) if header else None
    except ValueError:
        return None


def short(blob: Blob) -> str:
    """A blob's digest shortened for a one-line message (a stream names itself instead)."""
    digest = blob.digest
    return blob.describe() if digest is None else f"{digest.algorithm}:{digest.encoded[:12]}"


@dataclass
class PushResult:
    """What a push did, blob by blob: for summaries and for tests."""

    uploaded: set[Digest] = field(default_factory=set)
    mounted: set[Digest] = field(default_factory=set)
    existing: set[Digest] = field(default_factory=set)
    skipped_nondistributable: set[Digest] = field(default_factory=set)
    manifests: dict[str, Descriptor] = field(default_factory=dict)

    def summary(self) -> str:
        return (
            f"{len(self.uploaded)} blobs uploaded, {len(self.mounted)} mounted, "
            f"{len(self.existing)} already present"
        )


class PushRun:
    """State of one writer call: pool, progress, dedupe, cancellation, result."""

    def __init__(self, *, jobs: int, progress: ProgressCallback | None) -> None:
        self.tracker = ProgressTracker(progress)
        self.cancelled = threading.Event()
        self.result = PushResult()
        self.lock = threading.Lock()
        self.blob_tasks: dict[tuple[Repository, object], Future[None]] = {}
        #: Every blob handed to the workers, for saying what an interruption left out.
        self.blobs: dict[tuple[Repository, object], Blob] = {}
        #: Set once the first tag is being put: from then on a tag may have moved.
        self.tagging = False
        #: Repositories a mount from was refused: later blobs upload without trying.
        self.refused_mounts: set[Repository] = set()
        #: The session of each target repository, opened before anything is sent.
        self.sessions: dict[Repository, Session] = {}
        self.executor = ThreadPoolExecutor(jobs, thread_name_prefix="ocipush")

    def run_all(self, futures: Sequence[Future[Any]]) -> None:
        """Wait for ``futures``; on the first failure stop the rest and raise it."""
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=0.5, return_when=FIRST_EXCEPTION)
            for future in done:
                error = future.exception()
                if error is not None:
                    self.cancelled.set()
                    for other in pending:
                        other.cancel()
                    raise error

    def close(self) -> None:
        self.executor.shutdown(wait=True, cancel_futures=True)

    def check_cancelled(self) -> None:
        """Stop a worker between requests once the push was cancelled."""
        if self.cancelled.is_set():
            raise PushInterruptedError("upload cancelled")

    def settled(self, outcome: set[Digest], digest: Digest) -> None:
        """Record a blob's outcome (uploaded, mounted, existing) under the lock."""
        with self.lock:
            outcome.add(digest)

    def interrupted(self) -> PushInterruptedError:
        """What a Ctrl-C left behind, once the workers have stopped: tags, blobs done, blobs not."""
        result = self.result
        done = result.uploaded | result.mounted | result.existing
        missing = [blob for blob in self.blobs.values() if blob.digest not in done]
        tags = (
            "a tag may already point at the new content" if self.tagging else "no tag was changed"
        )
        listed = ", ".join(short(blob) for blob in missing[:_LISTED_MISSING])
        if len(missing) > _LISTED_MISSING:
            listed += f" and {len(missing) - _LISTED_MISSING} more"
        left = f"{len(missing)} not uploaded: {listed}" if missing else "none missing"
        return PushInterruptedError(
            f"interrupted: {tags}; of {len(self.blobs)} blobs {len(result.uploaded)} "
            f"uploaded, {len(result.mounted)} mounted, {len(result.existing)} already "
            f"present, {left}",
            hint="run the same command again: only what is missing is uploaded",
        )
