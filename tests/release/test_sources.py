"""What a project publishes: only files inside its root, chosen on purpose.

Each case runs ``ocipush build`` (or ``plan``) in-process on a project in a temporary folder
and reads what landed in the OCI layout with ``tarfile``: the tar entry names a user's
container runtime would unpack.
"""

from __future__ import annotations

import json
import os
import tarfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocipush.cli import main
from ocipush.errors import BlobError, ConfigError
from ocipush.oci.layers import LayerEntry, build_layer, entries_from_files
from ocipush.release.sources import select_files

PYPROJECT = """\
[project]
name = "scope-app"
version = "1.0.0"

[tool.ocipush]
{extra}
"""


def _project(root: Path, tables: str, extra: str = "") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(PYPROJECT.format(extra=extra) + tables)
    return root


def _layer(source: str, dest: str = "/srv/app", more: str = "") -> str:
    return f'\n[[tool.ocipush.layers]]\nsource = "{source}"\ndest = "{dest}"\n{more}\n'


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def _layer_names(layout: Path) -> list[list[str]]:
    """The entry names of every layer of the image the layout's index points at."""
    index = json.loads((layout / "index.json").read_text())
    names = []
    for descriptor in index["manifests"]:
        if descriptor.get("annotations", {}).get("org.opencontainers.image.ref.name") is None:
            continue
        manifest = json.loads(_blob(layout, descriptor["digest"]))
        if "layers" not in manifest or manifest.get("artifactType"):
            continue
        for layer in manifest["layers"]:
            path = layout / "blobs" / "sha256" / layer["digest"].split(":")[1]
            with tarfile.open(path) as tar:
                names.append(tar.getnames())
    return names


def _blob(layout: Path, digest: str) -> bytes:
    return (layout / "blobs" / "sha256" / digest.split(":")[1]).read_bytes()


