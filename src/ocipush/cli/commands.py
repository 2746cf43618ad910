"""What each command does: a thin call into the library per command.

Handlers take the parsed command line and return the exit status; they print results on
standard output (through :mod:`ocipush.cli.output`) and leave errors to ``main``.
"""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from pathlib import Path

import urllib3

from ocipush.attest.settings import SIGNING
from ocipush.attest.verify import key_check, keyless_check, verify
from ocipush.cli.output import Output
from ocipush.cli.remedies import UsageError
from ocipush.oci.layout import (
    delete_layout_tag,
    is_layout_reference,
    parse_layout_reference,
    tag_layout,
)
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.reference import Registry, parse_reference
from ocipush.plugins.outputs import result_document
from ocipush.registry.keychain import Credentials, DefaultKeychain, StaticKeychain, login, logout
from ocipush.registry.progress import ProgressCallback
from ocipush.registry.referrers import copy, open_place, walk_referrers
from ocipush.registry.remote import Remote
from ocipush.registry.tls import TlsConfig
from ocipush.registry.transport import ConnectionOptions, Timeouts, Transport
from ocipush.registry.writer import Writer
from ocipush.release.config import DEFAULT_JOBS, DEFAULT_TARGET, TargetConfig
from ocipush.release.distributions import BuildOptions
from ocipush.release.manager import PluginManager
from ocipush.release.project import Project
from ocipush.release.publish import execute, make_plan, open_project

__all__ = ["HANDLERS"]


def _read_password(args: argparse.Namespace, registry: str) -> str:
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
        raise UsageError("--password-stdin needs --username USER; add it")
    return DefaultKeychain(explicit)


def _writer(args: argparse.Namespace, progress: ProgressCallback | None) -> Writer:
    return Writer(
        _transport(args, _keychain(args)),
        jobs=_jobs(args),
        allow_nondistributable_artifacts=getattr(args, "allow_nondistributable_artifacts", False),
        progress=progress,
    )


def _cmd_copy(args: argparse.Namespace, out: Output) -> int:
    with out.progress() as progress:
        landed = copy(
            args.source, args.destination, _writer(args, progress), referrers=not args.no_referrers
        )
    out.result(landed)
    return 0


def _cmd_referrers(args: argparse.Namespace, out: Output) -> int:
    place = open_place(args.reference, Remote(_transport(args, _keychain(args))))
    found = walk_referrers(place, place.root())
    if args.json:
        out.result(json.dumps([referrer.to_json() for referrer in found], indent=2))
        return 0
    for referrer in found:
        out.result(referrer.line())
    return 0


def _cmd_verify(args: argparse.Namespace, out: Output) -> int:
    keyless = args.certificate_identity or args.certificate_oidc_issuer
    if args.key is not None and keyless:
        raise UsageError("--key and --certificate-identity exclude each other; give one")
    if args.key is not None:
        check = key_check(args.key)
    elif args.certificate_identity and args.certificate_oidc_issuer:
        check = keyless_check(
            args.certificate_identity, args.certificate_oidc_issuer, args.trust_config
        )
    else:
        raise UsageError(
            "verify needs --key PUBLIC.pem, or --certificate-identity and "
            "--certificate-oidc-issuer for keyless signatures"
        )
    place = open_place(args.reference, Remote(_transport(args, _keychain(args))))
    report = verify(place, check, place.root().descriptor().digest)
    out.result("\n".join(report.lines(args.reference)))
    if report.failures:
        out.error_line(f"{len(report.failures)} check(s) failed on {args.reference}")
        return 1
    return 0


def _signing_override(args: argparse.Namespace) -> dict[str, dict[str, object]] | None:
    """``--sign-key`` / ``--no-sign`` replace ``[tool.ocipush.signing]`` for this run."""
    if args.no_sign:
        return {SIGNING: {}}
    if args.sign_key is not None:
        return {SIGNING: {"key": str(Path(args.sign_key).resolve())}}
    return None


