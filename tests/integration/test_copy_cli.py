"""The ``ocipush`` command in-process: copy, tag and delete against a real registry."""

from __future__ import annotations

import json
import logging

import pytest

from ocipush.cli import PROGRESS_LOGGERS, main
from ocipush.oci.layout import write_layout
from ocipush.oci.model import Platform
from support.images import make_image
from support.tools import (
    ToolError,
    registry_blob_exists,
    registry_get_manifest,
    skopeo_inspect_raw,
)


@pytest.fixture(autouse=True)
def _restore_writer_log_level():
    """``main`` turns the writer's INFO log on for progress and leaves it on: undo that so
    each test sees the output of its own invocation only."""
    loggers = [logging.getLogger(name) for name in PROGRESS_LOGGERS]
    levels = [logger.level for logger in loggers]
    yield
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_copy_layout_to_registry_prints_repository_at_digest(registry, repo_name, tmp_path, capsys):
    image = make_image({"cli.txt": b"from a layout\n"}, platform=Platform("linux", "amd64"))
    write_layout(tmp_path / "layout", image, "v1")
    target = f"{registry.host}/{repo_name}:v1"

    code, out, err = _run(capsys, "copy", f"oci:{tmp_path / 'layout'}:v1", target, "--no-progress")

    raw = image.manifest().raw
    assert (code, err) == (0, "")
    assert out == f"{registry.host}/{repo_name}@{image.manifest().digest}\n"
    assert skopeo_inspect_raw(target) == raw
    for blob in image.blobs():
        assert registry_blob_exists(registry.host, repo_name, str(blob.digest))


def test_copy_reports_progress_on_stderr_one_line_per_blob(registry, repo_name, tmp_path, capsys):
    image = make_image({"progress.txt": b"progress\n"})
    write_layout(tmp_path / "layout", image, "v1")
    repository = f"{registry.host}/{repo_name}"

    code, _, err = _run(capsys, "copy", f"oci:{tmp_path / 'layout'}:v1", f"{repository}:v1")

    assert code == 0
    lines = err.splitlines()
    assert sorted(lines[:-2]) == sorted(
        f"{repository}: uploaded {blob.digest} ({blob.size} bytes)" for blob in image.blobs()
    )
    digest = image.manifest().digest
    assert lines[-2:] == [
        f"{repository}@{digest}: put manifest {digest}",
        f"{repository}:v1: put manifest {digest}",
    ]


def test_copy_within_a_registry_mounts(registry, repo_name, tmp_path, capsys, proxy_factory):
    image = make_image({"mount.txt": b"mounted by the cli\n"})
    write_layout(tmp_path / "layout", image, "v1")
    assert (
        _run(
            capsys,
            "copy",
            f"oci:{tmp_path / 'layout'}:v1",
            f"{registry.host}/{repo_name}/a:v1",
            "--no-progress",
        )[0]
        == 0
    )
    proxy = proxy_factory(registry.url)

    code, out, err = _run(
        capsys,
        "copy",
        f"{proxy.host}/{repo_name}/a:v1",
        f"{proxy.host}/{repo_name}/b:v2",
        "--no-progress",
    )

    assert (code, err) == (0, "")
    assert out == f"{proxy.host}/{repo_name}/b@{image.manifest().digest}\n"
    mounts = proxy.find("POST", r"mount=")
    assert len(mounts) == 2
    assert {e.status for e in mounts} == {201}
    assert proxy.count("PATCH") == 0
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}/b:v2") == image.manifest().raw


