"""Independent witnesses: real clients (skopeo, umoci) and plain urllib reads of a registry.

Tests check what ocipush pushed through these rather than through ocipush itself. Every
failure raises :class:`ToolError` with the command and its stderr.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import urllib.error
import urllib.request
from collections.abc import Sequence
from email.message import Message
from pathlib import Path
from urllib.parse import urljoin

from ocipush.oci.media_types import MANIFEST_TYPES

__all__ = [
    "ToolError",
    "registry_blob_exists",
    "registry_get_manifest",
    "registry_push_blob",
    "registry_put_manifest",
    "skopeo_copy",
    "skopeo_inspect_raw",
    "umoci_unpack",
]

TOOL_TIMEOUT = 60.0
HTTP_TIMEOUT = 10.0
_TRANSPORTS = ("docker://", "oci:", "oci-archive:", "dir:", "docker-archive:")
# Tests talk to loopback only; a proxy from the environment must not see that traffic.
_PROXY_VARIABLES = frozenset(
    {"http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"}
)


class ToolError(RuntimeError):
    """A witness tool or request failed; the message holds the command and its stderr."""


def _run(command: Sequence[str]) -> bytes:
    environment = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES}
    try:
        result = subprocess.run(
            list(command), capture_output=True, timeout=TOOL_TIMEOUT, env=environment, check=False
        )
    except FileNotFoundError:
        raise ToolError(f"{command[0]} is not installed (see `make system-deps`)") from None
    if result.returncode != 0:
        raise ToolError(
            f"{' '.join(command)} exited with {result.returncode}:\n"
            f"{result.stderr.decode(errors='replace').strip()}"
        )
    return result.stdout


def _image(ref: str) -> str:
    """``ref`` with a transport; a bare ``host/repo:tag`` means ``docker://``."""
    return ref if ref.startswith(_TRANSPORTS) else f"docker://{ref}"


def _creds_option(option: str, creds: tuple[str, str] | None, no_creds: str) -> list[str]:
    # --no-creds keeps a developer's own auth.json out of the test.
    return [f"{option}={creds[0]}:{creds[1]}"] if creds else [no_creds]


def skopeo_inspect_raw(
    ref: str,
    *,
    tls_verify: bool = False,
    creds: tuple[str, str] | None = None,
    cert_dir: Path | None = None,
) -> bytes:
    """The manifest bytes exactly as the registry serves them (``skopeo inspect --raw``)."""
    command = ["skopeo", "inspect", "--raw", f"--tls-verify={str(tls_verify).lower()}"]
    command += _creds_option("--creds", creds, "--no-creds")
    if cert_dir is not None:
        command.append(f"--cert-dir={cert_dir}")
    return _run([*command, _image(ref)])


def skopeo_list_tags(repository: str) -> set[str]:
    """The tags a registry lists for ``host/repo`` (``skopeo list-tags``); empty when the
    repository does not exist."""
    try:
        listing = _run(["skopeo", "list-tags", "--tls-verify=false", _image(repository)])
    except ToolError as error:
        # distribution 2.8 answers 404 for a repository holding only untagged manifests.
        if "NAME_UNKNOWN" in str(error) or "404 (Not Found)" in str(error):
            return set()
        raise
    return set(json.loads(listing)["Tags"])


def skopeo_copy(
    src: str,
    dst: str,
    *,
    src_tls_verify: bool = False,
    dest_tls_verify: bool = False,
    src_creds: tuple[str, str] | None = None,
    dest_creds: tuple[str, str] | None = None,
    all_images: bool = False,
    extra_args: Sequence[str] = (),
) -> None:
    """Copy an image with ``skopeo copy`` under a policy that accepts anything."""
    command = [
        "skopeo",
        # The host's policy.json may demand signatures; tests copy their own images.
        "--insecure-policy",
        "copy",
        f"--src-tls-verify={str(src_tls_verify).lower()}",
        f"--dest-tls-verify={str(dest_tls_verify).lower()}",
        *_creds_option("--src-creds", src_creds, "--src-no-creds"),
        *_creds_option("--dest-creds", dest_creds, "--dest-no-creds"),
    ]
    if all_images:
        command.append("--all")
    _run([*command, *extra_args, _image(src), _image(dst)])


