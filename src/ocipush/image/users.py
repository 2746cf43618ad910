"""``user = "nonroot"``: run as uid/gid 65532, the hardened-image convention.

Distroless and Chainguard bases define ``nonroot`` (65532) in ``/etc/passwd`` and
``/etc/group``; Debian, Ubuntu and python.org bases do not. For those, one small layer
replaces both files with the base's text plus a ``nonroot`` entry, and adds its home
``/home/nonroot``. The image config then names the user by number, ``65532:65532``, which
runtimes (and Kubernetes' ``runAsNonRoot``) check without reading the image's files.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ocipush.image.install import LabelledLayer
from ocipush.image.listing import BaseFiles
from ocipush.oci.blobs import Blob
from ocipush.oci.layers import LayerEntry, build_layer

__all__ = ["NONROOT", "NONROOT_ID", "config_user", "nonroot_layer"]

NONROOT = "nonroot"
NONROOT_ID = 65532
_HOME = f"/home/{NONROOT}"
#: Each database: its nonroot entry, and the root entry a base without the file gets too.
_ENTRIES = {
    "/etc/passwd": (
        f"{NONROOT}:x:{NONROOT_ID}:{NONROOT_ID}:{NONROOT}:{_HOME}:/sbin/nologin\n",
        "root:x:0:0:root:/root:/sbin/nologin\n",
    ),
    "/etc/group": (f"{NONROOT}:x:{NONROOT_ID}:\n", "root:x:0:\n"),
}


def config_user(user: str | None) -> str | None:
    """The config's ``User`` for the configured ``user``."""
    return f"{NONROOT_ID}:{NONROOT_ID}" if user == NONROOT else user


def _defines(text: str | None, name: str) -> bool:
    return text is not None and any(line.split(":", 1)[0] == name for line in text.splitlines())


def _with_nonroot(path: str, text: str | None) -> str:
    """The database ``path`` with the nonroot entry (unchanged if it has one)."""
    if _defines(text, NONROOT):
        assert text is not None
        return text
    entry, root = _ENTRIES[path]
    text = root if text is None else text
    return (text if not text or text.endswith("\n") else text + "\n") + entry


def nonroot_layer(files: BaseFiles, directory: Path, *, mtime: int) -> Blob | None:
    """The layer adding ``nonroot`` to the base's ``files``; ``None`` when it has the user
    and the group already."""
    if all(_defines(files.contents.get(path), NONROOT) for path in _ENTRIES):
        return None
    with tempfile.TemporaryDirectory(prefix="ocipush-users-") as scratch:
        entries = [LayerEntry("/etc", None, 0o755)]
        for path in _ENTRIES:
            source = Path(scratch) / Path(path).name
            source.write_text(_with_nonroot(path, files.contents.get(path)), encoding="utf-8")
            entries.append(LayerEntry(path, source, 0o644))
        entries += [
            LayerEntry("/home", None, 0o755),
            LayerEntry(_HOME, None, 0o750, uid=NONROOT_ID, gid=NONROOT_ID),
        ]
        blob = build_layer(entries, directory, mtime=mtime)
    return LabelledLayer(blob, f"user {NONROOT} ({NONROOT_ID}:{NONROOT_ID})")
