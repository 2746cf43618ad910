"""``python -m build`` (isolated) and ``ocipush push`` as a user runs them, end to end."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

import pytest

from support.tools import skopeo_list_tags
from support.users import UserEnv, image_settings, make_user_env, run_image

APP = "barsapp"


def write_barsapp(
    root: Path, *, build_system: str, tool: str = "", version_line: str = 'version = "1.2.3"'
) -> Path:
    """A hatchling project depending on idna, with a ``bars`` console script."""
    package = root / "src" / APP
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(
        textwrap.dedent(
            """\
            __version__ = "1.2.3"


            def main():
                import idna

                print(f"bars {__version__} with idna {idna.__version__}:", idna.encode("bücher.de"))
            """
        )
    )
    (root / "pyproject.toml").write_text(
        f"""\
{build_system}

[project]
name = "{APP}"
{version_line}
requires-python = ">=3.10"
dependencies = ["idna"]

[project.scripts]
bars = "{APP}:main"

[tool.hatch.version]
path = "src/{APP}/__init__.py"

[tool.hatch.build.targets.wheel]
packages = ["src/{APP}"]

{tool}
"""
    )
    return root


WRAPPED = '[build-system]\nrequires = ["ocipush", "hatchling"]\nbuild-backend = "ocipush.backend"'
PLAIN = '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"'
DYNAMIC = 'dynamic = ["version"]'


def _release_tags(tags: set[str]) -> set[str]:
    """``tags`` less the ``sha256-<hex>`` referrers fallback tags (SBOM, provenance)."""
    return {tag for tag in tags if not tag.startswith("sha256-")}


def registry_target(registry, repo: str) -> str:
    return (
        "[[tool.ocipush.targets]]\n"
        f'ref = "{registry.host}/{repo}:{{version}}"\n'
        'tags = ["{major}.{minor}", "latest"]\n'
    )


def test_isolated_python_m_build_publishes_an_image_that_runs(
    user_env: UserEnv, registry, repo_name, debian_base, tmp_path
):
    tool = '[tool.ocipush]\nbackend = "hatchling.build"\n\n'
    tool += registry_target(registry, repo_name) + "\n" + image_settings(debian_base, "bars")
    project = write_barsapp(tmp_path / "checkout", build_system=WRAPPED, tool=tool)

    built = user_env.run(["python", "-m", "build"], project, OCIPUSH_PUSH="1")

    assert built.returncode == 0, built.stdout + built.stderr
    assert f"ocipush: published {registry.host}/{repo_name}:1.2.3@sha256:" in built.stderr
    tags = skopeo_list_tags(f"{registry.host}/{repo_name}")
    assert _release_tags(tags) == {"1.2.3", "1.2", "latest"}
    # The SBOM and provenance, through the referrers fallback tag of distribution 2.8.
    assert [t for t in tags if t.startswith("sha256-")]
    output = run_image(f"{registry.host}/{repo_name}:1.2.3", tmp_path / "run")
    assert output.startswith("bars 1.2.3 with idna 3.")
    assert output.rstrip().endswith("b'xn--bcher-kva.de'")
    names = sorted(p.name for p in (project / "dist").iterdir())
    assert names == ["barsapp-1.2.3-py3-none-any.whl", "barsapp-1.2.3.tar.gz", "oci"]


def test_ocipush_push_in_a_clean_checkout_builds_the_wheel_with_a_dynamic_version(
    user_env: UserEnv, registry, repo_name, debian_base, tmp_path
):
    # hatchling named only by [build-system], the version only in __init__.py.
    tool = registry_target(registry, repo_name) + "\n" + image_settings(debian_base, "bars")
    project = write_barsapp(
        tmp_path / "checkout", build_system=PLAIN, tool=tool, version_line=DYNAMIC
    )

    pushed = user_env.run(["ocipush", "push", "--no-progress"], project)

    assert pushed.returncode == 0, pushed.stderr
    assert "ocipush: building the wheel with the project's backend, in an isolated " in (
        pushed.stderr
    )
    assert pushed.stdout.splitlines()[0].startswith(f"{registry.host}/{repo_name}:1.2.3@sha256:")
    assert _release_tags(skopeo_list_tags(f"{registry.host}/{repo_name}")) == {
        "1.2.3",
        "1.2",
        "latest",
    }
    assert run_image(f"{registry.host}/{repo_name}:latest", tmp_path / "run").startswith(
        "bars 1.2.3 with idna 3."
    )
    # Pushed again unchanged: the wheel is reused, not rebuilt.
    again = user_env.run(["ocipush", "push", "--no-progress"], project)
    assert again.returncode == 0, again.stderr
    assert "ocipush: using dist/barsapp-1.2.3-py3-none-any.whl: newer than every project file" in (
        again.stderr
    )
    # A source edit makes dist/ stale: built again, and said so.
    (project / "src" / APP / "extra.py").write_text("X = 1\n")
    third = user_env.run(["ocipush", "build", "--no-progress"], project)
    assert third.returncode == 0, third.stderr
    assert "is older than src/barsapp/extra.py: building it again" in third.stderr


def test_the_venvs_own_pip_resolves_image_dependencies(user_env: UserEnv):
    # The pip that `python -m venv` bundles (23.2.1 with this Python) is the one the push
    # above resolved with: ocipush never upgrades it.
    completed = user_env.run(["python", "-m", "pip", "--version"], user_env.path)
    bundled = subprocess.run(
        ["python3", "-c", "import ensurepip; print(ensurepip.version())"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert completed.stdout.split()[1] == bundled


def test_the_oldest_supported_pip_resolves_image_dependencies(
    offline_index, registry, repo_name, debian_base, tmp_path
):
    env = make_user_env(tmp_path / "venv", offline_index, pip="22.2")
    assert env.pip_version() == "22.2"
    tool = registry_target(registry, repo_name) + "\n" + image_settings(debian_base, "bars")
    project = write_barsapp(tmp_path / "checkout", build_system=PLAIN, tool=tool)

    pushed = env.run(["ocipush", "push", "--no-progress"], project)

    assert pushed.returncode == 0, pushed.stderr
    assert run_image(f"{registry.host}/{repo_name}:1.2.3", tmp_path / "run").startswith(
        "bars 1.2.3 with idna 3."
    )


def test_setuptools_scm_version_from_the_git_tag(user_env: UserEnv, registry, repo_name, tmp_path):
    project = tmp_path / "checkout"
    (project / "static").mkdir(parents=True)
    (project / "static" / "index.html").write_text("<p>scm</p>\n")
    (project / "scmapp.py").write_text("")
    (project / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = ["setuptools>=68", "setuptools-scm"]
build-backend = "setuptools.build_meta"

[project]
name = "scmapp"
dynamic = ["version"]

[tool.setuptools]
py-modules = ["scmapp"]

[tool.setuptools_scm]

[[tool.ocipush.targets]]
ref = "{registry.host}/{repo_name}:{{version}}"

[[tool.ocipush.layers]]
source = "static"
dest = "/srv"
"""
    )
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    for command in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "v"], ["tag", "v2.3.4"]):
        subprocess.run([*git, *command], cwd=project, check=True, capture_output=True)

    pushed = user_env.run(["ocipush", "push", "--no-progress"], project)

    assert pushed.returncode == 0, pushed.stderr
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == {"2.3.4"}


