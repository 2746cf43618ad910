"""The ``[tool.ocipush]`` table of a project's ``pyproject.toml``: loading and validation.

Validation collects every problem before raising, so one run shows everything to fix. Each
problem is located by its key path, such as ``tool.ocipush.targets[1].ref``, and quotes the
value it is about.

Some values are templates, expanded at push time by :func:`expand_template`: ``{name}``,
``{version}``, ``{major}``, ``{minor}``, ``{micro}``, ``{env:VAR}``, and in artifact files also
``{wheel}`` and ``{sdist}``. ``{{`` and ``}}`` are literal braces.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import sys
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time
from pathlib import Path, PurePosixPath, PureWindowsPath
from types import MappingProxyType
from typing import Any

from ocipush.errors import ConfigError, ConfigProblem, InvalidReferenceError, LayoutError
from ocipush.oci.archives import (
    DOCKER_ARCHIVE_PREFIX,
    OCI_ARCHIVE_PREFIX,
    docker_name,
    parse_archive_reference,
)
from ocipush.oci.daemon import DAEMON_PREFIX
from ocipush.oci.layout import is_layout_reference, parse_layout_reference
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.media_types import is_valid_media_type
from ocipush.oci.reference import CREDENTIALS_PROBLEM, TAG_PROBLEM, is_valid_tag, parse_reference
from ocipush.release.versions import parse_version, tag_spelling

if sys.version_info >= (3, 11):
    import tomllib
else:
    # tomli is installed only on 3.10; mypy targets 3.10 but may run where it is absent.
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

__all__ = [
    "DEFAULT_BACKEND",
    "DEFAULT_JOBS",
    "DEFAULT_TARGET",
    "IMAGE_SUBJECT",
    "MAX_JOBS",
    "ArtifactConfig",
    "LayerConfig",
    "Settings",
    "TargetConfig",
    "canonical_name",
    "expand_template",
    "load_settings",
    "parse_settings",
    "project_variables",
    "read_pyproject",
    "settings_from_document",
    "tag_variables",
    "template_placeholders",
]

DEFAULT_BACKEND = "setuptools.build_meta"
#: Concurrent uploads: enough to hide latency, few enough that registries do not throttle.
DEFAULT_JOBS = 4
#: Parallel uploads at most: more only adds connections a registry will throttle.
MAX_JOBS = 64
#: The image of this run, when named as an artifact's subject.
IMAGE_SUBJECT = "image"

_ROOT = "tool.ocipush"


@dataclass(frozen=True)
class TargetConfig:
    """Where images go. ``ref`` and ``tags`` are templates.

    :ivar ref: a registry reference, or ``oci:PATH[:TAG]`` for an image layout directory.
    :ivar tags: more tags to apply to what is pushed to ``ref``.
    :ivar insecure: whether plain http may be used with this registry.
    """

    ref: str
    tags: tuple[str, ...] = ()
    insecure: bool = False

    @property
    def is_layout(self) -> bool:
        return is_layout_reference(self.ref)

    @property
    def is_local(self) -> bool:
        """A layout, an archive or a local engine: what ``ocipush build`` writes."""
        return is_local_reference(self.ref)


DEFAULT_TARGET = TargetConfig("oci:dist/oci")


@dataclass(frozen=True)
class LayerConfig:
    """Files from the project copied into the image as one layer.

    :ivar source: a directory or file, relative to the project root.
    :ivar dest: the absolute path in the image where ``source`` lands.
    :ivar include: glob patterns, relative to ``source``, of files to take.
    :ivar exclude: glob patterns of files to leave out even if included.
    :ivar allow_outside: whether ``source`` (or a symbolic link in it) may lead outside the
        project root.
    """

    source: str
    dest: str
    include: tuple[str, ...] = ("**/*",)
    exclude: tuple[str, ...] = ()
    file_mode: int = 0o644
    dir_mode: int = 0o755
    uid: int = 0
    gid: int = 0
    allow_outside: bool = False


@dataclass(frozen=True)
class ArtifactConfig:
    """Files pushed as an OCI artifact. ``files``, annotation values, ``subject`` and ``tag``
    are templates.

    :ivar files: globs from the project root; ``{wheel}`` and ``{sdist}`` are the
        distributions just built.
    :ivar media_type: the media type of each file's layer; ``None`` leaves the choice to plugins.
    :ivar subject: ``"image"`` for the image pushed in the same run, or a reference.
    :ivar tag: the tag of the artifact manifest; ``None`` pushes it by digest only.
    :ivar required: whether a run that did not build a ``{wheel}``/``{sdist}`` it names must
        fail; otherwise such files (or the whole artifact) are left out with a note.
    :ivar allow_outside: whether ``files`` may name files outside the project root.
    """

    files: tuple[str, ...]
    artifact_type: str
    media_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    subject: str | None = None
    tag: str | None = None
    required: bool = False
    allow_outside: bool = False


@dataclass(frozen=True)
class Settings:
    """The validated ``[tool.ocipush]`` table. ``Settings()`` is what an absent table means.

    :ivar plugin_tables: the sub-tables owned by plugins, by plugin name, unvalidated.
    """

    backend: str = DEFAULT_BACKEND
    plugins: tuple[str, ...] = ()
    jobs: int = DEFAULT_JOBS
    allow_nondistributable_artifacts: bool = False
    outputs_json: str | None = None
    outputs_allow_outside: bool = False
    targets: tuple[TargetConfig, ...] = (DEFAULT_TARGET,)
    layers: tuple[LayerConfig, ...] = ()
    artifacts: tuple[ArtifactConfig, ...] = ()
    plugin_tables: Mapping[str, Mapping[str, Any]] = field(
        default_factory=lambda: MappingProxyType({})
    )


# --- templates -------------------------------------------------------------------------------

_TEMPLATE_TOKEN = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_PREFIX = "env:"

# Stand-ins for values unknown until build time. Each is valid wherever the real value must
# be, so a problem found with them lies in the template's own text.
_PROBE_METADATA = {"name": "x", "version": "0.0.0", "major": "0", "minor": "0", "micro": "0"}
_PROBE_DISTRIBUTIONS = {"wheel": "x-0.0.0-py3-none-any.whl", "sdist": "x-0.0.0.tar.gz"}
_PROBE_ENV_VALUE = "x"


class _TemplateProblem(Exception):
    """Why a template cannot be expanded; the caller says which key it came from."""


def _render(text: str, variables: Mapping[str, str], environ: Mapping[str, str] | None) -> str:
    """Expand ``text``; with ``environ=None`` every ``{env:VAR}`` gets a stand-in value."""

    def replace(match: re.Match[str]) -> str:
        token = match.group(0)
        placeholder = match.group(1)
        if token in ("{{", "}}"):
            return token[0]
        if placeholder is None:
            raise _TemplateProblem(f'unmatched "{token}"; write "{token * 2}" for a literal brace')
        if placeholder.startswith(_ENV_PREFIX):
            name = placeholder[len(_ENV_PREFIX) :]
            if not _ENV_NAME.fullmatch(name):
                raise _TemplateProblem(
                    f"{{{placeholder}}} needs an environment variable name, "
                    "such as {env:CI_COMMIT_TAG}"
                )
            if environ is None:
                return _PROBE_ENV_VALUE
            value = environ.get(name)
            if value is None:
                raise _TemplateProblem(
                    f"environment variable {name} is not set; set it or remove {{{placeholder}}}"
                )
            return value
        if placeholder in variables:
            return variables[placeholder]
        names = sorted(variables)
        close = difflib.get_close_matches(placeholder, names, n=1)
        if close:
            raise _TemplateProblem(
                f"unknown placeholder {{{placeholder}}}; did you mean {{{close[0]}}}?"
            )
        known = ", ".join(f"{{{name}}}" for name in names)
        raise _TemplateProblem(f"unknown placeholder {{{placeholder}}}; use {known} or {{env:VAR}}")

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
        return _render(text, variables, os.environ if environ is None else environ)
    except _TemplateProblem as exc:
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


# --- grammar of single values ----------------------------------------------------------------


def _check_tag(tag: str) -> None:
    if not is_valid_tag(tag):
        raise InvalidReferenceError(tag, TAG_PROBLEM)


def _check_target_ref(text: str) -> None:
    if text.startswith((DOCKER_ARCHIVE_PREFIX, DAEMON_PREFIX)):
        try:
            if text.startswith(DAEMON_PREFIX):
                docker_name(text[len(DAEMON_PREFIX) :], text)
            else:
                parse_archive_reference(text)
        except LayoutError as exc:
            raise InvalidReferenceError(text, str(exc)) from None
        return
    if text.startswith(OCI_ARCHIVE_PREFIX):
        text = "oci:" + text[len(OCI_ARCHIVE_PREFIX) :]
    if not is_layout_reference(text):
        parse_reference(text)
        return
    # An empty path, an invalid tag or a digest: the layout parser names each.
    parse_layout_reference(text)


def _is_module_path(text: str) -> bool:
    return all(part.isidentifier() for part in text.split("."))


def _is_backend(text: str) -> bool:
    module, colon, attribute = text.partition(":")
    return _is_module_path(module) and (not colon or _is_module_path(attribute))


_MODE = re.compile(r"[0-7]{3,4}")
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _quote(value: object) -> str:
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


def _type_name(value: object) -> str:
    return next(
        (name for kind, name in _TOML_TYPES if isinstance(value, kind)), type(value).__name__
    )


def _child(path: str, key: str) -> str:
    return f"{path}.{key}" if _BARE_KEY.fullmatch(key) else f"{path}.{_quote(key)}"


def _unknown_key(key: str, known: Collection[str], *, hint: str = "") -> str:
    close = difflib.get_close_matches(key, list(known), n=1)
    if close:
        return f"unknown key — did you mean {_quote(close[0])}?"
    return f"unknown key — known keys are {', '.join(sorted(set(known)))}{hint}"


# --- validation ------------------------------------------------------------------------------


class _Checker:
    """Reads typed values out of tables, recording every problem instead of stopping."""

    def __init__(self, metadata: Mapping[str, str] | None) -> None:
        self.problems: list[ConfigProblem] = []
        self.metadata = _PROBE_METADATA if metadata is None else metadata
        self.real_metadata = metadata is not None

    def report(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def only_known(self, table: Mapping[str, Any], path: str, known: Collection[str]) -> None:
        for key in table:
            if key not in known:
                self.report(_child(path, key), _unknown_key(key, known))

    def check_type(self, value: object, path: str, kind: str, *, expected: str = "") -> Any:
        """``value`` if its TOML type is ``kind`` (such as ``"a string"``), else ``None``."""
        found = _type_name(value)
        if found != kind:
            self.report(path, f"expected {expected or kind}, got {found}")
            return None
        return value

    def value(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        kind: str,
        *,
        required: str = "",
        expected: str = "",
    ) -> Any:
        """``table[key]`` if present and of TOML type ``kind``, else ``None``.

        :param required: if set, the key must be present; says what to set it to.
        """
        if key not in table:
            if required:
                self.report(path, f"missing required key; set it to {required}")
            return None
        return self.check_type(table[key], path, kind, expected=expected)

    def non_empty(self, text: str | None, path: str) -> str | None:
        if text == "":
            self.report(path, '"" — must not be empty')
            return None
        return text

    def string(
        self, table: Mapping[str, Any], key: str, path: str, *, required: str = ""
    ) -> str | None:
        text: str | None = self.value(table, key, path, "a string", required=required)
        return self.non_empty(text, path)

    def strings(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        *,
        required: str = "",
        non_empty: str = "",
        each: Callable[[str, str], object] | None = None,
    ) -> tuple[str, ...] | None:
        """An array of non-empty strings, each passed with its path to ``each``.

        :param non_empty: if set, the array must not be empty; says what to list.
        """
        items: list[object] | None = self.value(table, key, path, "an array", required=required)
        if items is None:
            return None
        if not items and non_empty:
            self.report(path, f"empty array — list {non_empty}")
        texts = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            text = self.non_empty(self.check_type(item, item_path, "a string"), item_path)
            if text is not None:
                texts.append(text)
                if each is not None:
                    each(text, item_path)
        return tuple(texts)

    def integer(
        self,
        table: Mapping[str, Any],
        key: str,
        path: str,
        *,
        minimum: int,
        maximum: int | None = None,
    ) -> int | None:
        number: int | None = self.value(table, key, path, "an integer")
        if number is not None and number < minimum:
            self.report(path, f"{number} — must be at least {minimum}")
            return None
        if number is not None and maximum is not None and number > maximum:
            self.report(path, f"{number} — must be at most {maximum}")
            return None
        return number

    def mode(self, table: Mapping[str, Any], key: str, path: str) -> int | None:
        text: str | None = self.value(
            table, key, path, "a string", expected='a string of octal digits such as "0644"'
        )
        if text is None:
            return None
        if not _MODE.fullmatch(text):
            self.report(path, f'{_quote(text)} — a mode is 3 or 4 octal digits, such as "0644"')
            return None
        return int(text, 8)

    def tables(
        self, table: Mapping[str, Any], key: str, path: str
    ) -> list[tuple[Mapping[str, Any], str]] | None:
        """An array of tables, each with its path; ``None`` if absent or not an array."""
        items: list[object] | None = self.value(
            table, key, path, "an array", expected="an array of tables"
        )
        if items is None:
            return None
        entries = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]"
            entry: Mapping[str, Any] | None = self.check_type(item, item_path, "a table")
            if entry is not None:
                entries.append((entry, item_path))
        return entries

    def template(
        self, text: str, path: str, *, files: bool = False, tag: bool = False
    ) -> str | None:
        """``text`` expanded with project metadata, or stand-ins where it is not known yet.

        :param tag: the result is (or holds) a tag: ``{version}`` is spelt as tags allow.
        """
        variables = tag_variables(self.metadata) if tag else self.metadata
        if files:
            variables = {**variables, **_PROBE_DISTRIBUTIONS}
        try:
            return _render(text, variables, environ=None)
        except _TemplateProblem as exc:
            self.report(path, f"{_quote(text)} — {exc}")
            return None

    def expanded(
        self, text: str, path: str, check: Callable[[str], object], *, tag: bool = False
    ) -> None:
        """Expand the template ``text`` and run the grammar ``check`` on the result."""
        expansion = self.template(text, path, tag=tag)
        if expansion is None:
            return
        try:
            check(expansion)
        except InvalidReferenceError as exc:
            if exc.problem == CREDENTIALS_PROBLEM:
                # The reference's own text is already stripped of the secret.
                self.report(path, f"{_quote(exc.text)} — {exc.problem}")
                return
            shown = _quote(text)
            # Show the expansion only when it holds real values; stand-ins would mislead.
            if self.real_metadata and expansion != text and "{env:" not in text:
                shown += f" (expands to {_quote(expansion)})"
            self.report(path, f"{shown} — {exc.problem}")


def _parse_target(check: _Checker, entry: Mapping[str, Any], path: str) -> TargetConfig:
    check.only_known(entry, path, ("ref", "tags", "insecure"))
    ref_path = _child(path, "ref")
    ref = check.string(
        entry,
        "ref",
        ref_path,
        required='a registry reference such as "ghcr.io/acme/{name}:{version}", '
        'or "oci:PATH[:TAG]" for an image layout (also "oci-archive:PATH[:TAG]", '
        '"docker-archive:PATH[:NAME:TAG]", "docker-daemon:NAME[:TAG]")',
    )
    if ref is not None:
        check.expanded(ref, ref_path, _check_target_ref, tag=True)
    tags = check.strings(
        entry,
        "tags",
        _child(path, "tags"),
        each=lambda tag, at: check.expanded(tag, at, _check_tag, tag=True),
    )
    insecure_path = _child(path, "insecure")
    insecure: bool | None = check.value(entry, "insecure", insecure_path, "a boolean")
    if insecure and ref is not None and is_local_reference(ref):
        check.report(
            insecure_path,
            f'true — an "{ref.partition(":")[0]}:" target is on this machine, so insecure '
            "does not apply; remove it",
        )
    return TargetConfig(ref or "", tags or (), bool(insecure))


_LAYER_DEFAULTS = LayerConfig(source="", dest="")
#: The opt-in, on a layer, artifact or outputs table, for paths outside the project root.
_ALLOW_OUTSIDE = "allow-outside"


def _allow_outside(check: _Checker, table: Mapping[str, Any], path: str) -> bool:
    key = _child(path, _ALLOW_OUTSIDE)
    return bool(check.value(table, _ALLOW_OUTSIDE, key, "a boolean"))


def _parse_layer(check: _Checker, entry: Mapping[str, Any], path: str) -> LayerConfig:
    check.only_known(
        entry,
        path,
        (
            "source",
            "dest",
            "include",
            "exclude",
            "file-mode",
            "dir-mode",
            "uid",
            "gid",
            _ALLOW_OUTSIDE,
        ),
    )
    source_path = _child(path, "source")
    source = check.string(
        entry,
        "source",
        source_path,
        required='a directory or file relative to the project root, such as "static"',
    )
    if source is not None and (
        PurePosixPath(source).is_absolute() or PureWindowsPath(source).is_absolute()
    ):
        check.report(source_path, f"{_quote(source)} — must be relative to the project root")
    dest_path = _child(path, "dest")
    absolute_example = 'an absolute path in the image, such as "/srv/static"'
    dest = check.string(entry, "dest", dest_path, required=absolute_example)
    if dest is not None and not dest.startswith("/"):
        check.report(dest_path, f"{_quote(dest)} — must be {absolute_example}")
    elif dest is not None and ".." in PurePosixPath(dest).parts:
        check.report(dest_path, f'{_quote(dest)} — must not contain ".."; write {absolute_example}')
    include = check.strings(
        entry,
        "include",
        _child(path, "include"),
        non_empty='at least one glob pattern, such as "**/*"',
    )
    exclude = check.strings(entry, "exclude", _child(path, "exclude"))
    file_mode = check.mode(entry, "file-mode", _child(path, "file-mode"))
    dir_mode = check.mode(entry, "dir-mode", _child(path, "dir-mode"))
    uid = check.integer(entry, "uid", _child(path, "uid"), minimum=0)
    gid = check.integer(entry, "gid", _child(path, "gid"), minimum=0)
    return LayerConfig(
        source=source or "",
        dest=dest or "",
        include=_LAYER_DEFAULTS.include if include is None else include,
        exclude=_LAYER_DEFAULTS.exclude if exclude is None else exclude,
        file_mode=_LAYER_DEFAULTS.file_mode if file_mode is None else file_mode,
        dir_mode=_LAYER_DEFAULTS.dir_mode if dir_mode is None else dir_mode,
        uid=_LAYER_DEFAULTS.uid if uid is None else uid,
        gid=_LAYER_DEFAULTS.gid if gid is None else gid,
        allow_outside=_allow_outside(check, entry, path),
    )


def _parse_media_type(
    check: _Checker, entry: Mapping[str, Any], key: str, path: str, *, required: str = ""
) -> str | None:
    media_type = check.string(entry, key, path, required=required)
    if media_type is not None and not is_valid_media_type(media_type):
        check.report(
            path,
            f"{_quote(media_type)} — a media type is type/subtype, "
            'such as "application/vnd.acme.release.v1"',
        )
        return None
    return media_type


def _parse_annotations(check: _Checker, entry: Mapping[str, Any], path: str) -> dict[str, str]:
    table: Mapping[str, Any] | None = check.value(entry, "annotations", path, "a table")
    annotations = {}
    for key, value in (table or {}).items():
        value_path = _child(path, key)
        text: str | None = check.check_type(value, value_path, "a string")
        if text is not None:
            check.template(text, value_path)
            annotations[key] = text
    return annotations


def _parse_artifact(check: _Checker, entry: Mapping[str, Any], path: str) -> ArtifactConfig:
    check.only_known(
        entry,
        path,
        (
            "files",
            "artifact-type",
            "media-type",
            "annotations",
            "subject",
            "tag",
            "required",
            _ALLOW_OUTSIDE,
        ),
    )
    files = check.strings(
        entry,
        "files",
        _child(path, "files"),
        required='a list of files or globs, such as ["{wheel}", "{sdist}"]',
        non_empty='at least one file or glob, such as "{wheel}"',
        each=lambda text, at: check.template(text, at, files=True),
    )
    artifact_type = _parse_media_type(
        check,
        entry,
        "artifact-type",
        _child(path, "artifact-type"),
        required='a media type, such as "application/vnd.acme.release.v1"',
    )
    media_type = _parse_media_type(check, entry, "media-type", _child(path, "media-type"))
    annotations = _parse_annotations(check, entry, _child(path, "annotations"))
    subject_path = _child(path, "subject")
    subject = check.string(entry, "subject", subject_path)
    if subject is not None and subject != IMAGE_SUBJECT:
        check.expanded(subject, subject_path, parse_reference)
    tag_path = _child(path, "tag")
    tag = check.string(entry, "tag", tag_path)
    if tag is not None:
        check.expanded(tag, tag_path, _check_tag, tag=True)
    required = check.value(entry, "required", _child(path, "required"), "a boolean")
    return ArtifactConfig(
        files=files or (),
        artifact_type=artifact_type or "",
        media_type=media_type,
        annotations=MappingProxyType(annotations),
        subject=subject,
        tag=tag,
        required=bool(required),
        allow_outside=_allow_outside(check, entry, path),
    )


def _parse_targets(check: _Checker, table: Mapping[str, Any]) -> tuple[TargetConfig, ...] | None:
    """The configured targets, or ``None`` when none are (so the default applies)."""
    path = _child(_ROOT, "targets")
    entries = check.tables(table, "targets", path)
    if entries is None:
        return None
    if not entries and not table["targets"]:
        check.report(
            path,
            f"empty array — add a [[{path}]] table, or remove the key "
            f"to push to {_quote(DEFAULT_TARGET.ref)}",
        )
    return tuple(_parse_target(check, entry, at) for entry, at in entries)


_TOP_LEVEL_KEYS = (
    "backend",
    "plugins",
    "jobs",
    "allow-nondistributable-artifacts",
    "outputs",
    "targets",
    "layers",
    "artifacts",
)


def _parse_plugin_tables(
    check: _Checker, table: Mapping[str, Any], plugin_names: Collection[str]
) -> dict[str, Mapping[str, Any]]:
    plugin_tables = {}
    for key, value in table.items():
        if key in _TOP_LEVEL_KEYS:
            continue
        path = _child(_ROOT, key)
        if key in plugin_names:
            if check.check_type(value, path, "a table") is not None:
                plugin_tables[key] = value
        else:
            hint = (
                "; a plugin's table needs the plugin installed or listed in tool.ocipush.plugins"
                if isinstance(value, Mapping)
                else ""
            )
            check.report(path, _unknown_key(key, [*_TOP_LEVEL_KEYS, *plugin_names], hint=hint))
    return plugin_tables


def parse_settings(
    table: Mapping[str, Any],
    *,
    plugin_names: Collection[str] = (),
    source: str = "pyproject.toml",
    metadata: Mapping[str, str] | None = None,
) -> Settings:
    """Validate a ``[tool.ocipush]`` table.

    :param plugin_names: plugins that may own a sub-table named after them.
    :param source: where ``table`` came from, for the error message.
    :param metadata: :func:`project_variables` to check templates with, when the project's
        name and version are known; otherwise stand-in values are used.
    :raises ConfigError: listing every problem found.
    """
    check = _Checker(metadata)
    plugin_tables = _parse_plugin_tables(check, table, plugin_names)

    backend_path = _child(_ROOT, "backend")
    backend = check.string(table, "backend", backend_path)
    if backend is not None and not _is_backend(backend):
        check.report(
            backend_path,
            f"{_quote(backend)} — a build backend is a module path, optionally followed by "
            '":object", such as "hatchling.build"',
        )

    def check_plugin(module: str, path: str) -> None:
        if not _is_module_path(module):
            check.report(
                path,
                f"{_quote(module)} — a plugin is a module importable from the project root, "
                'such as "ci.oci_hooks"',
            )

    plugins = check.strings(table, "plugins", _child(_ROOT, "plugins"), each=check_plugin)
    jobs = check.integer(table, "jobs", _child(_ROOT, "jobs"), minimum=1, maximum=MAX_JOBS)
    key = "allow-nondistributable-artifacts"
    allow_nondistributable: bool | None = check.value(table, key, _child(_ROOT, key), "a boolean")

    outputs_path = _child(_ROOT, "outputs")
    outputs: Mapping[str, Any] = check.value(table, "outputs", outputs_path, "a table") or {}
    check.only_known(outputs, outputs_path, ("json", _ALLOW_OUTSIDE))
    outputs_json = check.string(outputs, "json", _child(outputs_path, "json"))

    targets = _parse_targets(check, table)
    layers = check.tables(table, "layers", _child(_ROOT, "layers")) or []
    artifacts = check.tables(table, "artifacts", _child(_ROOT, "artifacts")) or []
    settings = Settings(
        backend=backend or DEFAULT_BACKEND,
        plugins=plugins or (),
        jobs=jobs or DEFAULT_JOBS,
        allow_nondistributable_artifacts=bool(allow_nondistributable),
        outputs_json=outputs_json,
        outputs_allow_outside=_allow_outside(check, outputs, outputs_path),
        targets=(DEFAULT_TARGET,) if targets is None else targets,
        layers=tuple(_parse_layer(check, entry, at) for entry, at in layers),
        artifacts=tuple(_parse_artifact(check, entry, at) for entry, at in artifacts),
        plugin_tables=MappingProxyType(plugin_tables),
    )
    if check.problems:
        raise ConfigError(check.problems, source=source)
    return settings


# --- loading ---------------------------------------------------------------------------------

_PYPROJECT = "pyproject.toml"
_TOML_LOCATION = re.compile(
    r"(?P<reason>.*) \(at (?:line (?P<line>\d+), column (?P<column>\d+)|end of document)\)",
    re.DOTALL,
)


def _read_toml(file: Path) -> dict[str, Any]:
    try:
        text = file.read_bytes().decode("utf-8")
    except FileNotFoundError:
        raise ConfigError(
            [
                ConfigProblem(
                    file.name,
                    "no such file — run ocipush in the project's directory, "
                    "or name it with --project DIR",
                )
            ],
            source=str(file.parent),
        ) from None
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(file.name, f"cannot be read — {exc.strerror}")],
            source=str(file.parent),
        ) from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(
            [ConfigProblem(f"byte {exc.start}", "not UTF-8 — TOML files must be UTF-8 encoded")],
            source=str(file),
        ) from exc
    try:
        document: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        located = _TOML_LOCATION.fullmatch(str(exc))
        if located is None:
            where, reason = "syntax", str(exc)
        else:
            line, column = located.group("line", "column")
            where = f"line {line}, column {column}" if line else "end of file"
            reason = located.group("reason")
        reason = reason[:1].lower() + reason[1:]
        raise ConfigError(
            [ConfigProblem(where, f"invalid TOML: {reason}")], source=str(file)
        ) from exc
    return document


def _static_metadata(document: Mapping[str, Any]) -> dict[str, str] | None:
    """Template variables from ``[project]``, if its name and version are written there."""
    project = document.get("project")
    if not isinstance(project, Mapping):
        return None
    name, version = project.get("name"), project.get("version")
    if not isinstance(name, str) or not isinstance(version, str):
        return None
    return project_variables(name, version)


def read_pyproject(project_dir: Path) -> dict[str, Any]:
    """The whole ``pyproject.toml`` of ``project_dir``, unvalidated.

    :raises ConfigError: if the file is missing or not TOML, with the position.
    """
    return _read_toml(project_dir / _PYPROJECT)


def load_settings(project_dir: Path, *, plugin_names: Collection[str] = ()) -> Settings:
    """Read and validate ``[tool.ocipush]`` from ``project_dir/pyproject.toml``.

    Without that table, every setting has its default.

    :param plugin_names: plugins that may own a sub-table named after them.
    :raises ConfigError: if the file is missing or not TOML, or listing every invalid setting.
    """
    file = project_dir / _PYPROJECT
    return settings_from_document(_read_toml(file), plugin_names=plugin_names, source=str(file))


def settings_from_document(
    document: Mapping[str, Any], *, plugin_names: Collection[str] = (), source: str = _PYPROJECT
) -> Settings:
    """Validate ``[tool.ocipush]`` of an already read ``pyproject.toml`` (see
    :func:`load_settings`); ``source`` names the file in messages."""
    tool = document.get("tool", {})
    if not isinstance(tool, Mapping):
        raise ConfigError(
            [ConfigProblem("tool", f"expected a table, got {_type_name(tool)}")], source=source
        )
    table = tool.get("ocipush", {})
    if not isinstance(table, Mapping):
        raise ConfigError(
            [ConfigProblem(_ROOT, f"expected a table, got {_type_name(table)}")], source=source
        )
    try:
        metadata = _static_metadata(document)
    except ConfigError as exc:
        raise ConfigError(exc.problems, source=source) from None
    return parse_settings(table, plugin_names=plugin_names, source=source, metadata=metadata)
