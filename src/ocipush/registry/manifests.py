"""Putting one manifest: by digest (repeated by the retry layer) or by tag (repeated here),
its ``Docker-Content-Digest`` checked, and its subject's referrers updated once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from ocipush.errors import ManifestError, RegistryError
from ocipush.oci import media_types as mt
from ocipush.oci.model import Descriptor, Index, Manifest
from ocipush.oci.reference import Repository
from ocipush.registry.attach import update_referrers
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.run import PushRun

__all__ = ["put_manifest"]

log = logging.getLogger(__name__)


def put_manifest(
    push: PushRun,
    repository: Repository,
    identifier: str,
    document: Manifest | Index,
    retry: RetryPolicy,
    *,
    first_put: bool = True,
    missing_blobs: Callable[[Repository, Manifest], bool] | None = None,
) -> Descriptor:
    """PUT ``document`` at ``identifier``; ``first_put=False`` for more tags of a
    manifest already put, which count no progress and leave the referrers alone.

    :param missing_blobs: called when the registry answers ``MANIFEST_BLOB_UNKNOWN`` to a
        PUT by digest although every blob was checked: it uploads what the registry denied
        and says whether to put the manifest again (once).
    """
    session = push.sessions[repository]
    if first_put:
        push.tracker.add_total(len(document.raw))
    where = (
        f"{repository.name}:{identifier}"
        if ":" not in identifier
        else (f"{repository.name}@{identifier}")
    )

    def put() -> str | None:
        try:
            response = session.request(
                "PUT",
                session.manifests(identifier),
                headers={"Content-Type": document.media_type},
                body=document.raw,
                expected=(200, 201),
                what=f"put manifest {where}",
                idempotent=by_digest,
            )
        except RegistryError as error:
            error.hint = error.hint or _refusal_hint(error, where, document, by_digest)
            raise
        _verify_put(where, document, response.headers.get("Docker-Content-Digest"))
        return response.headers.get("OCI-Subject")

    # By digest the retry layer repeats the PUT itself; a tag PUT is retried here.
    by_digest = ":" in identifier
    if not by_digest:
        subject_header = retry.call(put, what=f"put manifest {where}", cancelled=push.cancelled)
    else:
        try:
            subject_header = put()
        except RegistryError as error:
            if not (
                "MANIFEST_BLOB_UNKNOWN" in error.codes
                and isinstance(document, Manifest)
                and missing_blobs is not None
                and missing_blobs(repository, document)
            ):
                raise
            subject_header = put()
    if first_put:
        push.tracker.advance(len(document.raw))
    descriptor = document.descriptor()
    with push.lock:
        push.result.manifests[where] = descriptor
    log.info("%s: put manifest %s", where, descriptor.digest)
    if first_put and document.subject is not None and subject_header is None:
        update_referrers(session, push, document, retry)
    return descriptor


def _refusal_hint(
    error: RegistryError, where: str, document: Manifest | Index, by_digest: bool
) -> str | None:
    """What to do about a manifest PUT a registry refused for a reason of its own."""
    if "TAG_INVALID" in error.codes and not by_digest:
        # ECR's immutable repositories (osscontainertools/kaniko#204).
        return (
            f"{where} already exists and the registry does not move it (an immutable tag); "
            "publish under a new tag, or make the repository's tags mutable"
        )
    if (
        error.status in (400, 415)
        and isinstance(document, Manifest)
        and document.config.media_type not in (mt.OCI_CONFIG, mt.DOCKER_CONFIG)
    ):
        # Quay accepts only the artifact types it is configured for (quay/quay#2659).
        kind = document.artifact_type or document.config.media_type
        return (
            f"the registry may not accept artifacts of type {kind} (config media type "
            f"{document.config.media_type}): allow that type in the registry (Quay: "
            "ALLOWED_OCI_ARTIFACT_TYPES) or give the artifact a type it accepts "
            "(artifact-type in [[tool.ocipush.artifacts]])"
        )
    return None


def _verify_put(where: str, document: Manifest | Index, header: str | None) -> None:
    if header and header != str(document.digest):
        # Manifests go up by digest before any tag, so this is caught on a tag only
        # when the registry answered the digest PUT and the tag PUT differently.
        tag_note = "" if "@" in where else "; the tag now points at what it stored"
        raise ManifestError(
            where,
            f"the registry stored the manifest as {header}, but the bytes sent hash to "
            f"{document.digest}{tag_note}",
        )
