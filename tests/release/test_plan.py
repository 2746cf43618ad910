"""The plan of a project with a layer and an artifact: its contents and both renderings.

Planning writes nothing and, without ``--check``, talks to nobody: the registry target here
is a closed port on loopback.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import tarfile
from pathlib import Path

import pytest

from ocipush.errors import ConfigError, DigestMismatchError
from ocipush.release.plan import Plan
from ocipush.release.publish import make_plan, open_project

REGISTRY = "127.0.0.1:9"
EPOCH = "1700000000"
PYPROJECT = f"""\
[project]
name = "demo-app"
version = "1.2.3"

[[tool.ocipush.targets]]
ref = "{REGISTRY}/acme/app:{{version}}"
tags = ["latest"]

[[tool.ocipush.targets]]
ref = "oci:out/layout"

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/static"

[[tool.ocipush.artifacts]]
files = ["{{wheel}}", "{{sdist}}"]
artifact-type = "application/vnd.acme.release.v1"
subject = "image"
tag = "{{version}}-release"
"""
WHEEL_TYPE = "application/vnd.ocipush.python.wheel.v1+zip"
SDIST_TYPE = "application/vnd.ocipush.python.sdist.v1.tar+gzip"
EMPTY_DIGEST = "sha256:" + hashlib.sha256(b"{}").hexdigest()


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    (tmp_path / "pyproject.toml").write_text(PYPROJECT)
    (tmp_path / "static" / "css").mkdir(parents=True)
    (tmp_path / "static" / "css" / "app.css").write_text("body{}\n")
    (tmp_path / "static" / "index.html").write_text("<p>hi</p>\n")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "demo_app-1.2.3-py3-none-any.whl").write_bytes(b"wheel-bytes")
    (tmp_path / "dist" / "demo_app-1.2.3.tar.gz").write_bytes(b"sdist-bytes")
    return tmp_path


@pytest.fixture
def plan(project_dir) -> Plan:
    project, manager = open_project(project_dir)
    return make_plan(project, manager)


def _layer_file(project_dir: Path) -> Path:
    (layer,) = (project_dir / "build" / "ocipush" / "layers").glob("sha256-*.tar.gz")
    return layer


def test_the_layer_holds_the_static_files_with_normalised_metadata(plan, project_dir):
    with tarfile.open(_layer_file(project_dir)) as tar:
        members = [(m.name, m.mode, m.uid, m.mtime) for m in tar.getmembers()]
    assert members == [
        ("srv", 0o755, 0, int(EPOCH)),
        ("srv/static", 0o755, 0, int(EPOCH)),
        ("srv/static/css", 0o755, 0, int(EPOCH)),
        ("srv/static/css/app.css", 0o644, 0, int(EPOCH)),
        ("srv/static/index.html", 0o644, 0, int(EPOCH)),
    ]


def test_registry_target_blobs_manifests_scopes_and_notes(plan, project_dir):
    registry, _ = plan.targets
    image, artifact = (item.item for item in registry.items)
    image_raw, artifact_raw = image.manifest().raw, artifact.manifest().raw
    image_manifest, artifact_manifest = json.loads(image_raw), json.loads(artifact_raw)
    layer = _layer_file(project_dir).read_bytes()

    assert (registry.target, registry.kind) == (f"{REGISTRY}/acme/app:1.2.3", "registry")
    assert [(b.digest, b.size, b.media_type, b.action) for b in registry.blobs] == [
        (_sha256(layer), len(layer), "application/vnd.oci.image.layer.v1.tar+gzip", "upload"),
        (
            image_manifest["config"]["digest"],
            image_manifest["config"]["size"],
            "application/vnd.oci.image.config.v1+json",
            "upload",
        ),
        (_sha256(b"wheel-bytes"), 11, WHEEL_TYPE, "upload"),
        (_sha256(b"sdist-bytes"), 11, SDIST_TYPE, "upload"),
        (EMPTY_DIGEST, 2, "application/vnd.oci.empty.v1+json", "upload"),
    ]
    assert image_manifest["layers"][0]["digest"] == _sha256(layer)
    assert [m.to_json() for m in registry.manifests] == [
        {
            "digest": _sha256(image_raw),
            "size": len(image_raw),
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "role": "image",
            "refs": [f"{REGISTRY}/acme/app:1.2.3", f"{REGISTRY}/acme/app:latest"],
        },
        {
            "digest": _sha256(artifact_raw),
            "size": len(artifact_raw),
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "role": "artifact",
            "refs": [f"{REGISTRY}/acme/app:1.2.3-release"],
            "subject": _sha256(image_raw),
        },
    ]
    assert artifact_manifest["artifactType"] == "application/vnd.acme.release.v1"
    assert [
        (layer["mediaType"], layer["annotations"]["org.opencontainers.image.title"])
        for layer in artifact_manifest["layers"]
    ] == [
        (WHEEL_TYPE, "demo_app-1.2.3-py3-none-any.whl"),
        (SDIST_TYPE, "demo_app-1.2.3.tar.gz"),
    ]
    assert registry.scopes == ("repository:acme/app:pull,push",)
    assert registry.notes == (
        "existing blobs not checked; `ocipush plan --check` asks the registry",
    )


def test_layout_target_writes_everything_and_nothing_yet(plan, project_dir):
    registry, layout = plan.targets

    assert (layout.target, layout.kind) == ("oci:out/layout:1.2.3", "layout")
    assert [b.digest for b in layout.blobs] == [b.digest for b in registry.blobs]
    assert {b.action for b in layout.blobs} == {"write"}
    assert [m.refs for m in layout.manifests] == [
        (f"oci:{project_dir}/out/layout:1.2.3",),
        (f"oci:{project_dir}/out/layout:1.2.3-release",),
    ]
    assert (layout.scopes, layout.notes) == ((), ())
    assert not (project_dir / "out").exists(), "planning must not write the layout"


def test_a_layout_that_has_the_blobs_marks_them_present(project_dir):
    project, manager = open_project(project_dir)
    first = make_plan(project, manager)
    layout = next(t for t in first.targets if t.kind == "layout")
    assert layout.executor is not None
    layout.executor.push(layout, progress=None)

    again = next(t for t in make_plan(project, manager).targets if t.kind == "layout")

    assert {b.action for b in again.blobs} == {"present"}


def test_the_plan_is_immutable(plan):
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.version = "9"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        plan.targets[0].blobs = ()  # type: ignore[misc]


def test_table_rendering(plan, project_dir):
    registry, _ = plan.targets
    layer, config, wheel, sdist, empty = (str(b.digest)[:19] for b in registry.blobs)
    image, artifact = (str(m.digest)[:19] for m in registry.manifests)
    layer_size = f"{registry.blobs[0].size} B".ljust(5)
    config_size = f"{registry.blobs[1].size} B".ljust(5)
    blob_rows = [
        (layer, layer_size, "application/vnd.oci.image.layer.v1.tar+gzip     "),
        (config, config_size, "application/vnd.oci.image.config.v1+json        "),
        (wheel, "11 B ", "application/vnd.ocipush.python.wheel.v1+zip     "),
        (sdist, "11 B ", "application/vnd.ocipush.python.sdist.v1.tar+gzip"),
        (empty, "2 B  ", "application/vnd.oci.empty.v1+json               "),
    ]

    def blobs(action: str) -> list[str]:
        return [f"  {d}  {s}  {t}  {action}" for d, s, t in blob_rows]

    expected = [
        "plan for demo-app 1.2.3",
        "note: layer tool.ocipush.layers[0] (static -> /srv/static): 2 file(s)",
        "",
        f"target {REGISTRY}/acme/app:1.2.3 (registry)",
        "  scopes: repository:acme/app:pull,push",
        "  blob                 size   media type                                        action",
        *blobs("upload"),
        "  manifest             role      platform  refs",
        f"  {image}  image     -         {REGISTRY}/acme/app:1.2.3, {REGISTRY}/acme/app:latest",
        f"  {artifact}  artifact  -         {REGISTRY}/acme/app:1.2.3-release",
        "  note: existing blobs not checked; `ocipush plan --check` asks the registry",
        "",
        "target oci:out/layout:1.2.3 (layout)",
        "  blob                 size   media type                                        action",
        *blobs("write"),
        "  manifest             role      platform  refs",
        f"  {image}  image     -         oci:{project_dir}/out/layout:1.2.3",
        f"  {artifact}  artifact  -         oci:{project_dir}/out/layout:1.2.3-release",
    ]
    assert plan.render_table().splitlines() == expected
    assert plan.render_table(verbose=True).splitlines() == [
        *expected[:2],
        "  layer tool.ocipush.layers[0] (static -> /srv/static): holds css/app.css",
        "  layer tool.ocipush.layers[0] (static -> /srv/static): holds index.html",
        *expected[2:],
    ]


def test_json_rendering(plan, project_dir):
    document = json.loads(plan.render_json())

    registry, layout = plan.targets
    assert document == {
        "project": "demo-app",
        "version": "1.2.3",
        "notes": ["layer tool.ocipush.layers[0] (static -> /srv/static): 2 file(s)"],
        "details": [
            "layer tool.ocipush.layers[0] (static -> /srv/static): holds css/app.css",
            "layer tool.ocipush.layers[0] (static -> /srv/static): holds index.html",
        ],
        "targets": [
            {
                "target": f"{REGISTRY}/acme/app:1.2.3",
                "kind": "registry",
                "blobs": [
                    {
                        "digest": b.digest,
                        "size": b.size,
                        "mediaType": b.media_type,
                        "source": b.source.to_json(),
                        "action": "upload",
                    }
                    for b in registry.blobs
                ],
                "manifests": [m.to_json() for m in registry.manifests],
                "tags": [
                    f"{REGISTRY}/acme/app:1.2.3",
                    f"{REGISTRY}/acme/app:latest",
                    f"{REGISTRY}/acme/app:1.2.3-release",
                ],
                "scopes": ["repository:acme/app:pull,push"],
                "notes": ["existing blobs not checked; `ocipush plan --check` asks the registry"],
                "skippedTags": [],
            },
            {
                "target": "oci:out/layout:1.2.3",
                "kind": "layout",
                "blobs": [dict(b.to_json(), action="write") for b in layout.blobs],
                "manifests": [m.to_json() for m in layout.manifests],
                "tags": [
                    f"oci:{project_dir}/out/layout:1.2.3",
                    f"oci:{project_dir}/out/layout:1.2.3-release",
                ],
                "scopes": [],
                "notes": [],
                "skippedTags": [],
            },
        ],
    }
    sources = [b["source"] for b in document["targets"][0]["blobs"]]
    assert sources[2] == {
        "kind": "file",
        "path": str(project_dir / "dist" / "demo_app-1.2.3-py3-none-any.whl"),
        "description": str(project_dir / "dist" / "demo_app-1.2.3-py3-none-any.whl"),
    }


def test_an_artifact_only_project_has_no_image_manifest(project_dir):
    text = (project_dir / "pyproject.toml").read_text()
    text = text.replace('subject = "image"\n', "").split("[[tool.ocipush.layers]]")[0]
    text += '[[tool.ocipush.artifacts]]\nfiles = ["{wheel}"]\nartifact-type = "a/wheel"\n'
    (project_dir / "pyproject.toml").write_text(text)
    project, manager = open_project(project_dir)

    registry, _ = make_plan(project, manager).targets

    assert [(m.role, m.refs) for m in registry.manifests] == [
        ("artifact", (f"{REGISTRY}/acme/app@{registry.manifests[0].digest}",))
    ]


def test_nothing_to_publish_is_an_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "empty"\nversion = "0.1"\n')
    project, manager = open_project(tmp_path)

    with pytest.raises(ConfigError) as caught:
        make_plan(project, manager)
    assert str(caught.value) == (
        f"{tmp_path / 'pyproject.toml'}: 1 configuration problem:\n"
        "  tool.ocipush: nothing to publish — add [[tool.ocipush.layers]], "
        "[[tool.ocipush.artifacts]] or a plugin that contributes content"
    )


def test_a_layout_tag_moves_only_after_every_item_was_written(project_dir):
    """The artifact's wheel changes between plan and push: its digest check fails, and the
    image's tag, written before the artifact on main, is not in index.json."""
    project, manager = open_project(project_dir)
    layout = next(t for t in make_plan(project, manager).targets if t.kind == "layout")
    assert layout.executor is not None
    (project_dir / "dist" / "demo_app-1.2.3-py3-none-any.whl").write_bytes(b"other-bytes")

    with pytest.raises(DigestMismatchError):
        layout.executor.push(layout, progress=None)

    index = project_dir / "out" / "layout" / "index.json"
    assert not index.exists() or json.loads(index.read_text())["manifests"] == []
