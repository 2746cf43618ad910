"""The push protocol's orchestration: phases, ordering, manifests, tags, cancellation.

Order is what keeps a registry consistent: every blob an image references is in place before
its manifest is put, every child before its index, and the tag last. A push that fails at
any point therefore leaves the tag where it was. Each blob goes up as one
:class:`~ocipush.registry.upload.BlobUpload`; each manifest goes up through
:func:`~ocipush.registry.manifests.put_manifest` (which makes one with a subject findable);
the state of one call is a :class:`~ocipush.registry.run.PushRun`, holding the session of
each target repository.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ocipush.errors import (
    OcipushError,
    PushInterruptedError,
)
from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.model import Descriptor, Index, Manifest
from ocipush.oci.policy import BlobPolicy
from ocipush.oci.reference import Reference, Registry, Repository
from ocipush.registry.blobtasks import BlobTasks
from ocipush.registry.delete import Deleted, delete_reference
from ocipush.registry.limits import UploadLimits
from ocipush.registry.manifests import put_manifest
from ocipush.registry.progress import ProgressCallback
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.run import PushResult, PushRun, head_manifest_digest
from ocipush.registry.session import PULL, PUSH, Access
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.upload import (
    DEFAULT_CHUNK_SIZE,
    DEFAULT_CHUNK_THRESHOLD,
    SMALL_BLOB,
    UploadOptions,
    blob_exists,
)

__all__ = ["Deleted", "PushResult", "Writer", "token_access", "token_scopes"]

log = logging.getLogger(__name__)


def _names(refs: Sequence[Reference]) -> str:
    return ", ".join(str(ref) for ref in refs)


def token_access(blobs: Mapping[Repository, Sequence[Blob]]) -> dict[Registry, list[Access]]:
    """Per registry: push+pull on each target repository first, then pull on mount sources.

    Some registries read only the first scope, so the push scopes lead.

    :param blobs: the blobs going to each target repository.
    """
    by_registry: dict[Registry, list[Access]] = {}
    for repository, repo_blobs in blobs.items():
        accesses = by_registry.setdefault(repository.registry, [])
        push = Access(repository, PUSH)
        if push not in accesses:
            accesses.insert(sum(a.actions == PUSH for a in accesses), push)
        for blob in repo_blobs:
            source = blob.mount_source
            if source and source.registry == repository.registry and source != repository:
                pull = Access(source, PULL)
                if pull not in accesses:
                    accesses.append(pull)
    return by_registry


def token_scopes(blobs: Mapping[Repository, Sequence[Blob]]) -> dict[Registry, list[str]]:
    """:func:`token_access` as the scope strings a token request names, for plans."""
    return {
        registry: [access.scope for access in accesses]
        for registry, accesses in token_access(blobs).items()
    }


@dataclass
class _Node:
    """A manifest to put: where, what, and at which depth of its tree (leaves first)."""

    repository: Repository
    item: Taggable
    height: int


def _tree_nodes(repository: Repository, item: Taggable) -> list[_Node]:
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


def _streams(item: Taggable) -> bool:
    """Whether ``item``'s digest is known only once its streamed layers went up."""
    nodes = list(item.walk()) if isinstance(item, ImageIndex) else [item]
    return any(isinstance(node, Image) and node.streaming for node in nodes)


