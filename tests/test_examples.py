"""Every example under ``examples/`` runs, and what it publishes is what it says."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from ocipush.testing import debian_base_layer
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_image
from support.tools import skopeo_inspect_raw, umoci_unpack

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
BIN = Path(sys.executable).parent
_DROPPED = ("PIP_", "OCIPUSH_", "http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")
# Where the Debian base layer is cached: the demo shares the e2e image tests' cache.
_KEPT = frozenset({"OCIPUSH_TEST_CACHE"})


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _environ(**extra: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k in _KEPT or not k.startswith(_DROPPED)}
    return {**environ, "SOURCE_DATE_EPOCH": "1700000000", **extra}


def _run(command: list[str], **kwargs) -> subprocess.CompletedProcess[str]:
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=120, check=False, **kwargs
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    return completed


def _copy(name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(EXAMPLES / name, tmp_path / name))


def test_hello_app_builds_runs_and_pushes_through_the_backend(tmp_path, registry, repo_name):
    project = _copy("hello-app", tmp_path)
    with (project / "pyproject.toml").open("a") as pyproject:
        pyproject.write(
            f'\n[[tool.ocipush.targets]]\nref = "{registry.host}/{repo_name}:{{version}}"\n'
        )

    _run(
        [sys.executable, "-m", "build", "--no-isolation", str(project)],
        cwd=project,
        env=_environ(OCIPUSH_PUSH="1"),
    )

    wheel = project / "dist" / "hello_app-1.0.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(tmp_path / "installed")
        entry_points = archive.read("hello_app-1.0.0.dist-info/entry_points.txt").decode()
    assert "hello = hello_app:main" in entry_points
    greeting = _run(
        [sys.executable, "-c", "import hello_app, sys; sys.exit(hello_app.main(['OCI']))"],
        env=_environ(PYTHONPATH=str(tmp_path / "installed")),
    )
    assert greeting.stdout == "Hello, OCI!\n"
    # What landed: outputs.json agrees with the registry, and the image holds static/.
    outputs = json.loads((project / "build" / "ocipush-outputs.json").read_text())
    pushed = next(t for t in outputs["targets"] if t["kind"] == "registry")
    assert _sha256(skopeo_inspect_raw(f"{registry.host}/{repo_name}:1.0.0")) == pushed["digest"]
    fallback = json.loads(
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:{pushed['digest'].replace(':', '-')}")
    )
    # The release files, and the SBOM and provenance every runnable image gets.
    assert sorted(m["digest"] for m in fallback["manifests"]) == sorted(pushed["artifacts"])
    assert sorted(m["artifactType"] for m in fallback["manifests"]) == [
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
        "application/vnd.ocipush.examples.python-release.v1",
    ]
    rootfs = umoci_unpack(project / "dist" / "oci", "1.0.0", tmp_path / "bundle")
    assert (rootfs / "srv" / "hello" / "index.html").read_bytes() == (
        EXAMPLES / "hello-app" / "static" / "index.html"
    ).read_bytes()
    # On scratch the app is installed for a Debian python3 that is not there (make demo adds it).
    assert (rootfs / "usr/bin/hello").read_text().startswith("#!/usr/bin/python3.11\n")
    assert (rootfs / "usr/local/lib/python3.11/dist-packages/hello_app/__init__.py").is_file()


def _installed_example(name: str, tmp_path_factory) -> Path:
    """The example plugin ``name`` installed (from a copy) into a directory of its own."""
    scratch = tmp_path_factory.mktemp(name)
    source = _copy(name, scratch)
    site = scratch / "site"
    _run(
        [
            *(sys.executable, "-m", "pip", "install", "--no-deps", "--no-index"),
            *("--no-build-isolation", "--target", str(site), str(source)),
        ],
        env=_environ(),
    )
    return site


@pytest.fixture(scope="module")
def motd_site(tmp_path_factory) -> Path:
    return _installed_example("plugin-layer", tmp_path_factory)


def _ocipush(
    *args: str, site: Path | None, cwd: Path, **extra: str
) -> subprocess.CompletedProcess[str]:
    environ = _environ(**({"PYTHONPATH": str(site)} if site else {}), **extra)
    return subprocess.run(
        [str(BIN / "ocipush"), *args, "--no-progress"],
        cwd=cwd,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_plugin_layer_adds_etc_motd_from_its_table(motd_site, tmp_path):
    sample = _copy("plugin-layer", tmp_path) / "sample"

    plan = _ocipush("plan", "--project", str(sample), "--json", site=motd_site, cwd=tmp_path)
    built = _ocipush("build", "--project", str(sample), site=motd_site, cwd=tmp_path)

    assert plan.returncode == 0, plan.stderr
    (target,) = json.loads(plan.stdout)["targets"]
    layer_types = [b["mediaType"] for b in target["blobs"]]
    assert layer_types[0] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert built.returncode == 0, built.stderr
    rootfs = umoci_unpack(sample / "dist" / "oci", "0.3.0", tmp_path / "bundle")
    motd = rootfs / "etc" / "motd"
    assert motd.read_text() == "Welcome to motd-sample 0.3.0\n"
    assert oct(motd.stat().st_mode & 0o777) == oct(0o644)
    assert [p.name for p in rootfs.iterdir()] == ["etc"]


def test_plugin_layer_validates_its_table(motd_site, tmp_path):
    sample = _copy("plugin-layer", tmp_path) / "sample"
    (sample / "pyproject.toml").write_text(
        '[project]\nname = "motd-sample"\nversion = "0.3.0"\n\n'
        '[tool.ocipush.motd]\nmessage = 5\nmode = "rw"\n'
    )

    completed = _ocipush("plan", "--project", str(sample), site=motd_site, cwd=tmp_path)

    assert completed.returncode == 2
    assert completed.stderr == (
        f"error: {sample / 'pyproject.toml'}: 2 configuration problems:\n"
        "  tool.ocipush.motd.message: expected a string, got an integer\n"
        '  tool.ocipush.motd.mode: "rw" — a mode is 3 or 4 octal digits, such as "0644"\n'
    )


def test_without_the_plugin_its_table_is_unknown(tmp_path):
    sample = _copy("plugin-layer", tmp_path) / "sample"

    completed = _ocipush("plan", "--project", str(sample), site=None, cwd=tmp_path)

    assert completed.returncode == 2
    assert completed.stderr.startswith(
        f"error: {sample / 'pyproject.toml'}: 1 configuration problem:\n"
        "  tool.ocipush.motd: unknown key"
    )


def test_artifacts_attach_to_a_subject_with_their_own_media_types(tmp_path, registry, repo_name):
    subject = f"{registry.host}/{repo_name}:1.0"
    image = make_image({"app.txt": b"the subject\n"})
    Writer().multi_write({parse_reference(subject): image})
    project = _copy("artifacts", tmp_path)

    completed = _ocipush(
        "push",
        "--project",
        str(project),
        "--target",
        subject,
        site=None,
        cwd=tmp_path,
        OCIPUSH_SUBJECT=subject,
    )

    assert completed.returncode == 0, completed.stderr
    image_digest = str(image.manifest().digest)
    fallback = json.loads(
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:{image_digest.replace(':', '-')}")
    )
    types = sorted(m["artifactType"] for m in fallback["manifests"])
    assert types == ["application/spdx+json", "application/vnd.ocipush.examples.test-results.v1"]
    reports = project / "reports"
    found = {}
    for entry in fallback["manifests"]:
        manifest = json.loads(skopeo_inspect_raw(f"{registry.host}/{repo_name}@{entry['digest']}"))
        assert manifest["subject"]["digest"] == image_digest
        for layer in manifest["layers"]:
            name = layer["annotations"]["org.opencontainers.image.title"]
            found[name] = (layer["mediaType"], layer["digest"])
    assert found == {
        "sbom.spdx.json": (
            "application/spdx+json",
            _sha256((reports / "sbom.spdx.json").read_bytes()),
        ),
        "integration.xml": (
            "application/vnd.ocipush.examples.junit.v1+xml",
            _sha256((reports / "integration.xml").read_bytes()),
        ),
        "unit.xml": (
            "application/vnd.ocipush.examples.junit.v1+xml",
            _sha256((reports / "unit.xml").read_bytes()),
        ),
    }


def test_artifacts_without_a_subject_say_which_variable_is_missing(tmp_path):
    project = _copy("artifacts", tmp_path)

    completed = _ocipush("plan", "--project", str(project), site=None, cwd=tmp_path)

    assert completed.returncode == 2
    assert "OCIPUSH_SUBJECT" in completed.stderr
    assert "tool.ocipush.artifacts[0].subject" in completed.stderr


@pytest.fixture(scope="module")
def debian_base_cached() -> None:
    """The Debian base layer in the shared cache, so the demo below only reads it.

    Made here, not in the demo's subprocess, so that a cold cache (debootstrap: minutes)
    is not cut short by the subprocess timeout, and fails with the helper's own message.
    """
    debian_base_layer()


@pytest.mark.slow
@pytest.mark.usefixtures("debian_base_cached")
def test_demo_pushes_runs_and_prints_what_landed(registry):
    completed = _run(
        [sys.executable, str(EXAMPLES / "demo.py"), "--registry", registry.host], env=_environ()
    )

    images = re.findall(r"^  image      (sha256:[0-9a-f]{64})$", completed.stdout, re.M)
    referrers = re.findall(r"^    referrer (sha256:[0-9a-f]{64})  (\S+)", completed.stdout, re.M)
    assert len(images) == 2
    assert len(set(images)) == 1, "the registry and the layout hold the same image"
    raw = skopeo_inspect_raw(f"{registry.host}/examples/hello-app:1.0.0")
    assert images[0] == _sha256(raw)
    kinds = {kind: digest for digest, kind in referrers}
    assert set(kinds) == {
        "application/vnd.ocipush.examples.python-release.v1",
        "application/vnd.cyclonedx+json",
        "application/vnd.in-toto+json",
    }
    release = kinds["application/vnd.ocipush.examples.python-release.v1"]
    artifact = json.loads(skopeo_inspect_raw(f"{registry.host}/examples/hello-app@{release}"))
    assert artifact["subject"]["digest"] == images[0]
    assert "fallback tag sha256-" in completed.stdout
    # The image that ran is the one the registry holds under the printed digest, on the base.
    assert f"running {registry.host}/examples/hello-app@{images[0]}\n" in completed.stdout
    assert "\n$ chroot bundle/rootfs /usr/bin/hello\n  Hello, world!\n" in completed.stdout
    base = re.search(r"^demo: base (\S+@sha256:[0-9a-f]{64}) ", completed.stdout, re.M)
    assert base is not None, completed.stdout
    manifest = json.loads(raw)
    assert (
        manifest["annotations"]["org.opencontainers.image.base.digest"] == (base[1].split("@")[1])
    )


def test_demo_without_a_registry_falls_back_to_the_layout():
    # Only the venv on PATH: no docker-registry binary to start.
    completed = _run([sys.executable, str(EXAMPLES / "demo.py")], env=_environ(PATH=str(BIN)))

    assert "demo: falling back to the OCI layout target only (dist/oci)" in completed.stdout
    assert "demo: no runnable image either" in completed.stdout
    assert "running " not in completed.stdout
    assert "(registry)" not in completed.stdout
    assert re.search(r"^  image      sha256:[0-9a-f]{64}$", completed.stdout, re.M)
    assert re.search(r"^    referrer sha256:[0-9a-f]{64}  ", completed.stdout, re.M)


@pytest.fixture(scope="module")
def token_command_site(tmp_path_factory) -> Path:
    return _installed_example("plugin-credentials", tmp_path_factory)


def test_plugin_credentials_pushes_with_the_token_its_command_prints(
    token_command_site, htpasswd_registry, tmp_path
):
    sample = _copy("plugin-credentials", tmp_path) / "sample"
    text = (sample / "pyproject.toml").read_text()
    printer = [sys.executable, "-c", "import os; print(os.environ['REGISTRY_TOKEN'])"]
    text = text.replace("123456789012.dkr.ecr.eu-west-1.amazonaws.com", htpasswd_registry.host)
    text = text.replace('username = "AWS"', f'username = "{HTPASSWD_USER}"')
    text = re.sub(r"command = \[.*\]", f"command = {json.dumps(printer)}", text)
    (sample / "pyproject.toml").write_text(text)

    pushed = _ocipush(
        "push",
        *("--project", str(sample), "-v"),
        site=token_command_site,
        cwd=tmp_path,
        REGISTRY_TOKEN=HTPASSWD_PASSWORD,
    )

    assert pushed.returncode == 0, pushed.stderr
    ref = f"{htpasswd_registry.host}/token-sample:0.1.0"
    assert f"{ref}@sha256:" in pushed.stdout
    assert f"credentials for {htpasswd_registry.host}/token-sample: plugin token-command: " in (
        pushed.stderr
    )
    assert HTPASSWD_PASSWORD not in pushed.stderr + pushed.stdout
    manifest = skopeo_inspect_raw(ref, creds=(HTPASSWD_USER, HTPASSWD_PASSWORD))
    assert pushed.stdout.strip().endswith(_sha256(manifest))


def test_plugin_credentials_failing_command_is_a_clear_error(
    token_command_site, htpasswd_registry, tmp_path
):
    sample = _copy("plugin-credentials", tmp_path) / "sample"
    text = (sample / "pyproject.toml").read_text()
    failing = [sys.executable, "-c", "import sys; sys.exit('token expired: run aws sso login')"]
    text = text.replace("123456789012.dkr.ecr.eu-west-1.amazonaws.com", htpasswd_registry.host)
    (sample / "pyproject.toml").write_text(
        re.sub(r"command = \[.*\]", f"command = {json.dumps(failing)}", text)
    )

    pushed = _ocipush("push", "--project", str(sample), site=token_command_site, cwd=tmp_path)

    assert pushed.returncode == 1
    host = htpasswd_registry.host
    assert f"(tool.ocipush.token-command for {host}) printed no token (exit status 1: " in (
        pushed.stderr
    )
    assert "token expired: run aws sso login); log in with that tool first" in pushed.stderr


def test_plugin_credentials_bad_entries_are_reported_with_the_core_problems(
    token_command_site, tmp_path
):
    """The example reads its table with ocipush's config reader: its problems share the
    core's report and style, each with its key path (issue 11 item 4)."""
    sample = _copy("plugin-credentials", tmp_path) / "sample"
    text = (sample / "pyproject.toml").read_text()
    text = text.replace('username = "AWS"', "username = 7\nregion = 1")
    text += '\n[tool.ocipush.token-command."ghcr.io"]\ncommand = []\n'
    text += '\n[tool.ocipush.token-command]\n"quay.io" = "robot"\n'
    text += "\n[tool.ocipush]\njobs = 0\n"
    (sample / "pyproject.toml").write_text(text)

    planned = _ocipush("plan", "--project", str(sample), site=token_command_site, cwd=tmp_path)

    assert planned.returncode == 2, planned.stderr
    assert planned.stdout == ""
    entry = 'tool.ocipush.token-command."123456789012.dkr.ecr.eu-west-1.amazonaws.com"'
    problems = sorted(line.strip() for line in planned.stderr.splitlines() if line[:2] == "  ")
    assert problems == sorted(
        [
            "tool.ocipush.jobs: 0 — must be at least 1",
            f"{entry}.region: unknown key — known keys are command, username",
            f"{entry}.username: expected a string, got an integer",
            'tool.ocipush.token-command."ghcr.io".username: missing required key; set it to '
            'the user name the registry takes with the token, such as "AWS"',
            'tool.ocipush.token-command."ghcr.io".command: empty array — list the program '
            'that prints the token and its arguments, such as ["gcloud", "auth", '
            '"print-access-token"]',
            'tool.ocipush.token-command."quay.io": expected a table, got a string',
        ]
    )
