"""The plugin manager: what gets loaded, in which order, and how plugin failures are reported."""

from __future__ import annotations

import dataclasses
import sys
import textwrap
from pathlib import Path

import pytest

from ocipush.cli import main
from ocipush.errors import ConfigError, PluginError
from ocipush.oci.reference import Registry, Repository
from ocipush.release.manager import BUILTIN_PLUGINS, PluginManager
from ocipush.release.plan import Plan
from ocipush.release.project import Project, ProjectMetadata
from ocipush.release.publish import open_project

BUILTINS = sorted(BUILTIN_PLUGINS)


@pytest.fixture
def fresh_modules():
    """Forget modules the test imported, so plugin modules of one test never leak into another."""
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        del sys.modules[name]


def _module(directory: Path, dotted: str, source: str) -> None:
    """Write module ``dotted`` (packages included) under ``directory``."""
    parts = dotted.split(".")
    for depth in range(1, len(parts)):
        package = directory.joinpath(*parts[:depth])
        package.mkdir(parents=True, exist_ok=True)
        (package / "__init__.py").touch()
    target = directory.joinpath(*parts[:-1], f"{parts[-1]}.py")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(textwrap.dedent(source))


def _media_type_plugin(answer: str) -> str:
    return f"""
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_file_media_type(path):
            return {answer!r}

        @hookimpl
        def ocipush_add_layers(project):
            from ocipush.oci.blobs import BytesBlob
            layer = "application/vnd.oci.image.layer.v1.tar"
            return [BytesBlob({answer!r}.encode(), layer)]

        @hookimpl
        def ocipush_modify_plan(plan):
            import dataclasses
            return dataclasses.replace(plan, notes=(*plan.notes, {answer!r}))
    """


def _entry_point(site: Path, name: str, module: str) -> None:
    """Install a distribution offering ``name = module`` in the ``ocipush`` group."""
    dist_info = site / f"fake_{name}-1.0.dist-info"
    dist_info.mkdir(parents=True)
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: fake-{name}\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text(f"[ocipush]\n{name} = {module}\n")


def _pyproject(root: Path, ocipush_table: str = "") -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        f'[project]\nname = "demo"\nversion = "1.0"\n\n[tool.ocipush]\n{ocipush_table}'
    )


def _project(root: Path, ocipush_table: str = "") -> Project:
    _pyproject(root, ocipush_table)
    return open_project(root)[0]


def _empty_plan() -> Plan:
    return Plan(project="demo", version="1.0", targets=())


# -- what is loaded -----------------------------------------------------------------------


def test_builtins_are_registered_by_name():
    assert PluginManager(entry_points=False).names() == BUILTINS


def test_builtins_answer_for_distributions_and_nothing_else(tmp_path):
    manager = PluginManager(entry_points=False)
    project = _project(tmp_path)

    assert (
        manager.file_media_type(Path("a-1.0-py3-none-any.whl"), project)
        == "application/vnd.ocipush.python.wheel.v1+zip"
    )
    assert (
        manager.file_media_type(Path("a-1.0.tar.gz"), project)
        == "application/vnd.ocipush.python.sdist.v1.tar+gzip"
    )
    assert manager.file_media_type(Path("notes.txt"), project) == "application/octet-stream"


def test_no_files_disables_the_builtin_layers(tmp_path):
    (tmp_path / "static").mkdir()
    (tmp_path / "static" / "a.txt").write_text("a\n")
    table = '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n'
    project = _project(tmp_path, table)

    assert len(PluginManager(entry_points=False).add_layers(project)) == 1
    blocked = PluginManager(entry_points=False, requested=["no:files"])
    assert blocked.names() == [n for n in BUILTINS if n != "files"]
    assert blocked.add_layers(project) == []


@pytest.mark.parametrize("name", ["registry", "layout"])
def test_essential_builtins_cannot_be_disabled(name):
    with pytest.raises(PluginError) as caught:
        PluginManager(entry_points=False, requested=[f"no:{name}"])
    assert str(caught.value) == f"plugin {name!r} is essential and cannot be disabled with -p no:"


