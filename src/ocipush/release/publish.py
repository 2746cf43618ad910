"""The release job: configuration and plugins make a plan; executing it publishes.

Both front doors, the CLI and the PEP 517 backend, call :func:`make_plan` and
:func:`execute`; neither knows anything the other does not.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ocipush.errors import (
    AfterPushError,
    ConfigError,
    ConfigProblem,
    InvalidReferenceError,
    OcipushError,
)
from ocipush.oci.blobs import DeferredBlob
from ocipush.oci.images import Image, ImageIndex
from ocipush.oci.localrefs import LOCAL_PREFIXES, split_local_tag
from ocipush.oci.reference import DEFAULT_TAG, parse_reference
from ocipush.registry.keychain import Credentials, DefaultKeychain
from ocipush.registry.progress import ProgressCallback
from ocipush.registry.transport import ConnectionOptions
from ocipush.release.config import TargetConfig, read_pyproject, target_key
from ocipush.release.configure import configure_run
from ocipush.release.distributions import BuildOptions
from ocipush.release.manager import PluginManager
from ocipush.release.plan import Plan, PushItem, Target, TargetResult
from ocipush.release.project import Project, load_project
from ocipush.release.versions import SkippedTag

__all__ = ["configured_plugins", "execute", "make_plan", "open_project"]

log = logging.getLogger(__name__)


def configured_plugins(document: Mapping[str, Any]) -> tuple[str, ...]:
    """The ``plugins`` list of ``[tool.ocipush]``, read before validation so that the
    plugins it names can own sub-tables of their own."""
    table = document.get("tool", {})
    table = table.get("ocipush", {}) if isinstance(table, dict) else {}
    plugins = table.get("plugins", []) if isinstance(table, dict) else []
    return tuple(p for p in plugins if isinstance(p, str)) if isinstance(plugins, list) else ()


def open_project(
    root: Path,
    *,
    requested_plugins: Sequence[str] = (),
    distributions: tuple[Path, ...] | None = None,
    output_dir: Path | None = None,
    connection: ConnectionOptions | None = None,
    credentials: Credentials | None = None,
    targets: Sequence[TargetConfig] | None = None,
    jobs: int | None = None,
    allow_nondistributable_artifacts: bool | None = None,
    build: BuildOptions | None = None,
    report: Callable[[str], None] = log.info,
    plugin_tables: Mapping[str, Mapping[str, Any]] | None = None,
) -> tuple[Project, PluginManager]:
    """Load plugins and the project, apply command-line overrides, and configure plugins.

    :param connection: how to reach registries; by default with the docker/podman keychain.
    :param credentials: explicit credentials (``--username``) for every registry target.
    :param targets: the targets of this run when they replace the configured ones.
    :param build: build this release's wheel/sdist when ``dist/`` has no fresh one (the
        CLI); ``None`` takes ``distributions`` or what ``dist/`` holds.
    :param report: where to say what is being built.
    :param plugin_tables: plugin sub-tables replacing the configured ones, whole
        (``--sign-key`` and ``--no-sign`` replace ``[tool.ocipush.signing]``).
    """
    document = read_pyproject(root)
    problems: list[ConfigProblem] = []
    manager = PluginManager(
        project_root=root,
        configured=configured_plugins(document),
        requested=requested_plugins,
        problems=problems,
    )
    overrides: dict[str, object] = {}
    if jobs is not None:
        overrides["jobs"] = jobs
    if allow_nondistributable_artifacts:
        overrides["allow_nondistributable_artifacts"] = True
    if targets is not None:
        # What the run publishes to, as plugins (provenance) see it.
        overrides["targets"] = tuple(targets)
        overrides["targets_overridden"] = True
    settings, configured = configure_run(
        document,
        manager,
        root=root,
        environ=os.environ,
        problems=problems,
        overrides=overrides,
        plugin_tables=plugin_tables,
    )
    project = load_project(
        root,
        document=document,
        settings=settings,
        plugin_settings=configured,
        distributions=distributions,
        output_dir=output_dir,
        build=build,
        report=report,
    )
    connection = connection or ConnectionOptions()
    hosts = _registry_hosts(project, targets)
    explicit = dict.fromkeys(hosts, credentials) if credentials is not None else {}
    project = dataclasses.replace(
        project,
        connection=dataclasses.replace(
            connection,
            keychain=DefaultKeychain(
                explicit, environ=project.environ, providers=[manager.credentials]
            ),
        ),
        file_media_type=lambda path: manager.file_media_type(path, project),
    )
    return project, manager


def _registry_hosts(project: Project, targets: Sequence[TargetConfig] | None) -> list[str]:
    """The registries the run's targets name, for credentials given on the command line."""
    hosts = []
    configs = list(targets) if targets is not None else list(project.settings.targets)
    for config in configs:
        if not config.is_local:
            ref = project.expand_tag(
                config.ref, target_key(project.settings.target_path(config), "ref")
            )
            hosts.append(parse_reference(ref).registry.host)
    return hosts


