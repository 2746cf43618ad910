from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from packaging.version import Version

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.plugins.artifacts import ArtifactConfig, ArtifactsSettings
from ocipush.plugins.files import FilesSettings, LayerConfig
from ocipush.plugins.outputs import OutputsSettings
from ocipush.release.config import (
    DEFAULT_TARGET,
    Settings,
    TargetConfig,
    load_settings,
    parse_settings,
    read_pyproject,
)
from ocipush.release.configure import read_configuration
from ocipush.release.manager import PluginManager
from ocipush.release.project import Project
from ocipush.release.templates import expand_template, project_variables, tag_variables

#: The core's keys and the built-in plugins' tables.
KNOWN_KEYS = (
    "allow-nondistributable-artifacts, artifacts, attestations, backend, image, jobs, layers, "
    "outputs, plugins, scratch, signing, targets"
)
TAG_RULE = (
    "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', "
    "not starting with '.' or '-'"
)

FULL_EXAMPLE = """\
[project]
name = "Acme_App"
version = "1.4.2"

[tool.ocipush]
backend = "hatchling.build"
plugins = ["ci.oci_hooks"]
jobs = 8
allow-nondistributable-artifacts = true
outputs = { json = "dist/ocipush.json" }

[[tool.ocipush.targets]]
ref = "ghcr.io/acme/{name}:{version}"
tags = ["latest", "{major}.{minor}"]

[[tool.ocipush.targets]]
ref = "localhost:5000/acme/app"
insecure = true

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/static"
exclude = ["*.map"]
file-mode = "0600"
dir-mode = "0700"
uid = 1000
gid = 1000

[[tool.ocipush.artifacts]]
files = ["{wheel}", "{sdist}"]
artifact-type = "application/vnd.acme.release.v1"
media-type = "application/octet-stream"
annotations = { "org.opencontainers.image.description" = "release files" }
subject = "image"
tag = "{version}-files"

[tool.ocipush.image]
base = "python:3.12-slim"
"""


def read(
    table: dict[str, Any],
    *,
    metadata: dict[str, str] | None = None,
    source: str = "pyproject.toml",
    requested: tuple[str, ...] = (),
) -> Project:
    """``table`` read as a run reads it: the core keys, then the built-in plugins' tables."""
    manager = PluginManager(entry_points=False, requested=requested)
    project, config = read_configuration(table, manager, root=Path("."), metadata=metadata)
    config.raise_problems(source=source)
    return project


def layers(project: Project) -> tuple[LayerConfig, ...]:
    settings = project.configured("files", FilesSettings)
    return () if settings is None else settings.layers


def artifacts(project: Project) -> tuple[ArtifactConfig, ...]:
    settings = project.configured("artifacts", ArtifactsSettings)
    return () if settings is None else settings.artifacts


def problems_of(table: dict[str, Any], **kwargs: Any) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        read(table, **kwargs)
    return [str(problem) for problem in caught.value.problems]


def write_project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    return tmp_path


# --- defaults and the happy path -----------------------------------------------------------


def test_an_empty_table_means_defaults() -> None:
    project = read({})
    settings = project.settings

    assert settings == Settings()
    assert settings.backend == "setuptools.build_meta"
    assert settings.plugins == ()
    assert settings.jobs == 4
    assert settings.allow_nondistributable_artifacts is False
    assert project.configured("outputs", OutputsSettings) is None
    assert settings.targets == (TargetConfig(ref="oci:dist/oci", tags=(), insecure=False),)
    assert layers(project) == ()
    assert artifacts(project) == ()
    assert dict(settings.plugin_tables) == {}


def test_allow_outside_is_read_on_layers_artifacts_and_outputs() -> None:
    project = read(
        {
            "layers": [{"source": "../shared", "dest": "/srv", "allow-outside": True}],
            "artifacts": [{**_ARTIFACT, "allow-outside": True}],
            "outputs": {"json": "../out.json", "allow-outside": True},
        }
    )

    assert layers(project)[0].allow_outside
    assert artifacts(project)[0].allow_outside
    assert project.configured("outputs", OutputsSettings) == OutputsSettings("../out.json", True)
    assert not layers(read({"layers": [{"source": "s", "dest": "/"}]}))[0].allow_outside


