"""Checks that an answer really comes from a registry's API before it is believed.

A captive portal, a login page behind a proxy or a web server on the wrong port answers
``200`` with an HTML page to everything. Read naively, that says every blob is already
present and every manifest was stored, and the run succeeds having stored nothing. Each
check here turns such an answer into a :class:`~ocipush.errors.RegistryError` that names
the URL and what came back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from ocipush.errors import RegistryError
from ocipush.oci.digest import Digest

__all__ = ["API_VERSION_HEADER", "check_api_answer", "check_blob_head", "check_ping"]

#: Sent on ``/v2/`` by every registry implementing the distribution API.
API_VERSION_HEADER = "Docker-Distribution-API-Version"
_EXCERPT = 120


def _excerpt(body: bytes | None) -> str:
    text = (body or b"")[:_EXCERPT].decode("utf-8", "replace")
    return re.sub(r"\s+", " ", text).strip()


def _came_back(status: int, headers: Mapping[str, str], body: bytes | None) -> str:
    kind = headers.get("Content-Type") or "no Content-Type"
    excerpt = _excerpt(body)
    return f"{status} ({kind}){f': {excerpt}' if excerpt else ''}"


def _is_html(headers: Mapping[str, str]) -> bool:
    kind = headers.get("Content-Type", "").split(";")[0].strip().lower()
    return kind in ("text/html", "application/xhtml+xml")


def check_ping(
    host: str, url: str, status: int, headers: Mapping[str, str], body: bytes | None
) -> None:
    """``GET /v2/`` decides early whether ``host`` is a registry at all.

    A registry answers ``200`` or ``401`` and says which API it speaks in
    ``Docker-Distribution-API-Version``; anything else is some other web server.
    """
    if status in (200, 401) and headers.get(API_VERSION_HEADER) and not _is_html(headers):
        return
    raise RegistryError(
        method="GET",
        url=url,
        status=status,
        context=(
            f"{host} is not a container registry: GET /v2/ answered "
            f"{_came_back(status, headers, body)} without a {API_VERSION_HEADER} header; "
            "check the host and port, or whether a proxy or login page is in the way"
        ),
    )


def check_api_answer(
    method: str, url: str, status: int, headers: Mapping[str, str], body: bytes | None, what: str
) -> None:
    """An expected status with an HTML page is a web page, not the registry API."""
    if not _is_html(headers):
        return
    raise RegistryError(
        method=method,
        url=url,
        status=status,
        context=(
            f"{what or method}: an HTML page came back instead of the registry API "
            f"({_came_back(status, headers, body)}); check for a proxy or login page in the way"
        ),
    )


def check_blob_head(url: str, digest: Digest, size: int | None, headers: Mapping[str, str]) -> None:
    """A ``200`` to ``HEAD`` of a blob must describe that blob: its size, and its digest
    where the registry names one."""
    problems = []
    length = headers.get("Content-Length")
    if size is not None and length != str(size):
        problems.append(f"Content-Length {length or 'missing'} (the blob has {size} bytes)")
    named = headers.get("Docker-Content-Digest")
    if named and named != str(digest):
        problems.append(f"Docker-Content-Digest {named}")
    if not problems:
        return
    raise RegistryError(
        method="HEAD",
        url=url,
        status=200,
        context=(
            f"check blob {digest}: the registry says it has the blob but answered "
            f"{' and '.join(problems)}, so the claim cannot be believed and nothing was "
            "skipped; check for a proxy or login page in the way"
        ),
    )
