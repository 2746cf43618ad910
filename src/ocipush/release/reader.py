"""The one config reader: typed values out of ``[tool.ocipush]`` tables, every problem kept.

Core and every plugin, built-in or third-party, read their tables with a
:class:`ConfigReader`. A getter never raises: it records a
:class:`~ocipush.errors.ConfigProblem` located by its key path
(``tool.ocipush.targets[1].ref``), quoting the value and saying what is expected, and returns
``None`` (or the default) so reading goes on. All readers of a run share one list of
problems, so one report shows everything to fix::

    @hookimpl
    def ocipush_configure(project, config):
        table = config.table("myplugin")           # [tool.ocipush.myplugin], or None
        if table is None:
            return None
        table.only_known(("level", "paths"))      # unknown keys, with "did you mean"
        return MySettings(
            level=table.integer("level", minimum=0, maximum=9) or 0,
            paths=table.strings("paths") or (),
        )
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from ocipush.errors import ConfigError, ConfigProblem, InvalidReferenceError
from ocipush.oci.reference import CREDENTIALS_PROBLEM
from ocipush.release.templates import (
    PROBE_DISTRIBUTIONS,
    PROBE_METADATA,
    TemplateProblem,
    render,
    tag_variables,
)

__all__ = ["ROOT", "ConfigReader", "child_path", "quote", "type_name", "unknown_key"]

#: The key path of the table every reader starts from.
ROOT = "tool.ocipush"

_MODE = re.compile(r"[0-7]{3,4}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def quote(value: object) -> str:
    """``value`` spelled as in TOML, for quoting in messages."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    return repr(value)


_TOML_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "a boolean"),  # before int, which bool subclasses
    (int, "an integer"),
    (float, "a float"),
    (str, "a string"),
    (list, "an array"),
    (tuple, "an array"),
    (Mapping, "a table"),
    (datetime, "a date-time"),  # before date, which datetime subclasses
    (date, "a date"),
    (time, "a time"),
)


def type_name(value: object) -> str:
    """The TOML type of ``value`` as messages name it (``"an integer"``)."""
    return next(
        (name for kind, name in _TOML_TYPES if isinstance(value, kind)), type(value).__name__
    )


def child_path(path: str, key: str) -> str:
    """The key path of ``key`` in the table at ``path``, quoted where TOML would quote it."""
    return f"{path}.{key}" if _BARE_KEY.fullmatch(key) else f"{path}.{quote(key)}"


def unknown_key(key: str, known: Collection[str], *, hint: str = "") -> str:
    """The message for an unknown ``key``: the closest known key, or all of them."""
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"unknown key — did you mean {quote(close[0])}?"
    return f"unknown key — known keys are {', '.join(sorted(set(known)))}{hint}"


@dataclass
class _Run:
    """What every reader of one run shares: the problems and the template values."""

    problems: list[ConfigProblem] = field(default_factory=list)
    metadata: Mapping[str, str] = field(default_factory=lambda: PROBE_METADATA)
    real_metadata: bool = False