def test_layer_defaults() -> None:
    project = read({"layers": [{"source": "static", "dest": "/srv"}]})

    assert layers(project) == (
        LayerConfig(
            source="static",
            dest="/srv",
            include=("**/*",),
            exclude=(),
            file_mode=0o644,
            dir_mode=0o755,
            uid=0,
            gid=0,
        ),
    )


def test_every_setting_is_read(tmp_path: Path) -> None:
    document = read_pyproject(write_project(tmp_path, FULL_EXAMPLE))
    project = read(document["tool"]["ocipush"], metadata=project_variables("Acme_App", "1.4.2"))
    settings = project.settings

    assert settings.backend == "hatchling.build"
    assert settings.plugins == ("ci.oci_hooks",)
    assert settings.jobs == 8
    assert settings.allow_nondistributable_artifacts is True
    assert project.configured("outputs", OutputsSettings) == OutputsSettings("dist/ocipush.json")
    assert settings.targets == (
        TargetConfig("ghcr.io/acme/{name}:{version}", ("latest", "{major}.{minor}"), False),
        TargetConfig("localhost:5000/acme/app", (), True),
    )
    assert layers(project) == (
        LayerConfig("static", "/srv/static", ("**/*",), ("*.map",), 0o600, 0o700, 1000, 1000),
    )
    assert artifacts(project) == (
        ArtifactConfig(
            files=("{wheel}", "{sdist}"),
            artifact_type="application/vnd.acme.release.v1",
            media_type="application/octet-stream",
            annotations={"org.opencontainers.image.description": "release files"},
            subject="image",
            tag="{version}-files",
        ),
    )
    assert settings.plugin_tables == {
        "outputs": {"json": "dist/ocipush.json"},
        "layers": document["tool"]["ocipush"]["layers"],
        "artifacts": document["tool"]["ocipush"]["artifacts"],
        "image": {"base": "python:3.12-slim"},
    }


def test_a_configured_layout_target_is_not_the_default() -> None:
    settings = parse_settings({"targets": [{"ref": "oci:dist/oci"}]})

    assert settings.targets == (DEFAULT_TARGET,)


def test_accepted_values() -> None:
    project = read(
        {
            "backend": "backend_module:Backend.instance",
            "targets": [
                {"ref": "oci:out/{name}:{version}"},
                {"ref": "oci:C:\\images\\app"},
                {"ref": "{env:REGISTRY}/acme/app@sha256:" + "a" * 64},
            ],
            "layers": [{"source": "a/b", "dest": "/", "file-mode": "4755", "dir-mode": "755"}],
            "artifacts": [
                {"files": ["dist/*.whl"], "artifact-type": "text/plain", "subject": "ghcr.io/a/b:1"}
            ],
        }
    )

    assert project.settings.backend == "backend_module:Backend.instance"
    assert [target.is_layout for target in project.settings.targets] == [True, True, False]
    assert layers(project)[0].file_mode == 0o4755
    assert layers(project)[0].dir_mode == 0o755
    assert artifacts(project)[0].media_type is None
    assert artifacts(project)[0].tag is None


# --- one test per problem ------------------------------------------------------------------