def test_no_registry_on_the_command_line_prints_the_refusal(tmp_path, capsys):
    _pyproject(tmp_path, '[[tool.ocipush.artifacts]]\nfiles = ["x"]\nartifact-type = "a/b"\n')

    code = main(["plan", "--project", str(tmp_path), "-p", "no:registry"])

    out, err = capsys.readouterr()
    assert code != 0
    assert (out, err) == (
        "",
        "error: plugin 'registry' is essential and cannot be disabled with -p no:\n",
    )


def test_project_plugin_from_the_plugins_list_is_imported_from_the_project_root(
    tmp_path, fresh_modules
):
    _module(tmp_path, "ci_m1.oci_hooks", _media_type_plugin("from the project"))
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\n\n'
        '[tool.ocipush]\nplugins = ["ci_m1.oci_hooks"]\n'
    )

    project, manager = open_project(tmp_path)

    assert "ci_m1.oci_hooks" in manager.names()
    assert sys.path.count(str(tmp_path)) == 0, "the project root must not stay on sys.path"
    assert project.file_media_type(Path("x.whl")) == "from the project"
    assert [b.open().read() for b in manager.add_layers(project)] == [b"from the project"]


def test_load_order_builtin_entry_point_configured_then_command_line(
    tmp_path, monkeypatch, fresh_modules
):
    site = tmp_path / "site"
    _module(site, "ep_m2_plugin", _media_type_plugin("entry point"))
    _entry_point(site, "ep_m2", "ep_m2_plugin")
    monkeypatch.syspath_prepend(str(site))
    root = tmp_path / "project"
    _module(root, "configured_m2", _media_type_plugin("configured"))
    _module(site, "cli_m2", _media_type_plugin("command line"))
    project = _project(root)

    manager = PluginManager(project_root=root, configured=["configured_m2"], requested=["cli_m2"])

    assert manager.names() == sorted([*BUILTINS, "ep_m2", "configured_m2", "cli_m2"])
    # First answer wins: the last registered answers first, the built-in last of all.
    assert manager.file_media_type(Path("a.whl"), project) == "command line"
    # Layers stack, and plans change, in registration order.
    layers = [blob.open().read() for blob in manager.add_layers(project)]
    assert layers == [b"entry point", b"configured", b"command line"]
    notes = manager.modify_plan(_empty_plan(), project).notes
    assert notes == ("entry point", "configured", "command line")


def test_entry_points_can_be_blocked_and_left_out(tmp_path, monkeypatch, fresh_modules):
    site = tmp_path / "site"
    _module(site, "ep_m3_plugin", _media_type_plugin("entry point"))
    _entry_point(site, "ep_m3", "ep_m3_plugin")
    monkeypatch.syspath_prepend(str(site))

    assert "ep_m3" not in PluginManager(requested=["no:ep_m3"]).names()
    assert "ep_m3" not in PluginManager(entry_points=False).names()
    assert "ep_m3_plugin" not in sys.modules, "a blocked entry point is never imported"
    assert "ep_m3" in PluginManager().names()


def test_a_plugin_that_fails_to_import_is_named(tmp_path, fresh_modules):
    _module(tmp_path, "broken_m4", "raise RuntimeError('needs a database')\n")

    with pytest.raises(PluginError) as caught:
        PluginManager(project_root=tmp_path, configured=["broken_m4"], entry_points=False)

    assert str(caught.value) == (
        "plugin 'broken_m4' ([tool.ocipush] plugins entry 'broken_m4') failed to import: "
        "RuntimeError: needs a database"
    )


def test_a_missing_command_line_plugin_is_named(tmp_path):
    with pytest.raises(PluginError) as caught:
        PluginManager(project_root=tmp_path, requested=["nowhere_m5"], entry_points=False)

    assert str(caught.value) == (
        "plugin 'nowhere_m5' (-p nowhere_m5) failed to import: "
        "ModuleNotFoundError: No module named 'nowhere_m5'"
    )


