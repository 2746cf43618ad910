"""What each registry accepts for uploads: chunk sizes, whether it takes chunks at all, and
whether its word that a blob exists can be taken.

Learnt from answers wherever an answer can teach it (GHCR's 416 names its 4 MiB limit;
Artifact Registry refuses a ``Content-Range`` PATCH), so the first blob pays for the lesson
and the others of the run do not. A few hosts get documented defaults up front, where
learning would cost a failed request on every run:

- ``ghcr.io``: chunks of at most 4 MiB (oras-project/rust-oci-client#35);
- ``*.pkg.dev``, ``gcr.io``, ``*.gcr.io``: monolithic uploads only (Artifact Registry's
  Docker API reference: "does not support Docker chunked uploads");
- ECR (``*.dkr.ecr.*.amazonaws.com``): chunks of 5 to 10 MiB (its parts are S3 multipart
  parts: at least 5 MiB except the last; ECR service quotas);
- JFrog Cloud (``*.jfrog.io``): a blob HEAD's 200 is confirmed with a one-byte GET, since
  some Artifactory versions answer HEAD 200 and GET 404 (gardener/cc-utils#1752).

Elsewhere a lying HEAD is learnt from the manifest PUT it makes fail
(``MANIFEST_BLOB_UNKNOWN``).
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass

from ocipush.oci.reference import Registry

__all__ = ["MIN_CHUNK_SIZE", "ChunkLimits", "UploadLimits", "limit_in_message"]

MIB = 1024 * 1024
#: Never shrink chunks below this: a registry refusing 256 KiB is not refusing the size.
MIN_CHUNK_SIZE = 256 * 1024

_LIMIT = re.compile(r"(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|KB|MB|GB)", re.IGNORECASE)
_UNITS = {"k": 1024, "m": MIB, "g": 1024 * MIB}
_ECR = re.compile(r"^\d+\.dkr\.ecr(-fips)?\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$")


def limit_in_message(message: str) -> int | None:
    """A size a registry's error message names ("... limit of 4.00MiB"), in bytes."""
    match = _LIMIT.search(message)
    if match is None:
        return None
    return int(float(match[1]) * _UNITS[match[2][0].lower()])


@dataclass(frozen=True)
class ChunkLimits:
    """How blobs may go up to one registry: ``chunked`` at all, chunks within bounds."""

    chunked: bool = True
    max_chunk: int | None = None
    min_chunk: int | None = None

    def chunk_size(self, wanted: int) -> int:
        size = wanted if self.max_chunk is None else min(wanted, self.max_chunk)
        return size if self.min_chunk is None else max(size, self.min_chunk)


def _host_default(host: str) -> ChunkLimits:
    name = host.split(":", 1)[0]
    if name == "ghcr.io":
        return ChunkLimits(max_chunk=4 * MIB)
    if name.endswith(".pkg.dev") or name == "gcr.io" or name.endswith(".gcr.io"):
        return ChunkLimits(chunked=False)
    if _ECR.match(name):
        return ChunkLimits(max_chunk=10 * MIB, min_chunk=5 * MIB)
    return ChunkLimits()


class UploadLimits:
    """The upload limits of every registry a writer talks to, learnt as answers come."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._limits: dict[str, ChunkLimits] = {}
        self._lying_heads: set[str] = set()

    def confirm_heads(self, registry: Registry) -> bool:
        """Whether a blob HEAD's 200 must be confirmed before an upload is skipped."""
        with self._lock:
            return registry.host in self._lying_heads or registry.host.split(":")[0].endswith(
                ".jfrog.io"
            )

    def heads_lie(self, registry: Registry) -> None:
        """``registry`` said a blob exists that it then did not know."""
        with self._lock:
            self._lying_heads.add(registry.host)

    def get(self, registry: Registry) -> ChunkLimits:
        with self._lock:
            return self._limits.setdefault(registry.host, _host_default(registry.host))

    def cap_chunks(self, registry: Registry, size: int) -> ChunkLimits:
        """Chunks to ``registry`` are at most ``size`` bytes from now on."""
        with self._lock:
            current = self._limits.get(registry.host) or _host_default(registry.host)
            size = max(size, MIN_CHUNK_SIZE)
            if current.max_chunk is None or size < current.max_chunk:
                current = ChunkLimits(current.chunked, size, None)
            self._limits[registry.host] = current
            return current

    def no_chunks(self, registry: Registry) -> None:
        """``registry`` refused a chunk: blobs go up in one request from now on."""
        with self._lock:
            self._limits[registry.host] = ChunkLimits(chunked=False)
