"""The ``ocipush`` command: argument parsing and presentation only.

Every command is a thin call into the library; errors a user caused print as one
``error:`` line (plus a hint) and exit with status 1, or 2 for usage and configuration.
"""

from __future__ import annotations

import argparse
import getpass
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import urllib3
from tqdm import tqdm

from ocipush import __version__
from ocipush.attest.settings import SIGNING
from ocipush.attest.verify import key_check, keyless_check, verify
from ocipush.cache_cli import add_cache_command
from ocipush.errors import (
    ConfigError,
    InvalidReferenceError,
    OcipushError,
    PluginLoadError,
    ProjectBuildError,
    PushInterruptedError,
)
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.reference import Registry, parse_reference
from ocipush.plugins.outputs import result_document
from ocipush.registry.keychain import Credentials, DefaultKeychain, StaticKeychain, login, logout
from ocipush.registry.progress import ProgressCallback, ProgressUpdate
from ocipush.registry.referrers import copy, open_place, walk_referrers
from ocipush.registry.remote import Remote
from ocipush.registry.tls import TlsConfig
from ocipush.registry.transport import ConnectionOptions, Timeouts, Transport
from ocipush.registry.writer import Writer
from ocipush.release.config import DEFAULT_JOBS, DEFAULT_TARGET, MAX_JOBS, TargetConfig
from ocipush.release.distributions import BuildOptions
from ocipush.release.manager import PluginManager
from ocipush.release.project import Project
from ocipush.release.publish import execute, make_plan, open_project

__all__ = ["main"]

log = logging.getLogger("ocipush")

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
#: 128 + SIGINT, as shells report a command stopped by Ctrl-C.
EXIT_INTERRUPTED = 130


#: The library's loggers whose INFO lines are the plain (non-terminal) progress: one line
#: per blob uploaded, mounted or present, per manifest put, per referrers tag updated.
PROGRESS_LOGGERS = (
    "ocipush.registry.writer",
    "ocipush.registry.upload",
    "ocipush.registry.attach",
)


class _ProgressBar:
    """A tqdm byte counter for terminals; ``total`` grows as streams reveal their size."""

    def __init__(self) -> None:
        self._bar = tqdm(total=0, unit="B", unit_scale=True, unit_divisor=1024, leave=True)

    def __call__(self, update: ProgressUpdate) -> None:
        if update.total != self._bar.total:
            self._bar.total = update.total
        self._bar.update(update.complete - self._bar.n)
        if update.error is not None or (update.total and update.complete >= update.total):
            self._bar.refresh()


def _read_password(args: argparse.Namespace, registry: str) -> str:
    """The password from standard input (``--password-stdin``) or a terminal prompt."""
    if args.password_stdin:
        # Like docker: the whole input, minus the newline `echo` adds.
        password = sys.stdin.read().rstrip("\r\n")
        if not password:
            raise _UsageError(
                "--password-stdin: standard input was empty; pipe the password in, e.g. "
                '`printf %s "$PASSWORD" | ocipush ... --password-stdin`'
            )
        return password
    if sys.stdin.isatty():
        return getpass.getpass(f"Password for {args.username} on {registry}: ")
    raise _UsageError(
        f"--username {args.username} needs a password: add --password-stdin and pipe it in "
        "(passwords are never taken as arguments, which other users can see)"
    )


class _UsageError(OcipushError):
    """The command line is inconsistent; exits with the usage status."""


def _explicit_registries(args: argparse.Namespace) -> list[str]:
    """The registries ``--username`` applies to: where the command writes."""
    if args.command == "copy":
        texts = [] if is_local_reference(args.destination) else [args.destination]
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


def _connection(
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


def _transport(args: argparse.Namespace, keychain: StaticKeychain | DefaultKeychain) -> Transport:
    return _connection(args, keychain).transport(jobs=_jobs(args))


def _keychain(args: argparse.Namespace) -> DefaultKeychain:
    """Stored credentials, or ``--username`` for the registries the command writes to."""
    explicit: dict[str, Credentials] = {}
    if args.username is not None:
        hosts = _explicit_registries(args)
        password = _read_password(args, ", ".join(hosts) or "the registry")
        creds = Credentials.from_secret(args.username, password, source="--username")
        explicit = dict.fromkeys(hosts, creds)
    elif args.password_stdin:
        raise _UsageError("--password-stdin needs --username USER; add it")
    return DefaultKeychain(explicit)


def _writer(args: argparse.Namespace, progress: ProgressCallback | None) -> Writer:
    return Writer(
        _transport(args, _keychain(args)),
        jobs=_jobs(args),
        allow_nondistributable_artifacts=args.allow_nondistributable_artifacts,
        progress=progress,
    )


def _progress(args: argparse.Namespace) -> ProgressCallback | None:
    """A bar on a terminal; elsewhere (CI logs) one plain line per blob and manifest."""
    if args.no_progress:
        return None
    if sys.stderr.isatty():
        return _ProgressBar()
    for name in PROGRESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.INFO)
    return None


