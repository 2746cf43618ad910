"""Pull rate limits a registry announces (Docker Hub): read, shown at ``-v``, explained on 429.

Docker Hub sends ``ratelimit-limit: 100;w=21600`` and ``ratelimit-remaining: 76;w=21600``
with every manifest GET and HEAD; only a GET counts as a pull (Docker Hub usage docs,
"pulls"; docker/hub-feedback#1907). The writer checks manifests with HEAD, so a push
spends none of the quota; reading a base image does.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["RateLimit", "RateLimitLog", "explain_429"]

log = logging.getLogger(__name__)


def _count_and_window(value: str) -> tuple[int, int | None] | None:
    """``"100;w=21600"`` → ``(100, 21600)``."""
    count, _, rest = value.partition(";")
    if not count.strip().isdigit():
        return None
    window = None
    for part in rest.split(";"):
        name, _, number = part.strip().partition("=")
        if name == "w" and number.isdigit():
            window = int(number)
    return int(count.strip()), window


@dataclass(frozen=True)
class RateLimit:
    """A registry's pull quota as its answer stated it."""

    limit: int
    remaining: int
    window: int | None

    @classmethod
    def parse(cls, headers: Mapping[str, str]) -> RateLimit | None:
        limit = _count_and_window(headers.get("ratelimit-limit") or "")
        remaining = _count_and_window(headers.get("ratelimit-remaining") or "")
        if limit is None or remaining is None:
            return None
        return cls(limit[0], remaining[0], limit[1] or remaining[1])

    def describe(self) -> str:
        per = f" per {_duration(self.window)}" if self.window else ""
        return f"{self.remaining} of {self.limit} pulls{per} left"


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


class RateLimitLog:
    """Logs a registry's quota at INFO (``-v``) when it is first seen and when it changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[str, RateLimit] = {}

    def note(self, host: str, headers: Mapping[str, str]) -> None:
        found = RateLimit.parse(headers)
        if found is None:
            return
        with self._lock:
            if self._seen.get(host) == found:
                return
            self._seen[host] = found
        log.info("%s rate limit: %s", host, found.describe())


def explain_429(host: str, headers: Mapping[str, str], retry_after: float | None) -> str | None:
    """A hint for a 429 that comes with a pull quota, or ``None`` for a plain busy answer."""
    found = RateLimit.parse(headers)
    if found is None:
        return None
    when = (
        f"it resets in about {_duration(int(retry_after))}"
        if retry_after
        else (f"it resets within {_duration(found.window)}" if found.window else "it resets later")
    )
    return (
        f"{host} limits pulls ({found.describe()}); {when}. Pulls are manifest GETs (a HEAD "
        "is not counted): log in for a higher limit, or read the base image from a mirror"
    )