_LAYER = {"source": "static", "dest": "/srv"}
_ARTIFACT = {"files": ["{wheel}"], "artifact-type": "application/vnd.acme.release.v1"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        pytest.param(
            {"job": 2},
            'tool.ocipush.job: unknown key — did you mean "jobs"?',
            id="unknown-top-level-key",
        ),
        pytest.param(
            {"zzz": 1},
            f"tool.ocipush.zzz: unknown key — known keys are {KNOWN_KEYS}",
            id="unknown-top-level-key-without-suggestion",
        ),
        pytest.param(
            {"zzz": {}},
            f"tool.ocipush.zzz: unknown key — known keys are {KNOWN_KEYS}; a plugin's table "
            "needs the plugin installed or listed in tool.ocipush.plugins",
            id="unknown-table-hints-at-plugins",
        ),
        pytest.param(
            {"backend": "hatchling build"},
            'tool.ocipush.backend: "hatchling build" — a build backend is a module path, '
            'optionally followed by ":object", such as "hatchling.build"',
            id="backend-grammar",
        ),
        pytest.param(
            {"backend": ""},
            'tool.ocipush.backend: "" — must not be empty',
            id="backend-empty",
        ),
        pytest.param(
            {"backend": ["hatchling.build"]},
            "tool.ocipush.backend: expected a string, got an array",
            id="backend-type",
        ),
        pytest.param(
            {"plugins": "ci.oci_hooks"},
            "tool.ocipush.plugins: expected an array, got a string",
            id="plugins-type",
        ),
        pytest.param(
            {"plugins": ["ci/oci_hooks.py"]},
            'tool.ocipush.plugins[0]: "ci/oci_hooks.py" — a plugin is a module importable '
            'from the project root, such as "ci.oci_hooks"',
            id="plugin-module-path",
        ),
        pytest.param(
            {"plugins": ["ok", 3]},
            "tool.ocipush.plugins[1]: expected a string, got an integer",
            id="plugin-type",
        ),
        pytest.param({"jobs": 0}, "tool.ocipush.jobs: 0 — must be at least 1", id="jobs-zero"),
        pytest.param({"jobs": 65}, "tool.ocipush.jobs: 65 — must be at most 64", id="jobs-65"),
        pytest.param(
            {"jobs": "4"},
            "tool.ocipush.jobs: expected an integer, got a string",
            id="jobs-string",
        ),
        pytest.param(
            {"jobs": True},
            "tool.ocipush.jobs: expected an integer, got a boolean",
            id="jobs-boolean",
        ),
        pytest.param(
            {"jobs": 2.5},
            "tool.ocipush.jobs: expected an integer, got a float",
            id="jobs-float",
        ),
        pytest.param(
            {"allow-nondistributable-artifacts": "false"},
            "tool.ocipush.allow-nondistributable-artifacts: expected a boolean, got a string",
            id="flag-type",
        ),
        pytest.param(
            {"outputs": "dist/ocipush.json"},
            "tool.ocipush.outputs: expected a table, got a string",
            id="outputs-type",
        ),
        pytest.param(
            {"outputs": {"jsn": "x.json"}},
            'tool.ocipush.outputs.jsn: unknown key — did you mean "json"?',
            id="outputs-unknown-key",
        ),
        pytest.param(
            {"outputs": {"json": ""}},
            'tool.ocipush.outputs.json: "" — must not be empty',
            id="outputs-json-empty",
        ),
        pytest.param(
            {"targets": {"ref": "ghcr.io/acme/app"}},
            "tool.ocipush.targets: expected an array of tables, got a table",
            id="targets-type",
        ),
        pytest.param(
            {"targets": []},
            "tool.ocipush.targets: empty array — add a [[tool.ocipush.targets]] table, "
            'or remove the key to push to "oci:dist/oci"',
            id="targets-empty",
        ),
        pytest.param(
            {"targets": ["ghcr.io/acme/app"]},
            "tool.ocipush.targets[0]: expected a table, got a string",
            id="target-type",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app"}, {"ref": "ghcr.io/Acme/app"}]},
            'tool.ocipush.targets[1].ref: "ghcr.io/Acme/app" — repository names must be lowercase',
            id="ref-uppercase",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/Acme/{name}:{version}"}]},
            'tool.ocipush.targets[0].ref: "ghcr.io/Acme/{name}:{version}" — '
            "repository names must be lowercase",
            id="ref-template-grammar",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/{nme}"}]},
            'tool.ocipush.targets[0].ref: "ghcr.io/acme/{nme}" — unknown placeholder {nme}; '
            "did you mean {name}?",
            id="ref-unknown-placeholder",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app:{wheel}"}]},
            'tool.ocipush.targets[0].ref: "ghcr.io/acme/app:{wheel}" — unknown placeholder '
            "{wheel}; use {major}, {micro}, {minor}, {name}, {version} or {env:VAR}",
            id="ref-distribution-placeholder",
        ),
        pytest.param(
            {"targets": [{"tags": ["latest"]}]},
            "tool.ocipush.targets[0].ref: missing required key; set it to a registry reference "
            'such as "ghcr.io/acme/{name}:{version}", or "oci:PATH[:TAG]" for an image layout '
            '(also "oci-archive:PATH[:TAG]", "docker-archive:PATH[:NAME:TAG]", '
            '"docker-daemon:NAME[:TAG]")',
            id="ref-missing",
        ),
        pytest.param(
            {"targets": [{"ref": "oci:"}]},
            'tool.ocipush.targets[0].ref: "oci:" — the layout path is empty; write oci:PATH or '
            "oci:PATH:TAG",
            id="layout-path-empty",
        ),
        pytest.param(
            {"targets": [{"ref": "oci:dist/oci:.v1"}]},
            'tool.ocipush.targets[0].ref: "oci:dist/oci:.v1" — '
            f"'.v1' is not a valid tag: {TAG_RULE}",
            id="layout-tag",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app", "tag": ["x"]}]},
            'tool.ocipush.targets[0].tag: unknown key — did you mean "tags"?',
            id="target-unknown-key",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app", "tags": ["latest", "-{major}"]}]},
            f'tool.ocipush.targets[0].tags[1]: "-{{major}}" — {TAG_RULE}',
            id="tag-grammar",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app", "tags": ["{version"]}]},
            'tool.ocipush.targets[0].tags[0]: "{version" — unmatched "{"; '
            'write "{{" for a literal brace',
            id="tag-unmatched-brace",
        ),
        pytest.param(
            {"targets": [{"ref": "ghcr.io/acme/app", "insecure": "yes"}]},
            "tool.ocipush.targets[0].insecure: expected a boolean, got a string",
            id="insecure-type",
        ),
        pytest.param(
            {"targets": [{"ref": "oci:dist/oci", "insecure": True}]},
            'tool.ocipush.targets[0].insecure: true — an "oci:" target is on this machine, '
            "so insecure does not apply; remove it",
            id="insecure-layout",
        ),
        pytest.param(
            {"layers": [{"dest": "/srv"}]},
            "tool.ocipush.layers[0].source: missing required key; set it to a directory or "
            'file relative to the project root, such as "static"',
            id="source-missing",
        ),
        pytest.param(
            {"layers": [{"source": "/etc/static", "dest": "/srv"}]},
            'tool.ocipush.layers[0].source: "/etc/static" — must be relative to the project root',
            id="source-absolute",
        ),
        pytest.param(
            {"layers": [{"source": "static"}]},
            "tool.ocipush.layers[0].dest: missing required key; set it to an absolute path "
            'in the image, such as "/srv/static"',
            id="dest-missing",
        ),
        pytest.param(
            {"layers": [{"source": "static", "dest": "srv/static"}]},
            'tool.ocipush.layers[0].dest: "srv/static" — must be an absolute path in the image, '
            'such as "/srv/static"',
            id="dest-relative",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "include": []}]},
            "tool.ocipush.layers[0].include: empty array — list at least one glob pattern, "
            'such as "**/*"',
            id="include-empty",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "exclude": [""]}]},
            'tool.ocipush.layers[0].exclude[0]: "" — must not be empty',
            id="exclude-empty-pattern",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "file-mode": 644}]},
            'tool.ocipush.layers[0].file-mode: expected a string of octal digits such as "0644", '
            "got an integer",
            id="file-mode-integer",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "dir-mode": "0789"}]},
            'tool.ocipush.layers[0].dir-mode: "0789" — a mode is 3 or 4 octal digits, '
            'such as "0644"',
            id="dir-mode-not-octal",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "uid": -1}]},
            "tool.ocipush.layers[0].uid: -1 — must be at least 0",
            id="uid-negative",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "gid": "0"}]},
            "tool.ocipush.layers[0].gid: expected an integer, got a string",
            id="gid-type",
        ),
        pytest.param(
            {"layers": [{**_LAYER, "mode": "0644"}]},
            'tool.ocipush.layers[0].mode: unknown key — did you mean "dir-mode"?',
            id="layer-unknown-key",
        ),
        pytest.param(
            {"artifacts": [{"artifact-type": "text/plain"}]},
            "tool.ocipush.artifacts[0].files: missing required key; set it to a list of files "
            'or globs, such as ["{wheel}", "{sdist}"]',
            id="files-missing",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "files": []}]},
            "tool.ocipush.artifacts[0].files: empty array — list at least one file or glob, "
            'such as "{wheel}"',
            id="files-empty",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "files": ["{whl}"]}]},
            'tool.ocipush.artifacts[0].files[0]: "{whl}" — unknown placeholder {whl}; '
            "did you mean {wheel}?",
            id="files-unknown-placeholder",
        ),
        pytest.param(
            {"artifacts": [{"files": ["{wheel}"]}]},
            "tool.ocipush.artifacts[0].artifact-type: missing required key; set it to a media "
            'type, such as "application/vnd.acme.release.v1"',
            id="artifact-type-missing",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "artifact-type": "application vnd.acme"}]},
            'tool.ocipush.artifacts[0].artifact-type: "application vnd.acme" — a media type is '
            'type/subtype, such as "application/vnd.acme.release.v1"',
            id="artifact-type-grammar",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "media-type": "application/"}]},
            'tool.ocipush.artifacts[0].media-type: "application/" — a media type is '
            'type/subtype, such as "application/vnd.acme.release.v1"',
            id="media-type-grammar",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "annotations": {"org.acme.build": 7}}]},
            'tool.ocipush.artifacts[0].annotations."org.acme.build": expected a string, '
            "got an integer",
            id="annotation-value-type",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "annotations": ["a=b"]}]},
            "tool.ocipush.artifacts[0].annotations: expected a table, got an array",
            id="annotations-type",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "subject": "Image"}]},
            'tool.ocipush.artifacts[0].subject: "Image" — repository names must be lowercase',
            id="subject-grammar",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "tag": "{version}+files"}]},
            f'tool.ocipush.artifacts[0].tag: "{{version}}+files" — {TAG_RULE}',
            id="artifact-tag-grammar",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "tags": ["x"]}]},
            'tool.ocipush.artifacts[0].tags: unknown key — did you mean "tag"?',
            id="artifact-unknown-key",
        ),
        pytest.param(
            {"layers": [{"source": "static", "dest": "/srv/../../etc"}]},
            'tool.ocipush.layers[0].dest: "/srv/../../etc" — must not contain ".."; write an '
            'absolute path in the image, such as "/srv/static"',
            id="dest-escapes",
        ),
        pytest.param(
            {"layers": [{"source": "static", "dest": "/srv", "allow-outside": "yes"}]},
            "tool.ocipush.layers[0].allow-outside: expected a boolean, got a string",
            id="layer-allow-outside-type",
        ),
        pytest.param(
            {"artifacts": [{**_ARTIFACT, "allow-outside": 1}]},
            "tool.ocipush.artifacts[0].allow-outside: expected a boolean, got an integer",
            id="artifact-allow-outside-type",
        ),
        pytest.param(
            {"outputs": {"json": "out.json", "allow_outside": True}},
            'tool.ocipush.outputs.allow_outside: unknown key — did you mean "allow-outside"?',
            id="outputs-allow-outside-spelling",
        ),
        pytest.param(
            {"targets": [{"ref": "alice:s3cret@ghcr.io/acme/app:1"}]},
            'tool.ocipush.targets[0].ref: "***@ghcr.io/acme/app:1" — credentials in a '
            "reference are not supported; use `ocipush login`",
            id="credentials-in-ref",
        ),
    ],
)
def test_each_problem_is_reported_with_its_path(table: dict[str, Any], message: str) -> None:
    assert problems_of(table) == [message]


