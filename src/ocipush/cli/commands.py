"""Which handler runs each command, imported only when that command runs.

A command loads only what it uses: ``--version`` no HTTP library, ``copy`` no plugin
machinery, project reader or attestation verifier. Handlers take the parsed command line
and the output and return the exit status; they leave errors to ``main``.
"""

from __future__ import annotations

import argparse
import importlib
from collections.abc import Callable

from ocipush.cli.output import Output

__all__ = ["handler"]

Handler = Callable[[argparse.Namespace, Output], int]

#: Command name → (module under ``ocipush.cli``, function).
_HANDLERS: dict[str, tuple[str, str]] = {
    "plan": ("project_commands", "plan"),
    "push": ("project_commands", "push"),
    "build": ("project_commands", "build"),
    "copy": ("registry_commands", "copy_command"),
    "verify": ("verify_command", "verify_command"),
    "referrers": ("registry_commands", "referrers"),
    "tag": ("registry_commands", "tag"),
    "delete": ("registry_commands", "delete"),
    "login": ("registry_commands", "login_command"),
    "logout": ("registry_commands", "logout_command"),
    "cache": ("cache_command", "cache_command"),
}


def handler(command: str) -> Handler:
    """The function that runs ``command``."""
    module, name = _HANDLERS[command]
    found: Handler = getattr(importlib.import_module(f"ocipush.cli.{module}"), name)
    return found
