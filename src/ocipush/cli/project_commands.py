"""The commands that publish the project: ``plan``, ``push`` and ``build``.

They open the project (configuration, plugins, this release's distributions), make the plan
and, for ``push`` and ``build``, execute it.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from ocipush.attest.settings import SIGNING
from ocipush.cli.connect import connection_options, read_password
from ocipush.cli.output import Output
from ocipush.cli.remedies import UsageError
from ocipush.plugins.outputs import result_document
from ocipush.registry.keychain import Credentials
from ocipush.release.config import DEFAULT_TARGET, TargetConfig
from ocipush.release.distributions import BuildOptions
from ocipush.release.manager import PluginManager
from ocipush.release.project import Project
from ocipush.release.publish import execute, make_plan, open_project

__all__ = ["build", "plan", "push"]


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
        password = read_password(args, "the registry targets")
        credentials = Credentials.from_secret(args.username, password, source="--username")
    elif args.password_stdin:
        raise UsageError("--password-stdin needs --username USER; add it")
    return open_project(
        Path(args.project).resolve(),
        requested_plugins=args.plugin,
        connection=connection_options(args),
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


def plan(args: argparse.Namespace, out: Output) -> int:
    project, manager = _project_run(args, out)
    plan = make_plan(project, manager, targets=_target_overrides(args), check=args.check)
    out.result(plan.render_json() if args.json else plan.render_table(verbose=args.verbose > 0))
    return 0


def push(args: argparse.Namespace, out: Output, *, local_only: bool = False) -> int:
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


def build(args: argparse.Namespace, out: Output) -> int:
    return push(args, out, local_only=True)
