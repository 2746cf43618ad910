"""What to authenticate with: :class:`Credentials`, secrets kept out of every repr."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ANONYMOUS", "IDENTITY_TOKEN_USERNAME", "Credentials"]

#: The user name that marks the secret as an identity token (an OAuth2 refresh token).
IDENTITY_TOKEN_USERNAME = "<token>"  # noqa: S105 - a marker, not a password


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

    @classmethod
    def from_secret(cls, username: str | None, secret: str | None, *, source: str) -> Credentials:
        """Credentials from a user name and secret as ``docker login`` takes them.

        A user name of ``<token>`` means the secret is an identity token, not a password.
        """
        if username == IDENTITY_TOKEN_USERNAME:
            return cls(identity_token=secret, source=source)
        return cls(username=username, password=secret, source=source)

    @property
    def anonymous(self) -> bool:
        return not (self.password or self.identity_token or self.registry_token)

    def secrets(self) -> tuple[str, ...]:
        """Every secret value held, so log and error redaction can scrub them."""
        return tuple(s for s in (self.password, self.identity_token, self.registry_token) if s)


ANONYMOUS = Credentials()
