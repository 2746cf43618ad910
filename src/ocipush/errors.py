"""One exception hierarchy for everything ocipush can report.

Every error a user can cause is an :class:`OcipushError` whose message names the input, says
what is wrong and, where it helps, what to do. Front ends print ``error: <message>`` and exit;
they never show a traceback for these.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

__all__ = [
    "TEMPORARY_STATUSES",
    "AfterPushError",
    "AuthError",
    "AuthenticationError",
    "BlobError",
    "ConfigError",
    "ConfigProblem",
    "CredentialHelperError",
    "CredentialsFileError",
    "DeleteWouldUntagError",
    "DigestMismatchError",
    "InvalidReferenceError",
    "LayoutError",
    "ManifestError",
    "OcipushError",
    "PlainHttpCredentialsError",
    "PluginError",
    "PluginLoadError",
    "ProjectBuildError",
    "PushInterruptedError",
    "RegistryError",
    "RegistryErrorDetail",
    "RegistryTimeoutError",
    "RegistryUnreachableError",
    "SigningError",
    "TlsHandshakeError",
    "TransportError",
    "UntrustedCertificateError",
    "VerificationError",
]


class OcipushError(Exception):
    """Root of every error ocipush raises on purpose.

    :param hint: what to do, where the remedy does not depend on the front end. A remedy
        that names a CLI flag or a backend setting is the front end's to add, from the
        error's type and fields (``ocipush.cli.remedies``, ``ocipush.backend``).
    """

    #: What to do about it, if anything; front ends print it after the message.
    hint: str | None = None
    #: Facts the user should know about what the failure left behind ("tags left
    #: unchanged: ..."), printed after the message.
    notes: tuple[str, ...] = ()

    def __init__(self, *args: object, hint: str | None = None) -> None:
        super().__init__(*args)
        if hint is not None:
            self.hint = hint


class InvalidReferenceError(OcipushError, ValueError):
    """A reference, repository name, tag or digest does not follow the grammar."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"invalid reference {text!r}: {problem}")
        self.text = text
        self.problem = problem


class DigestMismatchError(OcipushError):
    """Bytes did not hash to the digest they were declared with."""

    def __init__(self, what: str, expected: str, actual: str) -> None:
        super().__init__(
            f"{what}: content has digest {actual} but {expected} was declared; "
            "the source changed or is corrupt, so it was not pushed"
        )
        self.what = what
        self.expected = expected
        self.actual = actual


class BlobError(OcipushError):
    """A blob source cannot be read (missing file, exhausted stream...)."""


class ManifestError(OcipushError):
    """A manifest or index (from a registry, a layout or a caller) is not valid JSON of its kind."""

    def __init__(self, where: str, problem: str) -> None:
        super().__init__(f"{where}: {problem}")
        self.where = where
        self.problem = problem


class LayoutError(OcipushError):
    """An OCI image layout directory is missing, malformed or inconsistent."""


class TransportError(OcipushError):
    """The connection to a registry failed (refused, reset, timed out, TLS).

    :ivar host: the registry's ``host[:port]``, where known.
    """

    def __init__(
        self,
        message: str,
        *,
        host: str | None = None,
        temporary: bool = True,
        timed_out: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint)
        self.host = host
        self.temporary = temporary
        #: No answer came within the timeout: a stalled server, not a dropped connection.
        self.timed_out = timed_out


class RegistryUnreachableError(TransportError):
    """No connection to the registry: refused, reset, or its name not found.

    :ivar http_allowed: whether plain http was tried too (``--insecure`` or loopback).
    """

    def __init__(self, message: str, *, host: str, http_allowed: bool) -> None:
        super().__init__(message, host=host)
        self.http_allowed = http_allowed


class RegistryTimeoutError(TransportError):
    """The registry did not connect (``phase="connect"``) or answer (``"read"``) in time."""

    def __init__(self, message: str, *, host: str, phase: str, seconds: float) -> None:
        super().__init__(message, host=host, timed_out=True)
        self.phase = phase
        self.seconds = seconds


class TlsHandshakeError(TransportError):
    """The TLS handshake with the registry failed (not a certificate it could not trust)."""

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message, host=host, temporary=False)


class UntrustedCertificateError(TlsHandshakeError):
    """The registry's TLS certificate does not chain to a trusted CA (or names another
    host)."""


@dataclass(frozen=True)
class RegistryErrorDetail:
    """One entry of the ``errors`` list in a registry's JSON error body."""

    code: str
    message: str

    @classmethod
    def parse_body(cls, body: bytes) -> list[RegistryErrorDetail]:
        """The entries of an error body (``{"errors": [{"code", "message"}]}``); never raises."""
        try:
            obj = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return []
        errors = obj.get("errors") if isinstance(obj, dict) else None
        if not isinstance(errors, list):
            return []
        return [
            cls(
                code if isinstance(code := entry.get("code"), str) else "UNKNOWN",
                message if isinstance(message := entry.get("message"), str) else "",
            )
            for entry in errors
            if isinstance(entry, dict)
        ]


