"""The command line's grammar: every command, its own flags, its description and example.

Common flags (``-v``, ``-q``, ``--no-progress``, ``--json``, ``--project``) are taken before
the command, as pip and git take theirs, or after it; one given before a command that has no
use for it is a usage error naming it. A mistake after the command shows that command's
usage, never the top-level one.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

from ocipush import __version__
from ocipush.errors import InvalidReferenceError
from ocipush.oci.reference import Registry
from ocipush.registry.options import Timeouts
from ocipush.release.config import DEFAULT_JOBS, MAX_JOBS

__all__ = ["COMMANDS", "HELP_WIDTH", "Command", "build_parser", "parse"]

#: Help is wrapped at most this wide, so the README's copy of it matches any terminal.
HELP_WIDTH = 100


@dataclass(frozen=True)
class Command:
    """One command as ``ocipush help`` lists it."""

    summary: str
    description: str
    examples: tuple[str, ...]
    #: Which common flags the command has a use for.
    common: frozenset[str]


_VERBOSITY = frozenset({"verbose", "quiet"})
_PROJECT = _VERBOSITY | {"json", "project", "no_progress"}

COMMANDS: dict[str, Command] = {
    "plan": Command(
        "show what would be published where, without publishing",
        "Show the plan: per target, blobs with their action, manifests, tags, token scopes "
        "and notes. Nothing is built into a target and nothing is pushed.",
        ("ocipush plan --check", "ocipush plan --json --target ghcr.io/acme/app:1.0"),
        _PROJECT - {"no_progress"},
    ),
    "push": Command(
        "build the content and publish it to every target",
        "Build this release's wheel (and sdist) with the project's backend unless dist/ "
        "holds fresh ones, build the image and artifacts, and publish them to every target. "
        "Tags a pre-release may not move are skipped, and named.",
        ("ocipush push", "ocipush push --target ghcr.io/acme/app:{version} --json"),
        _PROJECT,
    ),
    "build": Command(
        "build the content into local targets only (default oci:dist/oci)",
        "Like push, but write only the targets on this machine: OCI layouts (oci:), archives "
        "(oci-archive:, docker-archive:) and a local engine (docker-daemon:); default "
        "oci:dist/oci. Nothing goes to a registry.",
        ("ocipush build", "ocipush build --target docker-archive:app.tar:acme/app:1.0"),
        _PROJECT,
    ),
    "copy": Command(
        "copy an image or index between registries, OCI layouts, archives and engines",
        "Copy SRC to DST with everything referring to it. Each is a registry reference "
        "(ghcr.io/acme/app:1.0), an OCI layout (oci:PATH[:TAG]) or an OCI archive "
        "(oci-archive:PATH[:TAG]); DST may also be docker-archive:PATH[:NAME:TAG] or "
        "docker-daemon:NAME[:TAG] (a local engine, through DOCKER_HOST). Blobs are mounted "
        "within a registry and streamed between registries, never stored on disk.",
        ("ocipush copy ghcr.io/acme/app:1.0 quay.io/acme/app:1.0",),
        _VERBOSITY | {"no_progress"},
    ),
    "verify": Command(
        "check every signature on an image and list its attestations",
        "Check every Sigstore bundle attached to REF (and to its platform images): its "
        "signature, and that it signs the manifest it is attached to. Lists the SBOMs and "
        "provenance with whether a checked signature covers them. Exits 1 if any check "
        "fails or REF itself carries no valid signature.",
        ("ocipush verify ghcr.io/acme/app:1.0 --key cosign.pub",),
        _VERBOSITY,
    ),
    "referrers": Command(
        "list what is attached to an image (signatures, SBOMs, provenance, artifacts)",
        "List the referrers of REF and of its platform images, each after its subject "
        "(referrers API, sha256-<hex> fallback tag, or a layout's index.json).",
        ("ocipush referrers ghcr.io/acme/app:1.0 --json",),
        _VERBOSITY | {"json"},
    ),
    "tag": Command(
        "add a tag to an image in a registry or an OCI layout",
        "Point NEWTAG at the manifest REF names, in the same repository or layout. Prints "
        "where the tag now points: REPOSITORY@DIGEST, or oci:PATH:TAG@DIGEST.",
        ("ocipush tag ghcr.io/acme/app:1.0 stable", "ocipush tag oci:dist/oci:1.0 stable"),
        _VERBOSITY,
    ),
    "delete": Command(
        "delete a tag or a manifest from a registry or an OCI layout",
        "Delete what REF names: a tag (where the registry can delete tags), else the "
        "manifest with every tag naming it. In an OCI layout the tag's entry goes from "
        "index.json and blobs nothing references any more are removed.",
        ("ocipush delete ghcr.io/acme/app:old", "ocipush delete oci:dist/oci:old"),
        _VERBOSITY,
    ),
    "login": Command(
        "check and store credentials for a registry",
        "Check USER's password with REGISTRY, then store it where `docker login` would (a "
        "credential helper if the docker config names one, else its auths), so docker, "
        "podman and skopeo see it too.",
        ('printf %s "$TOKEN" | ocipush login ghcr.io -u acme --password-stdin',),
        _VERBOSITY,
    ),
    "logout": Command(
        "remove stored credentials for a registry",
        "Remove the credentials stored for REGISTRY (from the docker config or its "
        "credential helper).",
        ("ocipush logout ghcr.io",),
        _VERBOSITY,
    ),
    "cache": Command(
        "show or clear the dependency-layer cache",
        "Dependency layers are cached in the user cache directory "
        "($XDG_CACHE_HOME/ocipush/layers, else ~/.cache/ocipush/layers), shared by every "
        "project and bounded in size (the least recently used go first). `show` (the default) "
        "lists them; `clear` deletes them all.",
        ("ocipush cache", "ocipush cache clear"),
        _VERBOSITY,
    ),
}

#: Common flag dest → how a user spells it, for messages.
_COMMON_SPELLING = {
    "verbose": "-v",
    "quiet": "-q",
    "no_progress": "--no-progress",
    "json": "--json",
    "project": "--project",
}


class _Formatter(argparse.HelpFormatter):
    """Descriptions wrapped; text of several lines (examples) kept as written."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if "\n" in text:
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)