def _project_run(args: argparse.Namespace, out: Output) -> tuple[Project, PluginManager]:
    credentials = None
    if args.username is not None:
        password = _read_password(args, "the registry targets")
        credentials = Credentials.from_secret(args.username, password, source="--username")
    elif args.password_stdin:
        raise UsageError("--password-stdin needs --username USER; add it")
    return open_project(
        Path(args.project).resolve(),
        requested_plugins=args.plugin,
        connection=_connection(args),
        credentials=credentials,
        targets=_target_overrides(args),
        jobs=args.jobs,
        allow_nondistributable_artifacts=args.allow_nondistributable_artifacts or None,
        build=BuildOptions(isolation=not args.no_isolation, build=not args.no_build),
        report=out.say,
        plugin_tables=_signing_override(args),
    )


def _target_overrides(args: argparse.Namespace) -> list[TargetConfig] | None:
    # A target named twice is one target: planned, pushed and reported once.
    refs = list(dict.fromkeys(args.target))
    return [TargetConfig(ref) for ref in refs] if refs else None


def _cmd_plan(args: argparse.Namespace, out: Output) -> int:
    project, manager = _project_run(args, out)
    plan = make_plan(project, manager, targets=_target_overrides(args), check=args.check)
    out.result(plan.render_json() if args.json else plan.render_table(verbose=args.verbose > 0))
    return 0


def _cmd_push(args: argparse.Namespace, out: Output, *, local_only: bool = False) -> int:
    project, manager = _project_run(args, out)
    targets = _target_overrides(args)
    if local_only:
        configured = targets if targets is not None else list(project.settings.targets)
        targets = [t for t in configured if t.is_local] or [DEFAULT_TARGET]
    plan = make_plan(project, manager, targets=targets)
    for target in plan.targets:
        for note in target.skipped_tag_notes():
            out.say(note)
    with out.progress() as progress:
        results = execute(plan, project, manager, progress=progress)
    if args.json:
        out.result(json.dumps(result_document(results, project), indent=2))
    else:
        for result in results:
            for ref in result.refs:
                out.result(ref)
    return 0


def _cmd_build(args: argparse.Namespace, out: Output) -> int:
    return _cmd_push(args, out, local_only=True)


def _cmd_tag(args: argparse.Namespace, out: Output) -> int:
    if is_layout_reference(args.reference):
        layout = parse_layout_reference(args.reference)
        descriptor = tag_layout(layout, args.new_tag)
        out.result(f"oci:{layout.path}:{args.new_tag}@{descriptor.digest}")
        return 0
    writer = _writer(args, None)
    ref = parse_reference(args.reference)
    target = ref.with_tag(args.new_tag)
    document = Remote(writer.transport).manifest(ref)
    descriptor = writer.put(target, document)
    out.result(f"{target.repository.name}@{descriptor.digest}")
    return 0


def _cmd_delete(args: argparse.Namespace, out: Output) -> int:
    if is_layout_reference(args.reference):
        layout = parse_layout_reference(args.reference)
        delete_layout_tag(layout)
        out.result(str(layout))
        return 0
    writer = _writer(args, None)
    ref = parse_reference(args.reference)
    deleted = writer.delete(ref, force=args.force)
    name = ref.repository.name
    if deleted.manifest:
        out.result(f"{name}@{deleted.digest}")
    for tag in deleted.tags:
        out.result(f"{name}:{tag}")
    return 0


def _cmd_login(args: argparse.Namespace, out: Output) -> int:
    registry = Registry.parse(args.registry)
    password = _read_password(args, registry.host)
    creds = Credentials.from_secret(args.username, password, source="--username")
    # Checked first, as docker does: a typo should not be stored and found out at push time.
    transport = _transport(args, StaticKeychain({registry.host: creds}))
    transport.verify_credentials(registry)
    path = login(registry, args.username, password)
    out.result(f"Login succeeded: credentials for {registry.host} stored via {path}")
    return 0


def _cmd_logout(args: argparse.Namespace, out: Output) -> int:
    registry = Registry.parse(args.registry)
    if logout(registry):
        out.result(f"Removed credentials for {registry.host}")
    else:
        out.result(f"Not logged in to {registry.host}; nothing to remove")
    return 0


#: Command name → handler: the parsed command line and the output in, the exit status out.
HANDLERS: dict[str, Callable[[argparse.Namespace, Output], int]] = {
    "plan": _cmd_plan,
    "push": _cmd_push,
    "build": _cmd_build,
    "copy": _cmd_copy,
    "verify": _cmd_verify,
    "referrers": _cmd_referrers,
    "tag": _cmd_tag,
    "delete": _cmd_delete,
    "login": _cmd_login,
    "logout": _cmd_logout,
}
