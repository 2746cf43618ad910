"""The one config reader, as a plugin author uses it: typed getters that never raise, key
paths in every message, did-you-mean, and every problem of a run kept together."""

from __future__ import annotations

import pytest

from ocipush.errors import ConfigError
from ocipush.release.reader import ConfigReader


def _messages(reader: ConfigReader) -> list[str]:
    return [str(problem) for problem in reader.problems]


def test_getters_return_values_and_defaults():
    table = ConfigReader(
        {"mine": {"name": "a", "on": True, "n": 3, "kind": "uv", "labels": {"x": "y"}}}
    ).table("mine")

    assert table is not None
    assert table.string("name") == "a"
    assert table.boolean("on") is True
    assert table.boolean("absent", default=True) is True
    assert table.integer("n", minimum=0) == 3
    assert table.choice("kind", ("pip", "uv")) == "uv"
    assert table.string_table("labels") == {"x": "y"}
    assert table.problems == []


def test_sub_readers_share_the_problems_of_the_run_with_their_key_paths():
    root = ConfigReader(
        {
            "mine": {"name": 1, "kind": "poetry", "labels": {"a b": 2}, "nmae": "x"},
            "items": [{"n": -1}, "not a table"],
        }
    )
    mine = root.table("mine")
    assert mine is not None
    mine.only_known(("name", "kind", "labels"))
    assert mine.string("name") is None
    assert mine.choice("kind", ("pip", "uv")) is None
    assert mine.string_table("labels") == {}
    for entry in root.tables("items") or ():
        entry.integer("n", minimum=0)

    assert _messages(root) == [
        'tool.ocipush.mine.nmae: unknown key — did you mean "name"?',
        "tool.ocipush.mine.name: expected a string, got an integer",
        'tool.ocipush.mine.kind: "poetry" — expected "pip" or "uv"',
        'tool.ocipush.mine.labels."a b": expected a string, got an integer',
        "tool.ocipush.items[1]: expected a table, got a string",
        "tool.ocipush.items[0].n: -1 — must be at least 0",
    ]
    with pytest.raises(ConfigError) as caught:
        root.raise_problems(source="demo/pyproject.toml")
    assert str(caught.value).startswith("demo/pyproject.toml: 6 configuration problems:\n")


def test_templates_are_checked_with_stand_ins_never_the_environment(monkeypatch):
    monkeypatch.setenv("OCIPUSH_READER_SECRET", "Not A Tag")
    reader = ConfigReader({})

    assert reader.template("{name}-{env:OCIPUSH_READER_SECRET}", "p") == "x-x"
    assert reader.template("{nmae}", "p") is None
    assert _messages(reader) == ['p: "{nmae}" — unknown placeholder {nmae}; did you mean {name}?']