class _Parser(argparse.ArgumentParser):
    """Help wrapped at :data:`HELP_WIDTH` (or a narrower terminal); with ``--json`` on the
    command line, a usage error is also a JSON error object on standard output."""

    #: Set by :func:`parse` for the command line being parsed.
    json_errors = False

    def _get_formatter(self) -> argparse.HelpFormatter:
        return _Formatter(self.prog, width=min(HELP_WIDTH, _terminal_width()))

    def error(self, message: str) -> NoReturn:
        if _Parser.json_errors:
            document = {"error": {"kind": "usage", "message": message, "target": None}}
            print(json.dumps(document, indent=2), flush=True)
        super().error(message)


def _terminal_width() -> int:
    try:
        return int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        return HELP_WIDTH


# -- value types ----------------------------------------------------------------------


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


def _pem_file(text: str) -> Path:
    path = Path(text)
    if not path.is_file():
        what = "is a directory" if path.is_dir() else "no such file"
        raise argparse.ArgumentTypeError(f"{text}: {what}; give the path of a PEM CA file")
    return path


# -- flags ----------------------------------------------------------------------------


def _add_common(parser: argparse.ArgumentParser, wanted: frozenset[str], *, top: bool) -> None:
    """The common flags; after a command they leave the namespace alone unless given."""
    default: object = argparse.SUPPRESS
    # After the command -v and -q count apart from before it, so `-v plan -v` is -vv.
    suffix = "" if top else "_after"
    hidden = argparse.SUPPRESS
    counters = {
        "verbose": ("-v", "more output (-vv for debug detail)"),
        "quiet": ("-q", "less output: errors and results only"),
    }
    for name, (short, text) in counters.items():
        if name in wanted:
            parser.add_argument(
                short,
                f"--{name}",
                dest=f"{name}{suffix}",
                action="count",
                default=0 if top else default,
                help=text,
            )
    # Accepted by every command, so scripts can pass it uniformly; listed only where a
    # command reports progress.
    parser.add_argument(
        "--no-progress",
        action="store_true",
        default=False if top else default,
        help="do not report progress" if "no_progress" in wanted else hidden,
    )
    if "json" in wanted:
        parser.add_argument(
            "--json",
            action="store_true",
            default=False if top else default,
            help="print a machine-readable result (or error) on standard output",
        )
    if "project" in wanted:
        parser.add_argument(
            "--project",
            default=None if top else default,
            metavar="DIR",
            help="the project directory (default: .)",
        )