class Writer:
    """Pushes images, indexes, blobs and tags to registries.

    :param transport: the registry client (made from one
        :class:`~ocipush.registry.transport.ConnectionOptions`), sharing connections and
        credentials between writers; by default anonymous with the default options.
    :param jobs: how many blobs (and index children) go up at once.
    :param allow_nondistributable_artifacts: upload foreign/nondistributable layers too.
    :param chunk_threshold: blobs larger than this are sent in resumable chunks
        (``None`` disables chunking).
    :param chunk_size: the size of those chunks.
    :param small_blob: blobs of known size up to this are read and checked first, then
        sent in the commit PUT itself (POST + PUT, one round trip fewer than PATCH + PUT);
        ``0`` sends every blob with PATCH + PUT.
    :param hash_known_digests: hash the bytes of a blob whose digest is declared as they
        are sent, and refuse to commit other bytes; off, only their count is checked and
        the registry's check of the digest on the commit PUT is relied upon. Blobs of
        unknown digest (streamed layers) are always hashed.
    :param retry: how a whole blob upload (and a tag PUT) is retried after a temporary
        failure; by default the transport's policy, which also repeats each idempotent
        request on its own (``ConnectionOptions.retry``).
    :param progress: called with a :class:`~ocipush.registry.progress.ProgressUpdate` on
        every change.
    """

    def __init__(
        self,
        transport: Transport | None = None,
        *,
        jobs: int = 4,
        allow_nondistributable_artifacts: bool = False,
        chunk_threshold: int | None = DEFAULT_CHUNK_THRESHOLD,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        small_blob: int = SMALL_BLOB,
        hash_known_digests: bool = True,
        retry: RetryPolicy | None = None,
        progress: ProgressCallback | None = None,
    ) -> None:
        if jobs < 1:
            raise ValueError("jobs must be at least 1")
        self.transport = transport or Transport(
            ConnectionOptions(retry=retry or RetryPolicy()), jobs=jobs
        )
        self.jobs = jobs
        self.allow_nondistributable = allow_nondistributable_artifacts
        #: What happens to each blob; targets' plans ask the same policy.
        self.policy = BlobPolicy(allow_nondistributable_artifacts)
        self.retry = retry or self.transport.retry
        self.upload_options = UploadOptions(
            chunk_threshold, chunk_size, self.retry, hash_known_digests, small_blob
        )
        #: Each blob's upload, scheduled once per repository; what each registry accepts
        #: for uploads is learnt from its answers and kept for the writer's later calls.
        self.blob_tasks = BlobTasks(self.upload_options, self.policy, UploadLimits())
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
        push = PushRun(jobs=self.jobs, progress=self.progress)
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
        push = PushRun(jobs=self.jobs, progress=self.progress)
        self.last_result = push.result
        try:
            self._open_sessions(push, {repository: [blob]})
            push.run_all([self.blob_tasks.submit(push, repository, blob)])
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
        push = PushRun(jobs=self.jobs, progress=self.progress)
        self.last_result = push.result
        try:
            self._open_sessions(push, {ref.repository: []})
            return put_manifest(push, ref.repository, ref.identifier, document, self.retry)
        finally:
            push.close()

    def has_blob(self, repository: Repository, digest: Digest, size: int | None = None) -> bool:
        """Whether ``repository`` holds blob ``digest`` (a HEAD request; writes nothing).

        :param size: the blob's size, which the registry's answer must match.
        """
        return blob_exists(self.transport.session(repository), digest, size)

    def delete(self, ref: Reference, *, force: bool = False) -> Deleted:
        """Delete what ``ref`` names: only the tag where the registry can, else the manifest
        (see :func:`ocipush.registry.delete.delete_reference`)."""
        return delete_reference(self.transport, ref, force=force, retry=self.retry)

    # -- orchestration --------------------------------------------------------------------

    def _publish(
        self, push: PushRun, stages: Sequence[Mapping[Reference, Taggable]]
    ) -> dict[Reference, Descriptor]:
        blobs_by_repo: dict[Repository, list[Blob]] = {}
        for items in stages:
            for ref, item in items.items():
                blobs_by_repo.setdefault(ref.repository, [])
                for node in _tree_nodes(ref.repository, item):
                    if isinstance(node.item, Image):
                        blobs_by_repo.setdefault(node.repository, []).extend(node.item.layers)
        self._open_sessions(push, blobs_by_repo)
        tags = [ref for items in stages for ref in items if ref.digest is None and ref.tag]
        in_place = self._tags_in_place(push, stages)
        try:
            for items in stages:
                # An item all of whose tags already name it is in the registry whole.
                self._put_by_digest(
                    push,
                    {
                        ref: item
                        for ref, item in items.items()
                        if not all(r in in_place for r, i in items.items() if i is item)
                    },
                )
        except OcipushError as error:
            if tags and not isinstance(error, PushInterruptedError):
                error.notes = (*error.notes, f"tags left unchanged: {_names(tags)}")
            raise
        results: dict[Reference, Descriptor] = {}
        for items in stages:
            for ref, item in items.items():
                document = manifest_of(item)
                descriptor = document.descriptor()
                if ref in in_place:
                    log.info("%s already names %s", ref, descriptor.digest)
                elif ref.digest is None and ref.tag is not None:
                    push.tagging = True
                    try:
                        descriptor = put_manifest(
                            push, ref.repository, ref.tag, document, self.retry, first_put=False
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

    def _tags_in_place(
        self, push: PushRun, stages: Sequence[Mapping[Reference, Taggable]]
    ) -> set[Reference]:
        """The tags that already name their item's digest (a HEAD each): a re-push of the
        same release sends nothing for them, no blob check and no manifest PUT."""
        candidates = [
            (ref, item)
            for items in stages
            for ref, item in items.items()
            if ref.digest is None and ref.tag is not None and not _streams(item)
        ]
        in_place: set[Reference] = set()

        def check(ref: Reference, item: Taggable) -> None:
            assert ref.tag is not None
            current = head_manifest_digest(push.sessions[ref.repository], ref.tag)
            if current == manifest_of(item).digest:
                with push.lock:
                    in_place.add(ref)

        push.run_all([push.executor.submit(check, ref, item) for ref, item in candidates])
        return in_place

    def _put_by_digest(self, push: PushRun, items: Mapping[Reference, Taggable]) -> None:
        """Everything of ``items`` but their tags: blobs, children, each manifest by digest
        (which also updates its subject's referrers)."""
        nodes: list[_Node] = []
        for ref, item in items.items():
            nodes.extend(_tree_nodes(ref.repository, item))
        present = self._existing_manifests(push, nodes)
        todo = [n for n in nodes if (n.repository, id(n.item)) not in present]
        images = [n.item for n in todo if isinstance(n.item, Image)]

        # Phase 1: layers, and the configs that do not depend on streamed layers.
        streaming = [image for image in images if image.streaming]
        futures = [
            self.blob_tasks.submit(push, node.repository, layer)
            for node in todo
            if isinstance(node.item, Image)
            for layer in node.item.layers
        ]
        futures += [
            self.blob_tasks.submit(push, node.repository, node.item.config_blob())
            for node in todo
            if isinstance(node.item, Image) and node.item not in streaming
        ]
        push.run_all(futures)
        # Phase 2: configs built from streamed layers' digests, now known.
        push.run_all(
            [
                self.blob_tasks.submit(push, node.repository, node.item.config_blob())
                for node in todo
                if isinstance(node.item, Image) and node.item in streaming
            ]
        )
        denied = functools.partial(self.blob_tasks.upload_denied, push)
        # Phase 3: children by digest, deepest first, each level in parallel.
        for height in sorted({n.height for n in todo if n.height > 0}):
            level = [n for n in todo if n.height == height]
            push.run_all(
                [
                    push.executor.submit(
                        put_manifest,
                        push,
                        n.repository,
                        str(manifest_of(n.item).digest),
                        manifest_of(n.item),
                        self.retry,
                        missing_blobs=denied,
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
                put_manifest(
                    push,
                    ref.repository,
                    str(document.digest),
                    document,
                    self.retry,
                    missing_blobs=denied,
                )
                put_by_digest.add((ref.repository, document.digest))

    def _open_sessions(self, push: PushRun, blobs: Mapping[Repository, Sequence[Blob]]) -> None:
        """Open a session per target repository and fetch its token, before any body is
        streamed. Each session's token also carries the rest of the registry's scopes, so
        the sessions sharing credentials share one token."""
        for accesses in token_access(blobs).values():
            for access in accesses:
                if access.actions == PUSH:
                    session = self.transport.session(access.repository, PUSH, also=accesses)
                    push.sessions[access.repository] = session
                    # The ping and the token requests are repeated by the retry layer.
                    session.prepare()

    def _existing_manifests(
        self, push: PushRun, nodes: Sequence[_Node]
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
            if head_manifest_digest(push.sessions[node.repository], str(digest)) == digest:
                with push.lock:
                    present.add((node.repository, id(node.item)))

        push.run_all([push.executor.submit(check, n) for n in candidates])
        # A present index implies its children are present too.
        for node in candidates:
            if (node.repository, id(node.item)) in present and isinstance(node.item, ImageIndex):
                for child in node.item.walk():
                    present.add((node.repository, id(child)))
        return present
