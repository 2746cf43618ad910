"""How a registry command reaches registries: TLS, connection options, credentials and a
transport or writer, all from the command line.

Reading these flags loads no HTTP library; building the transport does.
"""

from __future__ import annotations

import argparse
import getpass
import sys

import urllib3

from ocipush.cli.remedies import UsageError
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.reference import parse_reference
from ocipush.registry.keychain import Credentials, DefaultKeychain, StaticKeychain
from ocipush.registry.options import ConnectionOptions, Timeouts
from ocipush.registry.progress import ProgressCallback
from ocipush.registry.tls import TlsConfig
from ocipush.registry.transport import Transport
from ocipush.registry.writer import Writer
from ocipush.release.config import DEFAULT_JOBS

__all__ = ["connection_options", "make_keychain", "make_transport", "make_writer", "read_password"]


def read_password(args: argparse.Namespace, registry: str) -> str:
    """The password from standard input (``--password-stdin``) or a terminal prompt."""
    if args.password_stdin:
        # Like docker: the whole input, minus the newline `echo` adds.
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise UsageError(
                "--password-stdin: standard input was empty; pipe the password in, e.g. "
                '`printf %s "$PASSWORD" | ocipush ... --password-stdin`'
            )
        return password
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {args.username} on {registry}: ")
    raise UsageError(
        f"--username {args.username} needs a password: add --password-stdin and pipe it in "
        "(passwords are never taken as arguments, which other users can see)"
    )


def _explicit_registries(args: argparse.Namespace) -> list[str]:
    """The registries ``--username`` applies to: where the command writes."""
    if args.command == "copy":
        texts = [] if is_local_reference(args.destination) else [args.destination]
    elif is_local_reference(args.reference):
        texts = []
    else:
        texts = [args.reference]
    return [parse_reference(text).registry.host for text in texts]


def _tls_config(args: argparse.Namespace) -> TlsConfig:
    # The last global --tls-verify wins, as with any repeated switch.
    verify_all = next((value for value, host in reversed(args.tls_verify) if host is None), True)
    if not all(value for value, _ in args.tls_verify):
        # The user asked for it; urllib3's per-request warning would only bury the output.
        urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
    return TlsConfig.create(
        ca_files=args.ca_cert,
        verify=verify_all,
        no_verify=[host for value, host in args.tls_verify if host is not None and not value],
    )


def connection_options(
    args: argparse.Namespace, keychain: StaticKeychain | DefaultKeychain | None = None
) -> ConnectionOptions:
    return ConnectionOptions(
        keychain=keychain,
        insecure=tuple(args.insecure),
        allow_credentials_over_http=tuple(args.allow_credentials_over_http),
        tls=_tls_config(args),
        timeouts=Timeouts(connect=args.timeout_connect, read=args.timeout_read),
    )


def _jobs(args: argparse.Namespace) -> int:
    """``--jobs``, or the default where a command has no project configuration."""
    jobs: int | None = getattr(args, "jobs", None)
    return DEFAULT_JOBS if jobs is None else jobs


def make_transport(
    args: argparse.Namespace, keychain: StaticKeychain | DefaultKeychain
) -> Transport:
    return connection_options(args, keychain).transport(jobs=_jobs(args))


def make_keychain(args: argparse.Namespace) -> DefaultKeychain:
    """Stored credentials, or ``--username`` for the registries the command writes to."""
    explicit: dict[str, Credentials] = {}
    if args.username is not None:
        hosts = _explicit_registries(args)
        password = read_password(args, ", ".join(hosts) or "the registry")
        creds = Credentials.from_secret(args.username, password, source="--username")
        explicit = dict.fromkeys(hosts, creds)
    elif args.password_stdin:
        raise UsageError("--password-stdin needs --username USER; add it")
    return DefaultKeychain(explicit)


def make_writer(args: argparse.Namespace, progress: ProgressCallback | None) -> Writer:
    return Writer(
        make_transport(args, make_keychain(args)),
        jobs=_jobs(args),
        allow_nondistributable_artifacts=getattr(args, "allow_nondistributable_artifacts", False),
        progress=progress,
    )