def _add_insecure_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--insecure",
        action="append",
        default=[],
        metavar="REGISTRY",
        help="allow plain http to REGISTRY (repeatable); loopback registries always may",
    )


def _add_connection_flags(parser: argparse.ArgumentParser) -> None:
    """TLS, plain-http and timeout flags (every command that talks to a registry)."""
    _add_insecure_flag(parser)
    parser.add_argument(
        "--ca-cert",
        action="append",
        default=[],
        type=_pem_file,
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


def _add_upload_flags(parser: argparse.ArgumentParser) -> None:
    """What only a command that uploads blobs has a use for."""
    parser.add_argument(
        "-j",
        "--jobs",
        type=_job_count,
        default=None,
        help=f"blobs uploaded at once, 1 to {MAX_JOBS} (default: tool.ocipush jobs, "
        f"else {DEFAULT_JOBS})",
    )
    parser.add_argument(
        "--allow-nondistributable-artifacts",
        action="store_true",
        help="also upload nondistributable (foreign) layers",
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
    _add_signing_flags(parser)
    _add_upload_flags(parser)
    _add_connection_flags(parser)
    _add_credential_flags(parser)


def _add_arguments(name: str, parser: argparse.ArgumentParser) -> None:
    """The command's own arguments and flags, beyond the common ones."""
    if name in ("plan", "push", "build"):
        if name == "plan":
            parser.add_argument(
                "--check",
                action="store_true",
                help="ask the registries which blobs they already have (HEAD requests only)",
            )
        _add_project_flags(parser)
        return
    if name == "cache":
        parser.add_argument(
            "action", nargs="?", choices=("show", "clear"), default="show", help="default: show"
        )
        return
    if name in ("login", "logout"):
        parser.add_argument("registry", metavar="REGISTRY", help="host[:port], e.g. ghcr.io")
        if name == "login":
            _add_credential_flags(parser, required=True)
            _add_connection_flags(parser)
        return
    if name == "copy":
        parser.add_argument("source", metavar="SRC", help="what to copy")
        parser.add_argument("destination", metavar="DST", help="where the copy goes")
        parser.add_argument(
            "--no-referrers",
            action="store_true",
            help="copy only SRC, not the signatures, SBOMs, provenance and other artifacts "
            "referring to it",
        )
        _add_upload_flags(parser)
    else:
        parser.add_argument("reference", metavar="REF", help=_REF_HELP[name])
    if name == "tag":
        parser.add_argument("new_tag", metavar="NEWTAG", help="the tag to add")
    elif name == "delete":
        parser.add_argument(
            "--force",
            action="store_true",
            help="delete the manifest even when other tags name it (they go too)",
        )
    elif name == "verify":
        _add_verify_flags(parser)
    _add_connection_flags(parser)
    _add_credential_flags(parser)


_REF_HELP = {
    "verify": "the image: REGISTRY/REPO:TAG, @DIGEST, oci:PATH[:TAG] or oci-archive:PATH[:TAG]",
    "referrers": "the image: REGISTRY/REPO:TAG, @DIGEST, oci:PATH[:TAG] or oci-archive:PATH[:TAG]",
    "tag": "the image to tag: REGISTRY/REPO:TAG, REGISTRY/REPO@DIGEST or oci:PATH[:TAG]",
    "delete": "what to delete: REGISTRY/REPO:TAG, REGISTRY/REPO@DIGEST or oci:PATH:TAG",
}


def _add_verify_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--key", type=Path, metavar="PUBLIC.pem", help="the public key of key-based signatures"
    )
    parser.add_argument(
        "--certificate-identity",
        metavar="IDENTITY",
        help="keyless: the identity the signing certificate must name (e.g. a workflow URL)",
    )
    parser.add_argument(
        "--certificate-oidc-issuer",
        metavar="URL",
        help="keyless: the OIDC issuer that must have vouched for it",
    )
    parser.add_argument(
        "--trust-config",
        type=Path,
        metavar="FILE",
        help="keyless: a Sigstore client trust config (a private Sigstore instance)",
    )


def build_parser() -> argparse.ArgumentParser:
    """The whole grammar; ``parse`` adds what argparse cannot say (flags before commands)."""
    parser = _Parser(
        prog="ocipush",
        description="Publish Python projects as OCI images and artifacts to container registries.",
        epilog="These flags may also follow the command, where it has a use for them.\n"
        "`ocipush help COMMAND` shows a command's own flags.\n\n"
        "exit status:\n"
        "  0    success\n"
        "  1    the operation failed (a push failure leaves every tag where it was)\n"
        "  2    usage or configuration error, or the project's backend cannot build it:\n"
        "       nothing was published\n"
        "  3    everything was published and tagged, then an ocipush_after_push plugin failed\n"
        "  130  interrupted (Ctrl-C); nothing was tagged",
    )
    parser.add_argument("--version", action="version", version=f"ocipush {__version__}")
    _add_common(parser, frozenset(_COMMON_SPELLING), top=True)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    help_parser = commands.add_parser(
        "help",
        help="show the commands, or one command's flags",
        description="Show the commands, or COMMAND's flags (as `ocipush COMMAND --help`).",
        epilog="example:\n  ocipush help copy",
    )
    help_parser.add_argument("topic", nargs="?", metavar="COMMAND")
    for name, command in COMMANDS.items():
        sub = commands.add_parser(
            name,
            help=command.summary,
            description=command.description,
            epilog="example:\n" + "\n".join(f"  {line}" for line in command.examples),
        )
        _add_arguments(name, sub)
        _add_common(sub, command.common, top=False)
    return parser


def _subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    for action in parser._actions:  # argparse keeps subparsers nowhere else
        if isinstance(action, argparse._SubParsersAction):
            found: argparse.ArgumentParser = action.choices[name]
            return found
    raise KeyError(name)


def parse(argv: Sequence[str] | None) -> argparse.Namespace:
    """The parsed command line, with the common flags merged; exits 2 on a usage error."""
    parser = build_parser()
    _Parser.json_errors = "--json" in (sys.argv[1:] if argv is None else argv)
    args, extras = parser.parse_known_args(argv)
    if args.command == "help":
        _help(parser, args.topic)
    sub = _subparser(parser, args.command)
    if extras:
        # Left over after the command: the command's usage is the one that helps.
        sub.error(f"unrecognized arguments: {' '.join(extras)}")
    common = COMMANDS[args.command].common
    given_before = [
        dest
        for dest in _COMMON_SPELLING
        if dest != "no_progress" and getattr(args, dest) not in (0, False, None)
    ]
    for dest in given_before:
        if dest not in common:
            sub.error(f"{_COMMON_SPELLING[dest]} does not apply to `ocipush {args.command}`")
    args.verbose += getattr(args, "verbose_after", 0)
    args.quiet += getattr(args, "quiet_after", 0)
    if args.project is None:
        args.project = "."
    return args


def _help(parser: argparse.ArgumentParser, topic: str | None) -> NoReturn:
    if topic is None:
        parser.print_help()
        parser.exit(0)
    if topic not in COMMANDS and topic != "help":
        parser.error(
            f"`ocipush help {topic}`: no such command; the commands are {', '.join(COMMANDS)}"
        )
    _subparser(parser, topic).print_help()
    parser.exit(0)