#: Statuses saying "not now": repeating the same request later may succeed.
TEMPORARY_STATUSES = frozenset({408, 429, 499, 500, 502, 503, 504, 522})


class RegistryError(OcipushError):
    """The registry answered a request with an error status.

    :ivar status: the HTTP status code.
    :ivar method: the request method.
    :ivar url: the request URL with secrets (query parameters such as signatures) redacted.
    :ivar details: the spec error codes and messages the registry sent, if any.
    :ivar temporary: whether retrying the same request may succeed.
    :ivar retry_after: seconds the registry asked us to wait (``Retry-After``), if it did.
    """

    _TEMPORARY_STATUSES = TEMPORARY_STATUSES
    _TEMPORARY_CODES = frozenset({"BLOB_UPLOAD_INVALID", "TOOMANYREQUESTS", "UNAVAILABLE"})

    def __init__(
        self,
        *,
        method: str,
        url: str,
        status: int,
        details: Sequence[RegistryErrorDetail] = (),
        body_excerpt: str = "",
        context: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.method = method
        self.url = url
        self.status = status
        self.details = tuple(details)
        self.body_excerpt = body_excerpt
        self.context = context
        self.retry_after = retry_after
        super().__init__(self._render())

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(d.code for d in self.details)

    @property
    def temporary(self) -> bool:
        if self.status in self._TEMPORARY_STATUSES:
            return True
        return any(code in self._TEMPORARY_CODES for code in self.codes)

    def _render(self) -> str:
        head = f"{self.method} {self.url}: {self.status}"
        if self.details:
            head += " " + "; ".join(
                f"{d.code}: {d.message}" if d.message else d.code for d in self.details
            )
        elif self.body_excerpt:
            head += f" {self.body_excerpt}"
        return f"{self.context}: {head}" if self.context else head


class AuthError(OcipushError):
    """Credentials were rejected, or the granted access is not enough for the operation."""


class AuthenticationError(AuthError):
    """The registry (or its token server) refused the credentials, or asked for some.

    :ivar host: the registry.
    :ivar anonymous: no credentials were sent; the remedy is to provide some, which each
        front end says in its own terms.
    """

    def __init__(self, message: str, *, host: str, anonymous: bool, source: str) -> None:
        super().__init__(
            message, hint=None if anonymous else f"check the credentials from {source}"
        )
        self.host = host
        self.anonymous = anonymous


class PlainHttpCredentialsError(AuthError):
    """Credentials would go to a non-loopback registry over plain http: refused.

    :ivar host: the registry.
    """

    def __init__(self, message: str, *, host: str) -> None:
        super().__init__(message)
        self.host = host


class CredentialsFileError(AuthError):
    """A docker or podman credentials file cannot be read, parsed or written."""


class CredentialHelperError(AuthError):
    """A ``docker-credential-*`` helper is missing, failed, timed out or answered nonsense."""


class DeleteWouldUntagError(OcipushError):
    """Deleting a tag would delete its manifest, and with it other tags naming it.

    :ivar others: those other tags.
    """

    def __init__(self, message: str, others: Sequence[str]) -> None:
        super().__init__(message)
        self.others = tuple(others)


class PluginError(OcipushError):
    """A plugin failed to load, or raised something other than an ocipush error."""


class PluginLoadError(PluginError):
    """A plugin could not be found, imported or registered: a usage problem (exit 2)."""


class ProjectBuildError(OcipushError):
    """The project's own build backend could not report its metadata or build a
    distribution; nothing was published."""


class AfterPushError(OcipushError):
    """Everything was pushed and tagged; then an ``ocipush_after_push`` plugin failed.

    :ivar results: what was published (each target's result), for the front end to show.
    """

    def __init__(self, results: Sequence[object], cause: OcipushError) -> None:
        super().__init__(f"the push succeeded (every target is published and tagged), then {cause}")
        self.results = tuple(results)
        self.cause = cause


class PushInterruptedError(OcipushError):
    """The push was interrupted (Ctrl-C); nothing was tagged."""


@dataclass(frozen=True)
class ConfigProblem:
    """One problem found while validating configuration, located by its key path."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(OcipushError):
    """Configuration is invalid; carries every problem found, not only the first."""

    def __init__(
        self, problems: Sequence[ConfigProblem], *, source: str = "pyproject.toml"
    ) -> None:
        self.problems = tuple(problems)
        self.source = source
        lines = "\n".join(f"  {p}" for p in self.problems)
        count = len(self.problems)
        noun = "problem" if count == 1 else "problems"
        super().__init__(f"{source}: {count} configuration {noun}:\n{lines}")


class SigningError(OcipushError):
    """A signature cannot be made: no key, an unreadable key, no identity for keyless."""


class VerificationError(OcipushError):
    """``ocipush verify`` cannot check a signature (its key or identity is unusable)."""
