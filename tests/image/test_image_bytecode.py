"""``compile-bytecode``: compiled by the image's Python series, or a clear error."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from ocipush.image.bytecode import compile_bytecode, compiler_for
from ocipush.image.errors import ImageError
from ocipush.image.python import PythonRuntime

HERE = sys.version_info[:2]
SITE = f"/usr/local/lib/python{HERE[0]}.{HERE[1]}/site-packages"


def test_a_missing_interpreter_of_the_image_series_is_named(tmp_path):
    runtime = PythonRuntime("/usr/bin/python3.99", (3, 99), "/usr/lib/python3.99/site-packages")

    with pytest.raises(ImageError) as raised:
        compiler_for(runtime, {"PATH": str(tmp_path)})

    assert str(raised.value) == (
        "tool.ocipush.image.compile-bytecode: the image's Python is 3.99 but this machine has "
        f"no python3.99 on PATH to compile for it (ocipush runs on {HERE[0]}.{HERE[1]}); "
        "install Python 3.99 (e.g. `uv python install 3.99`) or set compile-bytecode = false"
    )


def test_a_module_that_does_not_compile_is_reported(tmp_path):
    runtime = PythonRuntime(f"/usr/local/bin/python{HERE[0]}.{HERE[1]}", HERE, SITE)
    package = tmp_path / SITE.lstrip("/") / "broken"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("def f(:\n")

    with pytest.raises(ImageError, match=r"compiling for Python 3\.\d+ failed: .*SyntaxError"):
        compile_bytecode(tmp_path, runtime, {"PATH": "/usr/bin:/bin"})


def test_pycs_are_hash_based_and_name_the_path_in_the_image(tmp_path):
    runtime = PythonRuntime(f"/usr/local/bin/python{HERE[0]}.{HERE[1]}", HERE, SITE)
    package = tmp_path / SITE.lstrip("/") / "pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("VALUE = {'a', 'b'}\n")

    compile_bytecode(tmp_path, runtime, {"PATH": "/usr/bin:/bin"})

    pyc = package / "__pycache__" / f"__init__.{sys.implementation.cache_tag}.pyc"
    data = pyc.read_bytes()
    assert data[:4] == importlib.util.MAGIC_NUMBER
    assert int.from_bytes(data[4:8], "little") == 0b01
    assert f"{SITE}/pkg/__init__.py".encode() in data
