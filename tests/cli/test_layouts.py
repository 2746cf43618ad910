"""Issue 12: layout references validated like registry references; ``tag`` and ``delete``
on layouts; ``build`` leaves no unreferenced blob; a file where the layout should be."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.tools import umoci_unpack

EXIT_USAGE = 2


def _blobs(layout: Path) -> set[str]:
    return {f"{p.parent.name}:{p.name}" for p in (layout / "blobs").glob("*/*")}


def _tags(layout: Path) -> dict[str, str]:
    index = json.loads((layout / "index.json").read_text())
    return {
        m["annotations"]["org.opencontainers.image.ref.name"]: m["digest"]
        for m in index["manifests"]
        if "org.opencontainers.image.ref.name" in m.get("annotations", {})
    }


def _reachable(layout: Path) -> set[str]:
    """Every blob index.json reaches, read with plain json (not ocipush)."""
    seen: set[str] = set()
    todo = [m["digest"] for m in json.loads((layout / "index.json").read_text())["manifests"]]
    while todo:
        digest = todo.pop()
        if digest in seen:
            continue
        seen.add(digest)
        doc = json.loads((layout / "blobs" / digest.replace(":", "/")).read_bytes())
        todo += [m["digest"] for m in doc.get("manifests", [])]
        if "config" in doc:
            seen.add(doc["config"]["digest"])
            seen.update(layer["digest"] for layer in doc["layers"])
    return seen


@pytest.fixture
def built(run, project) -> Path:
    layout = project / "out"
    code, _, err = run(
        "build", "--no-progress", "--project", str(project), "--target", f"oci:{layout}:1"
    )
    assert code == 0, err
    return layout


@pytest.mark.parametrize(
    ("suffix", "named"), [(":bad tag", "'bad tag'"), (":v1@sha256:abc", "digest")]
)
def test_a_bad_layout_reference_is_refused_and_nothing_is_created(
    run, built, tmp_path, suffix, named
):
    destination = tmp_path / "copy"
    code, _, err = run("copy", "--no-progress", f"oci:{built}:1", f"oci:{destination}{suffix}")
    assert code == EXIT_USAGE
    assert named in err
    assert not list(tmp_path.glob("copy*"))


def test_tag_adds_a_tag_to_a_layout_image(run, built, tmp_path):
    code, out, err = run("tag", f"oci:{built}:1", "stable")
    assert code == 0, err
    assert _tags(built)["stable"] == _tags(built)["1"]
    assert out.strip() == f"oci:{built}:stable@{_tags(built)['1']}"
    umoci_unpack(built, "stable", tmp_path / "unpacked")
    assert (tmp_path / "unpacked" / "rootfs" / "srv" / "a.txt").read_text() == "a\n"


def test_delete_removes_the_tag_and_the_blobs_only_it_reached(run, built, project):
    (project / "static" / "a.txt").write_text("changed\n")
    code, _, err = run(
        "build", "--no-progress", "--project", str(project), "--target", f"oci:{built}:2"
    )
    assert code == 0, err
    before = _blobs(built)
    code, out, err = run("delete", f"oci:{built}:1")
    assert code == 0, err
    assert out.strip() == f"oci:{built}:1"
    assert set(_tags(built)) == {"2"}
    assert _blobs(built) == _reachable(built)
    assert _blobs(built) < before


def test_delete_of_a_layout_without_a_tag_names_what_to_do(run, built):
    code, _, err = run("delete", f"oci:{built}")
    assert code == 1
    assert f"oci:{built}:TAG" in err


def test_rebuilds_leave_no_unreferenced_blobs(run, built, project):
    for text in ("two\n", "three\n"):
        (project / "static" / "a.txt").write_text(text)
        code, _, err = run(
            "build", "--no-progress", "--project", str(project), "--target", f"oci:{built}:1"
        )
        assert code == 0, err
    assert _blobs(built) == _reachable(built)


def test_rebuilding_one_tag_keeps_other_tags_content(run, built, project):
    assert run("tag", f"oci:{built}:1", "keep")[0] == 0
    kept = _tags(built)["keep"]
    (project / "static" / "a.txt").write_text("new\n")
    assert (
        run("build", "--no-progress", "--project", str(project), "--target", f"oci:{built}:1")[0]
        == 0
    )
    assert _tags(built)["keep"] == kept
    assert _reachable(built) <= _blobs(built)


def test_a_file_where_the_layout_goes_is_named_as_such(run, project):
    (project / "dist").mkdir()
    (project / "dist" / "oci").write_text("not a directory\n")
    code, _, err = run("build", "--no-progress", "--project", str(project))
    assert code == 1
    assert "is a file, not a directory" in err
    assert "File exists" not in err
