"""Issue 12: ``plan --json`` has one type per key and follows docs/plan.schema.json; the plan
of a multi-platform index labels the index and each child's platform."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import jsonschema
import pytest

SCHEMA = Path(__file__).parents[2] / "docs" / "plan.schema.json"


@pytest.fixture
def index_project(project: Path) -> Path:
    """The project, with a plugin that builds a two-platform index of its layers."""
    (project / "cli_plugin_index.py").write_text(
        textwrap.dedent(
            """
            import json

            from ocipush.oci import media_types as mt
            from ocipush.oci.blobs import BytesBlob
            from ocipush.oci.images import Image, ImageIndex
            from ocipush.oci.model import Platform
            from ocipush.release.hookspecs import hookimpl

            @hookimpl(tryfirst=True)
            def ocipush_build_image(project, layers):
                images = []
                for arch in ("amd64", "arm64"):
                    config = {"architecture": arch, "os": "linux", "config": {},
                              "rootfs": {"type": "layers", "diff_ids": [
                                  str(layer.diff_id) for layer in layers]}}
                    blob = BytesBlob(json.dumps(config).encode(), mt.OCI_CONFIG)
                    images.append(Image(layers=list(layers), config=blob,
                                        platform=Platform("linux", arch)))
                return ImageIndex(images)
            """
        )
    )
    return project


def _plan(run, project: Path, *extra: str) -> dict:
    code, out, err = run("plan", "--json", "--project", str(project), *extra)
    assert code == 0, err
    return json.loads(out)


def test_plan_json_follows_the_documented_schema(run, index_project):
    document = _plan(run, index_project, "-p", "cli_plugin_index")
    jsonschema.validate(document, json.loads(SCHEMA.read_text()))


def test_blob_sources_are_objects_of_one_shape(run, project):
    blobs = _plan(run, project)["targets"][0]["blobs"]
    layer, config = blobs
    assert layer["source"]["kind"] == "file"
    assert Path(layer["source"]["path"]).is_file()
    assert config["source"]["kind"] == "bytes"
    assert "path" not in config["source"]
    for blob in blobs:
        assert isinstance(blob["source"]["description"], str)


def test_a_multi_platform_index_is_labelled_and_each_child_has_its_platform(run, index_project):
    manifests = _plan(run, index_project, "-p", "cli_plugin_index")["targets"][0]["manifests"]
    assert [m["role"] for m in manifests] == ["image", "image", "index"]
    assert [m.get("platform") for m in manifests] == ["linux/amd64", "linux/arm64", None]
    code, out, err = run("plan", "--project", str(index_project), "-p", "cli_plugin_index")
    assert code == 0, err
    rows = [line.split() for line in out.splitlines() if line.startswith("  sha256:")]
    manifest_rows = [row for row in rows if row[1] in ("image", "index")]
    assert [row[1:3] for row in manifest_rows] == [
        ["image", "linux/amd64"],
        ["image", "linux/arm64"],
        ["index", "-"],
    ]
