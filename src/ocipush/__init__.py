"""ocipush: publish Python projects as OCI images and artifacts to container registries.

The small public API below is loaded on first use, so ``import ocipush.backend`` (which a
build frontend imports before any hook runs) pulls in no network or plugin code. The rest
lives in packages by concern:

- :mod:`ocipush.oci`: OCI content and local places (digests, descriptors, manifests, media
  types, references, blobs, images, layers, layouts, archives, the local engine);
- :mod:`ocipush.registry`: talking to registries (connection, retry layer, auth, keychain,
  TLS, answers, remote reader, writer, referrers, progress);
- :mod:`ocipush.release`: a release (config, project, distributions, versions, sources,
  plan, publish, hook specs, plugin manager);
- :mod:`ocipush.plugins`: the built-in plugins; :mod:`ocipush.image`: runnable images;
  :mod:`ocipush.attest`: SBOMs, provenance, signatures; :mod:`ocipush.testing`: a real
  local registry for tests;
- :mod:`ocipush.cli` and :mod:`ocipush.backend`: the two front doors;
  :mod:`ocipush.errors`: the one error hierarchy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0.dev0"

if TYPE_CHECKING:
    from ocipush.errors import OcipushError
    from ocipush.oci.blobs import Blob, BytesBlob, FileBlob, RemoteBlob, StreamBlob
    from ocipush.oci.images import Image, ImageIndex
    from ocipush.oci.layout import read_layout, write_layout
    from ocipush.oci.reference import Reference, parse_reference
    from ocipush.registry.remote import Remote
    from ocipush.registry.writer import Writer
    from ocipush.release.hookspecs import hookimpl

#: Public name -> the module that defines it, imported when the name is first used.
_LAZY = {
    "Blob": "ocipush.oci.blobs",
    "BytesBlob": "ocipush.oci.blobs",
    "FileBlob": "ocipush.oci.blobs",
    "Image": "ocipush.oci.images",
    "ImageIndex": "ocipush.oci.images",
    "OcipushError": "ocipush.errors",
    "Reference": "ocipush.oci.reference",
    "Remote": "ocipush.registry.remote",
    "RemoteBlob": "ocipush.oci.blobs",
    "StreamBlob": "ocipush.oci.blobs",
    "Writer": "ocipush.registry.writer",
    "hookimpl": "ocipush.release.hookspecs",
    "parse_reference": "ocipush.oci.reference",
    "read_layout": "ocipush.oci.layout",
    "write_layout": "ocipush.oci.layout",
}

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


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ocipush' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY})
