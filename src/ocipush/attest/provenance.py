"""SLSA v1 provenance: how the image was built, as an in-toto statement.

The subjects are the image (and, for a multi-platform image, the index and each platform
image). The build definition records the targets and the configuration that shaped the
image (external parameters) and everything it was made from (resolved dependencies: the
base manifests, each wheel, the project's own wheel, the git commit and remote). The
builder is the CI system when one is detected (GitHub Actions, GitLab CI), else ``local``.
Nothing in it depends on the clock but ``SOURCE_DATE_EPOCH``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ocipush import __version__
from ocipush.attest.intoto import PROVENANCE_PREDICATE, statement, subject
from ocipush.attest.sbom import ProjectFacts
from ocipush.image.config import timestamp
from ocipush.image.facts import BuildFacts
from ocipush.oci.digest import Digest

__all__ = ["BUILD_TYPE", "BuildInputs", "builder_of", "make_provenance"]

#: What kind of build this is; its external parameters are described in the README.
BUILD_TYPE = "https://pypi.org/project/ocipush/#build-type-v1"
LOCAL_BUILDER = "local"


@dataclass(frozen=True)
class BuildInputs:
    """Everything the provenance says about one run besides its subjects.

    :ivar targets: where the run publishes (refs as expanded).
    :ivar image_config: ``[tool.ocipush.image]`` as written.
    :ivar revision: the git commit, ``remote`` its origin URL (credentials removed).
    :ivar created: ``SOURCE_DATE_EPOCH``.
    :ivar environ: the environment, for the CI system's identity.
    """

    project: ProjectFacts
    targets: tuple[str, ...]
    image_config: Mapping[str, Any]
    revision: str | None
    remote: str | None
    created: int
    environ: Mapping[str, str]


def builder_of(environ: Mapping[str, str]) -> tuple[str, str | None]:
    """The builder id and the invocation id of the CI run, from its environment."""
    if environ.get("GITHUB_ACTIONS") == "true":
        server = environ.get("GITHUB_SERVER_URL", "https://github.com")
        repository = environ.get("GITHUB_REPOSITORY", "")
        workflow = environ.get("GITHUB_WORKFLOW_REF", repository)
        run = environ.get("GITHUB_RUN_ID")
        attempt = environ.get("GITHUB_RUN_ATTEMPT", "1")
        invocation = f"{server}/{repository}/actions/runs/{run}/attempts/{attempt}" if run else None
        return f"{server}/{workflow}", invocation
    if environ.get("GITLAB_CI") == "true":
        server = environ.get("CI_SERVER_URL", "https://gitlab.com")
        runner = environ.get("CI_RUNNER_ID", "")
        builder = f"{server}/{environ.get('CI_PROJECT_PATH', '')}/-/runners/{runner}"
        return builder, environ.get("CI_JOB_URL")
    return LOCAL_BUILDER, None


def _dependencies(inputs: BuildInputs, platforms: Sequence[BuildFacts]) -> list[dict[str, Any]]:
    resolved: dict[str, dict[str, Any]] = {}
    for facts in platforms:
        if facts.base_digest is not None and facts.base_repository is not None:
            uri = f"oci://{facts.base_repository}@{facts.base_digest}"
            resolved[uri] = {
                "uri": uri,
                "digest": {facts.base_digest.algorithm: facts.base_digest.encoded},
                "annotations": {"platform": str(facts.platform)},
            }
        for dependency in facts.dependencies:
            uri = f"pkg:pypi/{dependency.name.lower()}@{dependency.version}"
            resolved.setdefault(
                f"{uri} {dependency.sha256}",
                {
                    "uri": uri,
                    "name": dependency.filename,
                    "digest": {"sha256": dependency.sha256},
                },
            )
    project = inputs.project
    entries = sorted(resolved.values(), key=lambda entry: (entry["uri"], str(entry["digest"])))
    if project.wheel is not None:
        entries.append(
            {
                "uri": f"pkg:pypi/{project.name.lower()}@{project.version}",
                "name": project.wheel.name,
                "digest": {"sha256": project.wheel_sha256},
            }
        )
    if inputs.revision is not None:
        uri = f"git+{inputs.remote}@{inputs.revision}" if inputs.remote else "git"
        entries.append({"uri": uri, "digest": {"gitCommit": inputs.revision}})
    return entries


def make_provenance(
    subjects: Sequence[tuple[str, Digest]], inputs: BuildInputs, platforms: Sequence[BuildFacts]
) -> bytes:
    """The provenance statement of one image (or index) and its platform images."""
    builder, invocation = builder_of(inputs.environ)
    metadata: dict[str, Any] = {"startedOn": timestamp(inputs.created)}
    if invocation is not None:
        metadata["invocationId"] = invocation
    predicate = {
        "buildDefinition": {
            "buildType": BUILD_TYPE,
            "externalParameters": {
                "project": {"name": inputs.project.name, "version": inputs.project.version},
                "targets": list(inputs.targets),
                "image": dict(inputs.image_config),
                "platforms": [str(facts.platform) for facts in platforms],
            },
            "internalParameters": {"ocipush": __version__},
            "resolvedDependencies": _dependencies(inputs, platforms),
        },
        "runDetails": {"builder": {"id": builder}, "metadata": metadata},
    }
    return statement(
        [subject(name, digest) for name, digest in subjects], PROVENANCE_PREDICATE, predicate
    )
