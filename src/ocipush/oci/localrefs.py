"""Names of the places on this machine an image can go: a layout (``oci:``), an archive
(``oci-archive:``, ``docker-archive:``) or a local engine (``docker-daemon:``).

``ocipush build`` writes exactly these; they need no registry credentials. Each kind's own
module parses its references; this one only tells them apart from registry references and
splits off the tag, so that release-safe tags apply to them as to registry tags.
"""

from __future__ import annotations

from ocipush.oci.archives import DOCKER_ARCHIVE_PREFIX, OCI_ARCHIVE_PREFIX
from ocipush.oci.daemon import DAEMON_PREFIX
from ocipush.oci.layout import LAYOUT_PREFIX, parse_layout_reference

__all__ = ["LOCAL_PREFIXES", "is_local_reference", "split_local_tag"]

LOCAL_PREFIXES = (LAYOUT_PREFIX, OCI_ARCHIVE_PREFIX, DOCKER_ARCHIVE_PREFIX, DAEMON_PREFIX)


def is_local_reference(text: str) -> bool:
    """Whether ``text`` names a place on this machine rather than a registry image."""
    return text.startswith(LOCAL_PREFIXES)


def split_local_tag(text: str) -> tuple[str, str | None]:
    """``text`` without its tag, and the tag (``None`` when it names none).

    ``oci:`` and ``oci-archive:`` end in ``:TAG``; ``docker-archive:PATH:NAME:TAG`` and
    ``docker-daemon:NAME:TAG`` carry the tag on the image name, after its last ``/``.
    """
    for prefix in (LAYOUT_PREFIX, OCI_ARCHIVE_PREFIX):
        if text.startswith(prefix):
            layout = parse_layout_reference(LAYOUT_PREFIX + text[len(prefix) :])
            return f"{prefix}{layout.path}", layout.tag
    if text.startswith(DOCKER_ARCHIVE_PREFIX):
        path, colon, name = text[len(DOCKER_ARCHIVE_PREFIX) :].partition(":")
        head = f"{DOCKER_ARCHIVE_PREFIX}{path}{colon}"
    elif text.startswith(DAEMON_PREFIX):
        head, name = DAEMON_PREFIX, text[len(DAEMON_PREFIX) :]
    else:
        raise ValueError(f"{text!r} is not a local reference")
    repository, colon, tag = name.rpartition(":")
    if colon and "/" not in tag and repository:
        return head + repository, tag
    return head + name, None
