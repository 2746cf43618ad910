"""What the writer pushes: images and indexes, i.e. manifests together with their content.

An :class:`Image` is a manifest plus the sources of its config and layers. Its manifest may
be fixed (read from a layout or a registry) or built on demand from its blobs, which is how
an image with streamed layers gets a manifest once their digests are known.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TypeAlias

from ocipush.errors import ManifestError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob
from ocipush.oci.model import Descriptor, Index, Manifest, Platform

__all__ = ["Image", "ImageIndex", "Taggable", "manifest_of"]

ConfigFactory: TypeAlias = Callable[[Sequence[Blob]], Blob]


class Image:
    """An image or artifact manifest with the blobs it references.

    :param layers: layer blobs, in manifest order.
    :param config: the config blob, or a function building it from the layers once they
        are uploaded (for images whose config needs the diff_ids of streamed layers).
    :param manifest: the exact manifest, when it already exists; otherwise one is built.
    :param platform: recorded in an index that lists this image.
    """

    def __init__(
        self,
        *,
        layers: Sequence[Blob],
        config: Blob | ConfigFactory,
        manifest: Manifest | None = None,
        media_type: str = mt.OCI_MANIFEST,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> None:
        self.layers = tuple(layers)
        self._config = config
        self._manifest = manifest
        self.media_type = manifest.media_type if manifest else media_type
        self._subject = subject
        self._artifact_type = artifact_type
        self._annotations = dict(annotations or {})
        self.platform = platform
        self._lock = threading.Lock()
        if manifest is not None:
            self._check_consistent(manifest)

    @classmethod
    def from_manifest(
        cls,
        manifest: Manifest,
        config: Blob,
        layers: Sequence[Blob],
        *,
        platform: Platform | None = None,
    ) -> Image:
        return cls(layers=layers, config=config, manifest=manifest, platform=platform)

    def _check_consistent(self, manifest: Manifest) -> None:
        declared = [d.digest for d in manifest.layers]
        given = [b.digest for b in self.layers]
        if declared != given:
            raise ManifestError("image", "the layer blobs do not match the manifest's layers")

    @property
    def streaming(self) -> bool:
        """Whether some layer's digest is known only after it is uploaded."""
        return any(layer.digest is None for layer in self.layers)

    def config_blob(self) -> Blob:
        """The config blob; built on first call when a factory was given."""
        with self._lock:
            if not isinstance(self._config, Blob):
                self._config = self._config(self.layers)
            return self._config

    def manifest(self) -> Manifest:
        """The manifest; built on first call from the config and layer descriptors."""
        config = self.config_blob()
        with self._lock:
            if self._manifest is None:
                self._manifest = Manifest.build(
                    config.descriptor(),
                    [layer.descriptor() for layer in self.layers],
                    media_type=self.media_type,
                    subject=self._subject,
                    artifact_type=self._artifact_type,
                    annotations=self._annotations,
                )
            return self._manifest

    def blobs(self) -> Iterator[Blob]:
        """Layers first, then the config."""
        yield from self.layers
        yield self.config_blob()

    def descriptor(self) -> Descriptor:
        return self.manifest().descriptor(self.platform)


class ImageIndex:
    """An index over images and nested indexes.

    :param children: the images and indexes it lists, in order.
    :param index: the exact index, when it already exists; otherwise one is built.
    """

    def __init__(
        self,
        children: Sequence[Image | ImageIndex],
        *,
        index: Index | None = None,
        media_type: str = mt.OCI_INDEX,
        subject: Descriptor | None = None,
        artifact_type: str | None = None,
        annotations: Mapping[str, str] | None = None,
        platform: Platform | None = None,
    ) -> None:
        self.children = tuple(children)
        self._index = index
        self.media_type = index.media_type if index else media_type
        self._subject = subject
        self._artifact_type = artifact_type
        self._annotations = dict(annotations or {})
        self.platform = platform
        self._lock = threading.Lock()

    def index(self) -> Index:
        with self._lock:
            if self._index is None:
                self._index = Index.build(
                    [child.descriptor() for child in self.children],
                    media_type=self.media_type,
                    subject=self._subject,
                    artifact_type=self._artifact_type,
                    annotations=self._annotations,
                )
            return self._index

    def descriptor(self) -> Descriptor:
        return self.index().descriptor(self.platform)

    def walk(self) -> Iterator[Image | ImageIndex]:
        """Every descendant, children before parents (the order they must be pushed in)."""
        for child in self.children:
            if isinstance(child, ImageIndex):
                yield from child.walk()
            yield child


Taggable: TypeAlias = Image | ImageIndex


def manifest_of(item: Taggable) -> Manifest | Index:
    """The manifest or index document of an image or index."""
    return item.manifest() if isinstance(item, Image) else item.index()