def _cmd_copy(args: argparse.Namespace) -> int:
    writer = _writer(args, _progress(args))
    print(copy(args.source, args.destination, writer, referrers=not args.no_referrers))
    return EXIT_OK


def _cmd_referrers(args: argparse.Namespace) -> int:
    place = open_place(args.reference, Remote(_transport(args, _keychain(args))))
    found = walk_referrers(place, place.root())
    if args.json:
        print(json.dumps([referrer.to_json() for referrer in found], indent=2))
        return EXIT_OK
    for referrer in found:
        print(referrer.line())
    return EXIT_OK


def _cmd_verify(args: argparse.Namespace) -> int:
    keyless = args.certificate_identity or args.certificate_oidc_issuer
    if args.key is not None and keyless:
        raise _UsageError("--key and --certificate-identity exclude each other; give one")
    if args.key is not None:
        check = key_check(args.key)
    elif args.certificate_identity and args.certificate_oidc_issuer:
        check = keyless_check(
            args.certificate_identity, args.certificate_oidc_issuer, args.trust_config
        )
    else:
        raise _UsageError(
            "verify needs --key PUBLIC.pem, or --certificate-identity and "
            "--certificate-oidc-issuer for keyless signatures"
        )
    place = open_place(args.reference, Remote(_transport(args, _keychain(args))))
    report = verify(place, check, place.root().descriptor().digest)
    print("\n".join(report.lines(args.reference)))
    if report.failures:
        print(
            f"error: {len(report.failures)} check(s) failed on {args.reference}",
            file=sys.stderr,
        )
        return EXIT_FAILURE
    return EXIT_OK


def _signing_override(args: argparse.Namespace) -> dict[str, dict[str, object]] | None:
    """``--sign-key`` / ``--no-sign`` replace ``[tool.ocipush.signing]`` for this run."""
    if getattr(args, "no_sign", False):
        return {SIGNING: {}}
    if getattr(args, "sign_key", None) is not None:
        return {SIGNING: {"key": str(Path(args.sign_key).resolve())}}
    return None


def _project_run(args: argparse.Namespace) -> tuple[Project, PluginManager]:
    credentials = None
    if args.username is not None:
        password = _read_password(args, "the registry targets")
        credentials = Credentials.from_secret(args.username, password, source="--username")
    elif args.password_stdin:
        raise _UsageError("--password-stdin needs --username USER; add it")
    return open_project(
        Path(args.project).resolve(),
        requested_plugins=args.plugin,
        connection=_connection(args),
        credentials=credentials,
        targets=_target_overrides(args),
        jobs=args.jobs,
        allow_nondistributable_artifacts=args.allow_nondistributable_artifacts or None,
        build=BuildOptions(isolation=not args.no_isolation, build=not args.no_build),
        report=_say,
        plugin_tables=_signing_override(args),
    )


def _say(message: str) -> None:
    """A progress line about this run (what is built or reused), on standard error."""
    print(f"ocipush: {message}", file=sys.stderr)


def _target_overrides(args: argparse.Namespace) -> list[TargetConfig] | None:
    return [TargetConfig(ref) for ref in args.target] if args.target else None


def _cmd_plan(args: argparse.Namespace) -> int:
    project, manager = _project_run(args)
    plan = make_plan(project, manager, targets=_target_overrides(args), check=args.check)
    print(plan.render_json() if args.json else plan.render_table(verbose=args.verbose > 0))
    return EXIT_OK


def _cmd_push(args: argparse.Namespace, *, local_only: bool = False) -> int:
    project, manager = _project_run(args)
    targets = _target_overrides(args)
    if local_only:
        configured = targets if targets is not None else list(project.settings.targets)
        targets = [t for t in configured if t.is_local] or [DEFAULT_TARGET]
    plan = make_plan(project, manager, targets=targets)
    for target in plan.targets:
        for note in target.skipped_tag_notes():
            _say(note)
    results = execute(plan, project, manager, progress=_progress(args))
    if args.json:
        print(json.dumps(result_document(results, project), indent=2))
    else:
        for result in results:
            for ref in result.refs:
                print(ref)
    return EXIT_OK


