"""Making a pushed manifest findable from its subject: the referrers API or the fallback tag.

A registry with the referrers API lists a manifest with a ``subject`` by itself; for one
without, the ``sha256-<hex>`` tag names an index of the subject's referrers, updated by
read-modify-write (``If-Match`` where the registry gives an ``ETag``).
"""

from __future__ import annotations

import logging

from ocipush.errors import RegistryError
from ocipush.oci import media_types as mt
from ocipush.oci.digest import Digest
from ocipush.oci.model import Descriptor, Index, Manifest
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.run import PushRun
from ocipush.registry.session import Session

__all__ = ["update_referrers"]

log = logging.getLogger(__name__)

#: Attempts at the read-modify-write of a referrers fallback index before giving up.
_REFERRERS_ATTEMPTS = 5


def update_referrers(
    session: Session, run: PushRun, document: Manifest | Index, retry: RetryPolicy
) -> None:
    """Make ``document`` findable from its subject: referrers API or the fallback tag."""
    subject = document.subject
    assert subject is not None
    repository = session.repository
    response = session.request(
        "GET",
        session.api(f"referrers/{subject.digest}"),
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
    retry.call(
        lambda: _add_to_fallback_index(session, subject.digest, entry),
        what=f"update referrers tag {subject.digest.fallback_tag}",
        cancelled=run.cancelled,
    )


def _too_large(error: RegistryError) -> bool:
    """Whether a manifest PUT was refused for its size: GitLab.com caps manifests at 256 KB
    (400 "request body too large"), Zot and others at 4 MiB (413)."""
    return error.status == 413 or (error.status == 400 and "too large" in str(error).lower())


def _add_to_fallback_index(session: Session, subject: Digest, entry: Descriptor) -> None:
    repository = session.repository
    tag = subject.fallback_tag
    for _ in range(_REFERRERS_ATTEMPTS):
        response = session.request(
            "GET",
            session.manifests(tag),
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
        try:
            put = session.request(
                "PUT",
                session.manifests(tag),
                headers=headers,
                body=index.raw,
                expected=(201, 200, 409, 412),
                what=f"update referrers tag {tag}",
            )
        except RegistryError as error:
            if _too_large(error):
                error.hint = (
                    f"the referrers index of {subject} would be {len(index.raw)} bytes with "
                    f"{len(entries)} entries, more than {session.registry.host} accepts in a "
                    f"manifest; delete referrers no longer needed from the tag {tag}, or "
                    "publish to a registry with the referrers API"
                )
            raise
        if put.status in (200, 201):
            log.info("%s: referrers tag %s lists %s", repository.name, tag, entry.digest)
            return
        log.info("referrers tag %s changed meanwhile; reading it again", tag)
    raise RegistryError(
        method="PUT",
        url=session.manifests(tag),
        status=412,
        context=f"referrers tag {tag} kept changing during {_REFERRERS_ATTEMPTS} attempts",
    )
