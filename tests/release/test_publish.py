"""The release job as a library: ``open_project`` → ``make_plan`` → ``execute``."""

from __future__ import annotations

import json
import sys
import textwrap

import pytest

from ocipush.release.publish import execute, make_plan, open_project


@pytest.fixture
def project_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "lib-app"\nversion = "3.1.4"\n\n'
        '[tool.ocipush]\nplugins = ["after_pub1"]\noutputs = { json = "out/{version}.json" }\n\n'
        '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n'
    )
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a\n")
    (tmp_path / "after_pub1.py").write_text(
        textwrap.dedent(
            """
            from ocipush.release.hookspecs import hookimpl

            CALLS = []

            @hookimpl
            def ocipush_after_push(results):
                CALLS.append([r.to_json() for r in results])
            """
        )
    )
    yield tmp_path
    sys.modules.pop("after_pub1", None)


def test_execute_publishes_then_calls_after_push_once(project_dir):
    project, manager = open_project(project_dir)
    plan = make_plan(project, manager)

    results = execute(plan, project, manager)

    (result,) = results
    assert (result.kind, result.refs) == ("layout", (f"oci:{project_dir}/dist/oci:3.1.4",))
    index = json.loads((project_dir / "dist" / "oci" / "index.json").read_text())
    assert [m["digest"] for m in index["manifests"]] == [result.digest]
    calls = sys.modules["after_pub1"].CALLS
    assert calls == [[result.to_json()]]
    assert json.loads((project_dir / "out" / "3.1.4.json").read_text()) == {
        "project": "lib-app",
        "version": "3.1.4",
        "targets": [result.to_json()],
    }


def test_planning_alone_never_calls_after_push_or_writes(project_dir):
    project, manager = open_project(project_dir)

    make_plan(project, manager, check=True)

    assert sys.modules["after_pub1"].CALLS == []
    assert not (project_dir / "dist").exists()
    assert not (project_dir / "out").exists()