def _cmd_build(args: argparse.Namespace) -> int:
    return _cmd_push(args, local_only=True)


def _cmd_tag(args: argparse.Namespace) -> int:
    writer = _writer(args, None)
    ref = parse_reference(args.reference)
    target = ref.with_tag(args.new_tag)
    document = Remote(writer.transport).manifest(ref)
    descriptor = writer.put(target, document)
    print(f"{target.repository.name}@{descriptor.digest}")
    return EXIT_OK


def _cmd_delete(args: argparse.Namespace) -> int:
    writer = _writer(args, None)
    ref = parse_reference(args.reference)
    deleted = writer.delete(ref, force=args.force)
    name = ref.repository.name
    if deleted.manifest:
        print(f"{name}@{deleted.digest}")
    for tag in deleted.tags:
        print(f"{name}:{tag}")
    return EXIT_OK


def _cmd_login(args: argparse.Namespace) -> int:
    registry = Registry.parse(args.registry)
    password = _read_password(args, registry.host)
    creds = Credentials.from_secret(args.username, password, source="--username")
    # Checked first, as docker does: a typo should not be stored and found out at push time.
    transport = _transport(args, StaticKeychain({registry.host: creds}))
    transport.verify_credentials(registry)
    path = login(registry, args.username, password)
    print(f"Login succeeded: credentials for {registry.host} stored via {path}")
    return EXIT_OK


def _cmd_logout(args: argparse.Namespace) -> int:
    registry = Registry.parse(args.registry)
    if logout(registry):
        print(f"Removed credentials for {registry.host}")
    else:
        print(f"Not logged in to {registry.host}; nothing to remove")
    return EXIT_OK


def _tls_verify(text: str) -> tuple[bool, str | None]:
    value, _, host = text.partition(":")
    if value.lower() not in ("true", "false") or (host and value.lower() == "true"):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not true, false or false:REGISTRY; e.g. --tls-verify=false:myreg:5000"
        )
    if host:
        try:
            host = Registry.parse(host).host
        except InvalidReferenceError as error:
            raise argparse.ArgumentTypeError(str(error)) from None
    return value.lower() == "true", host or None


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _add_insecure_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure",
        action="append",
        default=[],
        metavar="REGISTRY",
        help="allow plain http to REGISTRY (repeatable); loopback registries always may",
    )


def _add_connection_flags(parser: argparse.ArgumentParser, *, insecure: bool = False) -> None:
    """TLS, plain-http and timeout flags (every command that talks to a registry)."""
    if insecure:
        _add_insecure_flag(parser)
    parser.add_argument(
        "--ca-cert",
        action="append",
        default=[],
        type=Path,
        metavar="FILE",
        help="also trust the CA certificates in PEM FILE (repeatable); the system CAs and "
        "certs.d/<registry>/*.crt of /etc/docker, ~/.docker and /etc/containers always are",
    )
    parser.add_argument(
        "--tls-verify",
        action="append",
        default=[],
        type=_tls_verify,
        metavar="BOOL[:REGISTRY]",
        help="--tls-verify=false skips TLS certificate verification for every registry, "
        "--tls-verify=false:REGISTRY for that one only (repeatable); it never allows plain "
        "http (that is --insecure)",
    )
    parser.add_argument(
        "--allow-credentials-over-http",
        action="append",
        default=[],
        metavar="REGISTRY",
        help="allow credentials and tokens to go to REGISTRY (not loopback) over plain http",
    )
    defaults = Timeouts()
    parser.add_argument(
        "--timeout-connect",
        type=_seconds,
        default=defaults.connect,
        metavar="SECONDS",
        help=f"wait this long for a connection (default: {defaults.connect:g})",
    )
    parser.add_argument(
        "--timeout-read",
        type=_seconds,
        default=defaults.read,
        metavar="SECONDS",
        help=f"wait this long for each read (default: {defaults.read:g})",
    )


def _add_credential_flags(parser: argparse.ArgumentParser, *, required: bool = False) -> None:
    parser.add_argument(
        "-u",
        "--username",
        required=required,
        metavar="USER",
        help="log in as USER (with the password from --password-stdin) instead of using "
        "stored credentials",
    )
    parser.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )


