"""``ocipush cache [show|clear]``: the user's layer cache, seen and emptied from the command line.

The cache itself (where it is, its entries, the bound, eviction) is
:mod:`ocipush.image.layer_cache`; this module only prints it.
"""

from __future__ import annotations

import argparse
import os
import time

from ocipush.cli.output import Output
from ocipush.image.errors import ImageError
from ocipush.image.layer_cache import CacheEntry, LayerCache

__all__ = ["cache_command"]


def _count(entries: list[CacheEntry]) -> str:
    total = sum(entry.size for entry in entries)
    return f"{len(entries)} layer{'' if len(entries) == 1 else 's'} ({total} bytes)"


def cache_command(args: argparse.Namespace, out: Output) -> int:
    cache = LayerCache.for_user(os.environ)
    if args.action == "clear":
        try:
            removed = cache.clear()
        except OSError as error:
            raise ImageError(
                f"{error.filename or cache.directory}: cannot delete it ({error.strerror}); "
                "check that you own the layer cache, or delete the folder yourself"
            ) from None
        out.result(f"removed {_count(removed)} from {cache.directory}")
        return 0
    entries = cache.entries()
    out.result(f"layer cache: {cache.directory}")
    if not entries:
        out.result("empty")
        return 0
    total = sum(entry.size for entry in entries)
    plural = "" if len(entries) == 1 else "s"
    bound = cache.max_bytes / 1024**3
    out.result(f"{len(entries)} layer{plural}, {total} bytes (bound: {bound:.1f} GiB)")
    for entry in reversed(entries):  # most recently used first
        used = time.strftime("%Y-%m-%d %H:%M", time.localtime(entry.last_used))
        out.result(f"  {used}  {entry.size:>12}  {entry.label}")
    return 0
