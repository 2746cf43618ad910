"""Reading from registries: manifests, and images whose blobs stay remote until sent.

A remote image never touches the disk: its blobs are :class:`~ocipush.oci.blobs.RemoteBlob`
sources that the writer mounts (same registry) or streams straight into the target.
"""

from __future__ import annotations

import json
import re
from typing import BinaryIO

from ocipush.errors import DigestMismatchError, ManifestError, RegistryError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import RemoteBlob
from ocipush.oci.digest import Digest, digest_of
from ocipush.oci.images import Image, ImageIndex, Taggable
from ocipush.oci.model import Descriptor, Index, Manifest, Platform, parse_manifest
from ocipush.oci.reference import Reference, Repository
from ocipush.registry.transport import Transport

__all__ = ["Remote"]

#: Pages of a tag list read before giving up (distribution ignores ``n``: one page).
_TAG_PAGES = 100
_NEXT_LINK = re.compile(r'<([^>]+)>\s*;\s*rel="?next"?')


class Remote:
    """Reads manifests and images from registries through a :class:`Transport`."""

    def __init__(self, transport: Transport) -> None:
        self.transport = transport

    def manifest(self, ref: Reference) -> Manifest | Index:
        """The manifest or index at ``ref``, verified against the digest it was asked by."""
        return self._manifest(ref.repository, ref.identifier, ref.digest)

    def _manifest(
        self, repository: Repository, identifier: str, expected: Digest | None
    ) -> Manifest | Index:
        where = (
            f"{repository.name}:{identifier}"
            if expected is None
            else (f"{repository.name}@{identifier}")
        )
        session = self.transport.session(repository)
        response = session.request(
            "GET",
            session.manifests(identifier),
            headers={"Accept": mt.MANIFEST_ACCEPT},
            what=f"get manifest {where}",
        )
        raw = response.data
        if expected is not None and digest_of(raw, expected.algorithm) != expected:
            raise DigestMismatchError(
                f"manifest {where}", str(expected), str(digest_of(raw, expected.algorithm))
            )
        media_type = response.headers.get("Content-Type", "").split(";")[0].strip() or None
        return parse_manifest(raw, media_type, where=where)

    def tags(self, repository: Repository) -> list[str]:
        """Every tag of ``repository``, following ``Link`` pages (a bounded number of them)."""
        session = self.transport.session(repository)
        found: list[str] = []
        url: str | None = session.api("tags/list")
        for _ in range(_TAG_PAGES):
            if url is None:
                return found
            response = session.request(
                "GET",
                url,
                what=f"list tags of {repository.name}",
            )
            try:
                tags = json.loads(response.data).get("tags") or []
            except (ValueError, AttributeError):
                tags = None
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise ManifestError(repository.name, "the tag list is not a list of tags")
            found += tags
            link = _NEXT_LINK.search(response.headers.get("Link", ""))
            url = link.group(1) if link else None
        if url is not None:
            raise ManifestError(repository.name, f"more than {_TAG_PAGES} pages of tags")
        return found

    def get(self, ref: Reference) -> Taggable:
        """The image or index at ``ref``: child manifests fetched, blobs left remote."""
        return self._taggable(ref.repository, self.manifest(ref), None)

    def _taggable(
        self, repository: Repository, document: Manifest | Index, platform: Platform | None
    ) -> Taggable:
        if isinstance(document, Index):
            children = [
                self._taggable(
                    repository,
                    self._manifest(repository, str(entry.digest), entry.digest),
                    entry.platform,
                )
                for entry in document.manifests
                if mt.is_manifest(entry.media_type)
            ]
            return ImageIndex(children, index=document, platform=platform)
        return Image.from_manifest(
            document,
            self.blob(repository, document.config),
            [self.blob(repository, layer) for layer in document.layers],
            platform=platform,
        )

    def referrers(self, repository: Repository, subject: Digest) -> list[Descriptor]:
        """What refers to ``subject``: from the referrers API when the registry has one,
        else from the ``sha256-<hex>`` fallback tag (the writer keeps either up to date)."""
        session = self.transport.session(repository)
        response = session.request(
            "GET",
            session.api(f"referrers/{subject}"),
            headers={"Accept": mt.OCI_INDEX},
            expected=(200, 400, 404, 405),
            what=f"list referrers of {repository.name}@{subject}",
            # GCR once redirected this path to an HTML login page: that means "no API".
            api=False,
        )
        if response.status == 200 and mt.OCI_INDEX in response.headers.get("Content-Type", ""):
            media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
            where = f"referrers of {repository.name}@{subject}"
            return list(Index.parse(response.data, media_type, where=where).manifests)
        try:
            fallback = self._manifest(repository, subject.fallback_tag, None)
        except RegistryError as error:
            if error.status == 404:
                return []
            raise
        return list(fallback.manifests) if isinstance(fallback, Index) else []

    def blob(self, repository: Repository, descriptor: Descriptor) -> RemoteBlob:
        """A source for one blob of ``repository``, opened only when it is sent."""

        def fetch() -> BinaryIO:
            session = self.transport.session(repository)
            return session.fetch(
                session.blobs(str(descriptor.digest)),
                what=f"get blob {descriptor.digest} from {repository.name}",
            )

        return RemoteBlob(repository, descriptor, fetch)