def _job_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_JOBS:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number from 1 to {MAX_JOBS} (blobs uploaded at once)"
        )
    return value


def _add_writer_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-j",
        "--jobs",
        type=_job_count,
        default=None,
        help=f"blobs uploaded at once, 1 to {MAX_JOBS} (default: tool.ocipush jobs, "
        f"else {DEFAULT_JOBS})",
    )
    _add_insecure_flag(parser)
    parser.add_argument(
        "--allow-nondistributable-artifacts",
        action="store_true",
        help="also upload nondistributable (foreign) layers",
    )
    parser.add_argument("--no-progress", action="store_true", help="do not report progress")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv for debug)"
    )


def _add_registry_flags(parser: argparse.ArgumentParser) -> None:
    """Everything a command that writes to registries takes."""
    _add_writer_flags(parser)
    _add_connection_flags(parser)
    _add_credential_flags(parser)


def _add_read_flags(parser: argparse.ArgumentParser) -> None:
    """What a command that only reads from registries and layouts takes."""
    _add_connection_flags(parser, insecure=True)
    _add_credential_flags(parser)
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv for debug)"
    )


def _add_signing_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--sign-key",
        type=Path,
        metavar="FILE",
        help="sign the image and its attestations with this PEM private key (ECDSA P-256 "
        "or Ed25519), instead of [tool.ocipush.signing]",
    )
    group.add_argument("--no-sign", action="store_true", help="do not sign, whatever is configured")


