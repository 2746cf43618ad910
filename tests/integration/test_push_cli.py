"""``ocipush plan|push|build`` in-process against the session's real registry.

What landed is read back with skopeo and plain HTTP, never through ocipush itself.
"""

from __future__ import annotations

import hashlib
import io
import json
import urllib.request

import pytest

from ocipush.cli import main
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.tools import registry_push_blob, skopeo_inspect_raw, umoci_unpack

INDEX = "application/vnd.oci.image.index.v1+json"
ARTIFACT_TYPE = "application/vnd.acme.release.v1"


def _sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob(host: str, repo: str, digest: str) -> bytes:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=10) as response:
        return response.read()


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def project(tmp_path, monkeypatch, registry, repo_name):
    """A project with a static layer, its wheel and sdist as a referrer, and two targets."""
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    (tmp_path / "pyproject.toml").write_text(
        f"""\
[project]
name = "cli-app"
version = "2.0.0"

[tool.ocipush]
outputs = {{ json = "build/outputs.json" }}

[[tool.ocipush.targets]]
ref = "{registry.host}/{repo_name}:{{version}}"

[[tool.ocipush.targets]]
ref = "oci:dist/oci"

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/www"

[[tool.ocipush.artifacts]]
files = ["{{wheel}}", "{{sdist}}"]
artifact-type = "{ARTIFACT_TYPE}"
subject = "image"
"""
    )
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<p>cli</p>\n")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "cli_app-2.0.0-py3-none-any.whl").write_bytes(b"PK wheel of cli-app")
    (tmp_path / "dist" / "cli_app-2.0.0.tar.gz").write_bytes(b"sdist of cli-app")
    return tmp_path


#: What a run says when dist/ already holds this release's files, newer than the sources.
REUSED = (
    "ocipush: using dist/cli_app-2.0.0-py3-none-any.whl: newer than every project file\n"
    "ocipush: using dist/cli_app-2.0.0.tar.gz: newer than every project file\n"
)


def _requests_for(registry, repo: str) -> list:
    return [r for r in registry.requests() if f"/v2/{repo}/" in r.path]


def test_plan_shows_both_targets_and_sends_nothing(project, registry, repo_name, capsys):
    code, out, err = _run(capsys, "plan", "--project", str(project))

    assert (code, err) == (0, REUSED)
    assert f"target {registry.host}/{repo_name}:2.0.0 (registry)\n" in out
    assert "target oci:dist/oci:2.0.0 (layout)\n" in out
    assert f"  scopes: repository:{repo_name}:pull,push\n" in out
    assert _requests_for(registry, repo_name) == []
    assert not (project / "dist" / "oci").exists()


def test_plan_check_marks_blobs_the_registry_has_as_present(project, registry, repo_name, capsys):
    wheel = (project / "dist" / "cli_app-2.0.0-py3-none-any.whl").read_bytes()
    registry_push_blob(registry.host, repo_name, wheel)

    code, out, err = _run(capsys, "plan", "--project", str(project), "--check", "--json")

    assert (code, err) == (0, REUSED)
    target = json.loads(out)["targets"][0]
    actions = {b["digest"]: b["action"] for b in target["blobs"]}
    assert actions.pop(_sha256(wheel)) == "present"
    assert set(actions.values()) == {"upload"}
    assert target["notes"] == []
    heads = [r for r in _requests_for(registry, repo_name) if r.method == "HEAD"]
    assert len(heads) == 5
    assert all(
        r.method in {"HEAD", "GET", "POST", "PUT"} for r in _requests_for(registry, repo_name)
    )
    assert not [r for r in _requests_for(registry, repo_name) if "/manifests/" in r.path]


def test_push_lands_in_the_registry_with_its_referrer(project, registry, repo_name, capsys):
    code, out, err = _run(capsys, "push", "--project", str(project), "--json")

    assert (code, err) == (0, REUSED)
    result = json.loads(out)
    pushed, layout = result["targets"]
    raw = skopeo_inspect_raw(f"{registry.host}/{repo_name}:2.0.0")
    assert pushed["digest"] == layout["digest"] == _sha256(raw)
    (artifact_digest,) = pushed["artifacts"]
    assert pushed["refs"] == [
        f"{registry.host}/{repo_name}:2.0.0@{_sha256(raw)}",
        f"{registry.host}/{repo_name}@{artifact_digest}",
    ]
    # The referrers fallback tag lists the artifact, by digest and type.
    fallback = json.loads(
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:{_sha256(raw).replace(':', '-')}")
    )
    assert fallback["mediaType"] == INDEX
    assert [(m["digest"], m["artifactType"]) for m in fallback["manifests"]] == [
        (artifact_digest, ARTIFACT_TYPE)
    ]
    artifact = json.loads(skopeo_inspect_raw(f"{registry.host}/{repo_name}@{artifact_digest}"))
    assert artifact["subject"]["digest"] == _sha256(raw)
    for layer, name in zip(
        artifact["layers"], ["cli_app-2.0.0-py3-none-any.whl", "cli_app-2.0.0.tar.gz"], strict=True
    ):
        assert layer["annotations"]["org.opencontainers.image.title"] == name
        assert (
            _blob(registry.host, repo_name, layer["digest"])
            == (project / "dist" / name).read_bytes()
        )
    # outputs.json holds what --json printed.
    assert json.loads((project / "build" / "outputs.json").read_text()) == result
    # The layout target got the same image, and it unpacks to the static files.
    rootfs = umoci_unpack(project / "dist" / "oci", "2.0.0", project / "bundle")
    assert (rootfs / "srv" / "www" / "index.html").read_text() == "<p>cli</p>\n"


