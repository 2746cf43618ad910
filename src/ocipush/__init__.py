"""ocipush: publish Python projects as OCI images and artifacts to container registries.

The small public API: references, content (blobs, images, indexes), the writer, layouts,
and the plugin marker. Everything else is reachable through its module.
"""

from __future__ import annotations

__version__ = "0.1.0.dev0"

# The version is defined first: modules below read it (the User-Agent).
from ocipush.blobs import Blob, BytesBlob, FileBlob, RemoteBlob, StreamBlob
from ocipush.errors import OcipushError
from ocipush.hookspecs import hookimpl
from ocipush.images import Image, ImageIndex
from ocipush.layout import read_layout, write_layout
from ocipush.reference import Reference, parse_reference
from ocipush.remote import Remote
from ocipush.writer import Writer

__all__ = [
    "Blob",
    "BytesBlob",
    "FileBlob",
    "Image",
    "ImageIndex",
    "OcipushError",
    "Reference",
    "Remote",
    "RemoteBlob",
    "StreamBlob",
    "Writer",
    "__version__",
    "hookimpl",
    "parse_reference",
    "read_layout",
    "write_layout",
]