def umoci_unpack(layout_dir: Path, tag: str, dest: Path) -> Path:
    """Unpack ``layout_dir:tag`` into the runtime bundle ``dest``; returns its ``rootfs``."""
    _run(["umoci", "unpack", "--rootless", "--image", f"{layout_dir}:{tag}", str(dest)])
    return dest / "rootfs"


def _opener_for(
    request: urllib.request.Request, creds: tuple[str, str] | None, context: ssl.SSLContext | None
) -> urllib.request.OpenerDirector:
    if creds is not None:
        token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        request.add_header("Authorization", f"Basic {token}")
    return urllib.request.build_opener(
        urllib.request.ProxyHandler({}), urllib.request.HTTPSHandler(context=context)
    )


def _send(
    request: urllib.request.Request,
    creds: tuple[str, str] | None,
    context: ssl.SSLContext | None,
) -> tuple[bytes, Message]:
    opener = _opener_for(request, creds, context)
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT) as response:
            return response.read(), response.headers
    except urllib.error.HTTPError as error:
        raise ToolError(
            f"{request.get_method()} {request.full_url}: {error.code} "
            f"{error.read().decode(errors='replace')}"
        ) from None


def registry_push_blob(
    host: str,
    repo: str,
    data: bytes,
    *,
    scheme: str = "http",
    creds: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> str:
    """Upload ``data`` as one blob (POST, then a monolithic PUT); returns its digest."""
    digest = f"sha256:{hashlib.sha256(data).hexdigest()}"
    start = urllib.request.Request(f"{scheme}://{host}/v2/{repo}/blobs/uploads/", method="POST")
    _, headers = _send(start, creds, context)
    # Location is absolute on distribution and carries its own query (_state).
    location = urljoin(start.full_url, headers["Location"])
    separator = "&" if "?" in location else "?"
    finish = urllib.request.Request(
        f"{location}{separator}digest={digest}",
        data=data,
        method="PUT",
        headers={"Content-Type": "application/octet-stream"},
    )
    _send(finish, creds, context)
    return digest


def registry_put_manifest(
    host: str,
    repo: str,
    ref: str,
    body: bytes,
    media_type: str,
    *,
    scheme: str = "http",
    creds: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> str:
    """PUT a manifest under a tag or digest; returns the digest the registry reports."""
    request = urllib.request.Request(
        f"{scheme}://{host}/v2/{repo}/manifests/{ref}",
        data=body,
        method="PUT",
        headers={"Content-Type": media_type},
    )
    _, headers = _send(request, creds, context)
    return headers["Docker-Content-Digest"]


def registry_get_manifest(
    host: str,
    repo: str,
    ref: str,
    *,
    scheme: str = "http",
    creds: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> tuple[bytes, Message]:
    """GET a manifest by tag or digest, accepting every manifest type; (body, headers)."""
    request = urllib.request.Request(
        f"{scheme}://{host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": ", ".join(MANIFEST_TYPES)},
    )
    return _send(request, creds, context)


def registry_blob_exists(
    host: str,
    repo: str,
    digest: str,
    *,
    scheme: str = "http",
    creds: tuple[str, str] | None = None,
    context: ssl.SSLContext | None = None,
) -> bool:
    """Whether ``HEAD /v2/<repo>/blobs/<digest>`` answers 200 (404 means no)."""
    request = urllib.request.Request(f"{scheme}://{host}/v2/{repo}/blobs/{digest}", method="HEAD")
    opener = _opener_for(request, creds, context)
    try:
        with opener.open(request, timeout=HTTP_TIMEOUT):
            return True
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return False
        raise ToolError(f"HEAD {request.full_url}: {error.code}") from None
