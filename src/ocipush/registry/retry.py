"""When and how long to wait before trying a registry request or operation again.

Two levels use one :class:`RetryPolicy`: :class:`RequestRetry` is the transport's retry
layer, repeating one idempotent request (HEAD, GET, manifest PUT by digest, blob commit PUT,
token requests) whose body can be sent again; :meth:`RetryPolicy.call` repeats whole
operations around it (a blob upload: HEAD, POST, PATCH, PUT), for what a single request
cannot repeat (a streamed body, a lost upload session).
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from ocipush.errors import PushInterruptedError, RegistryError, TransportError

__all__ = ["RequestRetry", "RetryPolicy", "is_temporary", "parse_retry_after"]

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


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
    """Exponential backoff with jitter, for single requests and for whole operations.

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


class RequestRetry(Generic[R]):
    """The retry layer: sends one idempotent request again after a temporary failure.

    It sits between the connection (which sends a request once) and authentication (which
    owns 401 answers): a reset connection (not a timeout) or a busy answer (``busy`` says
    which, as the error it would be) is repeated up to ``policy.attempts`` times in all, waiting
    ``policy.delay`` in between (a ``Retry-After`` wins). The last answer is returned as it
    is, so the caller words the error with the registry's own details.

    :param send: sends the request once; raises :class:`TransportError` when the connection
        fails.
    :param busy: the temporary error an answer stands for, or ``None`` if it is final.
    :param release: gives back the connection of an answer that is not used.
    :param sleep: waits between attempts (a test may pass a recorder).
    """

    def __init__(
        self,
        policy: RetryPolicy,
        *,
        send: Callable[[], R],
        busy: Callable[[R], RegistryError | None],
        release: Callable[[R], None],
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._policy = policy
        self._send = send
        self._busy = busy
        self._release = release
        self._sleep = sleep

    def __call__(self, what: str) -> R:
        """Send the request until it gets a final answer or runs out of attempts."""
        attempts = max(1, self._policy.attempts)
        failures = 0
        while True:
            problem: RegistryError | TransportError | None
            try:
                response = self._send()
            except TransportError as error:
                # A timeout is left to the operation's retry: repeated at both levels, one
                # stalled server would cost attempts x attempts x the read timeout.
                if not error.temporary or error.timed_out or failures + 1 >= attempts:
                    raise
                problem = error
            else:
                problem = self._busy(response)
                if problem is None or failures + 1 >= attempts:
                    return response
                self._release(response)
            failures += 1
            wait = self._policy.delay(failures, problem)
            log.info("%s: %s; retry %d of %d in %.1fs", what, problem, failures, attempts - 1, wait)
            self._sleep(wait)