def test_every_problem_is_reported_at_once() -> None:
    table = {
        "jobs": 0,
        "targets": [{"ref": "ghcr.io/acme/app"}, {"ref": "ghcr.io/Acme/app", "tag": "x"}],
        "layers": [{"source": "static", "dest": "srv"}],
    }

    with pytest.raises(ConfigError) as caught:
        read(table, source="demo/pyproject.toml")

    assert str(caught.value) == (
        "demo/pyproject.toml: 4 configuration problems:\n"
        "  tool.ocipush.jobs: 0 — must be at least 1\n"
        '  tool.ocipush.targets[1].tag: unknown key — did you mean "tags"?\n'
        '  tool.ocipush.targets[1].ref: "ghcr.io/Acme/app" — repository names must be lowercase\n'
        '  tool.ocipush.layers[0].dest: "srv" — must be an absolute path in the image, '
        'such as "/srv/static"'
    )
    assert caught.value.source == "demo/pyproject.toml"


def test_real_metadata_finds_problems_stand_ins_cannot() -> None:
    table = {"targets": [{"ref": "ghcr.io/acme/{name}:{version}"}]}
    assert parse_settings(table).targets[0].ref == "ghcr.io/acme/{name}:{version}"

    with_epoch = project_variables("app", "2!1.0")
    assert problems_of(table, metadata=with_epoch) == [
        'tool.ocipush.targets[0].ref: "ghcr.io/acme/{name}:{version}" '
        f'(expands to "ghcr.io/acme/app:2!1.0") — {TAG_RULE}'
    ]


