"""Blob sources: where the bytes of a layer or config come from.

A blob is read only when it is sent, and never held in memory whole (except
:class:`BytesBlob`, which is given its bytes). Every source can describe itself for error
messages, and says whether it can be read again (a retry) or only once (a stream).
"""

from __future__ import annotations

import io
import os
import threading
import zlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from ocipush.errors import BlobError
from ocipush.oci.digest import CHUNK, Digest, Hasher, digest_of, file_digest
from ocipush.oci.model import Descriptor

if TYPE_CHECKING:
    from ocipush.oci.reference import Repository

__all__ = ["Blob", "BytesBlob", "DeferredBlob", "FileBlob", "RemoteBlob", "StreamBlob"]


class Blob(ABC):
    """Content to upload, with its descriptor fields.

    :ivar media_type: the descriptor's media type.
    :ivar annotations: descriptor annotations (e.g. a file name for artifact layers).
    :ivar urls: foreign-layer URLs, if any.
    :ivar diff_id: digest of the uncompressed content, for image configs, when known.
    """

    def __init__(
        self,
        media_type: str,
        *,
        annotations: Mapping[str, str] | None = None,
        urls: tuple[str, ...] = (),
        diff_id: Digest | None = None,
    ) -> None:
        self.media_type = media_type
        self.annotations: Mapping[str, str] = dict(annotations or {})
        self.urls = urls
        self.diff_id = diff_id

    @property
    @abstractmethod
    def digest(self) -> Digest | None:
        """The content digest; ``None`` only for a stream not yet uploaded."""

    @property
    @abstractmethod
    def size(self) -> int | None:
        """The content size; ``None`` only for a stream not yet uploaded."""

    @abstractmethod
    def open(self) -> BinaryIO:
        """A reader positioned at the start of the content."""

    @abstractmethod
    def describe(self) -> str:
        """Where the bytes come from, for messages (a path, a repository...)."""

    #: Whether :meth:`open` can be called again, e.g. to retry an upload.
    reopenable: bool = True

    @property
    def mount_source(self) -> Repository | None:
        """The repository holding this blob already, when a registry could mount it."""
        return None

    def descriptor(self) -> Descriptor:
        """The descriptor of this blob; a stream has one only after it was uploaded."""
        digest, size = self.digest, self.size
        if digest is None or size is None:
            raise BlobError(f"{self.describe()}: digest unknown until the stream is uploaded")
        return Descriptor(
            self.media_type, digest, size, annotations=self.annotations, urls=self.urls
        )

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} {self.digest}>"


class BytesBlob(Blob):
    """A small blob held in memory (configs, manifests, generated files)."""

    def __init__(
        self,
        data: bytes,
        media_type: str,
        *,
        annotations: Mapping[str, str] | None = None,
        diff_id: Digest | None = None,
    ) -> None:
        super().__init__(media_type, annotations=annotations, diff_id=diff_id)
        self.data = data
        self._digest = digest_of(data)

    @property
    def digest(self) -> Digest:
        return self._digest

    @property
    def size(self) -> int:
        return len(self.data)

    def open(self) -> BinaryIO:
        return io.BytesIO(self.data)

    def describe(self) -> str:
        return f"{len(self.data)}-byte {self.media_type} blob"


