"""Small, real images for tests: tar+gzip layers with identical bytes on every run.

``make_config`` has the shape of an :class:`~ocipush.oci.images.Image` config factory, so it can
also build the config of an image whose layers are streamed::

    Image(layers=[StreamBlob(reader, OCI_LAYER, compress=True)], config=make_config)
"""

from __future__ import annotations

import gzip
import io
import json
import tarfile
from collections.abc import Mapping, Sequence
from pathlib import PurePosixPath

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob
from ocipush.oci.digest import digest_of
from ocipush.oci.images import Image
from ocipush.oci.model import Platform

__all__ = ["DEFAULT_PLATFORM", "make_config", "make_image", "make_tar", "make_tar_gz_layer"]

DEFAULT_PLATFORM = Platform("linux", "amd64")


def make_tar(files: Mapping[str, bytes]) -> bytes:
    """An uncompressed tar of ``files`` (relative path -> content) and their parent directories.

    Owners, times and permissions are fixed, so equal input gives equal bytes.
    """
    directories = {str(parent) for name in files for parent in PurePosixPath(name).parents}
    directories.discard(".")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(directories):
            info = tarfile.TarInfo(name)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name in sorted(files):
            info = tarfile.TarInfo(name)
            info.mode, info.size = 0o644, len(files[name])
            tar.addfile(info, io.BytesIO(files[name]))
    return buffer.getvalue()


def make_tar_gz_layer(files: Mapping[str, bytes]) -> BytesBlob:
    """A gzip-compressed tar layer of ``files``, with its ``diff_id`` set."""
    tar = make_tar(files)
    return BytesBlob(gzip.compress(tar, mtime=0), mt.OCI_LAYER, diff_id=digest_of(tar))


def make_config(layers: Sequence[Blob], platform: Platform | None = None) -> BytesBlob:
    """A minimal OCI image config whose ``rootfs.diff_ids`` are those of ``layers``."""
    platform = platform or DEFAULT_PLATFORM
    missing = [layer.describe() for layer in layers if layer.diff_id is None]
    if missing:
        raise ValueError(f"layers without a diff_id: {', '.join(missing)}")
    config = {
        **platform.to_json(),
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id) for layer in layers]},
    }
    return BytesBlob(json.dumps(config, sort_keys=True).encode(), mt.OCI_CONFIG)


def make_image(files: Mapping[str, bytes], *, platform: Platform | None = None) -> Image:
    """A one-layer image holding ``files``; ``platform`` also goes into an index listing it."""
    layer = make_tar_gz_layer(files)
    return Image(layers=[layer], config=make_config([layer], platform), platform=platform)