def test_a_local_version_is_spelt_with_a_dash_in_tags_and_kept_elsewhere() -> None:
    local_build = project_variables("app", "1.0+Local.ABC")

    assert local_build["version"] == "1.0+local.abc"
    assert tag_variables(local_build)["version"] == "1.0-local.abc"
    settings = parse_settings({"targets": [{"ref": "r.io/app:{version}"}]}, metadata=local_build)
    assert settings.targets[0].ref == "r.io/app:{version}"


def test_validation_never_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIPUSH_TEST_SECRET", "Not A Valid Tag")

    settings = parse_settings(
        {"targets": [{"ref": "ghcr.io/acme/app", "tags": ["{env:OCIPUSH_TEST_SECRET}"]}]}
    )

    assert settings.targets[0].tags == ("{env:OCIPUSH_TEST_SECRET}",)


# --- plugin tables ---------------------------------------------------------------------------


def test_plugin_tables_are_kept_for_their_plugins() -> None:
    table = {"image": {"base": "python:3.12-slim"}, "sbom": {"format": "spdx"}}

    settings = parse_settings(table, plugin_names=["image", "sbom", "other"])

    assert settings.plugin_tables == table


def test_plugin_table_must_be_a_table() -> None:
    assert problems_of({"image": "python"}) == [
        "tool.ocipush.image: expected a table, got a string"
    ]


