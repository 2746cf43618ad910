"""A small project that plans and builds offline (a static layer, an oci: target)."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from ocipush.cli import main

#: What a run printed: exit status, standard output, standard error.
Run = tuple[int, str, str]


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """``ocipush ARGV...`` in-process; a usage error's SystemExit counts as its status."""

    def call(*argv: str) -> Run:
        try:
            code = main(list(argv))
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    root = tmp_path / "proj"
    (root / "static").mkdir(parents=True)
    (root / "static" / "a.txt").write_text("a\n")
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            """\
            [project]
            name = "cli-app"
            version = "1.0.0"

            [[tool.ocipush.targets]]
            ref = "oci:dist/oci:{version}"

            [[tool.ocipush.layers]]
            source = "static"
            dest = "/srv"
            """
        )
    )
    yield root
    for name in [m for m in sys.modules if m.startswith("cli_plugin")]:
        sys.modules.pop(name, None)