def _tree(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


# -- 1. path escapes ---------------------------------------------------------------------------


def test_a_dest_that_climbs_out_of_slash_is_refused(tmp_path, capsys):
    project = _project(tmp_path, _layer("static", "/srv/../../etc"))
    _tree(project, {"static/a": "a\n"})

    code, out, err = _run(capsys, "build", "--project", str(project))

    assert (code, out) == (2, "")
    assert 'tool.ocipush.layers[0].dest: "/srv/../../etc" — must not contain ".."' in err
    assert not (project / "dist").exists()


def test_dest_is_normalised_in_the_tar(tmp_path, capsys):
    project = _project(tmp_path, _layer("static", "//srv/./www/"))
    _tree(project, {"static/a.txt": "a\n"})

    assert _run(capsys, "build", "--project", str(project))[0] == 0

    assert _layer_names(project / "dist" / "oci") == [["srv", "srv/www", "srv/www/a.txt"]]


def test_no_tar_entry_may_contain_dot_dot_even_from_a_plugin(tmp_path):
    entries = [LayerEntry("/srv/../../etc/passwd", tmp_path / "x", 0o644)]
    (tmp_path / "x").write_text("x\n")

    with pytest.raises(BlobError, match=r'"/srv/../../etc/passwd": a path in a layer must not'):
        build_layer(entries, tmp_path / "out")
    assert not list((tmp_path / "out").glob("*.tar.gz"))


# -- 2. content from outside the project -------------------------------------------------------


def test_a_source_outside_the_project_is_refused(tmp_path, capsys):
    project = _project(tmp_path / "app", _layer("../sibling"))
    _tree(tmp_path / "sibling", {"secret.txt": "not ours\n"})

    code, out, err = _run(capsys, "build", "--project", str(project))

    assert (code, out) == (2, "")
    assert f'tool.ocipush.layers[0].source: "../sibling" is outside the project root {project}' in (
        err
    )
    assert "allow-outside = true" in err
    assert not (project / "dist").exists()


def test_a_source_symlinked_outside_the_project_is_refused(tmp_path, capsys):
    project = _project(tmp_path / "app", _layer("static"))
    _tree(tmp_path / "elsewhere", {"secret.txt": "not ours\n"})
    (project / "static").symlink_to(tmp_path / "elsewhere")

    code, _, err = _run(capsys, "build", "--project", str(project))

    assert code == 2
    assert f'"static" is outside the project root {project} (it resolves to ' in err
    assert str(tmp_path / "elsewhere") in err


def test_allow_outside_takes_the_source_and_the_plan_says_so(tmp_path, capsys):
    project = _project(tmp_path / "app", _layer("../shared", more="allow-outside = true"))
    _tree(tmp_path / "shared", {"logo.svg": "<svg/>\n"})

    code, out, _ = _run(capsys, "plan", "--project", str(project))
    assert code == 0
    assert (
        f"note: layer tool.ocipush.layers[0] (../shared -> /srv/app): takes files from "
        f"{tmp_path / 'shared'}, outside the project root (allow-outside = true)"
    ) in out

    assert _run(capsys, "build", "--project", str(project))[0] == 0
    assert _layer_names(project / "dist" / "oci") == [["srv", "srv/app", "srv/app/logo.svg"]]


def test_pipes_and_sockets_are_skipped_not_read(tmp_path, capsys):
    project = _project(tmp_path, _layer("static"))
    _tree(project, {"static/a.txt": "a\n"})
    os.mkfifo(project / "static" / "pipe")

    assert _run(capsys, "build", "--project", str(project))[0] == 0

    assert _layer_names(project / "dist" / "oci") == [["srv", "srv/app", "srv/app/a.txt"]]


def test_symlinks_inside_the_layer_stay_links_and_may_not_leave_it(tmp_path, capsys):
    project = _project(tmp_path, _layer("static"))
    _tree(project, {"static/real.txt": "real\n", "outside.txt": "outside\n"})
    (project / "static" / "alias.txt").symlink_to("real.txt")

    assert _run(capsys, "build", "--project", str(project))[0] == 0
    layout = project / "dist" / "oci"
    assert _layer_names(layout) == [["srv", "srv/app", "srv/app/alias.txt", "srv/app/real.txt"]]

    (project / "static" / "escape.txt").symlink_to("../outside.txt")
    code, _, err = _run(capsys, "build", "--project", str(project))

    assert code == 2
    assert (
        f'tool.ocipush.layers[0].source: "{project / "static" / "escape.txt"}" is a symbolic '
        'link to "../outside.txt", which leaves the layer'
    ) in err


def test_artifact_files_outside_the_project_are_refused(tmp_path, capsys):
    _tree(tmp_path / "outside", {"notes.txt": "not ours\n"})
    (tmp_path / "app" / "docs").mkdir(parents=True)
    (tmp_path / "app" / "docs" / "notes.txt").symlink_to(tmp_path / "outside" / "notes.txt")
    for pattern in ("/etc/hostname", "../outside/*.txt", "docs/*.txt"):
        project = _project(
            tmp_path / "app",
            f'\n[[tool.ocipush.artifacts]]\nfiles = ["{pattern}"]\n'
            'artifact-type = "application/vnd.acme.notes.v1"\n',
        )

        code, out, err = _run(capsys, "build", "--project", str(project))

        assert (code, out) == (2, "")
        assert "tool.ocipush.artifacts[0].files[0]: " in err
        assert "is outside the project root" in err
        assert not (project / "dist").exists()


def test_an_output_file_outside_the_project_is_refused_before_anything_is_written(tmp_path, capsys):
    project = _project(tmp_path / "app", _layer("static"), 'outputs = { json = "../x.json" }')
    _tree(project, {"static/a": "a\n"})

    code, out, err = _run(capsys, "build", "--project", str(project))

    assert (code, out) == (2, "")
    assert f'tool.ocipush.outputs.json: "../x.json" is outside the project root {project}' in err
    assert not (tmp_path / "x.json").exists()
    assert not (project / "dist").exists()


# -- 3. default excludes and .gitignore -----------------------------------------------------------

_JUNK = {
    ".git/config": "[core]\n",
    ".git/HEAD": "ref: refs/heads/main\n",
    ".env": "PASSWORD=s3cret\n",
    ".env.production": "PASSWORD=s3cret\n",
    "id_rsa": "-----BEGIN OPENSSH PRIVATE KEY-----\n",
    "certs/server.key": "key\n",
    "certs/server.pem": "pem\n",
    "app/__pycache__/main.cpython-311.pyc": "bytecode",
    "app/helper.pyc": "bytecode",
    ".venv/bin/python": "venv\n",
    "env2/pyvenv.cfg": "home = /usr\n",
    "env2/lib/site.py": "venv\n",
    "node_modules/left-pad/index.js": "js\n",
    ".tox/py/log": "tox\n",
    ".mypy_cache/x": "cache\n",
    ".pytest_cache/x": "cache\n",
    ".ruff_cache/x": "cache\n",
    ".nox/x": "cache\n",
    "scope_app.egg-info/PKG-INFO": "meta\n",
    "dist/scope_app-1.0.0-py3-none-any.whl": "wheel\n",
    "build/ocipush/layers/old.tar.gz": "old layer\n",
}


def test_a_layer_of_the_whole_project_leaves_out_vcs_secrets_caches_and_outputs(tmp_path, capsys):
    project = _project(tmp_path, _layer("."))
    _tree(project, {"app/main.py": "print('hi')\n", "README.md": "hi\n", **_JUNK})

    assert _run(capsys, "build", "--project", str(project))[0] == 0
    (names,) = _layer_names(project / "dist" / "oci")
    first = _blob_digests(project)

    assert names == [
        "srv",
        "srv/app",
        "srv/app/README.md",
        "srv/app/app",
        "srv/app/app/main.py",
        "srv/app/pyproject.toml",
    ]
    # A second build sees its own dist/oci and build/ocipush, yet yields the same layer.
    assert _run(capsys, "build", "--project", str(project))[0] == 0
    assert _blob_digests(project) == first


def _blob_digests(project: Path, layout: str = "dist/oci") -> set[str]:
    index = json.loads((project / layout / "index.json").read_text())
    return {d["digest"] for d in index["manifests"]}


def test_configured_layouts_and_the_result_file_stay_out_of_a_whole_project_layer(tmp_path, capsys):
    tables = '\n[[tool.ocipush.targets]]\nref = "oci:out/layout"\n' + _layer(".")
    project = _project(tmp_path, tables, 'outputs = { json = "ocipush.json" }')
    _tree(project, {"app/main.py": "print('hi')\n"})

    assert _run(capsys, "build", "--project", str(project))[0] == 0
    first = _blob_digests(project, "out/layout")
    assert (project / "ocipush.json").is_file()
    assert _run(capsys, "build", "--project", str(project))[0] == 0

    assert _blob_digests(project, "out/layout") == first
    assert _layer_names(project / "out" / "layout") == [
        ["srv", "srv/app", "srv/app/app", "srv/app/app/main.py", "srv/app/pyproject.toml"]
    ]


def test_gitignore_files_are_honoured_at_every_level(tmp_path, capsys):
    project = _project(tmp_path, _layer("site"))
    _tree(
        project,
        {
            ".gitignore": "*.log\n/site/drafts/\n",
            "site/.gitignore": "tmp/\n!keep.log\n",
            "site/index.html": "<p/>\n",
            "site/debug.log": "log\n",
            "site/keep.log": "kept\n",
            "site/drafts/wip.html": "wip\n",
            "site/tmp/scratch": "tmp\n",
        },
    )

    assert _run(capsys, "build", "--project", str(project))[0] == 0

    assert _layer_names(project / "dist" / "oci") == [
        ["srv", "srv/app", "srv/app/.gitignore", "srv/app/index.html", "srv/app/keep.log"]
    ]


def test_a_source_that_is_itself_excluded_is_taken_minus_what_is_excluded_in_it(tmp_path, capsys):
    project = _project(tmp_path, _layer("build/static"))
    _tree(project, {"build/static/app.js": "js\n", "build/static/.env": "PASSWORD=s3cret\n"})

    assert _run(capsys, "build", "--project", str(project))[0] == 0

    assert _layer_names(project / "dist" / "oci") == [["srv", "srv/app", "srv/app/app.js"]]


def test_only_an_include_naming_an_excluded_file_brings_it_back(tmp_path, capsys):
    include = '["**/*", ".env.example", "certs/ca.pem", "node_modules/**", "**/*.pem"]'
    project = _project(tmp_path, _layer("site", more=f"include = {include}"))
    _tree(
        project,
        {
            "site/index.html": "<p/>\n",
            "site/.env.example": "PASSWORD=\n",
            "site/.env": "PASSWORD=s3cret\n",
            "site/certs/ca.pem": "public ca\n",
            "site/other/server.pem": "private\n",
            "site/node_modules/lib.js": "js\n",
            "site/node_modules/.env": "PASSWORD=s3cret\n",
        },
    )

    assert _run(capsys, "build", "--project", str(project))[0] == 0

    # "**/*.pem" names no file; a folder named on purpose keeps its own secrets out.
    assert _layer_names(project / "dist" / "oci") == [
        [
            "srv",
            "srv/app",
            "srv/app/.env.example",
            "srv/app/certs",
            "srv/app/certs/ca.pem",
            "srv/app/index.html",
            "srv/app/node_modules",
            "srv/app/node_modules/lib.js",
        ]
    ]


def test_the_plan_says_what_was_excluded_and_v_lists_everything(tmp_path, capsys):
    project = _project(tmp_path, _layer("."))
    _tree(project, {"app/main.py": "print('hi')\n", **_JUNK})

    code, out, _ = _run(capsys, "plan", "--project", str(project))

    assert code == 0
    assert (
        "note: layer tool.ocipush.layers[0] (. -> /srv/app): excluded by default or "
        ".gitignore: .env, .env.production, .git/, .mypy_cache/, .nox/ and 14 more "
        "(ocipush plan -v lists them)"
    ) in out
    assert "holds" not in out

    code, out, _ = _run(capsys, "plan", "--project", str(project), "-v")

    assert "  layer tool.ocipush.layers[0] (. -> /srv/app): holds app/main.py\n" in out
    assert "  layer tool.ocipush.layers[0] (. -> /srv/app): excluded node_modules/\n" in out
    assert "  layer tool.ocipush.layers[0] (. -> /srv/app): excluded id_rsa\n" in out


# -- 4. an include that matches nothing ----------------------------------------------------------


def test_an_include_that_matches_nothing_is_an_error(tmp_path, capsys):
    project = _project(tmp_path, _layer("static", more='include = ["*.nomatch"]'))
    _tree(project, {"static/a.txt": "a\n"})

    code, out, err = _run(capsys, "build", "--project", str(project))

    assert (code, out) == (2, "")
    assert (
        'tool.ocipush.layers[0].include[0]: "*.nomatch" matched no file in "static" (after the '
        "default excludes and .gitignore)"
    ) in err
    assert not (project / "dist").exists()


def test_excludes_that_leave_nothing_are_an_error(tmp_path):
    _tree(tmp_path, {"static/a.txt": "a\n"})

    with pytest.raises(ConfigError, match=r"tool.ocipush.layers\[0\].exclude: leaves no file"):
        select_files(tmp_path, "static", key="tool.ocipush.layers[0]", exclude=["*.txt"])


# -- property: nothing leaves / and nothing comes from outside the root ----------------------------

_NAMES = st.sampled_from(["a", "b", ".env", "id_rsa", "x.pem", "..", ".", "", "node_modules"])
_DESTS = st.lists(_NAMES, min_size=0, max_size=4).map(lambda parts: "/" + "/".join(parts))
_GLOBS = st.sampled_from(["**/*", "*", "a/*", "**/b", "*.pem", "../*", "a", "**"])


@st.composite
def _trees(draw: st.DrawFn) -> list[tuple[str, str | None]]:
    """Relative paths inside the project, each a file (``None``) or a symlink to a target."""
    entries = []
    for _ in range(draw(st.integers(1, 6))):
        parts = draw(st.lists(st.sampled_from(["a", "b", ".git", "c.pem", "d"]), min_size=1))
        target = draw(
            st.one_of(st.none(), st.sampled_from(["../../out", "/etc/passwd", "a", "../b", "."]))
        )
        entries.append(("/".join(parts[:3]), target))
    return entries


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    tree=_trees(),
    source=st.sampled_from([".", "src", "src/a", "../out", "link-out", "src/../.."]),
    dest=_DESTS,
    include=st.lists(_GLOBS, min_size=1, max_size=3),
    allow=st.booleans(),
)
def test_no_entry_leaves_slash_and_nothing_comes_from_outside_unless_allowed(
    tmp_path_factory, tree, source, dest, include, allow
):
    base = tmp_path_factory.mktemp("prop")
    root, out = base / "project", base / "out"
    (out / "secret").mkdir(parents=True)
    (out / "secret" / "key").write_text("outside\n")
    (root / "src").mkdir(parents=True)
    (root / "link-out").symlink_to(out)
    for relative, target in tree:
        path = root / "src" / relative
        if path.exists() or path.is_symlink():
            continue
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            if target is None:
                path.write_text(relative)
            else:
                path.symlink_to(target)
        except OSError:  # a folder under a file or a looping link: skip that entry
            continue
    try:
        selection = select_files(root, source, key="k", include=include, allow_outside=allow)
        entries = entries_from_files(selection.files, dest)
        blob = build_layer(entries, base / "layers")
    except (ConfigError, BlobError):
        return
    for file in selection.files:
        physical = file.path.parent.resolve() / file.path.name
        within = physical.is_relative_to(root.resolve())
        assert within or allow, f"{file.path} is outside {root}"
        if file.link is not None:
            landing = os.path.normpath(os.path.join(os.path.dirname(file.relative), file.link))
            assert allow or not (file.link.startswith("/") or landing.startswith(".."))
        # No glob here names an excluded file, so none may be selected.
        parts = Path(file.relative).parts
        assert ".git" not in parts
        assert not any(part.startswith(".env") or part.endswith(".pem") for part in parts)
    with tarfile.open(blob.path) as tar:
        for member in tar.getmembers():
            assert ".." not in Path(member.name).parts
            assert not member.name.startswith("/")