def test_unknown_key_suggests_plugin_names() -> None:
    assert problems_of({"imgae": {}}) == ['tool.ocipush.imgae: unknown key — did you mean "image"?']


def test_a_plugin_cannot_take_over_a_setting() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_settings({"jobs": {}}, plugin_names=["jobs"])
    assert [str(p) for p in caught.value.problems] == [
        "tool.ocipush.jobs: expected an integer, got a table"
    ]


# --- templates -------------------------------------------------------------------------------


def test_expand_template_fills_every_kind_of_placeholder() -> None:
    variables = {**project_variables("Acme_App", "2.5.1rc1"), "wheel": "dist/a.whl"}

    text = expand_template(
        "{name}:{version} {major}.{minor}.{micro} {wheel} {env:CI_REF} {{literal}}",
        variables,
        environ={"CI_REF": "main"},
    )

    assert text == "acme-app:2.5.1rc1 2.5.1 dist/a.whl main {literal}"


def test_expand_template_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OCIPUSH_TEST_TAG", "nightly")

    assert expand_template("{env:OCIPUSH_TEST_TAG}", {}) == "nightly"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "{nme}", '"{nme}" — unknown placeholder {nme}; did you mean {name}?', id="close"
        ),
        pytest.param(
            "{build}",
            '"{build}" — unknown placeholder {build}; use {name}, {version} or {env:VAR}',
            id="far",
        ),
        pytest.param(
            "{env:OCIPUSH_UNSET}",
            '"{env:OCIPUSH_UNSET}" — environment variable OCIPUSH_UNSET is not set; '
            "set it or remove {env:OCIPUSH_UNSET}",
            id="unset-env",
        ),
        pytest.param(
            "{env:}",
            '"{env:}" — {env:} needs an environment variable name, such as {env:CI_COMMIT_TAG}',
            id="env-without-name",
        ),
        pytest.param(
            "v{version}}",
            '"v{version}}" — unmatched "}"; write "}}" for a literal brace',
            id="stray-closing-brace",
        ),
    ],
)
def test_expand_template_errors(text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        expand_template(
            text,
            {"name": "app", "version": "1.0"},
            environ={},
            path="tool.ocipush.targets[0].ref",
        )

    assert caught.value.problems == (ConfigProblem("tool.ocipush.targets[0].ref", message),)


def test_expand_template_errors_never_show_environment_values() -> None:
    with pytest.raises(ConfigError) as caught:
        expand_template("{env:TOKEN}{oops}", {}, environ={"TOKEN": "s3cr3t"})

    assert "s3cr3t" not in str(caught.value)


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("1.2.3", ("1", "2", "3")),
        ("2024.1", ("2024", "1", "0")),
        ("3", ("3", "0", "0")),
        ("1.02.3.4", ("1", "2", "3")),
        ("v1.0rc1+local", ("1", "0", "0")),
        ("1!2.3.post1", ("2", "3", "0")),
    ],
)
def test_project_variables(version: str, expected: tuple[str, str, str]) -> None:
    variables = project_variables("My.Project__Name", version)

    assert variables == {
        "name": "my-project-name",
        "version": str(Version(version)),
        "major": expected[0],
        "minor": expected[1],
        "micro": expected[2],
    }


