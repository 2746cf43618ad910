"""``ocipush.backend`` under real frontends: ``python -m build --no-isolation`` and pip.

The wrapper must build exactly what the real backend builds, publish once per release with
both files, push only when asked, and never publish from pip or an editable install.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import ocipush.backend
from support.tools import skopeo_inspect_raw

EPOCH = "1700000000"
ARTIFACT_TYPE = "application/vnd.acme.release.v1"
BACKENDS = {
    "hatchling": (
        "hatchling.build",
        '[tool.hatch.build.targets.wheel]\npackages = ["pkg"]\n',
    ),
    "setuptools": (
        "setuptools.build_meta",
        '[tool.setuptools]\npackages = ["pkg"]\n',
    ),
}
_DROPPED = ("PIP_", "OCIPUSH_", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith(_DROPPED)}
    return {**environ, "SOURCE_DATE_EPOCH": EPOCH, **extra}


def _project(root: Path, backend: str, *, wrapped: bool = True, target: str | None = None) -> Path:
    inner, tool_table = BACKENDS[backend]
    root.mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "__init__.py").write_text('GREETING = "hello"\n')
    (root / "static").mkdir()
    (root / "static" / "index.html").write_text("<p>wrapped</p>\n")
    targets = f'[[tool.ocipush.targets]]\nref = "{target}"\n' if target else ""
    (root / "pyproject.toml").write_text(
        f"""\
[build-system]
requires = ["{backend}"]
build-backend = "{"ocipush.backend" if wrapped else inner}"

[project]
name = "wrapped-app"
version = "1.0.0"
requires-python = ">=3.10"

{tool_table}
[tool.ocipush]
backend = "{inner}"

{targets}
[[tool.ocipush.layers]]
source = "static"
dest = "/srv"

