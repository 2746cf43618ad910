"""Hook results checked against the types their hookspecs declare, where they enter the core.

A plugin that returns the wrong thing is named with what it returned and what the hook
expects, instead of failing later, deep inside another plugin or the writer.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ocipush.errors import ConfigProblem, PluginError
from ocipush.oci.blobs import Blob
from ocipush.oci.images import Image, ImageIndex
from ocipush.release.plan import Plan, PushItem

__all__ = ["HOOK_RESULTS", "check_result"]

_SHOWN = reprlib.Repr()
_SHOWN.maxstring = 60
_SHOWN.maxother = 60
_SHOWN.maxlist = 6


def _is_target(value: object) -> bool:
    # Target is a Protocol; what the core calls on it is name, plan and push.
    return all(callable(getattr(value, method, None)) for method in ("plan", "push")) and (
        hasattr(value, "name")
    )


@dataclass(frozen=True)
class _Expected:
    """What one hook returns (besides ``None``), for checking and for the message."""

    accepts: Callable[[object], bool]
    described: str
    sequence: bool = False


def _kind(*types: type) -> Callable[[object], bool]:
    return lambda value: isinstance(value, types)


#: Per hook: what its hookspec declares it returns.
HOOK_RESULTS: dict[str, _Expected] = {
    "ocipush_validate": _Expected(
        _kind(ConfigProblem), "ocipush.errors.ConfigProblem values", sequence=True
    ),
    "ocipush_file_media_type": _Expected(_kind(str), "a media type (a string)"),
    "ocipush_add_layers": _Expected(
        _kind(Blob), "layer blobs (ocipush.oci.blobs.Blob)", sequence=True
    ),
    "ocipush_build_image": _Expected(
        _kind(Image, ImageIndex), "an ocipush.oci.images.Image or ImageIndex"
    ),
    "ocipush_add_artifacts": _Expected(
        _kind(PushItem), "ocipush.release.plan.PushItem values", sequence=True
    ),
    "ocipush_add_signatures": _Expected(
        _kind(PushItem), "ocipush.release.plan.PushItem values", sequence=True
    ),
    "ocipush_make_target": _Expected(
        _is_target, "a target (name, plan() and push(), see ocipush.release.plan.Target)"
    ),
    "ocipush_add_targets": _Expected(
        _is_target,
        "targets (name, plan() and push(), see ocipush.release.plan.Target)",
        sequence=True,
    ),
    "ocipush_modify_plan": _Expected(_kind(Plan), "an ocipush.release.plan.Plan"),
}


def check_result(plugin: str, hook: str, result: Any) -> None:
    """Check a non-``None`` ``result`` of ``plugin``'s ``hook`` against its hookspec.

    :raises PluginError: naming the plugin, the hook, what it returned and what was expected.
    """
    expected = HOOK_RESULTS.get(hook)
    if expected is None:
        return
    problem = None
    if not expected.sequence:
        if not expected.accepts(result):
            problem = f"expected {expected.described} or None"
    elif not isinstance(result, Sequence) or isinstance(result, (str, bytes)):
        problem = f"expected a list of {expected.described}, or None"
    else:
        wrong = [(i, item) for i, item in enumerate(result) if not expected.accepts(item)]
        if wrong:
            index, item = wrong[0]
            problem = (
                f"expected a list of {expected.described}, but item {index} is "
                f"{_a(type(item).__name__)}"
            )
    if problem is not None:
        raise PluginError(
            f"plugin {plugin!r} returned {_SHOWN.repr(result)} from {hook}: {problem}"
        )


def _a(noun: str) -> str:
    return f"an {noun}" if noun[:1] in "aeiouAEIOU" else f"a {noun}"