def test_a_dynamic_version_the_backend_cannot_find_is_refused(user_env: UserEnv, tmp_path):
    project = tmp_path / "checkout"
    project.mkdir()
    (project / "noversion.py").write_text("")
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["setuptools>=68"]\nbuild-backend = "setuptools.build_meta"\n'
        '\n[project]\nname = "noversion"\ndynamic = ["version"]\n\n'
        '[tool.setuptools]\npy-modules = ["noversion"]\n\n'
        '[[tool.ocipush.layers]]\nsource = "noversion.py"\ndest = "/srv"\n'
    )

    planned = user_env.run(["ocipush", "plan"], project)

    assert planned.returncode == 2, planned.stderr
    assert "project.version: the build backend reported version '0.0.0'" in planned.stderr
    assert planned.stdout == ""


def _layout_artifact_files(dist: Path) -> list[str]:
    """The file titles of the artifact in ``dist/oci`` (the layout the backend writes)."""
    index = json.loads((dist / "oci" / "index.json").read_text())
    titles = []
    for entry in index["manifests"]:
        blob = dist / "oci" / "blobs" / "sha256" / entry["digest"].split(":")[1]
        manifest = json.loads(blob.read_text())
        if manifest.get("artifactType"):
            titles += [
                layer["annotations"]["org.opencontainers.image.title"]
                for layer in manifest["layers"]
            ]
    return sorted(titles)


