"""A greeting, as a console script: ``hello [NAME]``."""

from __future__ import annotations

import sys

__all__ = ["greeting", "main"]


def greeting(name: str = "world") -> str:
    return f"Hello, {name}!"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    print(greeting(args[0] if args else "world"))
    return 0
