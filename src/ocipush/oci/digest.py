"""Content digests (``algorithm:encoded``) and hashing while data flows."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ocipush.errors import DigestMismatchError, InvalidReferenceError

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["Digest", "Hasher", "HashingReader", "digest_of", "file_digest"]

_ENCODED_PATTERN = {"sha256": re.compile(r"[a-f0-9]{64}"), "sha512": re.compile(r"[a-f0-9]{128}")}
_DIGEST_SHAPE = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+")

#: Block size for hashing and streaming from files: large enough for throughput,
#: small enough that memory stays flat.
CHUNK = 1024 * 1024


@dataclass(frozen=True, order=True)
class Digest:
    """A validated content digest. ``str(d)`` is the canonical ``sha256:<hex>`` form."""

    algorithm: str
    encoded: str

    @classmethod
    def parse(cls, text: str) -> Digest:
        """Parse ``algorithm:encoded``; sha256 and sha512 are the supported algorithms."""
        if not isinstance(text, str) or not _DIGEST_SHAPE.fullmatch(text):
            raise InvalidReferenceError(str(text), "a digest looks like sha256:<64 hex digits>")
        algorithm, encoded = text.split(":", 1)
        pattern = _ENCODED_PATTERN.get(algorithm)
        if pattern is None:
            raise InvalidReferenceError(
                text, f"unsupported digest algorithm {algorithm!r} (use sha256 or sha512)"
            )
        if not pattern.fullmatch(encoded):
            length = 64 if algorithm == "sha256" else 128
            raise InvalidReferenceError(
                text, f"a {algorithm} digest has {length} lowercase hex digits"
            )
        return cls(algorithm, encoded)

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @property
    def fallback_tag(self) -> str:
        """The referrers fallback tag for this digest: ``sha256-<hex>``.

        The distribution spec (1.1) caps the algorithm at 32 and the encoded part at 64
        characters, so a sha512 tag is truncated and stays within the 128-character tag limit.
        """
        return f"{self.algorithm[:32]}-{self.encoded[:64]}"


def digest_of(data: bytes, algorithm: str = "sha256") -> Digest:
    """The digest of ``data``."""
    return Digest(algorithm, hashlib.new(algorithm, data).hexdigest())


class Hasher:
    """Accumulates a digest and a byte count over data fed to it piece by piece."""

    def __init__(self, algorithm: str = "sha256") -> None:
        self.algorithm = algorithm
        self._hash = hashlib.new(algorithm)
        self.size = 0

    def update(self, data: bytes) -> None:
        self._hash.update(data)
        self.size += len(data)

    def digest(self) -> Digest:
        return Digest(self.algorithm, self._hash.hexdigest())

    def checkpoint(self) -> Hasher:
        """A copy of the current state, to :meth:`restore` when data must be fed again."""
        copy = Hasher.__new__(Hasher)
        copy.algorithm, copy._hash, copy.size = self.algorithm, self._hash.copy(), self.size
        return copy

    def restore(self, checkpoint: Hasher) -> None:
        self._hash, self.size = checkpoint._hash.copy(), checkpoint.size

    def verify(self, expected: Digest, what: str) -> None:
        """Raise :class:`DigestMismatchError` unless what was fed hashes to ``expected``."""
        actual = self.digest()
        if actual != expected:
            raise DigestMismatchError(what, str(expected), str(actual))


def file_digest(path: Path, algorithm: str = "sha256") -> tuple[Digest, int]:
    """The digest and size of a file, read in pieces so memory stays flat."""
    hasher = Hasher(algorithm)
    with path.open("rb") as reader:
        while data := reader.read(CHUNK):
            hasher.update(data)
    return hasher.digest(), hasher.size


class HashingReader:
    """A reader that hashes every byte read through it, so integrity costs no second pass."""

    def __init__(self, raw: BinaryIO, algorithm: str = "sha256") -> None:
        self._raw = raw
        self.hasher = Hasher(algorithm)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.hasher.update(data)
        return data

    def chunks(self, size: int = CHUNK) -> Iterator[bytes]:
        """Yield the rest of the stream in pieces of at most ``size`` bytes."""
        while True:
            data = self.read(size)
            if not data:
                return
            yield data

    def close(self) -> None:
        self._raw.close()
