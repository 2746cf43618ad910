"""A push's blob uploads: each blob once per repository however many images share it,
nondistributable ones left out by the policy, and blobs a registry denied having after a
HEAD said it had them uploaded after all."""

from __future__ import annotations

import logging
from concurrent.futures import Future

from ocipush.oci.blobs import Blob
from ocipush.oci.model import Manifest
from ocipush.oci.policy import BlobPolicy
from ocipush.oci.reference import Repository
from ocipush.registry.limits import UploadLimits
from ocipush.registry.run import PushRun
from ocipush.registry.upload import BlobUpload, UploadOptions

__all__ = ["BlobTasks"]

log = logging.getLogger(__name__)


class BlobTasks:
    """Schedules the blob uploads of a writer's pushes on each push's executor.

    :param options: how blobs go up (chunking, retries, hashing).
    :param policy: what happens to each blob (upload, mount, skip, nondistributable).
    :param limits: what each registry accepts for uploads, learnt from its answers.
    """

    def __init__(self, options: UploadOptions, policy: BlobPolicy, limits: UploadLimits) -> None:
        self.options = options
        self.policy = policy
        self.limits = limits

    def submit(self, push: PushRun, repository: Repository, blob: Blob) -> Future[None]:
        """Schedule ``blob`` for ``repository`` once, however many images share it."""
        key: tuple[Repository, object] = (repository, blob.digest or id(blob))
        with push.lock:
            future = push.blob_tasks.get(key)
            if future is not None:
                return future
            if self.policy.skips(blob):
                log.info("skipping nondistributable layer %s (%s)", blob.digest, blob.media_type)
                if blob.digest is not None:
                    push.result.skipped_nondistributable.add(blob.digest)
                done: Future[None] = Future()
                done.set_result(None)
                push.blob_tasks[key] = done
                return done
            push.tracker.add_total(blob.size or 0)
            push.blobs[key] = blob
            upload = self._upload(push, repository, blob)
            future = push.executor.submit(upload)
            push.blob_tasks[key] = future
            return future

    def _upload(self, push: PushRun, repository: Repository, blob: Blob) -> BlobUpload:
        return BlobUpload(
            push.sessions[repository],
            push,
            blob,
            self.options,
            self.policy,
            self.limits,
        )

    def upload_denied(self, push: PushRun, repository: Repository, document: Manifest) -> bool:
        """After ``MANIFEST_BLOB_UNKNOWN``: upload the blobs of ``document`` that a HEAD
        called present, and confirm such HEADs from now on (Artifactory, gardener/cc-utils#1752).

        :return: whether any blob went up, so the manifest is worth putting again.
        """
        named = {document.config.digest, *(layer.digest for layer in document.layers)}
        with push.lock:
            believed = [
                blob
                for (where, digest), blob in push.blobs.items()
                if where == repository and digest in named and digest in push.result.existing
            ]
            for blob in believed:
                push.result.existing.discard(blob.digest)
        if not believed:
            return False
        log.info(
            "%s said %d blob(s) exist that it then did not know; uploading them",
            repository.registry.host,
            len(believed),
        )
        self.limits.heads_lie(repository.registry)
        for blob in believed:
            push.tracker.take_back(blob.size or 0)
            self._upload(push, repository, blob)()
        return True
