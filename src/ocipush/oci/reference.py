"""Registry, repository and image references, parsed with Docker's defaulting rules.

``[registry/]repository[:tag][@digest]``: the first path component is a registry when it
contains ``.`` or ``:`` or is ``localhost``; otherwise the registry is Docker Hub, spelled
``index.docker.io``, where a one-component name gets ``library/``. Without tag or digest the
tag is ``latest``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

from ocipush.errors import InvalidReferenceError
from ocipush.oci.digest import Digest

__all__ = [
    "CREDENTIALS_PROBLEM",
    "DOCKER_HUB",
    "TAG_PROBLEM",
    "Reference",
    "Registry",
    "Repository",
    "is_loopback",
    "is_valid_tag",
    "parse_reference",
    "parse_repository",
]

DOCKER_HUB = "index.docker.io"
_DOCKER_HUB_ALIASES = frozenset({"docker.io", "index.docker.io", "registry-1.docker.io"})
DEFAULT_TAG = "latest"
NAME_MAX = 255

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_PATH = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
_TAG = re.compile(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}")
TAG_PROBLEM = (
    "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', "
    "not starting with '.' or '-'"
)


def is_valid_tag(tag: str) -> bool:
    """Whether ``tag`` follows the tag grammar (see :data:`TAG_PROBLEM`)."""
    return bool(_TAG.fullmatch(tag))


_HOSTNAME = re.compile(
    r"(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*"
)
_PORT = re.compile(r"[0-9]{1,5}")


CREDENTIALS_PROBLEM = "credentials in a reference are not supported; use `ocipush login`"
_DIGEST_START = re.compile(r"sha(?:256|384|512):")


def _refuse_credentials(text: str, host_only: bool = False) -> None:
    """Stop on ``user:password@`` before anything quotes ``text``: the secret is never shown.

    A digest never holds ``/`` and always starts with its algorithm, so ``@`` followed by a
    path, or ``user:...@`` followed by anything but a digest, is userinfo.
    """
    before, at, after = text.rpartition("@") if host_only else text.partition("@")
    if not at:
        return
    if host_only or "/" in after or (":" in before and not _DIGEST_START.match(after)):
        scheme, sep, _ = before.partition("://")
        shown = f"{scheme}://***@{after}" if sep else f"***@{after}"
        raise InvalidReferenceError(shown, CREDENTIALS_PROBLEM)


def _validate_host(host: str, text: str) -> None:
    if host.startswith("["):
        literal, sep, rest = host[1:].partition("]")
        try:
            address: ipaddress.IPv6Address | None = ipaddress.IPv6Address(literal)
        except ValueError:
            address = None
        # A zone ID (``%eth0``) may hold any character, CR/LF included: never a registry host.
        if address is None or address.scope_id is not None:
            raise InvalidReferenceError(text, f"{host!r} is not a valid IPv6 registry address")
        if not sep or (rest and not (rest.startswith(":") and _PORT.fullmatch(rest[1:]))):
            raise InvalidReferenceError(text, f"{host!r} is not a valid registry host[:port]")
        return
    name, _, port = host.partition(":")
    if not _HOSTNAME.fullmatch(name) or (":" in host and not _PORT.fullmatch(port)):
        raise InvalidReferenceError(text, f"{host!r} is not a valid registry host[:port]")


def _hostname(host: str) -> str:
    """``host`` without its port (and without IPv6 brackets)."""
    if host.startswith("["):
        return host[1:].partition("]")[0]
    if host.count(":") > 1:  # a bare IPv6 address such as ``::1``
        return host
    return host.partition(":")[0]


def is_loopback(host: str) -> bool:
    """Whether ``host`` (with or without port) is ``localhost``, 127.0.0.0/8 or ``::1``."""
    name = _hostname(host).lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, order=True)
class Registry:
    """A registry host, with its port if any. Docker Hub's aliases fold to ``index.docker.io``."""

    host: str

    @classmethod
    def parse(cls, text: str) -> Registry:
        _refuse_credentials(text.strip().rstrip("/"), host_only=True)
        host = text.strip()
        for prefix in ("https://", "http://"):
            if host.startswith(prefix):
                host = host[len(prefix) :]
        host = host.rstrip("/")
        if host.endswith("/v1") or host.endswith("/v2"):
            host = host[:-3]
        if not host:
            raise InvalidReferenceError(text, "the registry host is empty")
        _validate_host(host, text)
        host = host.lower()
        return cls(DOCKER_HUB if host in _DOCKER_HUB_ALIASES else host)

    @property
    def is_loopback(self) -> bool:
        return is_loopback(self.host)

    def __str__(self) -> str:
        return self.host


