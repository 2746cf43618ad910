"""distributions: which files count as sources, which dist/ files are this release's, and
how a failing build backend is reported (``--no-isolation`` here; the isolated path is in
tests/outside_in)."""

from __future__ import annotations

import os
from pathlib import Path

from ocipush.cli import main
from ocipush.release.distributions import find_distributions, newest_source


def _touch(path: Path, mtime: float) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("x")
    os.utime(path, (mtime, mtime))
    return path


def test_newest_source_passes_over_outputs_vcs_caches_and_venvs(tmp_path):
    source = _touch(tmp_path / "src" / "app" / "__init__.py", 1000)
    for ignored in (
        "dist/app-1.0-py3-none-any.whl",
        "build/lib/app/__init__.py",
        ".git/index",
        ".tox/py/log",
        "src/app/__pycache__/x.pyc",
        "app.egg-info/PKG-INFO",
        "node_modules/x/index.js",
    ):
        _touch(tmp_path / ignored, 2000)
    _touch(tmp_path / "env" / "pyvenv.cfg", 2000)
    _touch(tmp_path / "out" / "app-1.0.tar.gz", 2000)

    assert newest_source(tmp_path, skip=[tmp_path / "out"]) == (1000, source)


def test_find_distributions_matches_name_and_version_as_indexes_normalise_them(tmp_path):
    for name in (
        "My_App-1.0.0rc1-py3-none-any.whl",
        "my_app-1.0.0rc1.tar.gz",
        "my_app-1.0.0-py3-none-any.whl",
        "other-1.0.0rc1.tar.gz",
        "my_app-notaversion.tar.gz",
    ):
        (tmp_path / name).write_text("")

    found = find_distributions(tmp_path, "my.app", "1.0.0-RC1")

    assert [p.name for p in found] == ["My_App-1.0.0rc1-py3-none-any.whl", "my_app-1.0.0rc1.tar.gz"]


def test_a_backend_that_fails_is_reported_with_its_output_and_exit_2(tmp_path, capsys):
    (tmp_path / "failing_backend.py").write_text(
        "import sys\n"
        "def prepare_metadata_for_build_wheel(directory, config_settings=None):\n"
        "    print('cannot find the version file VERSION.txt', file=sys.stderr)\n"
        "    raise SystemExit(3)\n"
    )
    (tmp_path / "pyproject.toml").write_text(
        '[build-system]\nrequires = []\nbuild-backend = "failing_backend"\nbackend-path = ["."]\n'
        '\n[project]\nname = "failing"\ndynamic = ["version"]\n\n'
        '[[tool.ocipush.layers]]\nsource = "failing_backend.py"\ndest = "/srv"\n'
    )

    code = main(["plan", "--project", str(tmp_path), "--no-isolation"])
    out, err = capsys.readouterr()

    assert (code, out) == (2, "")
    assert err.startswith(
        f"error: {tmp_path}: the project's build backend could not report the project's "
        "metadata (its version): "
    )
    assert "  cannot find the version file VERSION.txt\n" in err