@pytest.mark.parametrize(
    ("arguments", "dist", "artifact"),
    [
        ([], ["barsapp-1.2.3-py3-none-any.whl", "barsapp-1.2.3.tar.gz", "oci"], "both"),
        (["--wheel"], ["barsapp-1.2.3-py3-none-any.whl", "oci"], "wheel"),
        (["--sdist"], ["barsapp-1.2.3.tar.gz"], None),
    ],
    ids=["both", "wheel-only", "sdist-only"],
)
def test_a_partial_build_publishes_what_it_built(
    user_env: UserEnv, tmp_path, arguments, dist, artifact
):
    tool = (
        '[tool.ocipush]\nbackend = "hatchling.build"\n\n'
        '[[tool.ocipush.layers]]\nsource = "src"\ndest = "/srv"\n\n'
        '[[tool.ocipush.artifacts]]\nfiles = ["{wheel}", "{sdist}"]\n'
        'artifact-type = "application/vnd.acme.release.v1"\nsubject = "image"\n'
    )
    project = write_barsapp(tmp_path / "checkout", build_system=WRAPPED, tool=tool)

    built = user_env.run(["python", "-m", "build", *arguments], project)

    assert built.returncode == 0, built.stdout + built.stderr
    assert sorted(p.name for p in (project / "dist").iterdir()) == dist
    wheel, sdist = "barsapp-1.2.3-py3-none-any.whl", "barsapp-1.2.3.tar.gz"
    if artifact == "both":
        assert _layout_artifact_files(project / "dist") == [wheel, sdist]
    elif artifact == "wheel":
        assert _layout_artifact_files(project / "dist") == [wheel]
        assert "{sdist} left out — this run built no sdist of barsapp 1.2.3" in built.stderr
    else:
        assert "python -m build --sdist alone publishes nothing" in built.stderr
    assert "error" not in built.stderr


def test_a_required_artifact_fails_a_wheel_only_build_with_exit_2(user_env: UserEnv, tmp_path):
    tool = (
        '[tool.ocipush]\nbackend = "hatchling.build"\n\n'
        '[[tool.ocipush.artifacts]]\nfiles = ["{wheel}", "{sdist}"]\nrequired = true\n'
        'artifact-type = "application/vnd.acme.release.v1"\n'
    )
    project = write_barsapp(tmp_path / "checkout", build_system=WRAPPED, tool=tool)

    built = user_env.run(["python", "-m", "build", "--wheel"], project)

    assert built.returncode != 0
    assert (
        'tool.ocipush.artifacts[0].files[1]: "{sdist}" — this run built no sdist of barsapp '
        "1.2.3, and the artifact is required" in built.stderr
    )
    assert not (project / "dist" / "oci").exists()


def test_ocipush_build_of_a_wrapped_project_publishes_once_and_only_locally(
    user_env: UserEnv, registry, repo_name, tmp_path
):
    # CI often exports OCIPUSH_PUSH=1 for its release job; `ocipush build` must still write
    # only the layout, and the wrapper it builds through must not publish on its own.
    tool = (
        '[tool.ocipush]\nbackend = "hatchling.build"\n\n'
        + registry_target(registry, repo_name)
        + '\n[[tool.ocipush.artifacts]]\nfiles = ["{wheel}"]\n'
        'artifact-type = "application/vnd.acme.release.v1"\n'
    )
    project = write_barsapp(tmp_path / "checkout", build_system=WRAPPED, tool=tool)

    built = user_env.run(["ocipush", "build", "--no-progress"], project, OCIPUSH_PUSH="1")

    assert built.returncode == 0, built.stderr
    assert "ocipush: published" not in built.stderr
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == set()
    assert _layout_artifact_files(project / "dist") == ["barsapp-1.2.3-py3-none-any.whl"]
    assert built.stdout.startswith(f"oci:{project}/dist/oci")
