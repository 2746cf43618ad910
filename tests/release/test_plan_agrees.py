"""`ocipush plan --check` shows what the push then does, blob by blob (a real registry)."""

from __future__ import annotations

from ocipush.release.publish import execute, make_plan, open_project

PYPROJECT = """\
[project]
name = "agree-app"
version = "1.0.0"

[[tool.ocipush.targets]]
ref = "{ref}"

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/static"

[[tool.ocipush.layers]]
source = "assets"
dest = "/srv/assets"
"""


def _project(tmp_path, ref: str):
    (tmp_path / "pyproject.toml").write_text(PYPROJECT.format(ref=ref))
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<p>hi</p>\n")
    (tmp_path / "assets").mkdir()
    (tmp_path / "assets" / "app.css").write_text("body{}\n")
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "agree_app-1.0.0-py3-none-any.whl").write_bytes(b"wheel-bytes")
    (tmp_path / "dist" / "agree_app-1.0.0.tar.gz").write_bytes(b"sdist-bytes")


def _plan_and_push(tmp_path):
    project, manager = open_project(tmp_path)
    plan = make_plan(project, manager, check=True)
    (target,) = plan.targets
    planned = {
        action: {b.digest for b in target.blobs if b.action == action}
        for action in ("upload", "present", "mount", "skip-nondistributable")
    }
    execute(plan, project, manager)
    done = target.executor.writer.last_result  # the writer that executed this plan
    pushed = {
        "upload": {str(d) for d in done.uploaded},
        "present": {str(d) for d in done.existing},
        "mount": {str(d) for d in done.mounted},
        "skip-nondistributable": {str(d) for d in done.skipped_nondistributable},
    }
    return planned, pushed


def test_plan_and_push_agree_on_every_blob(registry, repo_name, tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    _project(tmp_path, f"{registry.host}/{repo_name}:1.0.0")

    first_planned, first_pushed = _plan_and_push(tmp_path)
    (tmp_path / "assets" / "app.css").write_text("body{color:red}\n")
    second_planned, second_pushed = _plan_and_push(tmp_path)

    assert first_pushed == first_planned
    assert len(first_planned["upload"]) == 3  # two layers and the config
    assert second_pushed == second_planned
    # Only the changed layer and the new config go up; the unchanged layer is left alone.
    assert len(second_planned["upload"]) == 2
    assert len(second_planned["present"]) == 1
    assert second_planned["present"] < first_planned["upload"]