class DeferredBlob(Blob):
    """A small blob whose bytes are made only when first needed, then kept.

    Signatures are made this way: a plan lists them without signing (signing may write to a
    public transparency log), and :func:`ocipush.release.publish.execute` calls :meth:`produce`
    before anything is written, so a failure to sign moves no tag. Until then the digest
    and size are ``None``, as for a stream.
    """

    def __init__(
        self,
        make: Callable[[], bytes],
        media_type: str,
        *,
        name: str,
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(media_type, annotations=annotations)
        self._make = make
        self._name = name
        self._data: bytes | None = None
        self._lock = threading.Lock()

    def produce(self) -> bytes:
        """Make the bytes (once; later calls return the same bytes)."""
        with self._lock:
            if self._data is None:
                self._data = self._make()
            return self._data

    @property
    def digest(self) -> Digest | None:
        return digest_of(self._data) if self._data is not None else None

    @property
    def size(self) -> int | None:
        return len(self._data) if self._data is not None else None

    def open(self) -> BinaryIO:
        return io.BytesIO(self.produce())

    def describe(self) -> str:
        return self._name


class FileBlob(Blob):
    """A blob in a file. Its digest is computed on first use unless declared.

    A declared digest is trusted only until the bytes are sent: the writer hashes what it
    reads and refuses to commit a blob whose bytes do not match.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        media_type: str,
        *,
        digest: Digest | None = None,
        size: int | None = None,
        annotations: Mapping[str, str] | None = None,
        urls: tuple[str, ...] = (),
        diff_id: Digest | None = None,
    ) -> None:
        super().__init__(media_type, annotations=annotations, urls=urls, diff_id=diff_id)
        self.path = Path(path)
        self._digest = digest
        self._size = size
        self._lock = threading.Lock()

    def _hash(self) -> None:
        try:
            self._digest, self._size = file_digest(self.path)
        except OSError as exc:
            raise BlobError(f"{self.path}: cannot read blob file: {exc.strerror}") from None

    @property
    def digest(self) -> Digest:
        with self._lock:
            if self._digest is None:
                self._hash()
            assert self._digest is not None
            return self._digest

    @property
    def size(self) -> int:
        if self._size is None:
            try:
                self._size = self.path.stat().st_size
            except OSError as exc:
                raise BlobError(f"{self.path}: cannot read blob file: {exc.strerror}") from None
        return self._size

    def open(self) -> BinaryIO:
        try:
            return self.path.open("rb")
        except OSError as exc:
            raise BlobError(f"{self.path}: cannot read blob file: {exc.strerror}") from None

    def describe(self) -> str:
        return str(self.path)


class _GzipStream(io.RawIOBase):
    """Compresses a reader on the fly, hashing the uncompressed bytes for the diff_id."""

    def __init__(self, source: BinaryIO, level: int) -> None:
        self._source = source
        self._compressor = zlib.compressobj(level, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._pending = b""
        self._done = False
        self.uncompressed = Hasher()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            data = self._source.read(CHUNK)
            if data:
                self.uncompressed.update(data)
                self._pending = self._compressor.compress(data)
            else:
                self._pending = self._compressor.flush()
                self._done = True
        count = min(len(buffer), len(self._pending))
        buffer[:count] = self._pending[:count]
        self._pending = self._pending[count:]
        return count


class StreamBlob(Blob):
    """A blob read once from a stream; digest and size are known only after the upload.

    With ``compress=True`` the stream is gzip-compressed on the way out and its
    uncompressed digest becomes the ``diff_id``, so an image config can be built after it.
    """

    reopenable = False

    def __init__(
        self,
        source: BinaryIO | Callable[[], BinaryIO],
        media_type: str,
        *,
        compress: bool = False,
        compress_level: int = 6,
        name: str = "stream",
        annotations: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(media_type, annotations=annotations)
        self._source = source
        self._compress = compress
        self._level = compress_level
        self._name = name
        self._opened = False
        self._gzip: _GzipStream | None = None
        self._digest: Digest | None = None
        self._size: int | None = None

    @property
    def digest(self) -> Digest | None:
        return self._digest

    @property
    def size(self) -> int | None:
        return self._size

    def open(self) -> BinaryIO:
        if self._opened:
            raise BlobError(f"{self._name}: a stream can be read only once; it cannot be retried")
        self._opened = True
        source = self._source() if callable(self._source) else self._source
        if not self._compress:
            return source
        self._gzip = _GzipStream(source, self._level)
        return io.BufferedReader(self._gzip, CHUNK)

    def complete(self, digest: Digest, size: int) -> None:
        """Record what the upload measured; called by the writer after the last byte."""
        self._digest, self._size = digest, size
        if self._gzip is not None:
            self.diff_id = self._gzip.uncompressed.digest()

    def describe(self) -> str:
        return self._name


class RemoteBlob(Blob):
    """A blob in another repository: mounted on the same registry, streamed across registries."""

    def __init__(
        self,
        repository: Repository,
        descriptor: Descriptor,
        fetch: Callable[[], BinaryIO],
        *,
        diff_id: Digest | None = None,
    ) -> None:
        super().__init__(
            descriptor.media_type,
            annotations=descriptor.annotations,
            urls=descriptor.urls,
            diff_id=diff_id,
        )
        self.repository = repository
        self._descriptor = descriptor
        self._fetch = fetch

    @property
    def digest(self) -> Digest:
        return self._descriptor.digest

    @property
    def size(self) -> int:
        return self._descriptor.size

    @property
    def mount_source(self) -> Repository:
        return self.repository

    def open(self) -> BinaryIO:
        return self._fetch()

    def describe(self) -> str:
        return f"{self.repository.name}@{self._descriptor.digest}"
