"""The push protocol: blobs, manifests, indexes, tags and referrers over the OCI distribution API.

Order is what keeps a registry consistent: every blob an image references is in place before
its manifest is put, every child before its index, and the tag last. A push that fails at
any point therefore leaves the tag where it was.
"""

from __future__ import annotations

import logging
import threading
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from ocipush.errors import (
    AuthError,
    BlobError,
    ManifestError,
    OcipushError,
    PushInterruptedError,
    RegistryError,
    TransportError,
)
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, StreamBlob
from ocipush.oci.digest import CHUNK, Digest, Hasher
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.model import Descriptor, Index, Manifest
from ocipush.oci.reference import Reference, Registry, Repository
from ocipush.registry.answers import check_blob_head
from ocipush.registry.keychain import Keychain
from ocipush.registry.progress import ProgressCallback, ProgressTracker
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy, is_temporary
from ocipush.registry.transport import Timeouts, Transport

__all__ = ["Deleted", "PushResult", "Writer", "token_scopes"]

log = logging.getLogger(__name__)

#: Blobs larger than this go up in chunks that can be resumed after a failure.
DEFAULT_CHUNK_THRESHOLD = 512 * 1024 * 1024
DEFAULT_CHUNK_SIZE = 64 * 1024 * 1024
#: Attempts at the read-modify-write of a referrers fallback index before giving up.
_REFERRERS_ATTEMPTS = 5
#: How many missing blobs an interruption message names before it only counts them.
_LISTED_MISSING = 5
#: Spec error codes that mean the registry forgot an upload session.
_SESSION_LOST_CODES = frozenset({"BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID"})


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


@dataclass(frozen=True)
class Deleted:
    """What :meth:`Writer.delete` removed.

    :ivar digest: the manifest the reference named.
    :ivar tags: the tags that no longer exist.
    :ivar manifest: whether the manifest itself was deleted (else only the tag).
    """

    digest: Digest
    tags: tuple[str, ...]
    manifest: bool


def _blobs_path(repository: Repository, suffix: str) -> str:
    return f"/v2/{repository.path}/blobs/{suffix}"


def _manifests_path(repository: Repository, identifier: str) -> str:
    return f"/v2/{repository.path}/manifests/{identifier}"


def _with_query(url: str, **params: str) -> str:
    """``url`` plus ``params``, keeping its own query string (upload state)."""
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


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


def _blob_retryable(error: BaseException) -> bool:
    return is_temporary(error) or _session_lost(error)


def _names(refs: Sequence[Reference]) -> str:
    return ", ".join(str(ref) for ref in refs)


def _short(blob: Blob) -> str:
    """A blob's digest shortened for a one-line message (a stream names itself instead)."""
    digest = blob.digest
    return blob.describe() if digest is None else f"{digest.algorithm}:{digest.encoded[:12]}"


def token_scopes(blobs: Mapping[Repository, Sequence[Blob]]) -> dict[Registry, list[str]]:
    """Per registry: push+pull on each target repository first, then pull on mount sources.

    Some registries read only the first scope, so the push scopes lead.

    :param blobs: the blobs going to each target repository.
    """
    scopes_by_registry: dict[Registry, list[str]] = {}
    for repository, repo_blobs in blobs.items():
        scopes = scopes_by_registry.setdefault(repository.registry, [])
        push_scope = repository.scope("pull,push")
        if push_scope not in scopes:
            scopes.insert(sum(s.endswith(":pull,push") for s in scopes), push_scope)
        for blob in repo_blobs:
            source = blob.mount_source
            if source and source.registry == repository.registry and source != repository:
                pull = source.scope("pull")
                if pull not in scopes:
                    scopes.append(pull)
    return scopes_by_registry


@dataclass
class _Node:
    """A manifest to put: where, what, and at which depth of its tree (leaves first)."""

    repository: Repository
    item: Taggable
    height: int