def test_push_prints_every_ref_without_json(project, registry, repo_name, capsys):
    code, out, _ = _run(capsys, "push", "--project", str(project))

    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 4
    assert lines[0].startswith(f"{registry.host}/{repo_name}:2.0.0@sha256:")
    assert lines[2] == f"oci:{project}/dist/oci:2.0.0"


def test_target_replaces_the_configured_targets(project, registry, repo_name, capsys):
    other = f"{registry.host}/{repo_name}/other:x1"

    code, out, err = _run(capsys, "push", "--project", str(project), "--target", other, "--json")

    assert (code, err) == (0, REUSED)
    (target,) = json.loads(out)["targets"]
    assert target["target"] == other
    assert _sha256(skopeo_inspect_raw(other)) == target["digest"]
    assert not [r for r in _requests_for(registry, repo_name) if "/manifests/2.0.0" in r.path]
    assert not (project / "dist" / "oci").exists()


def test_build_writes_only_the_layout(project, registry, repo_name, capsys):
    code, out, err = _run(capsys, "build", "--project", str(project))

    assert (code, err) == (0, REUSED)
    assert out.splitlines()[0] == f"oci:{project}/dist/oci:2.0.0"
    assert _requests_for(registry, repo_name) == []
    rootfs = umoci_unpack(project / "dist" / "oci", "2.0.0", project / "bundle")
    assert (rootfs / "srv" / "www" / "index.html").read_text() == "<p>cli</p>\n"


def test_build_without_a_configured_layout_uses_dist_oci(project, registry, repo_name, capsys):
    text = (project / "pyproject.toml").read_text().replace('ref = "oci:dist/oci"', 'ref = "oci:x"')
    (project / "pyproject.toml").write_text(
        text.replace('[[tool.ocipush.targets]]\nref = "oci:x"\n', "")
    )

    code, out, _ = _run(capsys, "build", "--project", str(project))

    assert code == 0
    assert out.splitlines()[0] == f"oci:{project}/dist/oci:2.0.0"
    assert _requests_for(registry, repo_name) == []


def test_config_error_exits_2_with_every_problem(project, capsys):
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace("[tool.ocipush]\n", "[tool.ocipush]\njobs = 0\n").replace(
            'dest = "/srv/www"', 'dest = "srv/www"'
        )
    )

    code, out, err = _run(capsys, "push", "--project", str(project))

    assert (code, out) == (2, "")
    assert err == (
        f"error: {project / 'pyproject.toml'}: 2 configuration problems:\n"
        "  tool.ocipush.jobs: 0 — must be at least 1\n"
        '  tool.ocipush.layers[0].dest: "srv/www" — must be an absolute path in the image, '
        'such as "/srv/static"\n'
    )


def test_an_unreachable_registry_exits_1(project, capsys):
    code, out, err = _run(
        capsys, "push", "--project", str(project), "--target", "127.0.0.1:9/nobody/home:1"
    )

    assert (code, out) == (1, "")
    assert err.startswith(REUSED + "error: ")
    assert "127.0.0.1:9" in err


def test_push_with_username_and_password_stdin(
    project, htpasswd_registry, repo_name, capsys, monkeypatch
):
    """--username/--password-stdin log in to every registry target of the run."""
    target = f"{htpasswd_registry.host}/{repo_name}:auth"
    monkeypatch.setenv("DOCKER_CONFIG", str(project / "no-docker-config"))
    monkeypatch.setattr("sys.stdin", io.StringIO(HTPASSWD_PASSWORD + "\n"))
    code, out, err = _run(
        capsys,
        "push",
        "--project",
        str(project),
        "--target",
        target,
        "--username",
        HTPASSWD_USER,
        "--password-stdin",
    )
    assert code == 0, err
    pushed = skopeo_inspect_raw(target, creds=(HTPASSWD_USER, HTPASSWD_PASSWORD))
    assert f"{target}@{_sha256(pushed)}" in out
    assert HTPASSWD_PASSWORD not in out + err

    code, _, err = _run(capsys, "push", "--project", str(project), "--target", target)
    assert code == 1
    assert f"authentication to {htpasswd_registry.host} as anonymous failed" in err


def test_no_build_takes_dist_as_it_is_even_when_older_than_the_sources(
    project, registry, repo_name, capsys
):
    (project / "static" / "late.html").write_text("<p>edited after the build</p>\n")

    code, out, err = _run(capsys, "build", "--project", str(project), "--no-build")

    assert code == 0, err
    assert err == (
        "ocipush: --no-build: using dist/cli_app-2.0.0-py3-none-any.whl as it is\n"
        "ocipush: --no-build: using dist/cli_app-2.0.0.tar.gz as it is\n"
    )
    assert out.splitlines()[0] == f"oci:{project}/dist/oci:2.0.0"


def test_no_build_without_the_files_is_a_usage_error(project, capsys):
    (project / "dist" / "cli_app-2.0.0.tar.gz").unlink()

    code, out, err = _run(capsys, "push", "--project", str(project), "--no-build")

    assert (code, out) == (2, "")
    assert err.endswith(
        f"error: --no-build: no sdist of cli-app 2.0.0 in {project / 'dist'}; build it "
        "(python -m build) or drop --no-build to let ocipush build it\n"
    )
    assert not (project / "dist" / "oci").exists()