def test_copy_registry_to_layout(registry, repo_name, tmp_path, capsys):
    image = make_image({"down.txt": b"to a layout\n"})
    write_layout(tmp_path / "source", image, "v1")
    source = f"{registry.host}/{repo_name}:v1"
    assert _run(capsys, "copy", f"oci:{tmp_path / 'source'}:v1", source, "--no-progress")[0] == 0
    layout = tmp_path / "copy"

    code, out, err = _run(capsys, "copy", source, f"oci:{layout}:latest", "--no-progress")

    digest = image.manifest().digest
    assert (code, err) == (0, "")
    assert out == f"oci:{layout}@{digest}\n"
    assert skopeo_inspect_raw(f"oci:{layout}:latest") == image.manifest().raw
    for blob in image.blobs():
        assert (layout / "blobs" / "sha256" / blob.digest.encoded).read_bytes() == blob.data
    (entry,) = json.loads((layout / "index.json").read_text())["manifests"]
    assert entry["digest"] == str(digest)
    assert entry["annotations"] == {"org.opencontainers.image.ref.name": "latest"}


def test_tag_and_delete(registry, repo_name, tmp_path, capsys):
    image = make_image({"tag.txt": b"tagged\n"})
    write_layout(tmp_path / "layout", image, "v1")
    ref = f"{registry.host}/{repo_name}:v1"
    assert _run(capsys, "copy", f"oci:{tmp_path / 'layout'}:v1", ref, "--no-progress")[0] == 0
    digest = image.manifest().digest

    code, out, err = _run(capsys, "tag", ref, "stable")

    assert (code, out, err) == (0, f"{registry.host}/{repo_name}@{digest}\n", "")
    body, headers = registry_get_manifest(registry.host, repo_name, "stable")
    assert body == image.manifest().raw
    assert headers["Docker-Content-Digest"] == str(digest)

    code, out, err = _run(capsys, "delete", f"{registry.host}/{repo_name}:stable")

    assert (code, out) == (1, "")
    assert err == (
        f"error: delete {registry.host}/{repo_name}:stable: {registry.host} can only delete "
        f"the manifest {digest}, and tag v1 names it too, so they would go as well; nothing "
        "was deleted\nhint: pass --force to delete the manifest with all its tags\n"
    )
    assert registry_get_manifest(registry.host, repo_name, "stable")[0] == image.manifest().raw

    code, out, err = _run(capsys, "delete", f"{registry.host}/{repo_name}:stable", "--force")

    name = f"{registry.host}/{repo_name}"
    assert (code, out, err) == (0, f"{name}@{digest}\n{name}:stable\n{name}:v1\n", "")
    for tag in ("stable", "v1"):
        with pytest.raises(ToolError, match=": 404 "):
            registry_get_manifest(registry.host, repo_name, tag)


def test_delete_of_a_tag_alone_deletes_the_manifest(registry, repo_name, tmp_path, capsys):
    image = make_image({"alone.txt": b"one tag\n"})
    write_layout(tmp_path / "layout", image, "v1")
    ref = f"{registry.host}/{repo_name}:v1"
    assert _run(capsys, "copy", f"oci:{tmp_path / 'layout'}:v1", ref, "--no-progress")[0] == 0

    code, out, err = _run(capsys, "delete", ref)

    digest = image.manifest().digest
    assert (code, out, err) == (0, f"{registry.host}/{repo_name}@{digest}\n{ref}\n", "")
    with pytest.raises(ToolError, match=": 404 "):
        registry_get_manifest(registry.host, repo_name, str(digest))


def test_bad_reference_exits_2(registry, repo_name, tmp_path, capsys):
    code, out, err = _run(capsys, "copy", f"oci:{tmp_path}", f"{registry.host}/Bad/Name:v1")

    assert (code, out) == (2, "")
    assert err == (
        f"error: invalid reference '{registry.host}/Bad/Name:v1': "
        "repository names must be lowercase\n"
    )


def test_missing_image_exits_1(registry, repo_name, capsys):
    source = f"{registry.host}/{repo_name}:nope"

    code, out, err = _run(capsys, "copy", source, f"{registry.host}/{repo_name}/b:v1")

    assert (code, out) == (1, "")
    assert err == (
        f"error: get manifest {registry.host}/{repo_name}:nope: GET "
        f"http://{registry.host}/v2/{repo_name}/manifests/nope: 404 MANIFEST_UNKNOWN: "
        "manifest unknown\n"
    )
