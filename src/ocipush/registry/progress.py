"""Progress reporting: the writer counts bytes, a front end renders them."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ProgressCallback", "ProgressTracker", "ProgressUpdate"]


@dataclass(frozen=True)
class ProgressUpdate:
    """A snapshot of a push.

    :ivar total: bytes to account for: each distinct uploadable blob once, plus configs and
        manifests. It grows when a stream's size becomes known.
    :ivar complete: bytes accounted for; blobs that already exist or were mounted count at once.
    :ivar error: set on the last update of a failed push.
    """

    total: int
    complete: int
    error: BaseException | None = None


ProgressCallback = Callable[[ProgressUpdate], None]


class ProgressTracker:
    """Thread-safe counters that call ``callback`` on every change."""

    def __init__(self, callback: ProgressCallback | None = None) -> None:
        self._callback = callback
        self._lock = threading.Lock()
        self.total = 0
        self.complete = 0

    def _emit(self, error: BaseException | None = None) -> None:
        if self._callback is not None:
            self._callback(ProgressUpdate(self.total, self.complete, error))

    def add_total(self, count: int) -> None:
        with self._lock:
            self.total += count
            self._emit()

    def advance(self, count: int) -> None:
        with self._lock:
            self.complete += count
            self._emit()

    def take_back(self, count: int) -> None:
        """Undo what a failed attempt counted, before it is retried."""
        self.advance(-count)

    def fail(self, error: BaseException) -> None:
        with self._lock:
            self._emit(error)
