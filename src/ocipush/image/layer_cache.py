"""The user's layer cache: dependency layers built once, shared by every project on the machine.

A dependency layer's bytes depend only on its wheels, the image's Python and the install
paths, so it is stored under a key made of exactly those (:meth:`LayerCache.key`) in the
user cache directory (``$XDG_CACHE_HOME/ocipush/layers``, ``~/.cache/ocipush/layers`` when
unset). An entry is two files: ``KEY.tar.gz``, the layer, and ``KEY.json``, its record
(digests, size, and the files it holds with who wrote them, for the overlap check of
:mod:`ocipush.image.deplayers`). The record is written last, whole, then renamed, so a
concurrent build never reads half an entry.

The cache is bounded: a record's modification time is its last use, and after a build the
entries least recently used are deleted until the total size is within the bound, never one
the running build uses. ``ocipush cache`` shows and clears it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import FileBlob
from ocipush.oci.digest import Digest

__all__ = [
    "DEFAULT_MAX_BYTES",
    "CacheEntry",
    "CachedLayer",
    "LayerCache",
    "blob_from_record",
    "blob_record",
    "user_cache_dir",
    "write_json",
]

#: The cache's bound: a few large scientific stacks (numpy, pandas, torch's CPU wheel).
DEFAULT_MAX_BYTES = 4 * 1024**3
#: Bumped whenever a layer's layout changes, so old entries are never reused.
FORMAT = 1
_RECORD = ".json"
_LAYER = ".tar.gz"


def user_cache_dir(environ: Mapping[str, str]) -> Path:
    """ocipush's directory in the user cache (XDG base directories)."""
    base = environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # the spec: a relative value is invalid and ignored
        base = os.path.join(environ.get("HOME") or os.path.expanduser("~"), ".cache")
    return Path(base) / "ocipush"


def blob_record(blob: FileBlob) -> dict[str, object]:
    """What a cache record says of a layer file: its digests and size."""
    return {"digest": str(blob.digest), "diff_id": str(blob.diff_id), "size": blob.size}


def blob_from_record(path: Path, record: Mapping[str, Any]) -> FileBlob | None:
    """The layer file ``path`` as :func:`blob_record` described it; ``None`` when the file is
    missing or its size differs.

    :raises KeyError, ValueError, TypeError: the record is damaged.
    """
    try:
        if path.stat().st_size != record["size"]:
            return None
    except OSError:
        return None
    return FileBlob(
        path,
        mt.OCI_LAYER,
        digest=Digest.parse(record["digest"]),
        size=record["size"],
        diff_id=Digest.parse(record["diff_id"]),
    )