@dataclass(frozen=True, order=True)
class Repository:
    """A repository on a registry, e.g. ``ghcr.io`` + ``acme/app``."""

    registry: Registry
    path: str

    @property
    def name(self) -> str:
        """The full name: ``host/path``."""
        return f"{self.registry.host}/{self.path}"

    def scope(self, actions: str) -> str:
        """The token scope for ``actions`` (``pull`` or ``pull,push``) on this repository."""
        return f"repository:{self.path}:{actions}"

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Reference:
    """A repository plus a tag, a digest, or both (the digest then wins for reads)."""

    repository: Repository
    tag: str | None = None
    digest: Digest | None = None

    @property
    def registry(self) -> Registry:
        return self.repository.registry

    @property
    def identifier(self) -> str:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        if self.digest is not None:
            return str(self.digest)
        if self.tag is None:  # only when built by hand: parse_reference always sets one
            raise InvalidReferenceError(str(self), "a tag or a digest is required")
        return self.tag

    def with_tag(self, tag: str) -> Reference:
        """This repository with ``tag`` (validated) and no digest."""
        if not is_valid_tag(tag):
            raise InvalidReferenceError(tag, TAG_PROBLEM)
        return Reference(self.repository, tag, None)

    def with_digest(self, digest: Digest) -> Reference:
        return Reference(self.repository, None, digest)

    def __str__(self) -> str:
        text = self.repository.name
        if self.tag is not None:
            text += f":{self.tag}"
        if self.digest is not None:
            text += f"@{self.digest}"
        return text


def _split_registry(text: str, name: str) -> tuple[Registry, str]:
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        try:
            registry = Registry.parse(first)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(text, exc.problem) from None
        path = rest
    else:
        registry = Registry(DOCKER_HUB)
        path = name
    if not path:
        raise InvalidReferenceError(text, "the repository name is empty")
    if registry.host == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    if path != path.lower() and _PATH.fullmatch(path.lower()):
        raise InvalidReferenceError(text, "repository names must be lowercase")
    if not _PATH.fullmatch(path):
        raise InvalidReferenceError(
            text,
            "a repository name is lowercase letters and digits in '/'-separated components, "
            "joined within a component by '.', '_', '__' or '-'",
        )
    if len(registry.host) + 1 + len(path) > NAME_MAX:
        raise InvalidReferenceError(text, f"the name is longer than {NAME_MAX} characters")
    return registry, path


def parse_repository(text: str) -> Repository:
    """Parse ``[registry/]repository`` (no tag, no digest)."""
    if not text:
        raise InvalidReferenceError(text, "the reference is empty")
    _refuse_credentials(text)
    if any(c.isspace() for c in text):
        raise InvalidReferenceError(text, "a reference cannot contain white space")
    registry, path = _split_registry(text, text)
    return Repository(registry, path)


def parse_reference(text: str, *, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse ``[registry/]repository[:tag][@digest]``.

    :param default_tag: the tag when neither tag nor digest is given; ``None`` makes one of
        them mandatory.
    :raises InvalidReferenceError: quoting ``text`` and saying what is wrong.
    """
    if not isinstance(text, str) or not text:
        raise InvalidReferenceError(str(text), "the reference is empty")
    _refuse_credentials(text)
    if text != text.strip() or any(c.isspace() for c in text):
        raise InvalidReferenceError(text, "a reference cannot contain white space")
    name, at, digest_text = text.partition("@")
    digest = None
    if at:
        try:
            digest = Digest.parse(digest_text)
        except InvalidReferenceError as exc:
            raise InvalidReferenceError(text, exc.problem) from None
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
        if not is_valid_tag(tag):
            raise InvalidReferenceError(text, TAG_PROBLEM)
    registry, path = _split_registry(text, name)
    if tag is None and digest is None:
        if default_tag is None:
            raise InvalidReferenceError(text, "a tag or a digest is required")
        tag = default_tag
    return Reference(Repository(registry, path), tag, digest)
