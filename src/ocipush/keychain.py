"""Where credentials come from. (Discovery from docker/podman files arrives with issue 3.)"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from ocipush.reference import Registry, Repository

__all__ = ["ANONYMOUS", "Credentials", "Keychain", "StaticKeychain"]


@dataclass(frozen=True)
class Credentials:
    """What to authenticate with. Secrets are kept out of ``repr``.

    :ivar username: for Basic auth and token exchange.
    :ivar password: the password (or a personal access token used as one).
    :ivar identity_token: an OAuth2 refresh token (docker's ``identitytoken``).
    :ivar registry_token: a bearer token sent as is, with no exchange.
    :ivar source: where these came from, for ``-v`` output (never the secret itself).
    """

    username: str | None = None
    password: str | None = field(default=None, repr=False)
    identity_token: str | None = field(default=None, repr=False)
    registry_token: str | None = field(default=None, repr=False)
    source: str = "anonymous"

    @property
    def anonymous(self) -> bool:
        return not (self.password or self.identity_token or self.registry_token)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, so log and error redaction can scrub them."""
        return tuple(s for s in (self.password, self.identity_token, self.registry_token) if s)


ANONYMOUS = Credentials()


class Keychain(Protocol):
    """Resolves credentials for a registry, optionally narrowed to a repository."""

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        """Return the credentials to use, or :data:`ANONYMOUS`."""
        ...


@dataclass(frozen=True)
class StaticKeychain:
    """Explicit credentials per registry host (from the API or the command line)."""

    by_host: dict[str, Credentials] = field(default_factory=dict)

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        return self.by_host.get(registry.host, ANONYMOUS)
