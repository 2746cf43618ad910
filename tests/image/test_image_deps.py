"""Dependency resolution for an image's platform, and the layer cache keyed by the result."""

from __future__ import annotations

import os
import tarfile

import pytest

from image.sample import make_wheelhouse, use_wheelhouse
from ocipush.image.deps import dependency_layer, pip_platform_tags, resolve_dependencies
from ocipush.image.errors import DependencyError, MissingWheelError
from ocipush.image.python import PythonRuntime
from ocipush.oci.model import Platform

RUNTIME = PythonRuntime(
    "/usr/local/bin/python3.11", (3, 11), "/usr/local/lib/python3.11/site-packages"
)
AMD64 = Platform("linux", "amd64")


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


def test_platform_tags_follow_the_architecture():
    assert "manylinux2014_x86_64" in pip_platform_tags(AMD64)
    assert "manylinux_2_17_aarch64" in pip_platform_tags(Platform("linux", "arm64"))
    assert "manylinux_2_28_armv7l" in pip_platform_tags(Platform("linux", "arm", "v7"))
    with pytest.raises(DependencyError, match="only linux images"):
        pip_platform_tags(Platform("windows", "amd64"))


def _resolve(monkeypatch, wheelhouse, requirement="greetlib", platform=AMD64):
    use_wheelhouse(monkeypatch, wheelhouse)
    return resolve_dependencies(
        [requirement],
        platform=platform,
        runtime=RUNTIME,
        exclude=None,
        environ=dict(os.environ),
        source="test",
    )


def test_the_resolved_set_names_versions_and_hashes(monkeypatch, wheelhouse):
    (dependency,) = _resolve(monkeypatch, wheelhouse)
    assert (dependency.name, dependency.version) == ("greetlib", "1.0")
    assert dependency.filename.startswith("greetlib-1.0-")
    assert len(dependency.sha256) == 64


def test_a_missing_wheel_names_the_dependency_and_the_platform(monkeypatch, wheelhouse):
    with pytest.raises(MissingWheelError) as caught:
        _resolve(monkeypatch, wheelhouse, requirement="nosuchlib")
    assert caught.value.requirement == "nosuchlib"
    assert "no wheel of nosuchlib for linux/amd64 (Python 3.11)" in str(caught.value)


def test_the_layer_is_cached_by_the_resolved_set(monkeypatch, wheelhouse, tmp_path):
    dependencies = _resolve(monkeypatch, wheelhouse)
    options = {
        "platform": AMD64,
        "runtime": RUNTIME,
        "cache_dir": tmp_path / "cache",
        "environ": {},
        "mtime": 0,
        "uid": 0,
        "gid": 0,
        "what": "deps",
    }
    first = dependency_layer(dependencies, **options)
    with tarfile.open(first.path) as tar:
        names = tar.getnames()
        script = tar.extractfile("usr/local/bin/greet").read().decode()
    assert "usr/local/lib/python3.11/site-packages/greetlib/__init__.py" in names
    assert script.startswith("#!/usr/local/bin/python3.11\n")
    # A hit neither fetches nor repacks: the wheel directory is not even created again.
    (tmp_path / "cache" / "wheels").rmdir()
    second = dependency_layer(dependencies, **options)
    assert not (tmp_path / "cache" / "wheels").exists()
    assert (second.digest, second.diff_id) == (first.digest, first.diff_id)
    # Another owner is another layer.
    third = dependency_layer(dependencies, **{**options, "uid": 1000})
    assert third.digest != first.digest
    assert dependency_layer((), **options) is None
