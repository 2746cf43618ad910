"""PEP 517 / PEP 660 build backend that wraps the project's real backend and publishes.

Use it in ``pyproject.toml``::

    [build-system]
    requires = ["ocipush", "hatchling"]
    build-backend = "ocipush.backend"

    [tool.ocipush]
    backend = "hatchling.build"

Every hook delegates to the real backend, so the wheel and sdist are exactly what it builds.
After a wheel is built, ocipush runs the plan with the distributions of this build: by
default it only writes an OCI layout into the output directory (``dist/oci``); it pushes
to registry targets only with ``-C ocipush.push=true`` or ``OCIPUSH_PUSH=1``. It never
publishes from ``pip install`` or an editable install.

``python -m build`` builds the sdist, then the wheel from that sdist in a temporary
directory. The sdist step records where the project is and what it built; the wheel step
then publishes once, with both files. ``--wheel`` alone publishes with the wheel only
(``{sdist}`` files are left out with a warning, or the run fails if the artifact is
``required``); ``--sdist`` alone publishes nothing, since images are made from the wheel.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ocipush.errors import (
    AuthenticationError,
    ConfigError,
    OcipushError,
    RegistryTimeoutError,
    RegistryUnreachableError,
    TlsHandshakeError,
    UntrustedCertificateError,
)
from ocipush.release.config import DEFAULT_BACKEND, TargetConfig, read_pyproject
from ocipush.release.distributions import INNER_BUILD, file_release

__all__ = [
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
]

ConfigSettings = Mapping[str, Any] | None

#: Config-settings keys of ocipush's own; the real backend never sees them.
_PREFIX = "ocipush."
_TRUE = frozenset({"1", "true", "yes", "on"})
_OPTIONAL_HOOKS = frozenset(
    {
        "prepare_metadata_for_build_wheel",
        "build_editable",
        "get_requires_for_build_editable",
        "prepare_metadata_for_build_editable",
    }
)


def _inner() -> Any:
    """The project's real backend, named by ``[tool.ocipush] backend``."""
    table = read_pyproject(Path.cwd()).get("tool", {}).get("ocipush", {})
    name = table.get("backend", DEFAULT_BACKEND) if isinstance(table, dict) else DEFAULT_BACKEND
    module, _, attribute = str(name).partition(":")
    backend = importlib.import_module(module)
    return getattr(backend, attribute) if attribute else backend


def _own_settings(config_settings: ConfigSettings) -> dict[str, Any]:
    return {
        k[len(_PREFIX) :]: v for k, v in (config_settings or {}).items() if k.startswith(_PREFIX)
    }


def _inner_settings(config_settings: ConfigSettings) -> dict[str, Any] | None:
    if config_settings is None:
        return None
    return {k: v for k, v in config_settings.items() if not k.startswith(_PREFIX)}


def _publishing() -> bool:
    """Whether this build publishes: not under pip (installing must never publish), and
    not when ``ocipush push`` is the frontend (it publishes what it asked for itself)."""
    return not any(
        name in os.environ for name in ("PIP_BUILD_TRACKER", "PIP_REQ_TRACKER", INNER_BUILD)
    )


