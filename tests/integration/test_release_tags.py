"""Release-safe tags and the ``jobs`` setting, through ``ocipush push`` and ``plan``.

A pre-release, development or local version never moves ``latest`` or a tag made only of
``{major}``/``{minor}``/``{micro}``; ``{version}`` tags always land, spelt as tags allow.
What is checked is what the registry lists (skopeo) and what the user is told.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import ocipush.release.publish
from ocipush.cli import main
from support.tools import skopeo_inspect_raw, skopeo_list_tags

FLOATING = ["{major}.{minor}.{micro}", "{major}.{minor}", "{major}", "latest"]


def _project(root: Path, version: str, ref: str, tags: list[str], *, jobs: int = 4) -> Path:
    root.mkdir()
    (root / "static").mkdir()
    (root / "static" / "index.html").write_text("<p>tags</p>\n")
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "tagapp"\nversion = "{version}"\n\n'
        f"[tool.ocipush]\njobs = {jobs}\n\n"
        f'[[tool.ocipush.targets]]\nref = "{ref}"\ntags = {json.dumps(tags)}\n\n'
        '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n'
    )
    return root


def _push(capsys, project: Path) -> tuple[int, str, str]:
    code = main(["push", "--no-progress", "--project", str(project)])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("version", "kind", "kept"),
    [
        ("1.0rc1", "a pre-release", {"1.0rc1", "v1.0rc1-build"}),
        ("1.0.dev3", "a development release", {"1.0.dev3", "v1.0.dev3-build"}),
        ("1.0+local.abc", "a local version", {"1.0-local.abc", "v1.0-local.abc-build"}),
    ],
)
def test_a_version_that_is_not_final_moves_no_floating_tag(
    registry, repo_name, tmp_path, capsys, version, kind, kept
):
    ref = f"{registry.host}/{repo_name}:{{version}}"
    project = _project(tmp_path / "p", version, ref, [*FLOATING, "v{version}-build"])

    code, out, err = _push(capsys, project)

    assert code == 0, err
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == kept
    assert out.splitlines()[0].startswith(f"{registry.host}/{repo_name}:{sorted(kept)[0]}@")
    for tag in ("1.0.0", "1.0", "1", "latest"):
        assert f"ocipush: tag {tag} of {registry.host}/{repo_name}:" in err
    assert f"{version.replace('+', '-')} is {kind}" in err or f"is {kind}" in err


def test_a_final_release_moves_every_tag(registry, repo_name, tmp_path, capsys):
    ref = f"{registry.host}/{repo_name}:{{version}}"
    project = _project(tmp_path / "p", "1.0.post1", ref, FLOATING)

    code, _out, err = _push(capsys, project)

    assert code == 0, err
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == {
        "1.0.post1",
        "1.0.0",
        "1.0",
        "1",
        "latest",
    }
    assert "not moved" not in err


def test_when_every_tag_is_skipped_the_image_is_pushed_by_digest(
    registry, repo_name, tmp_path, capsys
):
    # The example: an epoch, a pre-release, a post and a dev part all at once.
    ref = f"{registry.host}/{repo_name}:{{major}}.{{minor}}.{{micro}}"
    project = _project(tmp_path / "p", "2!1.0rc1.post2.dev3", ref, ["latest"])

    code, out, err = _push(capsys, project)

    assert code == 0, err
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == set()
    pinned = out.splitlines()[0]
    assert pinned.startswith(f"{registry.host}/{repo_name}@sha256:")
    assert json.loads(skopeo_inspect_raw(pinned))["layers"]
    assert f"tag 1.0.0 of {registry.host}/{repo_name} not moved: 2!1.0rc1.post2.dev3 is a " in err


def test_an_implied_latest_is_a_floating_tag_too(registry, repo_name, tmp_path, capsys):
    project = _project(tmp_path / "p", "3.0b1", f"{registry.host}/{repo_name}", [])

    code, _out, err = _push(capsys, project)

    assert code == 0, err
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == set()
    assert "tag latest of" in err


def test_plan_lists_each_skipped_tag_with_its_reason(registry, repo_name, tmp_path, capsys):
    ref = f"{registry.host}/{repo_name}:{{version}}"
    project = _project(tmp_path / "p", "1.0rc1", ref, ["latest"])

    code = main(["plan", "--project", str(project), "--json"])
    out, err = capsys.readouterr()

    assert code == 0, err
    (target,) = json.loads(out)["targets"]
    assert target["tags"] == [f"{registry.host}/{repo_name}:1.0rc1"]
    assert target["skippedTags"] == [
        {"tag": "latest", "reason": "1.0rc1 is a pre-release; latest moves only for final releases"}
    ]
    assert main(["plan", "--project", str(project)]) == 0
    table = capsys.readouterr().out
    assert "  skipped tag latest: 1.0rc1 is a pre-release; latest moves only" in table


def _jobs_used(monkeypatch, capsys, *arguments: str) -> tuple[int, int | None, str]:
    """The ``jobs`` a run's project carries, as the plan step receives it."""
    seen: list[int] = []
    real = ocipush.release.publish.make_plan

    def spy(project, manager, **options):
        seen.append(project.settings.jobs)
        return real(project, manager, **options)

    # The handler module binds make_plan when first imported: patched where it is used.
    monkeypatch.setattr("ocipush.cli.project_commands.make_plan", spy)
    code = main(["plan", *arguments])
    return code, (seen[0] if seen else None), capsys.readouterr().err


def test_configured_jobs_apply_unless_the_flag_is_given(monkeypatch, capsys, tmp_path):
    project = _project(tmp_path / "p", "1.0", "oci:out", [], jobs=2)

    assert _jobs_used(monkeypatch, capsys, "--project", str(project))[:2] == (0, 2)
    assert _jobs_used(monkeypatch, capsys, "--project", str(project), "--jobs", "7")[:2] == (0, 7)


@pytest.mark.parametrize("value", ["0", "65", "99999999999999999999", "many"])
def test_jobs_out_of_bounds_is_a_usage_error(monkeypatch, capsys, tmp_path, value):
    project = _project(tmp_path / "p", "1.0", "oci:out", [])

    with pytest.raises(SystemExit) as exited:
        _jobs_used(monkeypatch, capsys, "--project", str(project), "--jobs", value)

    assert exited.value.code == 2
    assert f"--jobs: '{value}' is not a whole number from 1 to 64" in capsys.readouterr().err
