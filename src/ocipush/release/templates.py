"""Templates in ``[tool.ocipush]`` values, expanded at push time.

``{name}``, ``{version}``, ``{major}``, ``{minor}``, ``{micro}``, ``{env:VAR}``, and in
artifact files also ``{wheel}`` and ``{sdist}``. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from collections.abc import Mapping

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.release.versions import parse_version, tag_spelling

__all__ = [
    "PROBE_DISTRIBUTIONS",
    "PROBE_METADATA",
    "TemplateProblem",
    "canonical_name",
    "expand_template",
    "project_variables",
    "render",
    "tag_variables",
    "template_placeholders",
]

_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_PREFIX = "env:"

#: Stand-ins for values unknown until build time. Each is valid wherever the real value must
#: be, so a problem found with them lies in the template's own text.
PROBE_METADATA = {"name": "x", "version": "0.0.0", "major": "0", "minor": "0", "micro": "0"}
PROBE_DISTRIBUTIONS = {"wheel": "x-0.0.0-py3-none-any.whl", "sdist": "x-0.0.0.tar.gz"}
_PROBE_ENV_VALUE = "x"


class TemplateProblem(Exception):
    """Why a template cannot be expanded; the caller says which key it came from."""


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def render(text: str, variables: Mapping[str, str], environ: Mapping[str, str] | None) -> str:
    """Expand ``text``; with ``environ=None`` every ``{env:VAR}`` gets a stand-in value.

    :raises TemplateProblem: naming the placeholder that is unknown or unset.
    """

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        placeholder = match.group(1)
        if token in ("{{", "}}"):
            return token[0]
        if placeholder is None:
            raise TemplateProblem(f'unmatched "{token}"; write "{token * 2}" for a literal brace')
        if placeholder.startswith(_ENV_PREFIX):
            name = placeholder[len(_ENV_PREFIX) :]
            if not _ENV_NAME.fullmatch(name):
                raise TemplateProblem(
                    f"{{{placeholder}}} needs an environment variable name, "
                    "such as {env:CI_COMMIT_TAG}"
                )
            if environ is None:
                return _PROBE_ENV_VALUE
            value = environ.get(name)
            if value is None:
                raise TemplateProblem(
                    f"environment variable {name} is not set; set it or remove {{{placeholder}}}"
                )
            return value
        if placeholder in variables:
            return variables[placeholder]
        names = sorted(variables)
        close = difflib.get_close_matches(placeholder, names, n=1)
        if close:
            raise TemplateProblem(
                f"unknown placeholder {{{placeholder}}}; did you mean {{{close[0]}}}?"
            )
        known = ", ".join(f"{{{name}}}" for name in names)
        raise TemplateProblem(f"unknown placeholder {{{placeholder}}}; use {known} or {{env:VAR}}")

    return _TEMPLATE_TOKEN.sub(replace, text)


def expand_template(
    text: str,
    variables: Mapping[str, str],
    *,
    environ: Mapping[str, str] | None = None,
    path: str = "template",
) -> str:
    """Fill the placeholders of ``text``: ``{KEY}`` from ``variables``, ``{env:VAR}`` from
    ``environ`` (default: the process environment).

    :param path: the key path the template came from, for the error message.
    :raises ConfigError: naming the placeholder that is unknown or unset, or the stray brace.
    """
    try:
        return render(text, variables, os.environ if environ is None else environ)
    except TemplateProblem as exc:
        raise ConfigError([ConfigProblem(path, f"{_quote(text)} — {exc}")]) from None


_NAME_SEPARATORS = re.compile(r"[-_.]+")


def canonical_name(name: str) -> str:
    """A distribution name as package indexes compare it: ``My_App.x`` is ``my-app-x``."""
    return _NAME_SEPARATORS.sub("-", name).lower()


def project_variables(name: str, version: str) -> dict[str, str]:
    """The template variables that come from project metadata.

    ``name`` is normalized as package indexes do (``My_App`` becomes ``my-app``), which also
    makes it a valid repository name component. ``major``, ``minor`` and ``micro`` are the first
    three release numbers of ``version``, ``"0"`` where the release is shorter.

    ``version`` is normalised (``1.0.0-RC1`` becomes ``1.0.0rc1``).

    :raises ConfigError: if ``version`` is not a PEP 440 version.
    """
    try:
        parsed = parse_version(version)
    except ValueError as exc:
        raise ConfigError(
            [ConfigProblem("project.version", f"{_quote(version)} — {exc}")]
        ) from None
    major, minor, micro = (*(str(part) for part in parsed.release), "0", "0")[:3]
    return {
        "name": canonical_name(name),
        "version": str(parsed),
        "major": major,
        "minor": minor,
        "micro": micro,
    }


def tag_variables(variables: Mapping[str, str]) -> dict[str, str]:
    """``variables`` for templates that make tags: ``{version}`` spelt as a tag can hold it
    (see :mod:`ocipush.release.versions`)."""
    return {**variables, "version": tag_spelling(parse_version(variables["version"]))}


def template_placeholders(text: str) -> frozenset[str]:
    """The placeholders ``text`` uses (``{version}`` gives ``"version"``)."""
    return frozenset(
        match.group(1) for match in _TEMPLATE_TOKEN.finditer(text) if match.group(1) is not None
    )
