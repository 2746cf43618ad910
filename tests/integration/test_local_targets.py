"""``oci-archive:``, ``docker-archive:`` and ``docker-daemon:`` targets, read back by real
clients: skopeo and umoci for the archives, podman (its Docker-compatible API served by
``podman system service``) for the engine."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from ocipush.cli import main
from support.engine import PodmanEngine
from support.tools import skopeo_copy, skopeo_inspect_raw, umoci_unpack

ARTIFACT_TYPE = "application/vnd.acme.release.v1"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    started = PodmanEngine(tmp_path_factory.mktemp("engine")).start()
    yield started
    started.stop()


@pytest.fixture
def project(tmp_path, monkeypatch, registry, repo_name):
    """A project with a static layer and its wheel as a referrer; a registry target and
    both archives."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    (tmp_path / "pyproject.toml").write_text(
        f"""\
[project]
name = "Local_App"
version = "2.0.0"

[[tool.ocipush.targets]]
ref = "{registry.host}/{repo_name}:{{version}}"

[[tool.ocipush.targets]]
ref = "oci-archive:dist/app-oci.tar"

[[tool.ocipush.targets]]
ref = "docker-archive:dist/app-docker.tar:acme/local-app:{{version}}"
tags = ["latest"]

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/www"

[[tool.ocipush.artifacts]]
files = ["{{wheel}}"]
artifact-type = "{ARTIFACT_TYPE}"
subject = "image"
"""
    )
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<p>local</p>\n")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "local_app-2.0.0-py3-none-any.whl").write_bytes(b"PK wheel")
    return tmp_path


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _registry_requests(registry, repo: str) -> list:
    return [r for r in registry.requests() if f"/v2/{repo}/" in r.path]


def test_build_writes_both_archives_and_skopeo_reads_them(
    project, registry, repo_name, capsys, tmp_path
):
    code, out, _ = _run(capsys, "build", "--project", str(project))

    assert code == 0
    assert _registry_requests(registry, repo_name) == []
    oci_tar, docker_tar = project / "dist" / "app-oci.tar", project / "dist" / "app-docker.tar"
    manifest = skopeo_inspect_raw(f"oci-archive:{oci_tar}:2.0.0")
    digest = _sha256(manifest)
    assert f"oci-archive:{oci_tar}:2.0.0@{digest}" in out.splitlines()
    assert f"docker-archive:{docker_tar}:acme/local-app:latest@{digest}" in out.splitlines()
    # The OCI archive also holds the wheel artifact, naming the image as its subject.
    with tarfile.open(oci_tar) as tar:
        index = json.load(tar.extractfile("index.json"))  # type: ignore[arg-type]
        assert "manifest.json" not in tar.getnames()
        artifact = index["manifests"][1]
        raw = tar.extractfile(f"blobs/sha256/{artifact['digest'][7:]}").read()  # type: ignore[union-attr]
    assert [m["digest"] for m in index["manifests"]] == [digest, artifact["digest"]]
    assert _sha256(raw) == artifact["digest"]
    assert json.loads(raw)["subject"]["digest"] == digest
    # The docker archive names the image as docker load will, and carries it whole.
    with tarfile.open(docker_tar) as tar:
        loaded = json.load(tar.extractfile("manifest.json"))  # type: ignore[arg-type]
    assert loaded[0]["RepoTags"] == ["acme/local-app:2.0.0", "acme/local-app:latest"]
    skopeo_copy(f"docker-archive:{docker_tar}", f"oci:{tmp_path / 'copied'}:x")
    rootfs = umoci_unpack(tmp_path / "copied", "x", tmp_path / "bundle")
    assert (rootfs / "srv" / "www" / "index.html").read_text() == "<p>local</p>\n"


