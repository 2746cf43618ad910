"""Reading PEP 751 locks: which wheel each package gets for an image platform, or why not."""

from __future__ import annotations

import pytest

from ocipush.image.errors import DependencyError, MissingWheelError
from ocipush.image.locks import is_lock, locked_dependencies
from ocipush.image.python import PythonRuntime
from ocipush.oci.model import Platform

RUNTIME = PythonRuntime(
    "/usr/local/bin/python3.11", (3, 11), "/usr/local/lib/python3.11/site-packages"
)
AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64")
HASH = "a" * 64


def _lock(tmp_path, body: str, version: str = "1.0"):
    lock = tmp_path / "pylock.toml"
    lock.write_text(f'lock-version = "{version}"\n{body}')
    return lock


def _locked(lock, platform=AMD64):
    return locked_dependencies(
        lock, platform=platform, runtime=RUNTIME, exclude="hello-app", environ={}
    )


def _wheel(filename: str, sha256: str) -> str:
    url = f"https://files.example/{filename}"
    return f'  {{ url = "{url}", hashes = {{ sha256 = "{sha256}" }} }},\n'


FASTLIB = (
    '[[packages]]\nname = "fastlib"\nversion = "2.1"\nwheels = [\n'
    + _wheel("fastlib-2.1-py3-none-any.whl", "b" * 64)
    + _wheel("fastlib-2.1-cp311-cp311-manylinux_2_17_x86_64.whl", HASH)
    + _wheel("fastlib-2.1-cp312-cp312-manylinux_2_17_x86_64.whl", "c" * 64)
    + "]\n"
)


def test_the_wheel_the_image_python_prefers_is_chosen(tmp_path):
    (dependency,) = _locked(_lock(tmp_path, FASTLIB))

    assert (dependency.name, dependency.version, dependency.sha256) == ("fastlib", "2.1", HASH)
    assert dependency.filename == "fastlib-2.1-cp311-cp311-manylinux_2_17_x86_64.whl"


def test_a_platform_without_a_wheel_names_package_and_platform(tmp_path):
    lock = _lock(tmp_path, FASTLIB.replace("py3-none-any", "cp310-cp310-win_amd64"))

    with pytest.raises(MissingWheelError) as raised:
        _locked(lock, ARM64)

    assert "fastlib 2.1 has no wheel for linux/arm64 (Python 3.11) in the lock" in str(raised.value)
    assert raised.value.platform == "linux/arm64"


def test_markers_are_evaluated_for_the_image_and_the_project_is_left_out(tmp_path):
    body = f"""
[[packages]]
name = "hello-app"
directory = {{ path = "." }}

[[packages]]
name = "winlib"
version = "1"
marker = "sys_platform == 'win32'"

[[packages]]
name = "armlib"
version = "1"
marker = "platform_machine == 'aarch64' and python_version >= '3.11'"
wheels = [{{ path = "wheels/armlib-1-py3-none-any.whl", hashes = {{ sha256 = "{HASH}" }} }}]
"""
    lock = _lock(tmp_path, body)

    assert _locked(lock, AMD64) == ()
    (armlib,) = _locked(lock, ARM64)
    assert armlib.url == (tmp_path / "wheels" / "armlib-1-py3-none-any.whl").as_uri()


def test_a_wheel_without_a_hash_is_refused(tmp_path):
    body = '[[packages]]\nname = "x"\nversion = "1"\n'
    body += 'wheels = [{ url = "https://e/x-1-py3-none-any.whl" }]\n'

    with pytest.raises(DependencyError, match=r"packages\[0\] \(x\): the wheel has no sha256"):
        _locked(_lock(tmp_path, body))


def test_an_unknown_lock_version_is_refused(tmp_path):
    with pytest.raises(DependencyError, match=r"lock-version is 2.0; ocipush reads PEP 751 locks"):
        _locked(_lock(tmp_path, "packages = []\n", version="2.0"))


def test_lock_file_names():
    assert is_lock("uv.lock")
    assert is_lock("locks/pylock.toml")
    assert is_lock("pylock.prod.toml")
    assert not is_lock("requirements.txt")
