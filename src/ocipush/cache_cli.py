"""``ocipush cache [show|clear]``: the user's layer cache, seen and emptied from the command line.

The cache itself (where it is, its entries, the bound, eviction) is
:mod:`ocipush.image.layer_cache`; this module only registers the command with the CLI's
parser and prints.
"""

from __future__ import annotations

import argparse
import os
import time
from typing import Any

from ocipush.image.errors import ImageError
from ocipush.image.layer_cache import CacheEntry, LayerCache

__all__ = ["add_cache_command"]


def add_cache_command(commands: Any) -> None:
    """Register ``cache`` on the CLI's subcommands (an ``argparse`` subparsers action)."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "cache",
        help="show or clear the layer cache",
        description="Dependency layers are cached in the user cache directory "
        "($XDG_CACHE_HOME/ocipush/layers, else ~/.cache/ocipush/layers), shared by every "
        "project and bounded in size (least recently used go first). `show` (the default) "
        "lists them; `clear` deletes them all.",
    )
    parser.add_argument("action", nargs="?", choices=("show", "clear"), default="show")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv for debug)"
    )
    parser.set_defaults(handler=run_cache_command)


def _count(entries: list[CacheEntry]) -> str:
    total = sum(entry.size for entry in entries)
    return f"{len(entries)} layer{'' if len(entries) == 1 else 's'} ({total} bytes)"


def run_cache_command(args: argparse.Namespace) -> int:
    cache = LayerCache.for_user(os.environ)
    if args.action == "clear":
        try:
            removed = cache.clear()
        except OSError as error:
            raise ImageError(
                f"{error.filename or cache.directory}: cannot delete it ({error.strerror}); "
                "check that you own the layer cache, or delete the folder yourself"
            ) from None
        print(f"removed {_count(removed)} from {cache.directory}")
        return 0
    entries = cache.entries()
    print(f"layer cache: {cache.directory}")
    if not entries:
        print("empty")
        return 0
    total = sum(entry.size for entry in entries)
    plural = "" if len(entries) == 1 else "s"
    print(
        f"{len(entries)} layer{plural}, {total} bytes (bound: {cache.max_bytes / 1024**3:.1f} GiB)"
    )
    for entry in reversed(entries):  # most recently used first
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used))
        print(f"  {used}  {entry.size:>12}  {entry.label}")
    return 0