def make_plan(
    project: Project,
    manager: PluginManager,
    *,
    targets: Sequence[TargetConfig] | None = None,
    check: bool = False,
) -> Plan:
    """Build the content and describe, per target, what publishing it will do.

    :param targets: replace the configured targets (``--target``).
    :param check: ask registries which blobs they already have (HEAD requests only).
    """
    layers = manager.add_layers(project)
    image = manager.build_image(project, layers)
    items: list[PushItem] = [PushItem(image, "image", name="image")] if image else []
    items += manager.add_artifacts(project, image)
    items += manager.add_signatures(project, image, tuple(items))
    source = str(project.root / "pyproject.toml")
    if not items:
        raise ConfigError(
            [
                ConfigProblem(
                    "tool.ocipush",
                    "nothing to publish — add [[tool.ocipush.layers]], "
                    "[[tool.ocipush.artifacts]] or a plugin that contributes content",
                )
            ],
            source=source,
        )
    configs = list(targets) if targets is not None else list(project.settings.targets)
    refs = []
    problems: list[ConfigProblem] = []
    for config in configs:
        path = project.settings.target_path(config)
        try:
            refs.append((config, *_release_refs(project, config, path)))
        except ConfigError as error:
            problems += error.problems
        except InvalidReferenceError as error:
            problems.append(ConfigProblem(target_key(path, "ref"), str(error)))
    if problems:
        raise ConfigError(problems, source=source)
    executors: list[tuple[Target, tuple[SkippedTag, ...]]] = [
        (manager.make_target(config, ref, tags, project), skipped)
        for config, ref, tags, skipped in refs
    ]
    executors += [(target, ()) for target in manager.add_targets(project)]
    item_skipped = tuple(skipped for item in items for skipped in item.skipped_tags)
    plan = Plan(
        project=project.metadata.name,
        version=project.metadata.version,
        targets=tuple(
            dataclasses.replace(
                target.plan(items, check=check),
                executor=target,
                skipped_tags=(*skipped, *item_skipped),
            )
            for target, skipped in executors
        ),
    )
    return manager.modify_plan(plan, project)


def _release_refs(
    project: Project, config: TargetConfig, path: str
) -> tuple[str, list[str], tuple[SkippedTag, ...]]:
    """The target's ref and extra tags as its ``make_target`` hook gets them, less the tags
    this version may not move (release-safe tags).

    A registry ref always reaches the hook with an explicit tag (Docker's implied ``latest``
    written out), or with none when every tag was skipped: the image is then pushed by
    digest. A local ref (layout, archive, engine) without a tag is tagged with the version
    by its target.
    """
    ref = project.expand_tag(config.ref, target_key(path, "ref"))
    extras = [
        (project.expand_tag(tag, target_key(path, f"tags[{index}]")), tag)
        for index, tag in enumerate(config.tags)
    ]
    ref_tag: str | None
    if config.is_local:
        base, ref_tag = split_local_tag(ref)
    else:
        parsed = parse_reference(ref)
        if parsed.digest is not None:
            kept, skipped = project.release_tags(extras)
            return ref, list(kept), skipped
        base, ref_tag = parsed.repository.name, parsed.tag
    head = [(ref_tag, _tag_template(config.ref) or DEFAULT_TAG)] if ref_tag is not None else []
    kept, skipped = project.release_tags([*head, *extras])
    if config.is_local and ref_tag is None:
        return base, list(kept), skipped
    if not kept:
        return base, [], skipped
    return f"{base}:{kept[0]}", list(kept[1:]), skipped


def _tag_template(ref_template: str) -> str:
    """The tag part of a reference template (after the last ``:`` outside braces that follows
    the last ``/``), or ``""`` when it names none."""
    text = next(
        (ref_template[len(p) :] for p in LOCAL_PREFIXES if ref_template.startswith(p)),
        ref_template,
    )
    depth = 0
    tag_start = -1
    for index, char in enumerate(text):
        if char == "{":
            depth += 1
        elif char == "}":
            depth = max(depth - 1, 0)
        elif depth == 0 and char == "/":
            tag_start = -1
        elif depth == 0 and char == ":":
            tag_start = index + 1
        elif depth == 0 and char == "@":
            break
    return text[tag_start:] if tag_start >= 0 else ""


def execute(
    plan: Plan,
    project: Project,
    manager: PluginManager,
    *,
    progress: ProgressCallback | None = None,
) -> list[TargetResult]:
    """Make the deferred content (signatures), publish every target of ``plan`` in order,
    then run the after-push hooks."""
    _produce_deferred(plan)
    results = []
    for target_plan in plan.targets:
        if target_plan.executor is None:
            raise OcipushError(f"target {target_plan.target}: the plan has no executor for it")
        log.info("publishing to %s", target_plan.target)
        results.append(target_plan.executor.push(target_plan, progress=progress))
    try:
        manager.after_push(results, project)
    except OcipushError as error:
        raise AfterPushError(results, error) from error
    return results


def _produce_deferred(plan: Plan) -> None:
    """Make every deferred blob now, before anything is written: a signature that cannot
    be made stops the run with no tag moved."""
    for target_plan in plan.targets:
        for entry in target_plan.items:
            nodes = (
                [*entry.item.walk(), entry.item]
                if isinstance(entry.item, ImageIndex)
                else [entry.item]
            )
            for node in nodes:
                if isinstance(node, Image):
                    for blob in node.layers:
                        if isinstance(blob, DeferredBlob):
                            blob.produce()