def test_an_entry_point_that_fails_to_load_is_named(tmp_path, monkeypatch, fresh_modules):
    site = tmp_path / "site"
    _module(site, "ep_m6_plugin", "import does_not_exist_m6\n")
    _entry_point(site, "ep_m6", "ep_m6_plugin")
    monkeypatch.syspath_prepend(str(site))

    with pytest.raises(PluginError) as caught:
        PluginManager()

    assert str(caught.value) == (
        "plugin 'ep_m6' (entry point ep_m6_plugin) failed to load: "
        "ModuleNotFoundError: No module named 'does_not_exist_m6'"
    )


def test_a_plugin_raising_in_a_hook_is_named_on_the_command_line(tmp_path, capsys, fresh_modules):
    _module(
        tmp_path,
        "raising_m7",
        """
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_add_layers(project):
            raise KeyError("static")
        """,
    )
    _pyproject(tmp_path, 'plugins = ["raising_m7"]\n')

    code = main(["plan", "--project", str(tmp_path)])

    out, err = capsys.readouterr()
    assert code == 1
    assert (out, err) == (
        "",
        "error: plugin 'raising_m7' failed in ocipush_add_layers: KeyError: 'static'\n",
    )


def test_ocipush_errors_from_a_plugin_pass_through_unchanged(tmp_path, fresh_modules):
    _module(
        tmp_path,
        "vetoing_m8",
        """
        from ocipush.errors import OcipushError
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_modify_plan(plan):
            raise OcipushError("release freeze until Monday")
        """,
    )
    project = _project(tmp_path)
    manager = PluginManager(project_root=tmp_path, configured=["vetoing_m8"], entry_points=False)

    with pytest.raises(Exception, match=r"^release freeze until Monday$") as caught:
        manager.modify_plan(_empty_plan(), project)
    assert type(caught.value).__name__ == "OcipushError"


def test_plugin_validation_problems_are_shown_together_as_a_config_error(
    tmp_path, capsys, fresh_modules
):
    _module(
        tmp_path,
        "strict_m9",
        """
        from ocipush.errors import ConfigProblem
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_validate(project):
            table = project.settings.plugin_tables.get("strict_m9", {})
            return [ConfigProblem(f"tool.ocipush.strict_m9.{k}", "unknown key") for k in table]
        """,
    )
    _pyproject(tmp_path, 'plugins = ["strict_m9"]\n\n[tool.ocipush.strict_m9]\nlevel = 1\nx = 2\n')

    code = main(["plan", "--project", str(tmp_path)])

    out, err = capsys.readouterr()
    assert (code, out) == (2, "")
    assert err == (
        f"error: {tmp_path / 'pyproject.toml'}: 2 configuration problems:\n"
        "  tool.ocipush.strict_m9.level: unknown key\n"
        "  tool.ocipush.strict_m9.x: unknown key\n"
    )


def test_a_hook_ocipush_does_not_have_is_refused(tmp_path, fresh_modules):
    _module(
        tmp_path,
        "typo_m10",
        """
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_add_layer(project):
            return []
        """,
    )

    with pytest.raises(PluginError, match=r"^plugin 'typo_m10' implements a hook ocipush does"):
        PluginManager(project_root=tmp_path, requested=["typo_m10"], entry_points=False)


def test_hook_wrappers_are_refused(tmp_path, fresh_modules):
    _module(
        tmp_path,
        "wrapper_m11",
        """
        from ocipush.release.hookspecs import hookimpl

        @hookimpl(wrapper=True)
        def ocipush_add_layers(project):
            return (yield)
        """,
    )

    with pytest.raises(PluginError) as caught:
        PluginManager(project_root=tmp_path, requested=["wrapper_m11"], entry_points=False)
    assert str(caught.value) == (
        "plugin 'wrapper_m11': ocipush_add_layers is a hook wrapper, which ocipush does not "
        "support; implement the hook directly"
    )


