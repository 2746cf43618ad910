"""``ocipush plan`` as a user meets a bad configuration: every problem a run can know before
it touches the network, in one report, each with its key path, and exit status 2; a plugin
that returns the wrong thing is named (issue 12 items 4, 8 and 9; issue 11 item 4).

Driven through the real CLI entry point; none of these runs reaches a registry.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

import pytest

from ocipush.cli import main

HEAD = '[project]\nname = "val-app"\nversion = "1.0.0"\n\n[tool.ocipush]\n'
LAYER = '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n'


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    monkeypatch.delenv("OCIPUSH_UNSET_VAR", raising=False)
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "index.html").write_text("<p>hi</p>\n")
    return tmp_path


def _write(root: Path, text: str) -> None:
    (root / "pyproject.toml").write_text(HEAD + textwrap.dedent(text))


def _plan(capsys: pytest.CaptureFixture[str], root: Path, *argv: str) -> tuple[int, str, str]:
    code = main(["plan", "--project", str(root), "--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def _problems(err: str) -> list[str]:
    """The problem lines of an ``error: …: N configuration problems:`` report."""
    return [line.strip() for line in err.splitlines() if line.startswith("  ")]


def test_a_disabled_plugins_table_is_named_not_nothing_to_publish(project, capsys):
    _write(project, LAYER)

    code, _, err = _plan(capsys, project, "-p", "no:files")

    assert code == 2
    assert _problems(err) == [
        "tool.ocipush.layers: table tool.ocipush.layers belongs to plugin 'files', which is "
        "disabled (-p no:files); remove the table or enable the plugin"
    ]
    assert "nothing to publish" not in err


def test_an_unknown_plugin_does_not_hide_the_other_problems(project, capsys):
    _write(
        project,
        """\
        plugins = ["no_such_plugin_mod"]
        jobs = 0
        imgae = {}

        [[tool.ocipush.targets]]
        ref = "127.0.0.1:1/Upper"

        [[tool.ocipush.layers]]
        dest = "srv"
        """,
    )

    code, _, err = _plan(capsys, project)

    assert code == 2
    assert f"error: {project / 'pyproject.toml'}: 6 configuration problems:" in err
    assert _problems(err) == [
        "tool.ocipush.plugins[0]: plugin 'no_such_plugin_mod' failed to import: "
        "ModuleNotFoundError: No module named 'no_such_plugin_mod'",
        "tool.ocipush.jobs: 0 — must be at least 1",
        'tool.ocipush.targets[0].ref: "127.0.0.1:1/Upper" — repository names must be lowercase',
        "tool.ocipush.layers[0].source: missing required key; set it to a directory or file "
        'relative to the project root, such as "static"',
        'tool.ocipush.layers[0].dest: "srv" — must be an absolute path in the image, '
        'such as "/srv/static"',
        'tool.ocipush.imgae: unknown key — did you mean "image"?',
    ]


def test_an_unset_variable_in_one_target_is_reported_beside_another_targets_error(project, capsys):
    _write(
        project,
        """\
        [[tool.ocipush.targets]]
        ref = "127.0.0.1:1/c1:{env:OCIPUSH_UNSET_VAR}"

        [[tool.ocipush.targets]]
        ref = "127.0.0.1:1/Bad"
        """
        + LAYER,
    )

    code, _, err = _plan(capsys, project)

    assert code == 2
    assert _problems(err) == [
        'tool.ocipush.targets[1].ref: "127.0.0.1:1/Bad" — repository names must be lowercase',
        'tool.ocipush.targets[0].ref: "127.0.0.1:1/c1:{env:OCIPUSH_UNSET_VAR}" — environment '
        "variable OCIPUSH_UNSET_VAR is not set; set it or remove {env:OCIPUSH_UNSET_VAR}",
    ]


def test_an_error_after_template_expansion_carries_its_key_path(project, capsys, monkeypatch):
    monkeypatch.setenv("OCIPUSH_EMPTY_TAG", "")
    _write(
        project,
        """\
        [[tool.ocipush.targets]]
        ref = "oci:dist/oci"

        [[tool.ocipush.targets]]
        ref = "127.0.0.1:6100/c2:{env:OCIPUSH_EMPTY_TAG}"
        """
        + LAYER,
    )

    code, _, err = _plan(capsys, project)

    assert code == 2
    [problem] = _problems(err)
    assert problem.startswith(
        'tool.ocipush.targets[1].ref: "127.0.0.1:6100/c2:{env:OCIPUSH_EMPTY_TAG}" '
        '(expands to "127.0.0.1:6100/c2:") — '
    )


def test_a_missing_layer_source_is_reported_with_the_other_problems(project, capsys):
    _write(
        project,
        'jobs = 0\n[[tool.ocipush.layers]]\nsource = "no-such-dir"\ndest = "/srv"\n'
        '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n',
    )

    code, _, err = _plan(capsys, project)

    assert code == 2
    assert f"error: {project / 'pyproject.toml'}: 2 configuration problems:" in err
    assert _problems(err) == [
        "tool.ocipush.jobs: 0 — must be at least 1",
        'tool.ocipush.layers[0].source: "no-such-dir" does not exist',
    ]


def test_nothing_to_publish_exits_2(project, capsys):
    _write(project, "")

    code, _, err = _plan(capsys, project)

    assert code == 2
    assert _problems(err) == [
        "tool.ocipush: nothing to publish — add [[tool.ocipush.layers]], "
        "[[tool.ocipush.artifacts]] or a plugin that contributes content"
    ]


def test_a_plugin_returning_the_wrong_type_is_blamed_where_it_enters_the_core(
    project, capsys, fresh_plugin_modules
):
    (project / "bad_layers_v9.py").write_text(
        textwrap.dedent(
            """\
            from ocipush.release.hookspecs import hookimpl

            @hookimpl
            def ocipush_add_layers(project):
                return ["not a blob", 42]
            """
        )
    )
    _write(project, 'plugins = ["bad_layers_v9"]\n')

    code, _, err = _plan(capsys, project)

    assert code == 1
    assert err == (
        "error: plugin 'bad_layers_v9' returned ['not a blob', 42] from ocipush_add_layers: "
        "expected a list of layer blobs (ocipush.oci.blobs.Blob), but item 0 is a str\n"
    )
    assert "AttributeError" not in err


def test_disabling_a_plugin_that_does_not_exist_warns_and_names_the_known_ones(project, capsys):
    _write(project, LAYER)

    code, out, err = _plan(capsys, project, "-p", "no:nonexistent")

    assert code == 0
    assert "-p no:nonexistent: there is no plugin named 'nonexistent', so nothing was " in err
    known = err.split("known plugins: ")[1].splitlines()[0]
    assert "files" in known.split(", ")
    assert "scratch" in known.split(", ")
    assert "oci:dist/oci" in out


@pytest.fixture
def fresh_plugin_modules():
    """Forget the plugin modules a test imported from its project."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("bad_layers"):
            del sys.modules[name]


