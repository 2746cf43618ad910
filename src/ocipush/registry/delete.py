"""Deleting what a reference names: the tag alone where the registry can, else the manifest."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ocipush.errors import DeleteWouldUntagError, OcipushError
from ocipush.oci.digest import Digest
from ocipush.oci.reference import Reference
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.run import head_manifest_digest
from ocipush.registry.session import PUSH, Session
from ocipush.registry.transport import Transport

__all__ = ["Deleted", "delete_reference"]


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


def delete_reference(
    transport: Transport, ref: Reference, *, force: bool = False, retry: RetryPolicy
) -> Deleted:
    """Delete what ``ref`` names: only the tag where the registry can (distribution
    spec 1.1), else the manifest, which takes every tag naming it along.

    :param force: delete the manifest even when other tags name it.
    :raises OcipushError: naming those other tags, when there are any and not ``force``.
    """
    repository = ref.repository
    session = transport.session(repository, PUSH)
    digest = ref.digest or head_manifest_digest(session, ref.identifier)
    if digest is None:
        raise OcipushError(
            f"delete {ref}: {repository.name} has no manifest {ref.identifier}; nothing was deleted"
        )
    if ref.digest is None and ref.tag is not None:
        # Registries without tag deletion refuse it (distribution 2.8: 400 DIGEST_INVALID).
        if _delete_manifest(session, retry, ref, ref.tag, expected=(200, 202, 400, 404, 405)):
            return Deleted(digest, (ref.tag,), manifest=False)
        others = [
            tag
            for tag in Remote(transport).tags(repository)
            if tag != ref.tag and head_manifest_digest(session, tag) == digest
        ]
        if others and not force:
            named = (
                f"tag {others[0]} names" if len(others) == 1 else (f"tags {', '.join(others)} name")
            )
            raise DeleteWouldUntagError(
                f"delete {ref}: {repository.registry.host} can only delete the manifest "
                f"{digest}, and {named} it too, so they would go as well; nothing was "
                "deleted",
                others,
            )
        _delete_manifest(session, retry, ref, str(digest))
        return Deleted(digest, (ref.tag, *others), manifest=True)
    _delete_manifest(session, retry, ref, str(digest))
    return Deleted(digest, (), manifest=True)


def _delete_manifest(
    session: Session,
    retry: RetryPolicy,
    ref: Reference,
    identifier: str,
    *,
    expected: Sequence[int] = (200, 202),
) -> bool:
    """DELETE a manifest by ``identifier``; whether the registry accepted it."""
    response = retry.call(
        lambda: session.request(
            "DELETE",
            session.manifests(identifier),
            expected=expected,
            what=f"delete {ref}",
        ),
        what=f"delete {ref}",
    )
    return response.status in (200, 202)