class ConfigReader:
    """Reads typed values out of one TOML table at a key path, recording every problem.

    Templates (``{name}``, ``{version}``, ``{env:VAR}``…) are checked with the project's
    name and version when ``pyproject.toml`` spells them out, else with stand-in values;
    ``{env:VAR}`` always gets a stand-in (checking never reads the environment).

    :param table: the table to read.
    :param path: its key path, for messages.
    :param metadata: :func:`ocipush.release.templates.project_variables` to check templates
        with, when known.
    """

    def __init__(
        self,
        table: Mapping[str, Any],
        path: str = ROOT,
        *,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        self._table = table
        self.path = path
        self._run = _Run(
            metadata=PROBE_METADATA if metadata is None else metadata,
            real_metadata=metadata is not None,
        )

    def _sub(self, table: Mapping[str, Any], path: str) -> ConfigReader:
        reader = ConfigReader(table, path)
        reader._run = self._run
        return reader

    # -- the table and its problems -------------------------------------------------------

    @property
    def problems(self) -> list[ConfigProblem]:
        """Every problem recorded so far by this reader and all readers of its run."""
        return self._run.problems

    def raise_problems(self, *, source: str = "pyproject.toml") -> None:
        """:raises ConfigError: with every problem recorded, if there is any."""
        if self.problems:
            raise ConfigError(self.problems, source=source)

    def __contains__(self, key: object) -> bool:
        return key in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(self._table)

    def raw(self, key: str) -> Any:
        """The value of ``key`` as written, unchecked (``None`` when absent)."""
        return self._table.get(key)

    def key_path(self, key: str) -> str:
        """The key path of ``key`` in this table (``tool.ocipush.scratch.platform``)."""
        return child_path(self.path, key)

    def report(self, key: str, message: str) -> None:
        """Record a problem with ``key`` of this table; ``""`` is the table itself."""
        self.report_at(self.key_path(key) if key else self.path, message)

    def report_at(self, path: str, message: str) -> None:
        """Record a problem at a full key path (``…tags[1]``)."""
        self.problems.append(ConfigProblem(path, message))

    def only_known(self, known: Collection[str], *, hint: str = "") -> None:
        """Report each key not in ``known``, suggesting the closest known one."""
        for key in self._table:
            if key not in known:
                self.report(key, unknown_key(key, known, hint=hint))

    # -- typed values ---------------------------------------------------------------------

    def check_type(self, value: object, path: str, kind: str, *, expected: str = "") -> Any:
        """``value`` if its TOML type is ``kind`` (such as ``"a string"``), else ``None``."""
        found = type_name(value)
        if found != kind:
            self.report_at(path, f"expected {expected or kind}, got {found}")
            return None
        return value

    def value(self, key: str, kind: str, *, required: str = "", expected: str = "") -> Any:
        """``key``'s value if present and of TOML type ``kind``, else ``None``.

        :param required: if set, the key must be present; says what to set it to.
        """
        if key not in self._table:
            if required:
                self.report(key, f"missing required key; set it to {required}")
            return None
        return self.check_type(self._table[key], self.key_path(key), kind, expected=expected)

    def _non_empty(self, text: str | None, path: str) -> str | None:
        if text == "":
            self.report_at(path, '"" — must not be empty')
            return None
        return text

    def string(self, key: str, *, required: str = "") -> str | None:
        """A non-empty string."""
        text: str | None = self.value(key, "a string", required=required)
        return self._non_empty(text, self.key_path(key))

    def choice(self, key: str, choices: Collection[str]) -> str | None:
        """A string that is one of ``choices``."""
        text = self.string(key)
        if text is not None and text not in choices:
            listed = " or ".join(quote(choice) for choice in choices)
            self.report(key, f"{quote(text)} — expected {listed}")
            return None
        return text

    def boolean(self, key: str, default: bool = False) -> bool:
        found: bool | None = self.value(key, "a boolean")
        return default if found is None else found

    def strings(
        self,
        key: str,
        *,
        required: str = "",
        non_empty: str = "",
        each: Callable[[str, str], object] | None = None,
    ) -> tuple[str, ...] | None:
        """An array of non-empty strings, each passed with its key path to ``each``.

        :param non_empty: if set, the array must not be empty; says what to list.
        """
        path = self.key_path(key)
        items: list[object] | None = self.value(key, "an array", required=required)
        if items is None:
            return None
        if not items and non_empty:
            self.report(key, f"empty array — list {non_empty}")
        texts = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            text = self._non_empty(self.check_type(item, item_path, "a string"), item_path)
            if text is not None:
                texts.append(text)
                if each is not None:
                    each(text, item_path)
        return tuple(texts)

    def integer(self, key: str, *, minimum: int, maximum: int | None = None) -> int | None:
        number: int | None = self.value(key, "an integer")
        if number is not None and number < minimum:
            self.report(key, f"{number} — must be at least {minimum}")
            return None
        if number is not None and maximum is not None and number > maximum:
            self.report(key, f"{number} — must be at most {maximum}")
            return None
        return number

    def mode(self, key: str) -> int | None:
        """A file mode written as octal digits (``"0644"``)."""
        text: str | None = self.value(
            key, "a string", expected='a string of octal digits such as "0644"'
        )
        if text is None:
            return None
        if not _MODE.fullmatch(text):
            self.report(key, f'{quote(text)} — a mode is 3 or 4 octal digits, such as "0644"')
            return None
        return int(text, 8)

    def table(self, key: str) -> ConfigReader | None:
        """A reader of the sub-table ``key``; ``None`` if absent or not a table."""
        found: Mapping[str, Any] | None = self.value(key, "a table")
        return None if found is None else self._sub(found, self.key_path(key))

    def tables(self, key: str) -> list[ConfigReader] | None:
        """Readers of an array of tables (``[[tool.ocipush.layers]]``); ``None`` if absent
        or not an array."""
        path = self.key_path(key)
        items: list[object] | None = self.value(key, "an array", expected="an array of tables")
        if items is None:
            return None
        readers = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            entry: Mapping[str, Any] | None = self.check_type(item, item_path, "a table")
            if entry is not None:
                readers.append(self._sub(entry, item_path))
        return readers

    def string_table(self, key: str, *, templates: bool = False) -> dict[str, str]:
        """A table of strings (labels, annotations); with ``templates``, each a template."""
        table = self.table(key)
        if table is None:
            return {}
        found = {}
        for name in table:
            value_path = table.key_path(name)
            text: str | None = self.check_type(table.raw(name), value_path, "a string")
            if text is not None:
                if templates:
                    self.template(text, value_path)
                found[name] = text
        return found

    # -- templates ------------------------------------------------------------------------

    def template(
        self, text: str, path: str, *, files: bool = False, tag: bool = False
    ) -> str | None:
        """``text`` expanded with project metadata, or stand-ins where it is not known yet.

        :param files: ``{wheel}`` and ``{sdist}`` may be used.
        :param tag: the result is (or holds) a tag: ``{version}`` is spelt as tags allow.
        """
        variables = tag_variables(self._run.metadata) if tag else dict(self._run.metadata)
        if files:
            variables = {**variables, **PROBE_DISTRIBUTIONS}
        try:
            return render(text, variables, environ=None)
        except TemplateProblem as exc:
            self.report_at(path, f"{quote(text)} — {exc}")
            return None

    def expanded(
        self, text: str, path: str, check: Callable[[str], object], *, tag: bool = False
    ) -> None:
        """Expand the template ``text`` and run the grammar ``check`` on the result, which
        raises :class:`~ocipush.errors.InvalidReferenceError`."""
        expansion = self.template(text, path, tag=tag)
        if expansion is None:
            return
        try:
            check(expansion)
        except InvalidReferenceError as exc:
            if exc.problem == CREDENTIALS_PROBLEM:
                # The reference's own text is already stripped of the secret.
                self.report_at(path, f"{quote(exc.text)} — {exc.problem}")
                return
            shown = quote(text)
            # Show the expansion only when it holds real values; stand-ins would mislead.
            if self._run.real_metadata and expansion != text and "{env:" not in text:
                shown += f" (expands to {quote(expansion)})"
            self.report_at(path, f"{shown} — {exc.problem}")
