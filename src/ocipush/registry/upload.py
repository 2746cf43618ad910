"""One blob going up to one repository: existence check, mount, upload session, commit.

A :class:`BlobUpload` holds what one upload is made of (its session location, the hasher
of the bytes sent, the offset reached and the bytes counted for progress), so that a
failed attempt can give its progress back and the whole upload can be tried again as one:
the blob-level retry around the transport's request-level retries.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ocipush.errors import AuthError, BlobError, PushInterruptedError, RegistryError, TransportError
from ocipush.oci.blobs import Blob, StreamBlob
from ocipush.oci.digest import CHUNK, Digest, Hasher
from ocipush.oci.policy import BlobPolicy
from ocipush.registry.answers import check_blob_head
from ocipush.registry.limits import MIN_CHUNK_SIZE, UploadLimits, limit_in_message
from ocipush.registry.retry import RetryPolicy, is_temporary
from ocipush.registry.run import PushRun
from ocipush.registry.session import Session, with_query

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_CHUNK_THRESHOLD",
    "SMALL_BLOB",
    "BlobUpload",
    "UploadOptions",
]

log = logging.getLogger(__name__)

#: Blobs larger than this go up in chunks that can be resumed after a failure.
DEFAULT_CHUNK_THRESHOLD = 512 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
#: Blobs up to this size are read and checked first, then sent with the commit PUT itself
#: (the spec's monolithic upload): one round trip fewer per small blob than PATCH + PUT, and
#: still no commit of bytes that do not match their digest.
SMALL_BLOB = 1024 * 1024
#: Spec error codes that mean the registry forgot an upload session.
_SESSION_LOST_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})
#: A PATCH is accepted with 202 (the spec) or 201 (ECR, aws/containers-roadmap#2831).
_PATCH_ACCEPTED = (201, 202, 204)
#: Answers to a chunk saying it was too big (GHCR: 416 over 4 MiB).
_CHUNK_TOO_BIG = frozenset({413, 416})
#: Answers to a chunk saying the registry takes no chunks (Artifact Registry: 400).
_NO_CHUNKS = frozenset({400, 405, 411, 415, 501})


def _upload_range_end(header: str | None) -> int | None:
    """The last byte offset of a ``Range: 0-<last>`` header."""
    if not header or "-" not in header:
        return None
    end = header.rsplit("-", 1)[1].strip()
    return int(end) if end.isdigit() else None


def _session_lost(error: BaseException) -> bool:
    """Whether ``error`` says the upload session is gone (registry restart or expiry, or on
    distribution a chunk cut short): the blob can only start again in a new session."""
    return (
        isinstance(error, RegistryError)
        and error.status == 404
        and any(code in _SESSION_LOST_CODES for code in error.codes)
    )


def blob_retryable(error: BaseException) -> bool:
    """Whether a whole blob upload is worth another attempt after ``error``."""
    return is_temporary(error) or _session_lost(error)


@dataclass(frozen=True)
class UploadOptions:
    """How blobs go up: when to chunk, how big a chunk is, how often to try again,
    whether a blob whose digest is declared is hashed on the way as well, and up to which
    size a blob of known size goes up in the commit PUT itself (0: never)."""

    chunk_threshold: int | None = DEFAULT_CHUNK_THRESHOLD
    chunk_size: int = DEFAULT_CHUNK_SIZE
    retry: RetryPolicy = RetryPolicy()
    hash_known_digests: bool = True
    small_blob: int = SMALL_BLOB


class _Counter(Hasher):
    """Counts the bytes of a blob whose digest is declared, without hashing them: the
    registry checks that digest on the commit PUT and refuses other bytes."""

    def __init__(self, declared: Digest) -> None:
        super().__init__(declared.algorithm)
        self.declared = declared

    def update(self, data: bytes) -> None:
        self.size += len(data)

    def digest(self) -> Digest:
        return self.declared


def blob_exists(
    session: Session, digest: Digest, size: int | None, *, confirm: bool = False
) -> bool:
    """HEAD the blob; a ``200`` must describe it (size, digest); 401, 403 or 404 mean absent.

    Artifactory answers 403 for absent content (google/go-containerregistry#1691), Harbor
    401 in a repository that does not exist yet, even to a fresh push token
    (goharbor/harbor#22363): neither is worth a new token. Were the token really refused,
    the upload that follows says so.
    """
    path = session.blobs(str(digest))
    response = session.request(
        "HEAD",
        path,
        expected=(200, 401, 403, 404),
        what=f"check blob {digest}",
        reauthenticate=False,
    )
    if response.status != 200:
        return False
    check_blob_head(path, digest, size, response.headers)
    if confirm:
        # A registry known to say yes to HEAD for blobs it cannot serve: ask for one byte.
        got = session.request(
            "GET",
            path,
            headers={"Range": "bytes=0-0"},
            expected=(200, 206, 401, 403, 404),
            stream=True,
            what=f"confirm blob {digest}",
            reauthenticate=False,
        )
        got.drain_conn()
        got.release_conn()
        return got.status in (200, 206)
    return True


class BlobUpload:
    """Uploads one blob to one repository, as one retryable unit.

    :ivar location: the upload session's URL (absolute), once started.
    :ivar hasher: hashes the bytes as they are sent.
    :ivar offset: how far a chunked upload got (confirmed by the registry).
    :ivar counted: bytes counted as progress by the current attempt.
    """

    def __init__(
        self,
        session: Session,
        run: PushRun,
        blob: Blob,
        options: UploadOptions,
        policy: BlobPolicy,
        limits: UploadLimits | None = None,
    ) -> None:
        self.policy = policy
        self.limits = limits or UploadLimits()
        self.session = session
        self.run = run
        self.repository = session.repository
        self.blob = blob
        self.options = options
        self.location = ""
        self.hasher = self._new_hasher()
        self.offset = 0
        self.counted = 0

    def __call__(self) -> None:
        """Upload the blob, trying the whole upload again after a temporary failure."""
        what = f"upload {self.blob.describe()} to {self.repository.name}"
        if self.blob.reopenable:
            self.options.retry.call(
                self._attempt, what=what, cancelled=self.run.cancelled, retryable=blob_retryable
            )
        else:
            self._attempt()

    # -- one attempt ------------------------------------------------------------------------

    def _attempt(self) -> None:
        run, blob, digest = self.run, self.blob, self.blob.digest
        self._restart_progress()
        run.check_cancelled()
        confirm = self.limits.confirm_heads(self.session.registry)
        if digest is not None and blob_exists(self.session, digest, blob.size, confirm=confirm):
            self._settled(run.result.existing)
            log.info("%s: %s already present", self.repository.name, digest)
            return
        run.check_cancelled()
        if self._start():
            self._settled(run.result.mounted)
            log.info("%s: mounted %s from %s", self.repository.name, digest, blob.mount_source)
            return
        threshold = self.options.chunk_threshold
        chunked = (
            threshold is not None
            and blob.size is not None
            and blob.size > threshold
            and blob.reopenable
            and self.limits.get(self.session.registry).chunked
        )
        if blob.size is not None and blob.size <= self.options.small_blob:
            self._commit(self._read_small())
            return
        if not (chunked and self._send_chunked()):
            self._send_whole()
        self._commit()

    def _restart_progress(self) -> None:
        """Give back what an earlier attempt counted, and hash from byte 0 again."""
        self.run.tracker.take_back(self.counted)
        self.counted = 0
        self.hasher = self._new_hasher()
        self.offset = 0

    def _new_hasher(self) -> Hasher:
        """A hasher of the bytes sent, or only their counter when the digest is declared
        and :attr:`UploadOptions.hash_known_digests` is off."""
        digest = self.blob.digest
        if digest is None:
            return Hasher()
        return Hasher(digest.algorithm) if self.options.hash_known_digests else _Counter(digest)

    def _settled(self, outcome: set[Digest]) -> None:
        """Count a blob that needs no bytes sent (present, or mounted) as complete."""
        assert self.blob.digest is not None
        self._count(self.blob.size or 0)
        self.run.settled(outcome, self.blob.digest)

    def _count(self, amount: int) -> None:
        self.counted += amount
        self.run.tracker.advance(amount)

    def _start(self, *, mount: bool = True) -> bool:
        """POST an upload session, mounting when the blob is elsewhere on the same registry.

        Sets :attr:`location`; returns whether the blob was mounted instead.
        """
        blob, repository = self.blob, self.repository
        path = self.session.blobs("uploads/")
        source = self.policy.mount_source(blob, repository) if mount else None
        if source is not None and source not in self.run.refused_mounts:
            # `from` always goes with `mount`: Quay refused a mount without it (quay/quay#899).
            mount_path = with_query(path, mount=str(blob.digest), **{"from": source.path})
            try:
                status = self._post(
                    mount_path,
                    (201, 202),
                    f"mount {blob.digest} from {source.path}",
                    reauthenticate=False,
                )
            except (RegistryError, AuthError) as refused:
                # Registries refuse mounts in many ways (Docker Hub 401 or 400, Harbor 401,
                # 404): upload instead, and do not ask again for this source.
                with self.run.lock:
                    self.run.refused_mounts.add(source)
                log.info("mount refused (%s); uploading instead", refused)
            else:
                # 202: no mount (ECR without mounting enabled) but an upload session.
                return status == 201
        self._post(path, (202,), f"start upload of {blob.describe()}")
        return False

    def _post(
        self, path: str, expected: tuple[int, ...], what: str, *, reauthenticate: bool = True
    ) -> int:
        """POST to ``path`` (an empty body); a 202 starts a session at its ``Location``."""
        response = self.session.request(
            "POST",
            path,
            headers={"Content-Length": "0"},
            body=b"",
            expected=expected,
            what=what,
            reauthenticate=reauthenticate,
        )
        if response.status == 202:
            self.location = self._resolve(path, response.headers.get("Location"))
        return response.status

    def _resolve(self, request_url: str, location: str | None) -> str:
        """Resolve an upload ``Location`` (relative or absolute) against the request URL."""
        if not location:
            raise RegistryError(
                method="POST",
                url=request_url,
                status=202,
                context="the registry started an upload but sent no Location header",
            )
        return urllib.parse.urljoin(self.session.absolute(request_url), location)

    def _body(self, reader: BinaryIO, limit: int | None = None) -> Iterator[bytes]:
        """Stream ``reader`` (at most ``limit`` bytes), hashing and counting as it goes."""
        remaining = limit
        while remaining is None or remaining > 0:
            if self.run.cancelled.is_set():
                raise PushInterruptedError("upload cancelled")
            data = reader.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not data:
                return
            self.hasher.update(data)
            if remaining is not None:
                remaining -= len(data)
            self._count(len(data))
            yield data

    def _send_whole(self) -> None:
        blob = self.blob
        headers = {"Content-Type": "application/octet-stream"}
        if blob.size is not None:
            headers["Content-Length"] = str(blob.size)
        reader = blob.open()
        try:
            response = self.session.request(
                "PATCH",
                self.location,
                headers=headers,
                body=self._body(reader),
                expected=_PATCH_ACCEPTED,
                what=f"upload {blob.describe()}",
            )
        finally:
            reader.close()
        self._check_size()
        self.location = self._resolve(self.location, response.headers.get("Location"))

    def _send_chunked(self) -> bool:
        """PATCH fixed-size chunks; after a failed chunk, resume from the registry's offset.

        :return: ``False`` when the registry refused chunks: then a new session waits for
            the blob in one request.
        """
        blob, retry = self.blob, self.options.retry
        size = blob.size
        assert size is not None
        failures = 0
        with blob.open() as reader:
            while self.offset < size:
                offset = self.offset
                limits = self.limits.get(self.session.registry)
                length = min(limits.chunk_size(self.options.chunk_size), size - offset)
                checkpoint, sent = self.hasher.checkpoint(), self.counted
                reader.seek(offset)
                try:
                    response = self.session.request(
                        "PATCH",
                        self.location,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(length),
                            "Content-Range": f"{offset}-{offset + length - 1}",
                        },
                        body=self._body(reader, limit=length),
                        expected=_PATCH_ACCEPTED,
                        what=f"upload chunk {offset}-{offset + length - 1} of {blob.describe()}",
                    )
                except (RegistryError, TransportError) as error:
                    self.hasher.restore(checkpoint)
                    self.run.tracker.take_back(self.counted - sent)
                    self.counted = sent
                    lesson = self._learn(error, length)
                    if lesson == "no chunks":
                        self._start(mount=False)
                        self._restart_progress()
                        return False
                    if lesson is None:
                        failures += 1
                        if not blob_retryable(error) or failures >= retry.attempts:
                            raise
                    self._resume(reader, error)
                    if lesson is None:
                        self.run.cancelled.wait(retry.delay(failures, error))
                    continue
                # The Range of an accepted chunk is not believed: ECR's stops advancing
                # (aws/containers-roadmap#2831), so the offset is tracked here.
                self.location = self._resolve(self.location, response.headers.get("Location"))
                self.offset = offset + length
        return True

    def _learn(self, error: BaseException, length: int) -> str | None:
        """What a refused chunk teaches about the registry: ``"smaller chunks"`` (its new
        limit recorded), ``"no chunks"`` (recorded), or ``None`` (a plain failure)."""
        if not isinstance(error, RegistryError):
            return None
        registry = self.session.registry
        if error.status in _CHUNK_TOO_BIG and length > MIN_CHUNK_SIZE:
            # GHCR names its limit ("exceeds the maximum permissible limit of 4.00MiB");
            # without a number, halving converges in a few requests.
            limit = limit_in_message(str(error)) or length // 2
            limit = min(limit, length // 2) if limit >= length else limit
            capped = self.limits.cap_chunks(registry, limit)
            log.info(
                "%s refused a %d-byte chunk (%s); sending chunks of at most %s bytes",
                registry.host,
                length,
                error.status,
                capped.max_chunk,
            )
            return "smaller chunks"
        if error.status in _NO_CHUNKS:
            self.limits.no_chunks(registry)
            log.info(
                "%s refused a chunk (%s); uploading each blob in one request", registry.host, error
            )
            return "no chunks"
        return None

    def _resume(self, reader: BinaryIO, error: BaseException) -> None:
        """After a failed chunk: go on from what the registry holds, or start a new session."""
        offset = self.offset
        # Asked even after a 404: the answer is what the registry holds now.
        resumed = self._held(offset)
        if resumed is None:
            # The registry dropped the session (distribution does once a chunk was cut
            # after some bytes): the held bytes are unreachable, so the blob starts again
            # from byte 0 in a new session.
            log.info(
                "upload session of %s lost (%s); starting it again", self.blob.describe(), error
            )
            self._start(mount=False)
            self._restart_progress()
            return
        log.info(
            "chunk at %d of %s failed (%s); resuming at %d",
            offset,
            self.blob.describe(),
            error,
            resumed,
        )
        if resumed > offset:
            # The registry kept part of the failed chunk: hash it without resending.
            reader.seek(offset)
            for _ in self._body(reader, limit=resumed - offset):
                pass
            self.offset = resumed

    def _held(self, chunk_start: int) -> int | None:
        """Ask the registry how much of the upload it holds (GET on the upload URL).

        :return: where to go on from, or ``None`` when the session no longer exists.
        """
        try:
            response = self.session.request(
                "GET",
                self.location,
                expected=(204,),
                what="check upload progress",
            )
        except RegistryError as error:
            if error.status == 404:
                return None
            raise
        end = _upload_range_end(response.headers.get("Range"))
        if end is None:
            return chunk_start
        # "0-0" means both "nothing" and "one byte"; the chunk start disambiguates.
        held = 0 if end == 0 and chunk_start == 0 else end + 1
        # Never move backwards past bytes already confirmed, nor forwards past the chunk.
        return max(chunk_start, held) if held >= chunk_start else chunk_start

    def _read_small(self) -> bytes:
        """A small blob's bytes, hashed and counted, for the commit PUT to carry."""
        with self.blob.open() as reader:
            data = b"".join(self._body(reader))
        self._check_size()
        return data

    def _check_size(self) -> None:
        blob = self.blob
        if blob.size is not None and self.hasher.size != blob.size:
            raise BlobError(
                f"{blob.describe()}: read {self.hasher.size} bytes but the blob is declared as "
                f"{blob.size}; the source changed while it was being pushed"
            )

    def _commit(self, body: bytes = b"") -> None:
        """Close the session with the digest of the bytes sent (checked first if known),
        sending ``body`` as the last (for a small blob, the only) part of the blob."""
        blob, hasher = self.blob, self.hasher
        measured = hasher.digest()
        if blob.digest is not None:
            hasher.verify(blob.digest, blob.describe())
        headers = {"Content-Length": str(len(body))}
        if body:
            headers["Content-Type"] = "application/octet-stream"
        self.session.request(
            "PUT",
            with_query(self.location, digest=str(measured)),
            headers=headers,
            body=body,
            expected=(201, 204),
            what=f"commit blob {measured}",
            # A PUT that carried bytes may have been half-applied before the connection
            # dropped (the registry appends what it got): only a new session is safe, so
            # the whole blob is tried again instead.
            idempotent=not body,
        )
        if isinstance(blob, StreamBlob):
            blob.complete(measured, hasher.size)
            self.run.tracker.add_total(hasher.size)
        self.run.settled(self.run.result.uploaded, measured)
        log.info("%s: uploaded %s (%d bytes)", self.repository.name, measured, hasher.size)