def test_a_third_party_plugin_reads_its_table_with_the_one_reader(
    project, capsys, fresh_plugin_modules
):
    """A project plugin's problems come in the same report as the core's, worded alike, and
    what its ocipush_configure returned comes back to its later hooks."""
    (project / "bad_layers_reader.py").write_text(
        textwrap.dedent(
            """\
            import dataclasses
            from ocipush.release.hookspecs import hookimpl

            @hookimpl
            def ocipush_configure(config):
                table = config.table("bad_layers_reader")
                if table is None:
                    return None
                table.only_known(("level",))
                return table.integer("level", minimum=0, maximum=9)

            @hookimpl
            def ocipush_modify_plan(plan, project):
                level = project.configured("bad_layers_reader", int)
                return dataclasses.replace(plan, notes=(*plan.notes, f"level is {level}"))
            """
        )
    )
    _write(
        project,
        'plugins = ["bad_layers_reader"]\njobs = 99\n'
        "[tool.ocipush.bad_layers_reader]\nlevel = 12\nlevle = 1\n" + LAYER,
    )

    code, _, err = _plan(capsys, project)

    assert code == 2
    assert _problems(err) == [
        "tool.ocipush.jobs: 99 — must be at most 64",
        'tool.ocipush.bad_layers_reader.levle: unknown key — did you mean "level"?',
        "tool.ocipush.bad_layers_reader.level: 12 — must be at most 9",
    ]

    _write(
        project,
        'plugins = ["bad_layers_reader"]\n[tool.ocipush.bad_layers_reader]\nlevel = 3\n' + LAYER,
    )
    code, out, _ = _plan(capsys, project)
    assert code == 0
    assert "level is 3" in out
