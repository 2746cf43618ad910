"""When and how long to wait before trying a registry operation again."""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ocipush.errors import PushInterruptedError, RegistryError, TransportError

__all__ = ["RetryPolicy", "is_temporary", "parse_retry_after"]

log = logging.getLogger(__name__)
T = TypeVar("T")


def is_temporary(error: BaseException) -> bool:
    """Whether repeating the operation that raised ``error`` may succeed."""
    return isinstance(error, (RegistryError, TransportError)) and error.temporary


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with jitter for whole-blob and manifest operations.

    Defaults: 5 attempts, waits of about 0.5, 1, 2, 4 s (each scaled by a random factor in
    [0.5, 1]) capped at 30 s; a registry's ``Retry-After`` replaces the computed wait, capped
    at 60 s so that a bad header cannot stall a release.
    """

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 30.0
    retry_after_cap: float = 60.0

    def delay(self, failures: int, error: BaseException) -> float:
        """The wait after the ``failures``-th failed attempt (1-based)."""
        retry_after = error.retry_after if isinstance(error, RegistryError) else None
        if retry_after is not None:
            return min(retry_after, self.retry_after_cap)
        backoff: float = min(self.max_delay, self.initial_delay * 2.0 ** (failures - 1))
        return backoff * random.uniform(0.5, 1.0)  # noqa: S311 - jitter, not cryptography

    def call(
        self,
        operation: Callable[[], T],
        *,
        what: str,
        cancelled: threading.Event | None = None,
        retryable: Callable[[BaseException], bool] = is_temporary,
    ) -> T:
        """Run ``operation``, retrying temporary failures; ``what`` names it in logs.

        :param cancelled: set by another thread to stop waiting and give up.
        :param retryable: which failures are worth another attempt; by default the
            temporary ones (:func:`is_temporary`).
        """
        failures = 0
        while True:
            try:
                return operation()
            except Exception as error:
                failures += 1
                if not retryable(error) or failures >= self.attempts:
                    raise
                wait = self.delay(failures, error)
                log.info("%s failed (%s); retrying in %.1fs", what, error, wait)
                if cancelled is None:
                    time.sleep(wait)
                elif cancelled.wait(wait):
                    raise PushInterruptedError("interrupted while waiting to retry") from error
