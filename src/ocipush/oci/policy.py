"""What happens to a blob going to a place: one rule for every plan and every push.

A target's ``plan()`` and the push that executes it ask the same :class:`BlobPolicy`, so
``ocipush plan`` shows exactly what ``ocipush push`` will do: a nondistributable (foreign)
layer is skipped unless allowed, a blob elsewhere on the same registry is mounted, a blob
already there is left alone, anything else is sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob
from ocipush.oci.reference import Repository

__all__ = ["BlobAction", "BlobPolicy"]

#: What will happen to a blob: sent, mounted from another repository, or left alone.
BlobAction = Literal["upload", "mount", "present", "skip-nondistributable", "write"]


@dataclass(frozen=True)
class BlobPolicy:
    """Decides upload / mount / present / skip for a blob in a repository.

    :param allow_nondistributable: send nondistributable (foreign) layers too.
    """

    allow_nondistributable: bool = False

    def skips(self, blob: Blob) -> bool:
        """Whether ``blob`` stays out: a nondistributable layer not allowed to travel."""
        return not self.allow_nondistributable and not mt.is_distributable(blob.media_type)

    def mount_source(self, blob: Blob, repository: Repository) -> Repository | None:
        """The repository to mount ``blob`` from: another one on the same registry."""
        source = blob.mount_source
        if (
            source is None
            or blob.digest is None
            or source == repository
            or source.registry != repository.registry
        ):
            return None
        return source

    def decide(
        self,
        blob: Blob,
        repository: Repository,
        *,
        exists: Callable[[Blob], bool] | None = None,
    ) -> tuple[BlobAction, Repository | None]:
        """What a registry push does with ``blob``, and the mount source if it mounts.

        :param exists: asks the registry whether the blob is there (``None``: not asked,
            as ``ocipush plan`` without ``--check``).
        """
        if self.skips(blob):
            return "skip-nondistributable", None
        source = self.mount_source(blob, repository)
        if source is not None:
            return "mount", source
        if exists is not None and blob.digest is not None and exists(blob):
            return "present", None
        return "upload", None