def _add_project_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--project", default=".", metavar="DIR", help="the project directory (default: .)"
    )
    parser.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="REF",
        help="publish to REF instead of the configured targets (repeatable)",
    )
    parser.add_argument(
        "-p",
        dest="plugin",
        action="append",
        default=[],
        metavar="NAME",
        help="load plugin module NAME, or disable plugin NAME with no:NAME (repeatable)",
    )
    parser.add_argument("--json", action="store_true", help="print a machine-readable result")
    parser.add_argument(
        "--no-isolation",
        action="store_true",
        help="build the wheel/sdist with what is installed, not in a fresh environment",
    )
    parser.add_argument(
        "--no-build",
        action="store_true",
        help="publish the wheel/sdist in dist/ as they are; never build them",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ocipush",
        description="Publish Python projects as OCI images and artifacts to container registries.",
    )
    parser.add_argument("--version", action="version", version=f"ocipush {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    plan = commands.add_parser(
        "plan",
        help="show what would be published where, without publishing",
        description="Show the plan: per target, blobs with their action, manifests, tags, "
        "token scopes and notes.",
    )
    plan.add_argument(
        "--check",
        action="store_true",
        help="ask the registries which blobs they already have (HEAD requests only)",
    )
    _add_project_flags(plan)
    _add_signing_flags(plan)
    _add_registry_flags(plan)
    plan.set_defaults(handler=_cmd_plan)

    push = commands.add_parser(
        "push",
        help="build the content and publish it to every target",
        description="Build this release's wheel (and sdist) with the project's backend unless "
        "dist/ holds fresh ones, build the image and artifacts, and publish them to every "
        "target. Tags a pre-release may not move are skipped, and named.",
    )
    _add_project_flags(push)
    _add_signing_flags(push)
    _add_registry_flags(push)
    push.set_defaults(handler=_cmd_push)

    build = commands.add_parser(
        "build",
        help="build the content into local targets only (default oci:dist/oci)",
        description="Like push, but write only the targets on this machine: OCI layouts "
        "(oci:), archives (oci-archive:, docker-archive:) and a local engine "
        "(docker-daemon:); default oci:dist/oci. Nothing goes to a registry.",
    )
    _add_project_flags(build)
    _add_signing_flags(build)
    _add_registry_flags(build)
    build.set_defaults(handler=_cmd_build)

    copy_parser = commands.add_parser(
        "copy",
        help="copy an image or index between registries, OCI layouts, archives and engines",
        description=(
            "Copy SRC to DST. Each is a registry reference (ghcr.io/acme/app:1.0), an OCI "
            "layout (oci:PATH[:TAG]) or an OCI archive (oci-archive:PATH[:TAG]); DST may also "
            "be docker-archive:PATH[:NAME:TAG] or docker-daemon:NAME[:TAG] (a local engine, "
            "through DOCKER_HOST). Blobs are mounted within a registry and streamed "
            "between registries, never stored on disk."
        ),
    )
    copy_parser.add_argument("source", metavar="SRC")
    copy_parser.add_argument("destination", metavar="DST")
    copy_parser.add_argument(
        "--no-referrers",
        action="store_true",
        help="copy only SRC, not the signatures, SBOMs, provenance and other artifacts "
        "referring to it",
    )
    _add_registry_flags(copy_parser)
    copy_parser.set_defaults(handler=_cmd_copy)

    verify_parser = commands.add_parser(
        "verify",
        help="check every signature on an image and list its attestations",
        description="Check every Sigstore bundle attached to REF (and to its platform "
        "images): its signature, and that it signs the manifest it is attached to. Lists "
        "the SBOMs and provenance with whether a checked signature covers them. Exits 1 if "
        "any check fails or REF itself carries no valid signature.",
    )
    verify_parser.add_argument("reference", metavar="REF")
    verify_parser.add_argument(
        "--key", type=Path, metavar="PUBLIC.pem", help="the public key of key-based signatures"
    )
    verify_parser.add_argument(
        "--certificate-identity",
        metavar="IDENTITY",
        help="keyless: the identity the signing certificate must name (e.g. a workflow URL)",
    )
    verify_parser.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer that must have vouched for it",
    )
    verify_parser.add_argument(
        "--trust-config",
        type=Path,
        metavar="FILE",
        help="keyless: a Sigstore client trust config (a private Sigstore instance)",
    )
    _add_read_flags(verify_parser)
    verify_parser.set_defaults(handler=_cmd_verify)

    referrers_parser = commands.add_parser(
        "referrers",
        help="list what is attached to an image (signatures, SBOMs, provenance, artifacts)",
    )
    referrers_parser.add_argument("reference", metavar="REF")
    referrers_parser.add_argument(
        "--json", action="store_true", help="print a machine-readable list"
    )
    _add_read_flags(referrers_parser)
    referrers_parser.set_defaults(handler=_cmd_referrers)

    tag = commands.add_parser("tag", help="add a tag to an image in a registry")
    tag.add_argument("reference", metavar="REF")
    tag.add_argument("new_tag", metavar="NEWTAG")
    _add_registry_flags(tag)
    tag.set_defaults(handler=_cmd_tag)

    delete = commands.add_parser("delete", help="delete a manifest (by tag or digest)")
    delete.add_argument("reference", metavar="REF")
    delete.add_argument(
        "--force",
        action="store_true",
        help="delete the manifest even when other tags name it (they go too)",
    )
    _add_registry_flags(delete)
    delete.set_defaults(handler=_cmd_delete)

    login_parser = commands.add_parser(
        "login",
        help="check and store credentials for a registry",
        description="Check USER's password with REGISTRY, then store it where `docker login` "
        "would (a credential helper if the docker config names one, else its auths), so "
        "docker, podman and skopeo see it too.",
    )
    login_parser.add_argument("registry", metavar="REGISTRY")
    _add_credential_flags(login_parser, required=True)
    _add_connection_flags(login_parser, insecure=True)
    login_parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv for debug)"
    )
    login_parser.set_defaults(handler=_cmd_login)

    logout_parser = commands.add_parser("logout", help="remove stored credentials for a registry")
    logout_parser.add_argument("registry", metavar="REGISTRY")
    logout_parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more output (-vv for debug)"
    )
    logout_parser.set_defaults(handler=_cmd_logout)
    add_cache_command(commands)
    return parser


def _configure_logging(verbosity: int) -> None:
    level = logging.WARNING if verbosity == 0 else logging.INFO if verbosity == 1 else logging.DEBUG
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s"))
    root = logging.getLogger("ocipush")
    root.handlers[:] = [handler]
    root.setLevel(level)
    # A previous in-process run may have turned on per-blob lines for its progress.
    for name in PROGRESS_LOGGERS:
        logging.getLogger(name).setLevel(logging.NOTSET)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except (
        ConfigError,
        InvalidReferenceError,
        PluginLoadError,
        ProjectBuildError,
        _UsageError,
    ) as error:
        _report(error, args.verbose)
        return EXIT_USAGE
    except PushInterruptedError as error:
        _report(error, args.verbose)
        return EXIT_INTERRUPTED
    except OcipushError as error:
        _report(error, args.verbose)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _report(error: OcipushError, verbosity: int) -> None:
    if verbosity > 1:
        log.debug("traceback", exc_info=error)
    print(f"error: {error}", file=sys.stderr)
    for note in error.notes:
        print(f"note: {note}", file=sys.stderr)
    if error.hint:
        print(f"hint: {error.hint}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
