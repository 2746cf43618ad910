"""Hook specifications: the plugin author's manual.

A plugin is a module or object with functions named like the hooks below, marked with
:data:`hookimpl`::

    from ocipush import hookimpl

    @hookimpl
    def ocipush_add_layers(project):
        return [my_layer_blob(project.root / "static")]

Make it known through an entry point in the ``ocipush`` group::

    [project.entry-points.ocipush]
    mylayers = "mypkg.ocipush_plugin"

or, for a module inside the project, ``plugins = ["ci.oci_hooks"]`` in ``[tool.ocipush]``,
or ``-p mypkg.ocipush_plugin`` on the command line. ``-p no:NAME`` disables a plugin,
built-ins included (except the essential ``registry`` and ``layout`` targets).

Only plain implementations are accepted: a hook wrapper (``@hookimpl(wrapper=True)`` or
``hookwrapper=True``) is refused by the plugin manager when the plugin is registered, with
an error naming the plugin and the hook. To change what other plugins contributed,
implement :func:`ocipush_modify_plan`.

A plugin owns the table ``[tool.ocipush.<its name>]``, or the keys of ``[tool.ocipush]``
its ``OCIPUSH_TABLES`` attribute lists (the built-in ``files`` plugin owns ``layers``;
``()`` for none). It reads them in :func:`ocipush_configure` with the one config reader,
:class:`ocipush.release.reader.ConfigReader`, as the core and the built-ins do, so its
problems are reported with everyone's, by key path. A key nobody owns is reported as
unknown (with the closest known key); the table of a plugin disabled with ``-p no:NAME``
is reported as belonging to that plugin.

What a hook returns is checked against the type declared below where it enters the core:
a plugin returning something else is named, with what it returned.

Hooks run in this order, once per run:

1. configure: :func:`ocipush_configure`, :func:`ocipush_validate`
2. content: :func:`ocipush_file_media_type` (as asked), :func:`ocipush_add_layers`,
   :func:`ocipush_build_image`, :func:`ocipush_add_artifacts`, :func:`ocipush_add_signatures`
3. targets: :func:`ocipush_make_target`, :func:`ocipush_add_targets`
4. plan: :func:`ocipush_modify_plan`
5. push: :func:`ocipush_after_push`

and :func:`ocipush_credentials` whenever a registry asks for credentials (once per
repository and run).

Hooks receive keyword arguments; an implementation may accept only those it needs.
Every hook may raise :class:`ocipush.errors.OcipushError` to stop the run with a message;
any other exception is reported as a failure of the plugin, by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from ocipush.errors import ConfigProblem
    from ocipush.oci.blobs import Blob
    from ocipush.oci.images import Taggable
    from ocipush.registry.keychain import Credentials
    from ocipush.release.config import TargetConfig
    from ocipush.release.plan import Plan, PushItem, Target, TargetResult
    from ocipush.release.project import Project
    from ocipush.release.reader import ConfigReader

__all__ = ["PROJECT_NAME", "hookimpl", "hookspec"]

#: The pluggy project name, and the entry-point group plugins are found in.
PROJECT_NAME = "ocipush"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


# ---------------------------------------------------------------------------------------
# configure
# ---------------------------------------------------------------------------------------


@hookspec
def ocipush_configure(project: Project, config: ConfigReader) -> object | None:
    """Read your tables; called once, before anything is built or sent.

    ``config`` reads ``[tool.ocipush]``: take your table with ``config.table("<name>")``
    (``None`` when absent) or ``config.tables("<key>")`` for an array of tables, then its
    values with the typed getters (``string``, ``strings``, ``boolean``, ``integer``,
    ``choice``, ``string_table``…) after ``only_known((…keys…))``. A getter never raises:
    it records the problem with its key path and returns ``None`` or the default, so every
    problem of the run is shown at once (exit status 2).

    Return your settings (any object): the core keeps them for the run, and later hooks
    get them back with ``project.configured("<your plugin name>", YourSettings)``. Settings
    with a ``needed_distributions()`` method (see
    :class:`ocipush.release.project.NeedsDistributions`) make the run build the wheel or
    sdist they name.

    The project has no distributions yet, and when its version is dynamic (decided by the
    build backend) its name and version are stand-ins: read configuration here, not the
    release.

    :param project: the project being published.
    :param config: the reader of ``[tool.ocipush]``, shared with the core and every plugin.
    :return: your settings, or ``None``.
    """


@hookspec
def ocipush_validate(project: Project) -> Sequence[ConfigProblem] | None:
    """Report problems with your configuration that reading it cannot find (a file that
    does not exist); all plugins' problems are shown together, with those found while
    configuring, before anything is built or sent.

    Return :class:`ocipush.errors.ConfigProblem` values whose ``path`` is the key path
    (``tool.ocipush.myplugin.level``) and whose message quotes the value and says what is
    wrong. Any problem stops the run with exit code 2 before anything is built or pushed.

    :param project: the project being published.
    :return: problems, or ``None``/empty when all is well.
    """


# ---------------------------------------------------------------------------------------
# content
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ocipush_file_media_type(path: Path, project: Project) -> str | None:
    """Say which media type a file gets as an artifact layer.

    Asked for each artifact file whose ``media-type`` is not configured. The first
    non-``None`` answer wins; built-ins answer for wheels and sdists and fall back to
    ``application/octet-stream``. Use ``@hookimpl(tryfirst=True)`` to take precedence.

    :param path: the file.
    :param project: the project being published.
    :return: a media type such as ``application/vnd.acme.report.v1+json``, or ``None``.
    """


@hookspec
def ocipush_add_layers(project: Project) -> Sequence[Blob] | None:
    """Contribute layers to the project's image.

    Return layer blobs (usually tar+gzip, with ``diff_id`` set: see
    :func:`ocipush.oci.layers.build_layer`). Layers from all plugins are stacked in plugin
    registration order, after the built-in ``[[tool.ocipush.layers]]``.

    :param project: the project being published.
    :return: layer blobs, or ``None``.
    """


@hookspec(firstresult=True)
def ocipush_build_image(project: Project, layers: Sequence[Blob]) -> Taggable | None:
    """Assemble the project's image (or a multi-platform index) from ``layers``.

    The first non-``None`` answer wins. Built-in answers: the ``image`` plugin builds a
    runnable image of the project when ``[tool.ocipush.image]`` is present; otherwise, when
    there are layers, ``scratch`` makes a ``linux/amd64`` image of just those layers.
    Return ``None`` to leave the choice to later plugins; with no layers and no answer,
    there is no image and only artifacts are published.

    :param project: the project being published.
    :param layers: every contributed layer, in order.
    :return: an :class:`ocipush.oci.images.Image` or :class:`ocipush.oci.images.ImageIndex`.
    """


@hookspec
def ocipush_add_artifacts(project: Project, image: Taggable | None) -> Sequence[PushItem] | None:
    """Contribute artifacts: manifests that carry files rather than a runnable image.

    Return :class:`ocipush.release.plan.PushItem` values with ``role="artifact"``. To attach one to
    the image of this run, set its manifest's ``subject`` to ``image.descriptor()``; the
    writer then keeps the subject's referrers list (API or fallback tag) up to date. The
    built-in targets write no tag (the image's nor an artifact's) until every item of the
    target was accepted, so a refused artifact leaves the image's tags where they were.

    :param project: the project being published.
    :param image: the image built in this run, or ``None``.
    :return: items to publish to every target, after the image.
    """


@hookspec
def ocipush_add_signatures(
    project: Project, image: Taggable | None, items: Sequence[PushItem]
) -> Sequence[PushItem] | None:
    """Contribute signatures over the image and the artifacts of this run.

    Called once, after :func:`ocipush_add_artifacts`, with everything the run publishes so
    far, so a signer sees every attestation, whichever plugin made it. The built-in
    ``signing`` plugin answers with Sigstore bundles when a key or keyless signing is
    configured.

    ``ocipush plan`` must not sign (signing may write to a public transparency log): give
    signature layers as :class:`ocipush.oci.blobs.DeferredBlob`, whose bytes are made after the
    plan is shown and before anything is written, so a failure to sign moves no tag.

    :param project: the project being published.
    :param image: the image built in this run, or ``None``.
    :param items: the image and every artifact, in order.
    :return: signature items (``role="signature"``), each with its manifest's ``subject``
        set to what it signs.
    """


# ---------------------------------------------------------------------------------------
# targets
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ocipush_make_target(
    config: TargetConfig, ref: str, tags: Sequence[str], project: Project
) -> Target | None:
    """Turn one ``[[tool.ocipush.targets]]`` entry (or a ``--target``) into a target.

    The first non-``None`` answer wins. Built-ins answer for ``oci:PATH[:TAG]`` (a layout)
    and for registry references. Answer for your own scheme (``s3://…``) to add a kind.

    :param config: the entry as configured (templates unexpanded).
    :param ref: its ``ref``, expanded, less any tag this version may not move: a registry
        reference then carries its first tag to push (Docker's implied ``latest`` written
        out), or none at all when every tag was skipped, meaning "push by digest".
    :param tags: its further tags, expanded, in order, without repeats and without the
        skipped ones (see :mod:`ocipush.release.versions`).
    :param project: the project being published.
    :return: an object implementing :class:`ocipush.release.plan.Target`, or ``None``.
    """


@hookspec
def ocipush_add_targets(project: Project) -> Sequence[Target] | None:
    """Add targets that are not in the configuration (e.g. from a CI environment).

    :param project: the project being published.
    :return: extra targets, or ``None``.
    """


# ---------------------------------------------------------------------------------------
# plan
# ---------------------------------------------------------------------------------------


@hookspec
def ocipush_modify_plan(plan: Plan, project: Project) -> Plan | None:
    """Change the whole plan, last, before it is shown or executed.

    Implementations are applied in turn, each receiving the previous one's result. The
    plan is immutable: return a modified copy (``dataclasses.replace``), or ``None`` to
    keep it. This is the single place to drop a target, add tags, or veto a release.

    :param plan: the plan so far.
    :param project: the project being published.
    :return: the new plan, or ``None``.
    """


# ---------------------------------------------------------------------------------------
# push
# ---------------------------------------------------------------------------------------


@hookspec
def ocipush_after_push(results: Sequence[TargetResult], project: Project) -> None:
    """React to a completed push: write files, notify, sign.

    Called once after every target succeeded (not after ``ocipush plan``), with what each
    target received: the main digest and every ref.

    :param results: one result per target, in plan order.
    :param project: the project being published.
    """


# ---------------------------------------------------------------------------------------
# credentials
# ---------------------------------------------------------------------------------------


@hookspec(firstresult=True)
def ocipush_credentials(registry: str, repository: str | None) -> Credentials | None:
    """Supply credentials for a registry, e.g. a short-lived token from a cloud provider
    (Amazon ECR, Google Artifact Registry, Azure Container Registry).

    Asked when a registry of this run first wants credentials, once per repository, after
    credentials given on the command line (``--username``) and before docker's and podman's
    files and ``GITHUB_TOKEN``. The first answer that is not ``None`` wins. Read your
    settings in :func:`ocipush_configure` first: this hook gets no project.

    Give :class:`ocipush.registry.keychain.Credentials` a ``source`` that says where the secret came
    from (``"aws ecr get-login-password"``): ``-v`` shows it, never the secret. Raise
    :class:`ocipush.errors.AuthError` with a message for people when you should answer and
    cannot (the provider's tool is missing, the login expired).

    See ``examples/plugin-credentials`` for a plugin that runs a configured command.

    :param registry: the registry host, as in references (``123456789012.dkr.ecr.eu-west-1
        .amazonaws.com``, ``index.docker.io`` for Docker Hub, ``localhost:5000``).
    :param repository: the repository path (``acme/app``), or ``None`` when the registry
        itself is asked (``ocipush login``, a check of credentials).
    :return: the credentials, or ``None`` to let the keychain look further.
    """