[[tool.ocipush.artifacts]]
files = ["{{wheel}}", "{{sdist}}"]
artifact-type = "{ARTIFACT_TYPE}"
subject = "image"
"""
    )
    return root


def _build(project: Path, *args: str, **environ: str) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", *args, str(project)],
        cwd=project,
        env=_environ(**environ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _repo_requests(registry, repo: str) -> list:
    return [r for r in registry.requests() if f"/v2/{repo}/" in r.path]


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_wrapped_wheel_is_byte_identical_and_nothing_is_pushed_without_the_flag(
    backend, tmp_path, registry, repo_name
):
    target = f"{registry.host}/{repo_name}:{{version}}"
    wrapped = _project(tmp_path / "wrapped", backend, target=target)
    plain = _project(tmp_path / "plain", backend, wrapped=False)

    _build(wrapped)
    _build(plain)

    wheel = "wrapped_app-1.0.0-py3-none-any.whl"
    assert (wrapped / "dist" / wheel).read_bytes() == (plain / "dist" / wheel).read_bytes()
    assert sorted(p.name for p in (wrapped / "dist").iterdir()) == [
        "oci",
        wheel,
        "wrapped_app-1.0.0.tar.gz",
    ]
    assert sorted(p.name for p in (plain / "dist").iterdir()) == [
        wheel,
        "wrapped_app-1.0.0.tar.gz",
    ]
    assert _repo_requests(registry, repo_name) == []
    # The layout holds the image and the artifact with both files of this build.
    index = json.loads((wrapped / "dist" / "oci" / "index.json").read_text())
    assert len(index["manifests"]) == 2


def test_push_flag_publishes_once_with_both_files(tmp_path, registry, repo_name):
    project = _project(tmp_path / "app", "hatchling", target=f"{registry.host}/{repo_name}:1.0.0")

    completed = _build(project, "-C", "ocipush.push=true")

    raw = skopeo_inspect_raw(f"{registry.host}/{repo_name}:1.0.0")
    image = _sha256(raw)
    fallback = json.loads(
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:{image.replace(':', '-')}")
    )
    (entry,) = fallback["manifests"]
    assert entry["artifactType"] == ARTIFACT_TYPE
    artifact = json.loads(skopeo_inspect_raw(f"{registry.host}/{repo_name}@{entry['digest']}"))
    dist = project / "dist"
    assert [layer["digest"] for layer in artifact["layers"]] == [
        _sha256((dist / "wrapped_app-1.0.0-py3-none-any.whl").read_bytes()),
        _sha256((dist / "wrapped_app-1.0.0.tar.gz").read_bytes()),
    ]
    # One release, one publish: the image goes up once by digest and once by its tag, the
    # artifact once, plus the referrers index.
    puts = [r.path for r in _repo_requests(registry, repo_name) if r.method == "PUT"]
    manifest_puts = [p for p in puts if "/manifests/" in p]
    assert sorted(manifest_puts) == sorted(
        [
            f"/v2/{repo_name}/manifests/{image}",
            f"/v2/{repo_name}/manifests/1.0.0",
            f"/v2/{repo_name}/manifests/{entry['digest']}",
            f"/v2/{repo_name}/manifests/{image.replace(':', '-')}",
        ]
    )
    assert f"ocipush: published {registry.host}/{repo_name}:1.0.0@{image}" in completed.stderr
    # The word the sdist step left for the wheel step is consumed.
    assert not ocipush.backend._marker(str(dist)).exists()


def test_pip_never_publishes(tmp_path, registry, repo_name):
    project = _project(tmp_path / "app", "hatchling", target=f"{registry.host}/{repo_name}:1.0.0")
    out = tmp_path / "wheels"

    completed = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--wheel-dir", str(out), str(project)),
        ],
        env=_environ(OCIPUSH_PUSH="1"),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert [p.name for p in out.iterdir()] == ["wrapped_app-1.0.0-py3-none-any.whl"]
    assert _repo_requests(registry, repo_name) == []
    assert "ocipush: published" not in completed.stderr


def test_editable_builds_never_publish(tmp_path, registry, repo_name):
    project = _project(tmp_path / "app", "setuptools", target=f"{registry.host}/{repo_name}:1.0.0")
    out = tmp_path / "editable"
    out.mkdir()
    script = "import sys, ocipush.backend as b; print(b.build_editable(sys.argv[1]))"

    completed = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=project,
        env=_environ(OCIPUSH_PUSH="1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert [p.name for p in out.iterdir()] == [completed.stdout.strip().splitlines()[-1]]
    assert _repo_requests(registry, repo_name) == []


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("hook", ["get_requires_for_build_wheel", "get_requires_for_build_sdist"])
def test_build_requirements_are_the_real_backends(backend, hook, tmp_path, monkeypatch):
    project = _project(tmp_path / "app", backend)
    monkeypatch.chdir(project)
    inner = __import__(BACKENDS[backend][0], fromlist=["_"])

    assert getattr(ocipush.backend, hook)(None) == getattr(inner, hook)(None)


def test_a_config_error_fails_the_build_with_the_message(tmp_path):
    project = _project(tmp_path / "app", "hatchling")
    text = (project / "pyproject.toml").read_text().replace('dest = "/srv"', 'dest = "srv"')
    (project / "pyproject.toml").write_text(text)

    completed = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", str(project)],
        cwd=project,
        env=_environ(),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode != 0
    assert (
        'tool.ocipush.layers[0].dest: "srv" — must be an absolute path in the image, '
        'such as "/srv/static"'
    ) in completed.stderr
    assert not (project / "dist" / "oci").exists()


def test_a_registry_asking_for_credentials_gets_a_remedy_in_backend_terms(
    tmp_path, htpasswd_registry, repo_name
):
    """The backend has no --username: its hint says how to store credentials instead."""
    host = htpasswd_registry.host
    project = _project(tmp_path / "app", "hatchling", target=f"{host}/{repo_name}:1")
    empty = tmp_path / "no-credentials"
    empty.mkdir()
    completed = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--wheel", str(project)],
        cwd=project,
        env=_environ(
            OCIPUSH_PUSH="1",
            DOCKER_CONFIG=str(empty),
            REGISTRY_AUTH_FILE=str(empty / "auth.json"),
            XDG_RUNTIME_DIR=str(empty),
            HOME=str(empty),
        ),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert f"authentication to {host} as anonymous failed" in completed.stderr
    assert f"ocipush: hint: log in with `ocipush login {host}`" in completed.stderr
    assert "--username" not in completed.stderr
