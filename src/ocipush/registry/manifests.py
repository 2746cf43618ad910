"""Putting one manifest: by digest (repeated by the retry layer) or by tag (repeated here),
its ``Docker-Content-Digest`` checked, and its subject's referrers updated once.
"""

from __future__ import annotations

import logging

from ocipush.errors import ManifestError
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
) -> Descriptor:
    """PUT ``document`` at ``identifier``; ``first_put=False`` for more tags of a
    manifest already put, which count no progress and leave the referrers alone."""
    session = push.sessions[repository]
    if first_put:
        push.tracker.add_total(len(document.raw))
    where = (
        f"{repository.name}:{identifier}"
        if ":" not in identifier
        else (f"{repository.name}@{identifier}")
    )

    def put() -> str | None:
        response = session.request(
            "PUT",
            session.manifests(identifier),
            headers={"Content-Type": document.media_type},
            body=document.raw,
            expected=(200, 201),
            what=f"put manifest {where}",
            idempotent=by_digest,
        )
        _verify_put(where, document, response.headers.get("Docker-Content-Digest"))
        return response.headers.get("OCI-Subject")

    # By digest the retry layer repeats the PUT itself; a tag PUT is retried here.
    by_digest = ":" in identifier
    subject_header = (
        put()
        if by_digest
        else retry.call(put, what=f"put manifest {where}", cancelled=push.cancelled)
    )
    if first_put:
        push.tracker.advance(len(document.raw))
    descriptor = document.descriptor()
    with push.lock:
        push.result.manifests[where] = descriptor
    log.info("%s: put manifest %s", where, descriptor.digest)
    if first_put and document.subject is not None and subject_header is None:
        update_referrers(session, push, document, retry)
    return descriptor


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
