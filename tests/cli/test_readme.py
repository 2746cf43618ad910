"""The README's command reference is what ``--help`` prints, for every command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ocipush.cli.parser import COMMANDS, HELP_WIDTH

README = Path(__file__).parents[2] / "README.md"


def _reference() -> dict[str, str]:
    """Each ``### `ocipush X` `` section's indented block, by X ("" for the top level)."""
    text = README.read_text(encoding="utf-8")
    _, _, reference = text.partition("\n## Command reference\n")
    sections = re.findall(r"(?m)^### `ocipush ?([a-z]*) ?[^`]*`\n\n((?:    .*\n|\n)+)", reference)
    return {
        name: "\n".join(line[4:] for line in block.rstrip("\n").split("\n")) + "\n"
        for name, block in sections
    }


@pytest.mark.parametrize("command", ["", "help", *COMMANDS])
def test_the_readme_shows_what_help_prints(run, monkeypatch, command):
    monkeypatch.setenv("COLUMNS", str(HELP_WIDTH))
    code, printed, _ = run(*([command] if command else []), "--help")
    assert code == 0
    documented = _reference().get(command)
    heading = f"### `ocipush{' ' + command if command else ''} --help`"
    assert documented is not None, f"README.md has no section {heading}"
    assert documented == printed, (
        f"README.md's {heading} differs from --help; replace its block with:\n\n"
        + "".join(f"    {line}\n" if line else "\n" for line in printed.splitlines())
    )