def test_project_variables_rejects_a_version_without_release() -> None:
    with pytest.raises(ConfigError) as caught:
        project_variables("app", "dev")

    assert [str(p) for p in caught.value.problems] == [
        'project.version: "dev" — not a PEP 440 version; '
        'write one such as "1.2.3", "1.2.3rc1" or "1.2.3.post1"'
    ]


# --- loading pyproject.toml ------------------------------------------------------------------


def test_load_settings_without_table_gives_defaults(tmp_path: Path) -> None:
    project = write_project(tmp_path, '[project]\nname = "app"\nversion = "1.0"\n')

    assert load_settings(project) == Settings()


def test_load_settings_reports_the_file(tmp_path: Path) -> None:
    project = write_project(tmp_path, "[tool.ocipush]\njobs = -2\n")

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert str(caught.value) == (
        f"{tmp_path / 'pyproject.toml'}: 1 configuration problem:\n"
        "  tool.ocipush.jobs: -2 — must be at least 1"
    )


def test_load_settings_checks_templates_with_static_metadata(tmp_path: Path) -> None:
    project = write_project(
        tmp_path,
        '[project]\nname = "app"\nversion = "1!1.0"\n\n'
        '[[tool.ocipush.targets]]\nref = "ghcr.io/acme/{name}:{version}"\n',
    )

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert [str(p) for p in caught.value.problems] == [
        'tool.ocipush.targets[0].ref: "ghcr.io/acme/{name}:{version}" '
        f'(expands to "ghcr.io/acme/app:1!1.0") — {TAG_RULE}'
    ]


def test_load_settings_rejects_a_static_version_without_release(tmp_path: Path) -> None:
    project = write_project(tmp_path, '[project]\nname = "app"\nversion = "dev"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert caught.value.source == str(tmp_path / "pyproject.toml")
    assert [p.path for p in caught.value.problems] == ["project.version"]


def test_load_settings_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)

    assert str(caught.value) == (
        f"{tmp_path}: 1 configuration problem:\n"
        "  pyproject.toml: no such file — run ocipush in the project's directory, "
        "or name it with --project DIR"
    )


def test_load_settings_toml_syntax_error(tmp_path: Path) -> None:
    project = write_project(tmp_path, '[tool.ocipush]\njobs = 4\nbackend = "x" "y"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert str(caught.value) == (
        f"{tmp_path / 'pyproject.toml'}: 1 configuration problem:\n"
        "  line 3, column 15: invalid TOML: "
        "expected newline or end of document after a statement"
    )


def test_load_settings_toml_error_at_end_of_file(tmp_path: Path) -> None:
    project = write_project(tmp_path, "[tool.ocipush]\njobs = ")

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert [str(p) for p in caught.value.problems] == ["end of file: invalid TOML: invalid value"]


def test_load_settings_rejects_a_non_table(tmp_path: Path) -> None:
    project = write_project(tmp_path, '[tool]\nocipush = "hatchling"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(project)

    assert [str(p) for p in caught.value.problems] == [
        "tool.ocipush: expected a table, got a string"
    ]


def test_load_settings_rejects_non_utf8(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_bytes(b'[tool.ocipush]\nbackend = "\xff"\n')

    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path)

    assert [str(p) for p in caught.value.problems] == [
        "byte 26: not UTF-8 — TOML files must be UTF-8 encoded"
    ]
