"""Provenance inputs read from the environment and git: CI builders, remote credentials."""

from __future__ import annotations

import json
import subprocess

from ocipush.attest.provenance import BuildInputs, builder_of, make_provenance
from ocipush.attest.sbom import ProjectFacts
from ocipush.image.config import git_remote, git_revision
from ocipush.image.facts import BuildFacts
from ocipush.oci.digest import Digest

GITHUB = {
    "GITHUB_ACTIONS": "true",
    "GITHUB_SERVER_URL": "https://github.com",
    "GITHUB_REPOSITORY": "acme/app",
    "GITHUB_WORKFLOW_REF": "acme/app/.github/workflows/release.yml@refs/tags/v1",
    "GITHUB_RUN_ID": "42",
    "GITHUB_RUN_ATTEMPT": "2",
}


def _git(root, *args):
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, timeout=30)


def test_provenance_names_the_github_builder_and_the_commit_without_credentials(tmp_path):
    _git(tmp_path, "init", "-q")
    _git(
        tmp_path,
        "-c",
        "user.name=t",
        "-c",
        "user.email=t@example.org",
        "commit",
        "-q",
        "--allow-empty",
        "-m",
        "release",
    )
    _git(
        tmp_path, "remote", "add", "origin", "https://x-access-token:s3cret@github.com/acme/app.git"
    )
    revision = git_revision(tmp_path)
    inputs = BuildInputs(
        project=ProjectFacts("app", "1.0"),
        targets=("ghcr.io/acme/app:1.0",),
        image_config={"base": "scratch"},
        revision=revision,
        remote=git_remote(tmp_path),
        created=1700000000,
        environ=GITHUB,
    )
    digest = Digest("sha256", "ab" * 32)

    raw = make_provenance([("app", digest)], inputs, [BuildFacts(None)])

    assert b"s3cret" not in raw
    statement = json.loads(raw)
    assert statement["subject"] == [{"name": "app", "digest": {"sha256": "ab" * 32}}]
    run = statement["predicate"]["runDetails"]
    assert run["builder"]["id"] == (
        "https://github.com/acme/app/.github/workflows/release.yml@refs/tags/v1"
    )
    assert run["metadata"] == {
        "startedOn": "2023-11-14T22:13:20Z",
        "invocationId": "https://github.com/acme/app/actions/runs/42/attempts/2",
    }
    resolved = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert {
        "uri": f"git+https://github.com/acme/app.git@{revision}",
        "digest": {"gitCommit": revision},
    } in resolved
    assert make_provenance([("app", digest)], inputs, [BuildFacts(None)]) == raw


def test_gitlab_builder_and_local_default():
    gitlab = {
        "GITLAB_CI": "true",
        "CI_SERVER_URL": "https://gitlab.example.org",
        "CI_PROJECT_PATH": "acme/app",
        "CI_RUNNER_ID": "7",
        "CI_JOB_URL": "https://gitlab.example.org/acme/app/-/jobs/9",
    }
    assert builder_of(gitlab) == (
        "https://gitlab.example.org/acme/app/-/runners/7",
        "https://gitlab.example.org/acme/app/-/jobs/9",
    )
    assert builder_of({}) == ("local", None)
