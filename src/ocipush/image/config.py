"""The image config and the labels/annotations that describe the project.

The new config extends the base's: its diff_ids and history continue, its environment is
merged with the configured one, and what the project sets (entrypoint, ports…) replaces
what the base had. Everything time-related comes from ``SOURCE_DATE_EPOCH`` (else the
epoch), so the same inputs always give the same config bytes.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ocipush.image.settings import ImageSettings
from ocipush.image.users import config_user
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, BytesBlob
from ocipush.oci.model import Platform
from ocipush.release.project import ProjectMetadata

__all__ = ["build_config", "git_remote", "git_revision", "project_annotations", "timestamp"]

_OCI = "org.opencontainers.image"
#: Project URL labels, most specific first, that say where the source lives.
_SOURCE_LABELS = ("source", "repository", "source code", "code", "homepage")
_GIT_TIMEOUT = 10


def timestamp(epoch: int) -> str:
    """RFC 3339 in UTC, as image configs and annotations write times."""
    return datetime.fromtimestamp(epoch, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _git(root: Path, *arguments: str) -> str | None:
    """What a read-only git command prints, or ``None`` outside a work tree or on failure."""
    try:
        completed = subprocess.run(
            ["git", *arguments],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    output = completed.stdout.strip()
    return output if completed.returncode == 0 and output else None


def git_revision(root: Path) -> str | None:
    """The commit checked out at ``root``, or ``None`` outside a git work tree."""
    return _git(root, "rev-parse", "HEAD")


def git_remote(root: Path) -> str | None:
    """The URL of the ``origin`` remote, without any credentials it embeds."""
    url = _git(root, "remote", "get-url", "origin")
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        # https://token@host/... must never reach a published document.
        return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))
    return url


def project_annotations(
    metadata: ProjectMetadata, *, created: str, revision: str | None
) -> dict[str, str]:
    """``org.opencontainers.image.*`` values from the project's metadata and VCS."""
    values = {
        f"{_OCI}.title": metadata.name,
        f"{_OCI}.version": metadata.version,
        f"{_OCI}.description": metadata.summary,
        f"{_OCI}.licenses": metadata.license,
        f"{_OCI}.created": created,
    }
    urls = {label.lower(): url for label, url in metadata.urls.items()}
    source = next((urls[label] for label in _SOURCE_LABELS if label in urls), None)
    if source:
        values[f"{_OCI}.source"] = source
    if revision:
        values[f"{_OCI}.revision"] = revision
    return {key: value for key, value in values.items() if value}


def _merged_env(base: Sequence[Any], extra: Mapping[str, str]) -> list[str]:
    """The base's ``K=V`` list with configured values replacing or appended, order kept."""
    env: dict[str, str] = {}
    for entry in base:
        if isinstance(entry, str):
            name, _, value = entry.partition("=")
            env[name] = value
    env.update(extra)
    return [f"{name}={value}" for name, value in env.items()]


def build_config(
    base: Mapping[str, Any],
    *,
    platform: Platform,
    settings: ImageSettings,
    entrypoint: Sequence[str],
    layers: Sequence[tuple[Blob, str]],
    labels: Mapping[str, str],
    created: str,
) -> BytesBlob:
    """The config of the new image.

    :param base: the base's config (``{}`` on scratch).
    :param entrypoint: the program to run.
    :param layers: each new layer with the history line that says what made it.
    :param labels: the project's labels; configured labels win over them, and both over
        the base's.
    """
    config: dict[str, Any] = copy.deepcopy(dict(base))
    runtime: dict[str, Any] = dict(config.get("config") or {})
    runtime["Env"] = _merged_env(runtime.get("Env") or [], settings.env)
    runtime["Entrypoint"] = list(entrypoint)
    # As with a Dockerfile ENTRYPOINT, a new entrypoint drops the base's CMD unless set.
    runtime["Cmd"] = list(settings.cmd) if settings.cmd is not None else None
    if settings.workdir is not None:
        runtime["WorkingDir"] = settings.workdir
    if settings.user is not None:
        runtime["User"] = config_user(settings.user)
    if settings.ports:
        runtime["ExposedPorts"] = {
            **(runtime.get("ExposedPorts") or {}),
            **{port: {} for port in settings.ports},
        }
    if settings.volumes:
        runtime["Volumes"] = {
            **(runtime.get("Volumes") or {}),
            **{volume: {} for volume in settings.volumes},
        }
    runtime["Labels"] = {**(runtime.get("Labels") or {}), **labels, **settings.labels}
    config["config"] = {key: value for key, value in runtime.items() if value is not None}
    config["created"] = created
    config.update(platform.to_json())
    if not platform.variant:
        config.pop("variant", None)
    rootfs = dict(config.get("rootfs") or {"type": "layers"})
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = [*(rootfs.get("diff_ids") or []), *(str(b.diff_id) for b, _ in layers)]
    config["rootfs"] = rootfs
    history = list(config.get("history") or [])
    history += [
        {"created": created, "created_by": created_by, "comment": "ocipush"}
        for _, created_by in layers
    ]
    config["history"] = history
    raw = json.dumps(config, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return BytesBlob(raw.encode(), mt.OCI_CONFIG)