def write_json(path: Path, value: object) -> None:
    """Write ``value`` whole, then rename it into place: a concurrent build never reads half."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps(value), encoding="utf-8")
    partial.replace(path)


@dataclass(frozen=True)
class CachedLayer:
    """A layer in the cache.

    :ivar files: every non-directory path in the layer → (the distribution that wrote it, a
        fingerprint of its content: ``sha256:…``, or ``-> target`` for a link).
    """

    key: str
    blob: FileBlob
    files: Mapping[str, tuple[str, str]]


@dataclass(frozen=True)
class CacheEntry:
    """One entry, as ``ocipush cache`` shows it."""

    key: str
    size: int
    last_used: float
    label: str


class LayerCache:
    """Layers by key in ``directory``, at most ``max_bytes`` in all after each build."""

    def __init__(self, directory: Path, *, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    @classmethod
    def for_user(cls, environ: Mapping[str, str]) -> LayerCache:
        return cls(user_cache_dir(environ) / "layers")

    @staticmethod
    def key(material: Mapping[str, object]) -> str:
        """The key of a layer made from ``material`` (JSON values; order does not matter)."""
        encoded = json.dumps({"format": FORMAT, **material}, sort_keys=True).encode()
        return hashlib.sha256(encoded).hexdigest()

    def get(self, key: str) -> CachedLayer | None:
        """The entry under ``key``, marked as just used; ``None`` when absent or damaged."""
        record_path = self.directory / f"{key}{_RECORD}"
        try:
            record = json.loads(record_path.read_text(encoding="utf-8"))
            blob = blob_from_record(self.directory / f"{key}{_LAYER}", record)
            if blob is None:
                return None
            files = {path: (owner, print_) for path, (owner, print_) in record["files"].items()}
            os.utime(record_path)  # its last use, for the eviction order
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return CachedLayer(key, blob, files)

    def put(
        self, key: str, blob: FileBlob, files: Mapping[str, tuple[str, str]], label: str
    ) -> CachedLayer:
        """Move the freshly built ``blob`` (a file in :meth:`scratch`) into the cache."""
        self.directory.mkdir(parents=True, exist_ok=True)
        layer = self.directory / f"{key}{_LAYER}"
        os.replace(blob.path, layer)
        record = {
            **blob_record(blob),
            "label": label,
            "files": {path: list(value) for path, value in sorted(files.items())},
        }
        write_json(self.directory / f"{key}{_RECORD}", record)
        cached = FileBlob(
            layer, blob.media_type, digest=blob.digest, size=blob.size, diff_id=blob.diff_id
        )
        return CachedLayer(key, cached, dict(files))

    def wheel_size(self, sha256: str) -> int | None:
        """The size of the wheel with this hash, if a build here has seen it."""
        size = self._wheel_facts(sha256).get("size")
        return size if isinstance(size, int) else None

    def wheel_license(self, sha256: str) -> str | None:
        """The license the wheel with this hash declares, if a build here has seen it (for
        SBOMs of images whose layers came from the cache, the wheel never fetched)."""
        license_text = self._wheel_facts(sha256).get("license")
        return license_text if isinstance(license_text, str) else None

    def remember_wheel(self, sha256: str, *, size: int, license_text: str | None) -> None:
        """Note what a build knows of a wheel, so later builds need not fetch it."""
        facts = self.directory / "wheels"
        facts.mkdir(parents=True, exist_ok=True)
        write_json(facts / f"{sha256}.json", {"size": size, "license": license_text})

    def _wheel_facts(self, sha256: str) -> dict[str, object]:
        try:
            facts = json.loads((self.directory / "wheels" / f"{sha256}.json").read_text("utf-8"))
        except (OSError, ValueError):
            return {}
        return facts if isinstance(facts, dict) else {}

    def scratch(self) -> Path:
        """A new private directory on the cache's file system, for building one layer (so
        that :meth:`put` is a rename); the caller removes it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / f".build-{os.getpid()}-{time.monotonic_ns()}"
        path.mkdir()
        return path

    def entries(self) -> list[CacheEntry]:
        """Every complete entry, least recently used first."""
        found = []
        for record_path in self.directory.glob(f"*{_RECORD}"):
            key = record_path.name[: -len(_RECORD)]
            try:
                record = json.loads(record_path.read_text(encoding="utf-8"))
                size = (self.directory / f"{key}{_LAYER}").stat().st_size
                last_used = record_path.stat().st_mtime
            except (OSError, ValueError):
                continue
            label = str(record.get("label", "")) if isinstance(record, dict) else ""
            found.append(CacheEntry(key, size, last_used, label))
        return sorted(found, key=lambda entry: (entry.last_used, entry.key))

    def evict(self, keep: Collection[str] = ()) -> list[CacheEntry]:
        """Delete the least recently used entries (other than ``keep``) until the cache holds
        at most ``max_bytes``; returns what was deleted."""
        entries = self.entries()
        total = sum(entry.size for entry in entries)
        deleted = []
        for entry in entries:
            if total <= self.max_bytes:
                break
            if entry.key in keep:
                continue
            self._delete(entry.key)
            total -= entry.size
            deleted.append(entry)
        return deleted

    def clear(self) -> list[CacheEntry]:
        """Delete every entry (and anything a crashed build left); returns the entries."""
        entries = self.entries()
        if self.directory.is_dir():
            shutil.rmtree(self.directory)
        return entries

    def _delete(self, key: str) -> None:
        # The record first: without it the entry is gone even if the layer file stays.
        (self.directory / f"{key}{_RECORD}").unlink(missing_ok=True)
        (self.directory / f"{key}{_LAYER}").unlink(missing_ok=True)
