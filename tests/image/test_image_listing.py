"""Finding the Python in a base from its file list: real tar+gzip layers, merged with
whiteouts, listed once and cached by digest."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocipush.image.errors import ImageError
from ocipush.image.listing import base_files
from ocipush.image.python import PythonRuntime, detect_python
from ocipush.oci.blobs import FileBlob
from ocipush.oci.layers import LayerEntry, build_layer


def _layer(directory: Path, paths: list[str], links: dict[str, str] | None = None) -> FileBlob:
    directory.mkdir(parents=True, exist_ok=True)
    source = directory / "content"
    source.write_bytes(b"x")
    entries = []
    for path in paths:
        directory_entry = path.endswith("/")
        entries.append(LayerEntry(path.rstrip("/"), None if directory_entry else source, 0o755))
    for path, target in (links or {}).items():
        entries.append(LayerEntry(path, None, 0o777, link=target))
    return build_layer(entries, directory)


def _detect(layers: list[FileBlob], cache: Path, env: dict[str, str] | None = None):
    return detect_python(
        env or {"PATH": "/usr/bin:/bin"},
        python=None,
        site_packages=None,
        base="base",
        files=lambda: base_files(layers, cache),
    )


DEBIAN = [
    "/etc/debian_version",
    "/usr/bin/python3.11",
    "/usr/lib/python3.11/os.py",
]


def test_debian_python_installs_into_local_dist_packages(tmp_path):
    layer = _layer(tmp_path, DEBIAN, {"/usr/bin/python3": "python3.11"})

    assert _detect([layer], tmp_path / "cache") == PythonRuntime(
        "/usr/bin/python3.11", (3, 11), "/usr/local/lib/python3.11/dist-packages"
    )


def test_a_site_packages_directory_in_the_base_is_used(tmp_path):
    layer = _layer(
        tmp_path,
        ["/usr/bin/python3.12", "/usr/lib/python3.12/os.py", "/usr/lib/python3.12/site-packages/"],
    )

    assert _detect([layer], tmp_path / "cache").site_packages == (
        "/usr/lib/python3.12/site-packages"
    )


def test_python3_link_chooses_among_several_interpreters(tmp_path):
    layer = _layer(
        tmp_path,
        [*DEBIAN, "/usr/bin/python3.13", "/usr/lib/python3.13/os.py", "/opt/x/bin/python3.9"],
        {"/usr/bin/python3": "python3.11"},
    )

    assert _detect([layer], tmp_path / "cache").interpreter == "/usr/bin/python3.11"


def test_a_whiteout_in_a_later_layer_removes_the_interpreter(tmp_path):
    first = _layer(
        tmp_path / "one", [*DEBIAN, "/usr/local/bin/python3.12", "/usr/local/lib/python3.12/os.py"]
    )
    second = _layer(tmp_path / "two", ["/usr/local/bin/.wh.python3.12"])

    assert _detect([first], tmp_path / "cache").interpreter == "/usr/local/bin/python3.12"
    assert _detect([first, second], tmp_path / "cache").interpreter == "/usr/bin/python3.11"


def test_each_layer_is_listed_once_then_read_from_the_cache(tmp_path):
    layer = _layer(tmp_path, DEBIAN)
    cache = tmp_path / "cache"
    _detect([layer], cache)
    listing = cache / "listings" / f"sha256-{layer.digest.encoded}.json"
    assert listing.is_file()

    layer.path.unlink()  # the bytes are gone; the listing answers
    assert _detect([layer], cache).interpreter == "/usr/bin/python3.11"


def test_a_base_without_python_says_what_to_set(tmp_path):
    layer = _layer(tmp_path, ["/etc/debian_version", "/usr/bin/sh"])

    with pytest.raises(ImageError, match=r"the base base has no Python interpreter .* set python"):
        _detect([layer], tmp_path / "cache")


def test_the_environment_of_python_org_images_still_wins_without_reading_layers(tmp_path):
    env = {"PATH": "/usr/local/bin:/usr/bin", "PYTHON_VERSION": "3.12.7"}

    runtime = detect_python(
        env, python=None, site_packages=None, base="python", files=lambda: pytest.fail("read")
    )

    assert runtime.interpreter == "/usr/local/bin/python3.12"
