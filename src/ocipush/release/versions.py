"""Release-safe tags: which tags a version may move, and how a version is spelt as a tag.

Floating tags (``latest``, ``1``, ``1.2``, ``1.2.3``) tell users "the newest release of this
line". A pre-release, a development release or a local version must not move them, or
``docker pull app:1`` starts handing out release candidates. The rule, as
docker/metadata-action applies it to semver:

- a version is a *final release* when it has no pre-release (``a``/``b``/``rc``), ``.dev`` or
  local (``+…``) part; post-releases are final;
- for any other version, a tag template that uses ``{major}``, ``{minor}`` or ``{micro}``
  without ``{version}``, and the tag ``latest`` (written or implied), are not pushed;
- ``{version}`` tags are always pushed, spelt as the normalised PEP 440 version with a local
  ``+`` written ``-`` (``1.0+abc`` → ``1.0-abc``), since tags cannot hold ``+``.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

__all__ = [
    "FLOATING_PLACEHOLDERS",
    "LATEST",
    "SkippedTag",
    "parse_version",
    "skip_reason",
    "tag_spelling",
]

#: Placeholders that name a release line rather than one release.
FLOATING_PLACEHOLDERS = frozenset({"major", "minor", "micro"})
LATEST = "latest"


@dataclass(frozen=True)
class SkippedTag:
    """A tag this run leaves where it is, and why."""

    tag: str
    reason: str

    def to_json(self) -> dict[str, str]:
        return {"tag": self.tag, "reason": self.reason}


def parse_version(text: str) -> Version:
    """``text`` as a PEP 440 version.

    :raises ValueError: with a message for people, if it is not one.
    """
    try:
        return Version(text)
    except InvalidVersion:
        raise ValueError(
            'not a PEP 440 version; write one such as "1.2.3", "1.2.3rc1" or "1.2.3.post1"'
        ) from None


def tag_spelling(version: Version) -> str:
    """``version`` as a tag can hold it: normalised, with a local ``+`` written ``-``.

    An epoch (``2!1.0``) is kept as ``!``, which the tag grammar then refuses with the key
    path: no spelling of it would be unambiguous.
    """
    return str(version).replace("+", "-")


def _not_final(version: Version) -> str | None:
    if version.is_devrelease:
        return "a development release"
    if version.is_prerelease:
        return "a pre-release"
    if version.local is not None:
        return "a local version"
    return None


def skip_reason(version: Version, placeholders: frozenset[str], tag: str) -> str | None:
    """Why the tag ``tag``, made from a template using ``placeholders``, is not pushed for
    ``version``; ``None`` when it is pushed."""
    kind = _not_final(version)
    if kind is None:
        return None
    if tag == LATEST:
        return f"{version} is {kind}; latest moves only for final releases"
    floating = placeholders & FLOATING_PLACEHOLDERS
    if floating and "version" not in placeholders:
        used = ", ".join(f"{{{name}}}" for name in sorted(floating))
        return (
            f"{version} is {kind}; a tag made of {used} names a release line and moves only "
            "for final releases (a {version} tag is always pushed)"
        )
    return None
