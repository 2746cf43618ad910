"""What the command line suggests for an error, in its own terms (its flags).

The library's errors say what happened and carry the facts (host, timeout, phase); the
remedy depends on the front end, so it is worded here for the CLI (``ocipush.backend``
words its own, in configuration terms).
"""

from __future__ import annotations

from ocipush.errors import (
    AfterPushError,
    AuthenticationError,
    ConfigError,
    DeleteWouldUntagError,
    InvalidReferenceError,
    OcipushError,
    PlainHttpCredentialsError,
    PluginError,
    PluginLoadError,
    ProjectBuildError,
    PushInterruptedError,
    RegistryError,
    RegistryTimeoutError,
    RegistryUnreachableError,
    TlsHandshakeError,
    TransportError,
    UntrustedCertificateError,
)

__all__ = [
    "EXIT_AFTER_PUSH",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "UsageError",
    "exit_code",
    "kind",
    "remedy",
]

EXIT_FAILURE = 1
#: Usage and configuration errors, and a project its own backend cannot build: nothing ran.
EXIT_USAGE = 2
#: Everything was published and tagged, then an ``ocipush_after_push`` plugin failed.
EXIT_AFTER_PUSH = 3
#: 128 + SIGINT, as shells report a command stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


class UsageError(OcipushError):
    """The command line is inconsistent; exits with the usage status."""


def remedy(error: OcipushError) -> str | None:
    """The hint to print after ``error``: a flag to pass, else the library's own hint."""
    if isinstance(error, AfterPushError):
        return remedy(error.cause)
    if isinstance(error, UntrustedCertificateError):
        host = error.host
        return (
            f"trust its CA with --ca-cert FILE or by putting it in "
            f"/etc/docker/certs.d/{host}/ca.crt (or ~/.docker/certs.d/{host}/, "
            f"/etc/containers/certs.d/{host}/), or skip verification for it with "
            f"--tls-verify=false:{host}"
        )
    if isinstance(error, TlsHandshakeError) or (
        isinstance(error, RegistryUnreachableError) and not error.http_allowed
    ):
        assert isinstance(error, TransportError)
        return f"if {error.host} serves plain http, allow that with --insecure {error.host}"
    if isinstance(error, RegistryTimeoutError):
        flag = "--timeout-read" if error.phase == "read" else "--timeout-connect"
        return f"allow it more time with {flag} SECONDS (this run: {error.seconds:g})"
    if isinstance(error, DeleteWouldUntagError):
        return "pass --force to delete the manifest with all its tags"
    if isinstance(error, PlainHttpCredentialsError):
        return (
            f"if the network is trusted, allow it with --allow-credentials-over-http {error.host}"
        )
    if isinstance(error, AuthenticationError) and error.anonymous:
        return f"log in with `ocipush login {error.host}`, or pass --username USER --password-stdin"
    return error.hint


def kind(error: OcipushError) -> str:
    """The ``kind`` of ``--json``'s error object: one word a script can switch on."""
    kinds: list[tuple[type[OcipushError], str]] = [
        (AfterPushError, "after-push"),
        (ConfigError, "config"),
        (InvalidReferenceError, "reference"),
        (PluginLoadError, "usage"),
        (ProjectBuildError, "project-build"),
        (PushInterruptedError, "interrupted"),
        (PluginError, "plugin"),
        (RegistryTimeoutError, "timeout"),
        (UntrustedCertificateError, "tls"),
        (TlsHandshakeError, "tls"),
        (TransportError, "network"),
        (RegistryError, "registry"),
    ]
    for cls, name in kinds:
        if isinstance(error, cls):
            return name
    return "usage" if isinstance(error, UsageError) else "error"


def exit_code(error: OcipushError) -> int:
    """1 for a failed operation; 2 when nothing could start; 3 after a complete push."""
    if isinstance(error, AfterPushError):
        return EXIT_AFTER_PUSH
    if isinstance(error, PushInterruptedError):
        return EXIT_INTERRUPTED
    usage = (ConfigError, InvalidReferenceError, PluginLoadError, ProjectBuildError, UsageError)
    return EXIT_USAGE if isinstance(error, usage) else EXIT_FAILURE
