"""The CI recipes of ``docs/ci/`` run as written, against the local registry.

Each test takes the ``pyproject.toml`` settings and the job scripts from the page itself,
runs the publishing script with bash in a user's venv (``python -m build``, isolated, with
ocipush from its wheel) and the CI variables the page relies on, then the later job that
uses the digest. Only the registry differs: the local one stands in for ghcr.io or GitLab's.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import yaml

from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.tools import skopeo_inspect_raw
from support.users import UserEnv, run_image

DOCS = Path(__file__).parents[2] / "docs" / "ci"
APP = "ciapp"


def _blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", page.read_text(), flags=re.S)


def _project(root: Path, page: Path) -> Path:
    """A small hatchling project with the page's pyproject settings."""
    package = root / "src" / APP
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def main():\n    print('ciapp 3.1.0')\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "{APP}"\nversion = "3.1.0"\nrequires-python = ">=3.11"\n'
        f'[project.scripts]\n{APP} = "{APP}:main"\n\n'
        f'[tool.hatch.build.targets.wheel]\npackages = ["src/{APP}"]\n\n' + _blocks(page, "toml")[0]
    )
    return root


def _bash(user_env: UserEnv, script: str, cwd: Path, **environ: str) -> str:
    completed = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env={**user_env.environ, **environ},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed.stdout


def _expand(value: str, outputs: dict[str, str]) -> str:
    """The two GitHub expressions the recipe uses: job outputs and the job token."""
    value = re.sub(
        r"\$\{\{\s*needs\.publish\.outputs\.(\w+)\s*\}\}", lambda m: outputs[m[1]], value
    )
    return re.sub(
        r"\$\{\{\s*secrets\.GITHUB_TOKEN\s*\}\}", "ghs_not_used_by_a_local_registry", value
    )


def test_the_github_actions_recipe_publishes_and_hands_the_digest_on(
    user_env: UserEnv, registry, repo_name, debian_base, tmp_path
):
    page = DOCS / "github-actions.md"
    workflow = yaml.safe_load(_blocks(page, "yaml")[0])
    project = _project(tmp_path / "checkout", page)
    publish = workflow["jobs"]["publish"]
    step = next(s for s in publish["steps"] if s.get("id") == "publish")
    output_file = tmp_path / "github-output"
    output_file.touch()
    owner, _, name = repo_name.partition("/")
    environ = {
        **{k: str(v) for k, v in publish["env"].items()},
        **{k: _expand(str(v), {}) for k, v in step["env"].items()},
        # The local registry stands in for ghcr.io (GITHUB_TOKEN is for ghcr.io only).
        "REGISTRY": registry.host,
        "GITHUB_ACTIONS": "true",
        "GITHUB_ACTOR": "octocat",
        "GITHUB_REPOSITORY": f"{owner.upper()}/{name}",
        "GITHUB_OUTPUT": str(output_file),
        # python:3.X-slim stands in as a local Debian image with python3.
        "OCIPUSH_DEFAULT_BASE": debian_base,
    }

    _bash(user_env, step["run"], project, **environ)

    outputs = dict(line.split("=", 1) for line in output_file.read_text().splitlines())
    assert outputs["image"] == f"{registry.host}/{repo_name}"
    pushed = json.loads((project / "dist" / "ocipush.json").read_text())["targets"][0]
    assert outputs["digest"] == pushed["digest"]
    by_tag = skopeo_inspect_raw(f"{registry.host}/{repo_name}:3.1.0")
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:latest") == by_tag
    # The later job gets the digest through the job outputs and uses it.
    deploy = workflow["jobs"]["deploy"]
    assert deploy["needs"] == "publish"
    later = tmp_path / "deploy"
    later.mkdir()
    for deploy_step in deploy["steps"]:
        env = {k: _expand(str(v), outputs) for k, v in deploy_step.get("env", {}).items()}
        _bash(user_env, deploy_step["run"], later, **env)
    deployed = (later / "deployed-ref.txt").read_text().strip()
    assert deployed == f"{registry.host}/{repo_name}@{pushed['digest']}"
    assert skopeo_inspect_raw(deployed) == by_tag
    assert run_image(deployed, tmp_path / "run").strip() == "ciapp 3.1.0"


def test_the_gitlab_ci_recipe_logs_in_with_the_job_credentials(
    user_env: UserEnv, htpasswd_registry, repo_name, debian_base, tmp_path
):
    page = DOCS / "gitlab-ci.md"
    pipeline = yaml.safe_load(_blocks(page, "yaml")[0])
    project = _project(tmp_path / "checkout", page)
    publish = pipeline["publish"]
    host = htpasswd_registry.host
    environ = {
        **{k: str(v) for k, v in publish["variables"].items()},
        "GITLAB_CI": "true",
        "CI_COMMIT_TAG": "v3.1.0",
        "CI_REGISTRY": host,
        "CI_REGISTRY_IMAGE": f"{host}/{repo_name}",
        "CI_REGISTRY_USER": HTPASSWD_USER,
        "CI_REGISTRY_PASSWORD": HTPASSWD_PASSWORD,
        "OCIPUSH_DEFAULT_BASE": debian_base,
    }

    _bash(user_env, "\n".join(publish["script"]), project, **environ)

    creds = (HTPASSWD_USER, HTPASSWD_PASSWORD)
    pushed = json.loads((project / "dist" / "ocipush.json").read_text())["targets"][0]
    dotenv = dict(line.split("=", 1) for line in (project / "publish.env").read_text().splitlines())
    assert dotenv == {"DIGEST": pushed["digest"]}
    by_tag = skopeo_inspect_raw(f"{host}/{repo_name}:3.1.0", creds=creds)
    assert skopeo_inspect_raw(f"{host}/{repo_name}:latest", creds=creds) == by_tag
    # The dotenv report hands DIGEST to the later job.
    deploy = pipeline["deploy"]
    assert deploy["needs"] == ["publish"]
    later = tmp_path / "deploy"
    later.mkdir()
    _bash(user_env, "\n".join(deploy["script"]), later, **environ, **dotenv)
    deployed = (later / "deployed-ref.txt").read_text().strip()
    assert deployed == f"{host}/{repo_name}@{pushed['digest']}"
    assert skopeo_inspect_raw(deployed, creds=creds) == by_tag
