"""What the command prints, and where: results on standard output, progress and messages
on standard error, errors as ``error:`` lines or, with ``--json``, as a JSON object.

A terminal's progress bar is closed before any result is printed, so a result never lands
on the bar's line and the bar is never drawn again after it.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ocipush.errors import OcipushError
from ocipush.registry.progress import ProgressCallback, ProgressUpdate

__all__ = ["PROGRESS_LOGGERS", "Output"]

log = logging.getLogger("ocipush")

#: The library's loggers whose INFO lines are the plain (non-terminal) progress: one line
#: per blob uploaded, mounted or present, per manifest put, per referrers tag updated.
PROGRESS_LOGGERS = (
    "ocipush.registry.writer",
    "ocipush.registry.manifests",
    "ocipush.registry.upload",
    "ocipush.registry.attach",
)


class _ProgressBar:
    """A tqdm byte counter for terminals; ``total`` grows as streams reveal their size."""

    def __init__(self) -> None:
        # Here, not at the top: only a terminal shows a bar, and CI logs need no tqdm.
        from tqdm import tqdm  # noqa: PLC0415

        self._bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, leave=True)

    def __call__(self, update: ProgressUpdate) -> None:
        if update.total != self._bar.total:
            self._bar.total = update.total
        self._bar.update(update.complete - self._bar.n)
        if update.error is not None or (update.total and update.complete >= update.total):
            self._bar.refresh()

    def close(self) -> None:
        self._bar.close()


class Output:
    """One run's printing: verbosity (``-v`` minus ``-q``), ``--json``, ``--no-progress``."""

    def __init__(self, *, verbosity: int, json_errors: bool, no_progress: bool) -> None:
        self.verbosity = verbosity
        self.json_errors = json_errors
        self.no_progress = no_progress
        self._configure_logging()

    def _configure_logging(self) -> None:
        level = (
            logging.ERROR
            if self.verbosity < 0
            else logging.WARNING
            if self.verbosity == 0
            else logging.INFO
            if self.verbosity == 1
            else logging.DEBUG
        )
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        root = logging.getLogger("ocipush")
        root.handlers[:] = [handler]
        root.setLevel(level)
        # A previous in-process run may have turned on per-blob lines for its progress.
        for name in PROGRESS_LOGGERS:
            logging.getLogger(name).setLevel(logging.NOTSET)

    @contextmanager
    def progress(self) -> Iterator[ProgressCallback | None]:
        """A bar on a terminal (closed on leaving); elsewhere (CI logs) one plain line per
        blob and manifest; nothing with ``--no-progress`` or ``-q``."""
        if self.no_progress or self.verbosity < 0:
            yield None
            return
        if not sys.stderr.isatty():
            for name in PROGRESS_LOGGERS:
                logging.getLogger(name).setLevel(logging.INFO)
            yield None
            return
        bar = _ProgressBar()
        try:
            yield bar
        finally:
            bar.close()

    def result(self, text: str) -> None:
        """A result line (or document) on standard output."""
        print(text, flush=True)

    def say(self, message: str) -> None:
        """A progress line about this run (what is built or reused), on standard error."""
        if self.verbosity >= 0:
            print(f"ocipush: {message}", file=sys.stderr)

    def error_line(self, message: str) -> None:
        print(f"error: {message}", file=sys.stderr)

    def error(
        self, error: OcipushError, *, kind: str, hint: str | None, target: str | None = None
    ) -> None:
        """``error:``, ``note:`` and ``hint:`` lines; with ``--json`` also the error object
        on standard output. ``-vv`` adds the traceback, once."""
        if self.verbosity > 1:
            log.debug("traceback", exc_info=error)
        self.error_line(str(error))
        for note in error.notes:
            print(f"note: {note}", file=sys.stderr)
        if hint:
            print(f"hint: {hint}", file=sys.stderr)
        if self.json_errors:
            body: dict[str, Any] = {"kind": kind, "message": str(error), "target": target}
            if hint:
                body["hint"] = hint
            if error.notes:
                body["notes"] = list(error.notes)
            self.result(json.dumps({"error": body}, indent=2))