def test_modify_plan_none_keeps_the_plan_and_each_sees_the_previous_result(tmp_path, fresh_modules):
    _module(
        tmp_path,
        "first_m12",
        """
        import dataclasses
        from ocipush.release.hookspecs import hookimpl

        @hookimpl
        def ocipush_modify_plan(plan):
            return dataclasses.replace(plan, version=plan.version + "+a")
        """,
    )
    _module(
        tmp_path,
        "second_m12",
        """
        from ocipush.release.hookspecs import hookimpl

        SEEN = []

        @hookimpl
        def ocipush_modify_plan(plan, project):
            SEEN.append(plan.version)
            return None
        """,
    )
    project = _project(tmp_path)
    manager = PluginManager(
        project_root=tmp_path, configured=["first_m12", "second_m12"], entry_points=False
    )

    plan = manager.modify_plan(_empty_plan(), project)

    assert plan == dataclasses.replace(_empty_plan(), version="1.0+a")
    assert sys.modules["second_m12"].SEEN == ["1.0+a"]


def test_a_plugin_table_without_its_plugin_is_a_config_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\n\n[tool.ocipush.motd]\nmessage = "hi"\n'
    )

    with pytest.raises(ConfigError) as caught:
        open_project(tmp_path)
    (problem,) = caught.value.problems
    assert problem.path == "tool.ocipush.motd"
    assert problem.message.startswith("unknown key — known keys are ")
    assert problem.message.endswith(
        "; a plugin's table needs the plugin installed or listed in tool.ocipush.plugins"
    )


def test_plugins_see_the_project(tmp_path, fresh_modules):
    _module(
        tmp_path,
        "seeing_m13",
        """
        from ocipush.release.hookspecs import hookimpl

        SEEN = []

        @hookimpl
        def ocipush_configure(project):
            SEEN.append((project.metadata.name, project.metadata.version))
        """,
    )
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "demo"\nversion = "1.0"\n\n[tool.ocipush]\nplugins = ["seeing_m13"]\n'
    )

    project, _ = open_project(tmp_path)

    assert project.metadata == ProjectMetadata("demo", "1.0")
    assert sys.modules["seeing_m13"].SEEN == [("demo", "1.0")]


def test_credentials_come_from_the_first_plugin_that_answers_labelled_with_its_name(
    tmp_path, fresh_modules
):
    _module(
        tmp_path,
        "creds_c1",
        """
        from ocipush.release.hookspecs import hookimpl
        from ocipush.registry.keychain import Credentials

        @hookimpl
        def ocipush_credentials(registry, repository):
            if registry == "ecr.example":
                return Credentials("AWS", "tok", source=f"token for {repository}")
            return None
        """,
    )
    _module(tmp_path, "creds_c2", _BAD_CREDENTIALS)
    manager = PluginManager(project_root=tmp_path, configured=["creds_c1"], entry_points=False)
    ecr = Registry("ecr.example")

    found = manager.credentials(ecr, Repository(ecr, "acme/app"))
    assert found is not None
    assert (found.username, found.password) == ("AWS", "tok")
    assert found.source == "plugin creds_c1: token for acme/app"
    assert manager.credentials(Registry("ghcr.io"), None) is None

    wrong = PluginManager(project_root=tmp_path, configured=["creds_c2"], entry_points=False)
    with pytest.raises(PluginError) as caught:
        wrong.credentials(ecr, None)
    assert str(caught.value) == (
        "plugin 'creds_c2' answered ocipush_credentials with a tuple; return "
        "ocipush.registry.keychain.Credentials or None"
    )


_BAD_CREDENTIALS = """
    from ocipush.release.hookspecs import hookimpl

    @hookimpl
    def ocipush_credentials(registry):
        return ("user", "password")
"""