def _marker(directory: str) -> Path:
    """Where the sdist step leaves word for the wheel step (outside ``dist/``, which
    upload tools read whole)."""
    key = hashlib.sha256(str(Path(directory).resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / f"ocipush-sdist-{key}.json"


def get_requires_for_build_wheel(config_settings: ConfigSettings = None) -> list[str]:
    hook = getattr(_inner(), "get_requires_for_build_wheel", None)
    return list(hook(_inner_settings(config_settings))) if hook else []


def get_requires_for_build_sdist(config_settings: ConfigSettings = None) -> list[str]:
    hook = getattr(_inner(), "get_requires_for_build_sdist", None)
    return list(hook(_inner_settings(config_settings))) if hook else []


def build_sdist(sdist_directory: str, config_settings: ConfigSettings = None) -> str:
    name: str = _inner().build_sdist(sdist_directory, _inner_settings(config_settings))
    if _publishing():
        record = {"root": str(Path.cwd()), "sdist": name}
        _marker(sdist_directory).write_text(json.dumps(record), encoding="utf-8")
        print(
            "ocipush: publishing follows the wheel (python -m build --sdist alone publishes "
            "nothing)",
            file=sys.stderr,
        )
    return name


def build_wheel(
    wheel_directory: str,
    config_settings: ConfigSettings = None,
    metadata_directory: str | None = None,
) -> str:
    name: str = _inner().build_wheel(
        wheel_directory, _inner_settings(config_settings), metadata_directory
    )
    if _publishing():
        _publish(Path(wheel_directory), name, _own_settings(config_settings))
    return name


def _publish(out: Path, wheel_name: str, settings: Mapping[str, Any]) -> None:
    # Imported here so that the delegating hooks stay as light as the real backend.
    from ocipush.release.publish import execute, make_plan, open_project  # noqa: PLC0415

    root = Path.cwd()
    distributions = [out / wheel_name]
    marker = _marker(str(out))
    if marker.is_file():
        record = json.loads(marker.read_text(encoding="utf-8"))
        sdist = out / record["sdist"]
        # The sdist of an earlier --sdist run of another version is not this release's.
        wheel, sdist_release = file_release(out / wheel_name), file_release(sdist)
        same = wheel is not None and sdist_release is not None and wheel[1:] == sdist_release[1:]
        if sdist.is_file() and same:
            distributions.append(sdist)
            root = Path(record["root"])
        marker.unlink()
    push = str(settings.get("push", os.environ.get("OCIPUSH_PUSH", ""))).lower() in _TRUE
    try:
        project, manager = open_project(root, distributions=tuple(distributions), output_dir=out)
        # Layouts go to the output directory: the project root may be a temporary sdist tree.
        layout = TargetConfig(f"oci:{out / 'oci'}")
        targets = [t for t in project.settings.targets if not t.is_layout] if push else []
        plan = make_plan(project, manager, targets=[*targets, layout])
        for target in plan.targets:
            for note in target.skipped_tag_notes():
                print(f"ocipush: {note}", file=sys.stderr)
        results = execute(plan, project, manager)
    except OcipushError as error:
        print(f"ocipush: error: {error}", file=sys.stderr)
        hint = _remedy(error)
        if hint:
            print(f"ocipush: hint: {hint}", file=sys.stderr)
        raise SystemExit(2 if isinstance(error, ConfigError) else 1) from None
    for result in results:
        for ref in result.refs:
            print(f"ocipush: published {ref}", file=sys.stderr)


def _remedy(error: OcipushError) -> str | None:
    """What to do, in the build backend's terms: configuration and stored credentials
    (there are no command-line flags here)."""
    host = getattr(error, "host", None)
    if isinstance(error, UntrustedCertificateError):
        return (
            f"trust its CA by putting it in /etc/docker/certs.d/{host}/ca.crt (or "
            f"~/.docker/certs.d/{host}/, /etc/containers/certs.d/{host}/)"
        )
    if isinstance(error, TlsHandshakeError) or (
        isinstance(error, RegistryUnreachableError) and not error.http_allowed
    ):
        return (
            f"if {host} serves plain http, set insecure = true on its "
            "[[tool.ocipush.targets]] entry"
        )
    if isinstance(error, RegistryTimeoutError):
        return (
            "the build backend waits the default time; publish with `ocipush push "
            f"--timeout-{error.phase} SECONDS` to wait longer"
        )
    if isinstance(error, AuthenticationError) and error.anonymous:
        return (
            f"log in with `ocipush login {host}` (or `docker login {host}`): the build "
            "backend uses stored credentials"
        )
    return error.hint


def __getattr__(name: str) -> Any:
    # Optional hooks exist here exactly when the real backend has them (PEP 517 frontends
    # test with hasattr); editable installs delegate and never publish.
    if name in _OPTIONAL_HOOKS:
        hook = getattr(_inner(), name, None)
        if hook is not None:
            return _delegate(hook, settings_position=0 if name.startswith("get_requires") else 1)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _delegate(hook: Any, *, settings_position: int) -> Any:
    def call(*args: Any, **kwargs: Any) -> Any:
        if "config_settings" in kwargs:
            kwargs["config_settings"] = _inner_settings(kwargs["config_settings"])
        elif len(args) > settings_position:
            positional = list(args)
            positional[settings_position] = _inner_settings(positional[settings_position])
            args = tuple(positional)
        return hook(*args, **kwargs)

    return call