class _Push:
    """State of one writer call: pool, progress, dedupe, cancellation, result."""

    def __init__(self, writer: Writer) -> None:
        self.writer = writer
        self.tracker = ProgressTracker(writer.progress)
        self.cancelled = threading.Event()
        self.result = PushResult()
        self.lock = threading.Lock()
        self.blob_tasks: dict[tuple[Repository, object], Future[None]] = {}
        #: Every blob handed to the workers, for saying what an interruption left out.
        self.blobs: dict[tuple[Repository, object], Blob] = {}
        #: Set once the first tag is being put: from then on a tag may have moved.
        self.tagging = False
        self.scopes: dict[Registry, list[str]] = {}
        self.executor = ThreadPoolExecutor(writer.jobs, thread_name_prefix="ocipush")

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

    def interrupted(self) -> PushInterruptedError:
        """What a Ctrl-C left behind, once the workers have stopped: tags, blobs done, blobs not."""
        result = self.result
        done = result.uploaded | result.mounted | result.existing
        missing = [blob for blob in self.blobs.values() if blob.digest not in done]
        tags = (
            "a tag may already point at the new content" if self.tagging else "no tag was changed"
        )
        listed = ", ".join(_short(blob) for blob in missing[:_LISTED_MISSING])
        if len(missing) > _LISTED_MISSING:
            listed += f" and {len(missing) - _LISTED_MISSING} more"
        left = f"{len(missing)} not uploaded: {listed}" if missing else "none missing"
        error = PushInterruptedError(
            f"interrupted: {tags}; of {len(self.blobs)} blobs {len(result.uploaded)} "
            f"uploaded, {len(result.mounted)} mounted, {len(result.existing)} already "
            f"present, {left}"
        )
        error.hint = "run the same command again: only what is missing is uploaded"
        return error