def test_plan_lists_archive_targets_and_writes_nothing(project, capsys):
    code, out, _ = _run(capsys, "plan", "--project", str(project), "--json")

    assert code == 0
    kinds = {t["target"]: t["kind"] for t in json.loads(out)["targets"]}
    assert kinds["oci-archive:dist/app-oci.tar:2.0.0"] == "oci-archive"
    assert kinds["docker-archive:dist/app-docker.tar:acme/local-app:2.0.0"] == "docker-archive"
    assert not (project / "dist" / "app-oci.tar").exists()


def test_build_loads_the_image_into_a_running_engine(project, engine, monkeypatch, capsys):
    monkeypatch.setenv("DOCKER_HOST", engine.host)

    code, out, _ = _run(
        capsys,
        "build",
        "--project",
        str(project),
        "--target",
        "docker-daemon:acme/engine-app",
        "--target",
        "oci:dist/oci",
    )

    assert code == 0, out
    manifest = skopeo_inspect_raw(f"oci:{project / 'dist' / 'oci'}:2.0.0")
    assert out.splitlines()[0] == f"docker-daemon:acme/engine-app:2.0.0@{_sha256(manifest)}"
    # The engine's image is ocipush's: the same config (its id) and the file in its layer.
    found = engine.inspect("acme/engine-app:2.0.0")
    assert "sha256:" + found["Id"] == json.loads(manifest)["config"]["digest"]
    container = engine.podman("create", "acme/engine-app:2.0.0", "/none").decode().strip()
    exported = engine.podman("export", container)
    with tarfile.open(fileobj=io.BytesIO(exported)) as tar:
        page = tar.extractfile("srv/www/index.html")
        assert page is not None
        assert page.read() == b"<p>local</p>\n"


def test_copy_to_a_docker_archive_that_podman_loads(project, engine, capsys, tmp_path):
    assert _run(capsys, "build", "--project", str(project), "--target", "oci:dist/oci")[0] == 0
    archive = tmp_path / "copied.tar"

    layout = project / "dist" / "oci"
    code, out, _ = _run(capsys, "copy", f"oci:{layout}:2.0.0", f"docker-archive:{archive}:copied:1")

    assert code == 0
    assert out.startswith(f"docker-archive:{archive}@sha256:")
    loaded = engine.podman("load", "-i", str(archive)).decode()
    assert "copied:1" in loaded
    assert "localhost/copied:1" in engine.inspect("copied:1")["RepoTags"]


def test_an_engine_that_is_not_running_is_a_clear_error(project, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/absent.sock")

    code, _, err = _run(
        capsys, "build", "--project", str(project), "--target", "docker-daemon:acme/app"
    )

    assert code == 1
    assert f"error: no Docker-compatible engine answers at unix://{tmp_path}/absent.sock" in err
    assert "start Docker (or `podman system service`), or point DOCKER_HOST" in err


def test_copy_from_an_oci_archive_to_a_registry_brings_its_referrers(
    project, registry, repo_name, capsys
):
    assert _run(capsys, "build", "--project", str(project))[0] == 0
    archive = project / "dist" / "app-oci.tar"
    target = f"{registry.host}/{repo_name}:copied"

    code, out, err = _run(capsys, "copy", f"oci-archive:{archive}:2.0.0", target)

    assert code == 0, err
    manifest = skopeo_inspect_raw(f"oci-archive:{archive}:2.0.0")
    assert out.strip() == f"{registry.host}/{repo_name}@{_sha256(manifest)}"
    assert skopeo_inspect_raw(target) == manifest
    assert main(["referrers", target]) == 0
    listed = capsys.readouterr().out
    assert f"{ARTIFACT_TYPE}  on {_sha256(manifest)}" in listed


def test_a_docker_archive_is_not_a_copy_source(project, capsys, tmp_path):
    code, _, err = _run(capsys, "copy", f"docker-archive:{tmp_path}/x.tar", "oci:out")

    assert code == 1
    assert err == (
        f"error: docker-archive:{tmp_path}/x.tar: ocipush writes docker-archive: but does not "
        "read it; read from a registry, an oci: layout or an oci-archive: instead\n"
    )
