"""Sample projects for image tests, written into the test's own directory.

``hello-app`` is a small application with one console script; ``greetlib`` is a pure-Python
third-party dependency served from a local wheelhouse, so pip never reaches PyPI. Wheels
are built with hatchling's PEP 517 hook in a subprocess (fast, and reproducible by default).
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pytest

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image, ImageIndex
from ocipush.oci.model import Platform
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from support.images import make_tar_gz_layer

__all__ = [
    "APP_NAME",
    "build_wheel",
    "make_tiny_wheel",
    "make_wheelhouse",
    "push_fake_base",
    "use_wheelhouse",
    "write_app",
    "write_greetlib",
]

APP_NAME = "hello-app"
BUILD_TIMEOUT = 60


def _toml_value(value: object) -> str:
    """TOML for strings, numbers, booleans, lists and inline tables (JSON is close enough)."""
    if isinstance(value, Mapping):
        inner = ", ".join(f"{json.dumps(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def _table(name: str, values: Mapping[str, object]) -> str:
    lines = [f"[{name}]"] + [f"{json.dumps(k)} = {_toml_value(v)}" for k, v in values.items()]
    return "\n".join(lines) + "\n"


def build_wheel(project: Path, out: Path) -> Path:
    """Build ``project``'s wheel into ``out`` with hatchling; returns its path."""
    out.mkdir(parents=True, exist_ok=True)
    script = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"
    result = subprocess.run(
        [sys.executable, "-c", script, str(out)],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return out / result.stdout.strip().splitlines()[-1]


def write_greetlib(root: Path, *, version: str = "1.0") -> Path:
    """A pure-Python library with a ``greet`` console script of its own, and a module of
    data big enough (about 100 KB deflated) that its layer keeps the wheel's deflate stream,
    as real libraries' layers do."""
    (root / "src" / "greetlib").mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        _table("build-system", {"requires": ["hatchling"], "build-backend": "hatchling.build"})
        + _table("project", {"name": "greetlib", "version": version, "license": "Apache-2.0"})
        + _table("project.scripts", {"greet": "greetlib:main"})
    )
    (root / "src" / "greetlib" / "__init__.py").write_text(
        textwrap.dedent(
            """\
            def greeting(name):
                return f"greetings, {name}, from greetlib"


            def main():
                print(greeting("world"))
            """
        )
    )
    rows = (hashlib.sha256(b"greetlib %d" % n).hexdigest() for n in range(2500))
    words = "".join(f"WORD = {row!r}\n" for row in rows)
    (root / "src" / "greetlib" / "words.py").write_text(words)
    return root


def make_tiny_wheel(
    directory: Path,
    name: str,
    version: str,
    files: Mapping[str, bytes],
    *,
    scripts: Mapping[str, str] | None = None,
    requires: tuple[str, ...] = (),
) -> Path:
    """A pure-Python wheel written directly (no build backend: tests make dozens of them),
    holding ``files`` (paths in site-packages) and console ``scripts``; returns its path."""
    directory.mkdir(parents=True, exist_ok=True)
    normal = name.replace("-", "_")
    info = f"{normal}-{version}.dist-info"
    metadata = f"Metadata-Version: 2.4\nName: {name}\nVersion: {version}\n"
    metadata += "License-Expression: MIT\n"
    metadata += "".join(f"Requires-Dist: {r}\n" for r in requires)
    contents = {
        **files,
        f"{info}/METADATA": metadata.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: tests\nRoot-Is-Purelib: true\n"
        b"Tag: py3-none-any\n",
    }
    if scripts:
        lines = "".join(f"{k} = {v}\n" for k, v in scripts.items())
        contents[f"{info}/entry_points.txt"] = f"[console_scripts]\n{lines}".encode()
    record = []
    for path, data in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    wheel = directory / f"{normal}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, data in contents.items():
            # Deflated, as wheel builders write them (the layer keeps their deflate streams).
            info = zipfile.ZipInfo(path, (2020, 1, 1, 0, 0, 0))
            archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return wheel


def make_wheelhouse(directory: Path) -> Path:
    """A directory of wheels pip may install from: greetlib 1.0."""
    source = write_greetlib(directory / "greetlib-src")
    build_wheel(source, directory / "wheels")
    return directory / "wheels"


def use_wheelhouse(monkeypatch: pytest.MonkeyPatch, wheelhouse: Path) -> None:
    """Point pip (through its environment) at ``wheelhouse`` only, ignoring user config."""
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(wheelhouse))
    monkeypatch.setenv("PIP_CONFIG_FILE", "/dev/null")


def write_app(
    root: Path,
    *,
    image: Mapping[str, object],
    message: str = "Hello from hello-app",
    dependencies: tuple[str, ...] = (),
    scripts: Mapping[str, str] | None = None,
    version: str = "1.0.0",
    extra: str = "",
    requires_python: str | None = None,
) -> Path:
    """Write hello-app into ``root`` with ``[tool.ocipush.image]`` = ``image`` and build its
    wheel into ``root/dist``; returns the project root."""
    package = root / "src" / "hello_app"
    package.mkdir(parents=True, exist_ok=True)
    uses_greetlib = any(d.startswith("greetlib") for d in dependencies)
    body = "import greetlib\n\n\n" if uses_greetlib else ""
    body += "def main():\n"
    body += f"    print({message!r})\n"
    if uses_greetlib:
        body += '    print(greetlib.greeting("image"))\n'
    (package / "__init__.py").write_text(body)
    project: dict[str, object] = {
        "name": APP_NAME,
        "version": version,
        "description": "A sample application",
        "license": "MIT",
        "dependencies": list(dependencies),
    }
    if requires_python is not None:
        project["requires-python"] = requires_python
    (root / "pyproject.toml").write_text(
        _table("build-system", {"requires": ["hatchling"], "build-backend": "hatchling.build"})
        + _table("project", project)
        + _table("project.urls", {"Source": "https://example.org/hello-app"})
        + _table("project.scripts", scripts if scripts is not None else {"hello": "hello_app:main"})
        + _table("tool.hatch.build.targets.wheel", {"packages": ["src/hello_app"]})
        + _table("tool.ocipush", {"backend": "hatchling.build"})
        + _table("tool.ocipush.image", image)
        + extra
    )
    build_wheel(root, root / "dist")
    return root


def push_fake_base(
    host: str,
    repo: str,
    platforms: tuple[str, ...] = ("linux/amd64", "linux/arm64/v8"),
    *,
    env: tuple[str, ...] = (
        "PATH=/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHON_VERSION=3.11.9",
    ),
    attestation: bool = True,
) -> str:
    """Push a python.org-like multi-platform base (one tiny layer each, no real Python) and
    return ``host/repo@digest``. With ``attestation``, the index also lists an
    ``unknown/unknown`` manifest, as BuildKit's provenance does."""
    children = []
    for text in (*platforms, *(("unknown/unknown",) if attestation else ())):
        platform = Platform.parse(text)
        layer = make_tar_gz_layer({"etc/base-platform": text.encode()})
        config = {
            **platform.to_json(),
            "config": {"Env": list(env), "Cmd": ["python3"], "Labels": {"base.label": "kept"}},
            "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id)]},
            "history": [{"created_by": "fake base"}],
        }
        blob = BytesBlob(json.dumps(config, sort_keys=True).encode(), mt.OCI_CONFIG)
        children.append(Image(layers=[layer], config=blob, platform=platform))
    ref = parse_reference(f"{host}/{repo}:base")
    descriptor = Writer().write_index(ref, ImageIndex(children))
    return f"{host}/{repo}@{descriptor.digest}"