class Writer:
    """Pushes images, indexes, blobs and tags to registries.

    :param transport: shares connections and credentials between writers; one is made
        from ``keychain``, ``insecure``, ``jobs`` and ``timeouts`` when not given.
    :param jobs: how many blobs (and index children) go up at once.
    :param allow_nondistributable_artifacts: upload foreign/nondistributable layers too.
    :param chunk_threshold: blobs larger than this are sent in resumable chunks
        (``None`` disables chunking).
    :param chunk_size: the size of those chunks.
    :param retry: how a whole blob upload (and a tag PUT) is retried after a temporary
        failure; by default the transport's policy, which also repeats each idempotent
        request on its own (``Transport(retry=...)``).
    :param progress: called with a :class:`~ocipush.registry.progress.ProgressUpdate` on
        every change.
    """

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        keychain: Keychain | None = None,
        insecure: Sequence[str] = (),
        jobs: int = 4,
        timeouts: Timeouts = Timeouts(),
        allow_nondistributable_artifacts: bool = False,
        chunk_threshold: int | None = DEFAULT_CHUNK_THRESHOLD,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        retry: RetryPolicy | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.transport = transport or Transport(
            keychain=keychain,
            insecure=insecure,
            jobs=jobs,
            timeouts=timeouts,
            retry=retry or RetryPolicy(),
        )
        self.jobs = jobs
        self.allow_nondistributable = allow_nondistributable_artifacts
        self.chunk_threshold = chunk_threshold
        self.chunk_size = chunk_size
        self.retry = retry or self.transport.retry
        self.progress = progress
        #: The outcome of the last call, for summaries.
        self.last_result = PushResult()

    # -- public verbs ---------------------------------------------------------------------

    def write(self, ref: Reference, image: Image) -> Descriptor:
        """Push ``image`` and its blobs, then tag it as ``ref`` (go-containerregistry's Write)."""
        return self.multi_write({ref: image})[ref]

    def write_index(self, ref: Reference, index: ImageIndex) -> Descriptor:
        """Push ``index``, its children in parallel and all their blobs, then tag it."""
        return self.multi_write({ref: index})[ref]

    def multi_write(self, items: Mapping[Reference, Taggable]) -> dict[Reference, Descriptor]:
        """Push several images/indexes, sharing blob uploads between refs of one repository."""
        return self.publish([items])

    def publish(
        self, stages: Sequence[Mapping[Reference, Taggable]]
    ) -> dict[Reference, Descriptor]:
        """Push ``stages`` in order, each complete by digest (blobs, children, manifest,
        referrers), and only then every tag of every stage.

        Put what others name first (an image before the artifacts whose subject it is): a
        tag then moves only once everything of this call that depends on it was accepted, and
        a failure anywhere leaves every tag where it was (the error's notes name them).
        """
        push = _Push(self)
        self.last_result = push.result
        try:
            return self._publish(push, stages)
        except KeyboardInterrupt:
            push.cancelled.set()
            # Workers stop at their next request or body piece; waiting for them makes the
            # report exact (a blob whose body was sent is still committed).
            push.close()
            raise push.interrupted() from None
        except BaseException as error:
            push.tracker.fail(error)
            raise
        finally:
            push.close()

    def write_layer(self, repository: Repository, blob: Blob) -> Descriptor:
        """Upload one blob to ``repository`` (mounting it when it can)."""
        push = _Push(self)
        self.last_result = push.result
        try:
            self._prepare_scopes(push, {repository: [blob]})
            push.run_all([self._submit_blob(push, repository, blob)])
            return blob.descriptor()
        finally:
            push.close()

    def tag(self, ref: Reference, item: Taggable | Manifest | Index) -> Descriptor:
        """Point tag ``ref`` at ``item``, whose blobs and children must already be present."""
        if ref.tag is None:
            raise ValueError(f"{ref} has no tag")
        return self.put(ref.with_tag(ref.tag), item)

    def put(self, ref: Reference, item: Taggable | Manifest | Index) -> Descriptor:
        """Put the manifest of ``item`` at ``ref`` (tag or digest) without uploading blobs."""
        document = item if isinstance(item, (Manifest, Index)) else manifest_of(item)
        push = _Push(self)
        self.last_result = push.result
        try:
            self._prepare_scopes(push, {ref.repository: []})
            return self._put_manifest(push, ref.repository, ref.identifier, document)
        finally:
            push.close()

    def has_blob(self, repository: Repository, digest: Digest, size: int | None = None) -> bool:
        """Whether ``repository`` holds blob ``digest`` (a HEAD request; writes nothing).

        :param size: the blob's size, which the registry's answer must match.
        """
        return self._blob_exists(repository, digest, size, [repository.scope("pull")])

    def delete(self, ref: Reference, *, force: bool = False) -> Deleted:
        """Delete what ``ref`` names: only the tag where the registry can (distribution
        spec 1.1), else the manifest, which takes every tag naming it along.

        :param force: delete the manifest even when other tags name it.
        :raises OcipushError: naming those other tags, when there are any and not ``force``.
        """
        repository = ref.repository
        scopes = [repository.scope("pull,push")]
        digest = ref.digest or self._head_manifest_digest(repository, ref.identifier, scopes)
        if digest is None:
            raise RegistryError(
                method="HEAD",
                url=_manifests_path(repository, ref.identifier),
                status=404,
                context=f"delete {ref}: no such manifest",
            )
        if ref.digest is None and ref.tag is not None:
            # Registries without tag deletion refuse it (distribution 2.8: 400 DIGEST_INVALID).
            if self._delete_manifest(ref, ref.tag, scopes, expected=(200, 202, 400, 404, 405)):
                return Deleted(digest, (ref.tag,), manifest=False)
            others = [
                tag
                for tag in Remote(self.transport).tags(repository)
                if tag != ref.tag and self._head_manifest_digest(repository, tag, scopes) == digest
            ]
            if others and not force:
                named = (
                    f"tag {others[0]} names"
                    if len(others) == 1
                    else (f"tags {', '.join(others)} name")
                )
                error = OcipushError(
                    f"delete {ref}: {repository.registry.host} can only delete the manifest "
                    f"{digest}, and {named} it too, so they would go as well; nothing was "
                    "deleted"
                )
                error.hint = "pass --force to delete the manifest with all its tags"
                raise error
            self._delete_manifest(ref, str(digest), scopes)
            return Deleted(digest, (ref.tag, *others), manifest=True)
        self._delete_manifest(ref, str(digest), scopes)
        return Deleted(digest, (), manifest=True)

    def _delete_manifest(
        self,
        ref: Reference,
        identifier: str,
        scopes: Sequence[str],
        *,
        expected: Sequence[int] = (200, 202),
    ) -> bool:
        """DELETE a manifest by ``identifier``; whether the registry accepted it."""
        response = self.retry.call(
            lambda: self.transport.request(
                ref.registry,
                "DELETE",
                _manifests_path(ref.repository, identifier),
                scopes=scopes,
                expected=expected,
                what=f"delete {ref}",
            ),
            what=f"delete {ref}",
        )
        return response.status in (200, 202)

    # -- orchestration --------------------------------------------------------------------

    def _publish(
        self, push: _Push, stages: Sequence[Mapping[Reference, Taggable]]
    ) -> dict[Reference, Descriptor]:
        blobs_by_repo: dict[Repository, list[Blob]] = {}
        for items in stages:
            for ref, item in items.items():
                for node in self._nodes(ref.repository, item):
                    if isinstance(node.item, Image):
                        blobs_by_repo.setdefault(node.repository, []).extend(node.item.layers)
        self._prepare_scopes(push, blobs_by_repo)
        tags = [ref for items in stages for ref in items if ref.digest is None and ref.tag]
        try:
            for items in stages:
                self._put_by_digest(push, items)
        except OcipushError as error:
            if tags and not isinstance(error, PushInterruptedError):
                error.notes = (*error.notes, f"tags left unchanged: {_names(tags)}")
            raise
        results: dict[Reference, Descriptor] = {}
        for items in stages:
            for ref, item in items.items():
                document = manifest_of(item)
                descriptor = document.descriptor()
                if ref.digest is None and ref.tag is not None:
                    push.tagging = True
                    try:
                        descriptor = self._put_manifest(
                            push, ref.repository, ref.tag, document, first_put=False
                        )
                    except OcipushError as error:
                        moved = tags[: tags.index(ref)]
                        note = f"tags left unchanged: {_names(tags[len(moved) :])}"
                        if moved:
                            note += f"; already moved: {_names(moved)}"
                        error.notes = (*error.notes, note)
                        raise
                results[ref] = Descriptor(
                    descriptor.media_type,
                    descriptor.digest,
                    descriptor.size,
                    platform=item.platform,
                )
        return results

    def _put_by_digest(self, push: _Push, items: Mapping[Reference, Taggable]) -> None:
        """Everything of ``items`` but their tags: blobs, children, each manifest by digest
        (which also updates its subject's referrers)."""
        nodes: list[_Node] = []
        for ref, item in items.items():
            nodes.extend(self._nodes(ref.repository, item))
        present = self._existing_manifests(push, nodes)
        todo = [n for n in nodes if (n.repository, id(n.item)) not in present]
        images = [n.item for n in todo if isinstance(n.item, Image)]

        # Phase 1: layers, and the configs that do not depend on streamed layers.
        streaming = [image for image in images if image.streaming]
        futures = [
            self._submit_blob(push, node.repository, layer)
            for node in todo
            if isinstance(node.item, Image)
            for layer in node.item.layers
        ]
        futures += [
            self._submit_blob(push, node.repository, node.item.config_blob())
            for node in todo
            if isinstance(node.item, Image) and node.item not in streaming
        ]
        push.run_all(futures)
        # Phase 2: configs built from streamed layers' digests, now known.
        push.run_all(
            [
                self._submit_blob(push, node.repository, node.item.config_blob())
                for node in todo
                if isinstance(node.item, Image) and node.item in streaming
            ]
        )
        # Phase 3: children by digest, deepest first, each level in parallel.
        for height in sorted({n.height for n in todo if n.height > 0}):
            level = [n for n in todo if n.height == height]
            push.run_all(
                [
                    push.executor.submit(
                        self._put_manifest,
                        push,
                        n.repository,
                        str(manifest_of(n.item).digest),
                        manifest_of(n.item),
                    )
                    for n in level
                ]
            )
        # Phase 4: each top-level manifest by digest. A registry that stores something else
        # is caught before any tag moves, and the subject's referrers are updated once.
        put_by_digest: set[tuple[Repository, Digest]] = set()
        for ref, item in items.items():
            document = manifest_of(item)
            if (ref.repository, document.digest) not in put_by_digest:
                self._put_manifest(push, ref.repository, str(document.digest), document)
                put_by_digest.add((ref.repository, document.digest))

    def _nodes(self, repository: Repository, item: Taggable) -> list[_Node]:
        """``item``'s sub-manifests with their heights (0 = the root, pushed by tag)."""
        if isinstance(item, Image):
            return [_Node(repository, item, 0)]
        depth: dict[int, int] = {}

        def visit(index: ImageIndex, level: int) -> None:
            for child in index.children:
                depth[id(child)] = max(depth.get(id(child), 0), level)
                if isinstance(child, ImageIndex):
                    visit(child, level + 1)

        visit(item, 1)
        deepest = max(depth.values(), default=0)
        # Height counts from the leaves so that a level only waits for levels below it.
        nodes = [_Node(repository, child, deepest - depth[id(child)] + 1) for child in item.walk()]
        unique = {id(n.item): n for n in nodes}
        return [*unique.values(), _Node(repository, item, 0)]

    def _prepare_scopes(self, push: _Push, blobs: Mapping[Repository, Sequence[Blob]]) -> None:
        """Compute the token scopes and fetch the tokens once, before any body is streamed."""
        push.scopes = token_scopes(blobs)
        for registry, scopes in push.scopes.items():
            # The ping and the token requests are repeated by the transport's retry layer.
            self.transport.prepare(registry, scopes)

    def _existing_manifests(
        self, push: _Push, nodes: Sequence[_Node]
    ) -> set[tuple[Repository, int]]:
        """Sub-manifests already in the registry by digest: their blobs need no checks."""
        candidates = [
            n
            for n in nodes
            if n.height > 0 and not (isinstance(n.item, Image) and n.item.streaming)
        ]
        present: set[tuple[Repository, int]] = set()

        def check(node: _Node) -> None:
            digest = manifest_of(node.item).digest
            scopes = push.scopes[node.repository.registry]
            if self._head_manifest_digest(node.repository, str(digest), scopes) == digest:
                with push.lock:
                    present.add((node.repository, id(node.item)))

        push.run_all([push.executor.submit(check, n) for n in candidates])
        # A present index implies its children are present too.
        for node in candidates:
            if (node.repository, id(node.item)) in present and isinstance(node.item, ImageIndex):
                for child in node.item.walk():
                    present.add((node.repository, id(child)))
        return present

    # -- blobs ----------------------------------------------------------------------------

    def _submit_blob(self, push: _Push, repository: Repository, blob: Blob) -> Future[None]:
        """Schedule ``blob`` for ``repository`` once, however many images share it."""
        key: tuple[Repository, object] = (repository, blob.digest or id(blob))
        with push.lock:
            future = push.blob_tasks.get(key)
            if future is not None:
                return future
            if not self.allow_nondistributable and not mt.is_distributable(blob.media_type):
                log.info("skipping nondistributable layer %s (%s)", blob.digest, blob.media_type)
                if blob.digest is not None:
                    push.result.skipped_nondistributable.add(blob.digest)
                done: Future[None] = Future()
                done.set_result(None)
                push.blob_tasks[key] = done
                return done
            push.tracker.add_total(blob.size or 0)
            push.blobs[key] = blob
            future = push.executor.submit(self._upload_with_retry, push, repository, blob)
            push.blob_tasks[key] = future
            return future

    def _upload_with_retry(self, push: _Push, repository: Repository, blob: Blob) -> None:
        counted = [0]

        def attempt() -> None:
            push.tracker.take_back(counted[0])
            counted[0] = 0
            self._upload_blob(push, repository, blob, counted)

        what = f"upload {blob.describe()} to {repository.name}"
        if blob.reopenable:
            self.retry.call(attempt, what=what, cancelled=push.cancelled, retryable=_blob_retryable)
        else:
            attempt()

    def _upload_blob(
        self, push: _Push, repository: Repository, blob: Blob, counted: list[int]
    ) -> None:
        registry = repository.registry
        scopes = push.scopes[registry]
        digest = blob.digest
        push.check_cancelled()
        if digest is not None and self._blob_exists(repository, digest, blob.size, scopes):
            self._settled(push, counted, blob, push.result.existing)
            log.info("%s: %s already present", repository.name, digest)
            return
        push.check_cancelled()
        location, mounted = self._start_upload(repository, blob, scopes)
        if mounted:
            self._settled(push, counted, blob, push.result.mounted)
            log.info("%s: mounted %s from %s", repository.name, digest, blob.mount_source)
            return
        size = blob.size
        if (
            self.chunk_threshold is not None
            and size is not None
            and size > self.chunk_threshold
            and blob.reopenable
        ):
            location, hasher = self._upload_chunked(push, repository, blob, location, counted)
        else:
            location, hasher = self._upload_whole(push, repository, blob, location, counted)
        measured = hasher.digest()
        if digest is not None:
            hasher.verify(digest, blob.describe())
        self.transport.request(
            registry,
            "PUT",
            _with_query(location, digest=str(measured)),
            scopes=scopes,
            headers={"Content-Length": "0"},
            body=b"",
            expected=(201, 204),
            what=f"commit blob {measured}",
            idempotent=True,
        )
        if isinstance(blob, StreamBlob):
            blob.complete(measured, hasher.size)
            push.tracker.add_total(hasher.size)
        with push.lock:
            push.result.uploaded.add(measured)
        log.info("%s: uploaded %s (%d bytes)", repository.name, measured, hasher.size)

    def _settled(self, push: _Push, counted: list[int], blob: Blob, outcome: set[Digest]) -> None:
        """Count a blob that needs no bytes sent (present, or mounted) as complete."""
        assert blob.digest is not None
        self._count(push, counted, blob.size or 0)
        with push.lock:
            outcome.add(blob.digest)

    def _count(self, push: _Push, counted: list[int], amount: int) -> None:
        counted[0] += amount
        push.tracker.advance(amount)

    def _blob_exists(
        self, repository: Repository, digest: Digest, size: int | None, scopes: Sequence[str]
    ) -> bool:
        path = _blobs_path(repository, str(digest))
        response = self.transport.request(
            repository.registry,
            "HEAD",
            path,
            scopes=scopes,
            expected=(200, 403, 404),
            what=f"check blob {digest}",
        )
        # Some registries (Artifactory) answer 403 for absent content: treat it as absent.
        if response.status != 200:
            return False
        check_blob_head(path, digest, size, response.headers)
        return True

    def _start_upload(
        self, repository: Repository, blob: Blob, scopes: Sequence[str], *, mount: bool = True
    ) -> tuple[str, bool]:
        """POST an upload session, mounting when the blob is elsewhere on the same registry.

        Returns the upload URL (absolute) and whether the blob was mounted instead.
        """
        registry = repository.registry
        path = _blobs_path(repository, "uploads/")
        source = blob.mount_source
        if (
            mount
            and source is not None
            and source.registry == registry
            and source != repository
            and blob.digest is not None
        ):
            mount_path = _with_query(path, mount=str(blob.digest), **{"from": source.path})
            try:
                response = self.transport.request(
                    registry,
                    "POST",
                    mount_path,
                    scopes=scopes,
                    headers={"Content-Length": "0"},
                    body=b"",
                    expected=(201, 202),
                    what=f"mount {blob.digest} from {source.path}",
                )
            except (RegistryError, AuthError) as refused:
                # Registries refuse mounts in many ways (401, 400, 404): upload instead.
                log.info("mount refused (%s); uploading instead", refused)
            else:
                if response.status == 201:
                    return "", True
                return self._location(registry, mount_path, response.headers.get("Location")), False
        response = self.transport.request(
            registry,
            "POST",
            path,
            scopes=scopes,
            headers={"Content-Length": "0"},
            body=b"",
            expected=(202,),
            what=f"start upload of {blob.describe()}",
        )
        return self._location(registry, path, response.headers.get("Location")), False

    def _location(self, registry: Registry, request_url: str, location: str | None) -> str:
        """Resolve an upload ``Location`` (relative or absolute) against the request URL."""
        if not location:
            raise RegistryError(
                method="POST",
                url=request_url,
                status=202,
                context="the registry started an upload but sent no Location header",
            )
        base = urllib.parse.urljoin(self.transport.base_url(registry) + "/", request_url)
        return urllib.parse.urljoin(base, location)

    def _body(
        self,
        push: _Push,
        reader: BinaryIO,
        hasher: Hasher,
        counted: list[int],
        limit: int | None = None,
    ) -> Iterator[bytes]:
        """Stream ``reader`` (at most ``limit`` bytes), hashing and counting as it goes."""
        remaining = limit
        while remaining is None or remaining > 0:
            if push.cancelled.is_set():
                raise PushInterruptedError("upload cancelled")
            data = reader.read(CHUNK if remaining is None else min(CHUNK, remaining))
            if not data:
                return
            hasher.update(data)
            if remaining is not None:
                remaining -= len(data)
            self._count(push, counted, len(data))
            yield data

    def _upload_whole(
        self,
        push: _Push,
        repository: Repository,
        blob: Blob,
        location: str,
        counted: list[int],
    ) -> tuple[str, Hasher]:
        hasher = Hasher(blob.digest.algorithm if blob.digest else "sha256")
        headers = {"Content-Type": "application/octet-stream"}
        if blob.size is not None:
            headers["Content-Length"] = str(blob.size)
        reader = blob.open()
        try:
            response = self.transport.request(
                repository.registry,
                "PATCH",
                location,
                scopes=push.scopes[repository.registry],
                headers=headers,
                body=self._body(push, reader, hasher, counted),
                expected=(202, 204),
                what=f"upload {blob.describe()}",
            )
        finally:
            reader.close()
        if blob.size is not None and hasher.size != blob.size:
            raise BlobError(
                f"{blob.describe()}: read {hasher.size} bytes but the blob is declared as "
                f"{blob.size}; the source changed while it was being pushed"
            )
        return self._location(
            repository.registry, location, response.headers.get("Location")
        ), hasher

    def _upload_chunked(
        self,
        push: _Push,
        repository: Repository,
        blob: Blob,
        location: str,
        counted: list[int],
    ) -> tuple[str, Hasher]:
        """PATCH fixed-size chunks; after a failed chunk, resume from the registry's offset."""
        size = blob.size
        assert size is not None
        registry = repository.registry
        scopes = push.scopes[registry]
        algorithm = blob.digest.algorithm if blob.digest else "sha256"
        hasher = Hasher(algorithm)
        offset = 0
        failures = 0
        with blob.open() as reader:
            while offset < size:
                length = min(self.chunk_size, size - offset)
                checkpoint, sent = hasher.checkpoint(), counted[0]
                reader.seek(offset)
                try:
                    response = self.transport.request(
                        registry,
                        "PATCH",
                        location,
                        scopes=scopes,
                        headers={
                            "Content-Type": "application/octet-stream",
                            "Content-Length": str(length),
                            "Content-Range": f"{offset}-{offset + length - 1}",
                        },
                        body=self._body(push, reader, hasher, counted, limit=length),
                        expected=(202, 204),
                        what=f"upload chunk {offset}-{offset + length - 1} of {blob.describe()}",
                    )
                except (RegistryError, TransportError) as error:
                    failures += 1
                    if not _blob_retryable(error) or failures >= self.retry.attempts:
                        raise
                    hasher.restore(checkpoint)
                    push.tracker.take_back(counted[0] - sent)
                    counted[0] = sent
                    # Asked even after a 404: the answer is what the registry holds now.
                    resumed = self._resume_offset(registry, location, scopes, offset)
                    if resumed is None:
                        # The registry dropped the session (distribution does once a chunk
                        # was cut after some bytes): the held bytes are unreachable, so the
                        # blob starts again from byte 0 in a new session.
                        log.info(
                            "upload session of %s lost (%s); starting it again",
                            blob.describe(),
                            error,
                        )
                        location, _ = self._start_upload(repository, blob, scopes, mount=False)
                        push.tracker.take_back(counted[0])
                        counted[0] = 0
                        hasher = Hasher(algorithm)
                        offset = 0
                        push.cancelled.wait(self.retry.delay(failures, error))
                        continue
                    log.info(
                        "chunk at %d of %s failed (%s); resuming at %d",
                        offset,
                        blob.describe(),
                        error,
                        resumed,
                    )
                    if resumed > offset:
                        # The registry kept part of the failed chunk: hash it without resending.
                        reader.seek(offset)
                        for _ in self._body(push, reader, hasher, counted, limit=resumed - offset):
                            pass
                        offset = resumed
                    push.cancelled.wait(self.retry.delay(failures, error))
                    continue
                location = self._location(registry, location, response.headers.get("Location"))
                offset += length
        return location, hasher

    def _resume_offset(
        self, registry: Registry, location: str, scopes: Sequence[str], chunk_start: int
    ) -> int | None:
        """Ask the registry how much of the upload it holds (GET on the upload URL).

        :return: where to go on from, or ``None`` when the session no longer exists.
        """
        try:
            response = self.transport.request(
                registry,
                "GET",
                location,
                scopes=scopes,
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

    # -- manifests ------------------------------------------------------------------------

    def _head_manifest_digest(
        self, repository: Repository, identifier: str, scopes: Sequence[str]
    ) -> Digest | None:
        response = self.transport.request(
            repository.registry,
            "HEAD",
            _manifests_path(repository, identifier),
            scopes=scopes,
            headers={"Accept": mt.MANIFEST_ACCEPT},
            expected=(200, 403, 404),
            what=f"check manifest {repository.name}:{identifier}",
        )
        if response.status != 200:
            return None
        header = response.headers.get("Docker-Content-Digest")
        try:
            return Digest.parse(header) if header else None
        except ValueError:
            return None

    def _put_manifest(
        self,
        push: _Push,
        repository: Repository,
        identifier: str,
        document: Manifest | Index,
        *,
        first_put: bool = True,
    ) -> Descriptor:
        """PUT ``document`` at ``identifier``; ``first_put=False`` for more tags of a
        manifest already put, which count no progress and leave the referrers alone."""
        registry = repository.registry
        scopes = push.scopes[registry]
        if first_put:
            push.tracker.add_total(len(document.raw))
        where = (
            f"{repository.name}:{identifier}"
            if ":" not in identifier
            else (f"{repository.name}@{identifier}")
        )

        def put() -> str | None:
            response = self.transport.request(
                registry,
                "PUT",
                _manifests_path(repository, identifier),
                scopes=scopes,
                headers={"Content-Type": document.media_type},
                body=document.raw,
                expected=(200, 201),
                what=f"put manifest {where}",
                idempotent=by_digest,
            )
            self._verify_put(where, document, response.headers.get("Docker-Content-Digest"))
            return response.headers.get("OCI-Subject")

        # By digest the retry layer repeats the PUT itself; a tag PUT is retried here.
        by_digest = ":" in identifier
        subject_header = (
            put()
            if by_digest
            else self.retry.call(put, what=f"put manifest {where}", cancelled=push.cancelled)
        )
        if first_put:
            push.tracker.advance(len(document.raw))
        descriptor = document.descriptor()
        with push.lock:
            push.result.manifests[where] = descriptor
        log.info("%s: put manifest %s", where, descriptor.digest)
        if first_put and document.subject is not None and subject_header is None:
            self._update_referrers(push, repository, document)
        return descriptor

    def _verify_put(self, where: str, document: Manifest | Index, header: str | None) -> None:
        if header and header != str(document.digest):
            # Manifests go up by digest before any tag, so this is caught on a tag only
            # when the registry answered the digest PUT and the tag PUT differently.
            tag_note = "" if "@" in where else "; the tag now points at what it stored"
            raise ManifestError(
                where,
                f"the registry stored the manifest as {header}, but the bytes sent hash to "
                f"{document.digest}{tag_note}",
            )

    # -- referrers ------------------------------------------------------------------------

    def _update_referrers(
        self, push: _Push, repository: Repository, document: Manifest | Index
    ) -> None:
        """Make ``document`` findable from its subject: referrers API or the fallback tag."""
        subject = document.subject
        assert subject is not None
        registry = repository.registry
        scopes = push.scopes[registry]
        response = self.transport.request(
            registry,
            "GET",
            f"/v2/{repository.path}/referrers/{subject.digest}",
            scopes=scopes,
            headers={"Accept": mt.OCI_INDEX},
            expected=(200, 400, 404, 405),
            what=f"check referrers API for {subject.digest}",
            # Some registries redirect an unknown path to an HTML page: that means "no API".
            api=False,
        )
        if response.status == 200 and mt.OCI_INDEX in response.headers.get("Content-Type", ""):
            log.info("%s: registry lists referrers of %s itself", repository.name, subject.digest)
            return
        entry = document.referrer_descriptor()
        self.retry.call(
            lambda: self._add_to_fallback_index(push, repository, subject.digest, entry),
            what=f"update referrers tag {subject.digest.fallback_tag}",
            cancelled=push.cancelled,
        )

    def _add_to_fallback_index(
        self, push: _Push, repository: Repository, subject: Digest, entry: Descriptor
    ) -> None:
        registry = repository.registry
        scopes = push.scopes[registry]
        tag = subject.fallback_tag
        for _ in range(_REFERRERS_ATTEMPTS):
            response = self.transport.request(
                registry,
                "GET",
                _manifests_path(repository, tag),
                scopes=scopes,
                headers={"Accept": mt.MANIFEST_ACCEPT},
                expected=(200, 404),
                what=f"read referrers tag {tag}",
            )
            etag = response.headers.get("ETag")
            entries: list[Descriptor] = []
            if response.status == 200:
                current = Index.parse(
                    response.data,
                    response.headers.get("Content-Type", "").split(";")[0].strip() or None,
                    where=f"{repository.name}:{tag}",
                )
                entries = list(current.manifests)
            if any(existing.digest == entry.digest for existing in entries):
                return
            entries.append(entry)
            entries.sort(key=lambda d: str(d.digest))
            index = Index.build(entries)
            headers = {"Content-Type": index.media_type}
            if etag:
                headers["If-Match"] = etag
            put = self.transport.request(
                registry,
                "PUT",
                _manifests_path(repository, tag),
                scopes=scopes,
                headers=headers,
                body=index.raw,
                expected=(201, 200, 409, 412),
                what=f"update referrers tag {tag}",
            )
            if put.status in (200, 201):
                log.info("%s: referrers tag %s lists %s", repository.name, tag, entry.digest)
                return
            log.info("referrers tag %s changed meanwhile; reading it again", tag)
        raise RegistryError(
            method="PUT",
            url=_manifests_path(repository, tag),
            status=412,
            context=f"referrers tag {tag} kept changing during {_REFERRERS_ATTEMPTS} attempts",
        )
