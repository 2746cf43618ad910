"""The ``ocipush`` command: argument parsing, presentation, and remedies in CLI terms.

``parser`` is the grammar, ``commands`` one thin handler per command, ``output`` what is
printed where, ``remedies`` the hint and exit status for each kind of error. Errors a user
caused print as one ``error:`` line (plus notes and a hint); the exit statuses are 0, 1 (the
operation failed), 2 (usage or configuration: nothing ran), 3 (published, then an
after-push plugin failed) and 130 (interrupted).
"""

from __future__ import annotations

from collections.abc import Sequence

from ocipush.cli.commands import handler
from ocipush.cli.output import PROGRESS_LOGGERS, Output
from ocipush.cli.parser import parse
from ocipush.cli.remedies import EXIT_INTERRUPTED, exit_code, kind, remedy
from ocipush.errors import AfterPushError, OcipushError

__all__ = ["PROGRESS_LOGGERS", "main"]


def main(argv: Sequence[str] | None = None) -> int:
    args = parse(argv)
    out = Output(
        verbosity=args.verbose - args.quiet,
        json_errors=getattr(args, "json", False),
        no_progress=args.no_progress,
    )
    try:
        return handler(args.command)(args, out)
    except AfterPushError as error:
        # The push is done: show what was published before saying what failed after it.
        if not out.json_errors:
            for result in error.results:
                for ref in getattr(result, "refs", ()):
                    out.result(ref)
        out.error(error, kind=kind(error), hint=remedy(error), target=_target(args))
        return exit_code(error)
    except OcipushError as error:
        out.error(error, kind=kind(error), hint=remedy(error), target=_target(args))
        return exit_code(error)
    except KeyboardInterrupt:
        out.error_line("interrupted")
        return EXIT_INTERRUPTED


def _target(args: object) -> str | None:
    """What the command was acting on, for ``--json``'s error object."""
    targets = getattr(args, "target", None)
    if targets:
        return ", ".join(dict.fromkeys(targets))
    for name in ("destination", "reference", "registry"):
        value = getattr(args, name, None)
        if isinstance(value, str):
            return value
    return None
