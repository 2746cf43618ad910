"""Dependency layers per distribution (``dependency-layers = "auto"``) and the user's layer
cache: grouping past the cap, layers that depend only on their wheel, files two
distributions write, cache hits, misses, eviction and ``ocipush cache``."""

from __future__ import annotations

import gzip
import hashlib
import struct
import subprocess
import tarfile
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from image.sample import make_tiny_wheel
from ocipush.cli import main
from ocipush.image.deplayers import dependency_layers, group_dependencies
from ocipush.image.deps import Dependency, dependency_licenses
from ocipush.image.errors import DependencyError, ImageError, WheelInstallError
from ocipush.image.install import install_in_memory, install_wheels
from ocipush.image.layer_cache import LayerCache
from ocipush.image.python import PythonRuntime
from ocipush.oci.digest import file_digest
from ocipush.oci.layers import build_layer
from ocipush.oci.model import Platform

RUNTIME = PythonRuntime(
    "/usr/local/bin/python3.11", (3, 11), "/usr/local/lib/python3.11/site-packages"
)
SITE = RUNTIME.site_packages.lstrip("/")


def _dependency(wheel: Path) -> Dependency:
    name, version = wheel.name.split("-")[:2]
    return Dependency(name, version, wheel.as_uri(), file_digest(wheel)[0].encoded)


def _layers(dependencies, cache: LayerCache, tmp_path: Path, **options):
    return dependency_layers(
        dependencies,
        platform=Platform("linux", "amd64"),
        runtime=RUNTIME,
        cache=cache,
        wheels_dir=tmp_path / "wheels",
        environ={},
        uid=0,
        gid=0,
        what="test dependencies",
        **options,
    )


def _names(path: Path) -> list[str]:
    with tarfile.open(path) as tar:
        return tar.getnames()


@pytest.fixture
def wheels(tmp_path):
    house = tmp_path / "house"
    return {
        "alpha": make_tiny_wheel(
            house,
            "alpha",
            "1.0",
            {"alpha/__init__.py": b"A = 1\n", "acme/alpha.py": b"x = 1\n"},
            scripts={"alpha": "alpha:main"},
        ),
        "beta": make_tiny_wheel(
            house,
            "beta",
            "2.0",
            {"beta/__init__.py": b"B = 2\n" * 50, "acme/beta.py": b"y = 2\n"},
            scripts={"beta": "beta:main"},
        ),
    }


def test_groups_are_one_per_distribution_up_to_the_cap_then_the_smallest_share(tmp_path):
    dependencies = [Dependency(n, "1", f"file:///{n}.whl", n) for n in ("e", "D", "c", "b", "a")]
    sizes = {"a": 50, "b": 10, "c": 30, "D": 20, "e": 40}

    def size(dependency):
        return sizes[dependency.name]

    assert [[d.name for d in g] for g in group_dependencies(dependencies, size, cap=5)] == [
        ["a"],
        ["b"],
        ["c"],
        ["D"],
        ["e"],
    ]
    # Five past a cap of three: the three smallest (b, D, c) share a layer; order by name.
    assert [[d.name for d in g] for g in group_dependencies(dependencies, size, cap=3)] == [
        ["a"],
        ["b", "c", "D"],
        ["e"],
    ]


def test_each_distribution_gets_its_own_layer_with_the_directories_it_needs(wheels, tmp_path):
    cache = LayerCache(tmp_path / "cache")
    alpha, beta = _layers(
        [_dependency(wheels["beta"]), _dependency(wheels["alpha"])], cache, tmp_path
    )

    assert alpha.blob.describe().startswith("dependency alpha 1.0 for Python 3.11 [")
    assert beta.history == "ocipush: dependency beta 2.0"
    names = _names(alpha.blob.path)
    assert f"{SITE}/alpha/__init__.py" in names
    assert f"{SITE}/acme/alpha.py" in names
    assert "usr/local/bin/alpha" in names
    # The shared namespace and bin/ directories are in both; no file of beta is in alpha's.
    for directory in (f"{SITE}/acme", "usr/local/bin"):
        assert directory in names
        assert directory in _names(beta.blob.path)
    assert not [n for n in names if "beta" in n]


def test_a_layer_depends_only_on_its_wheel_python_and_paths(wheels, tmp_path):
    """Two projects (other caches, other wheel folders, other companions) get the same
    alpha layer."""
    first = _layers([_dependency(wheels["alpha"])], LayerCache(tmp_path / "one"), tmp_path / "a")
    second = _layers(
        [_dependency(wheels["alpha"]), _dependency(wheels["beta"])],
        LayerCache(tmp_path / "two"),
        tmp_path / "b",
    )
    assert first[0].blob.digest == second[0].blob.digest
    assert first[0].blob.path.read_bytes() == second[0].blob.path.read_bytes()


def _tables() -> bytes:
    """A module of hex tables: 200 KB that deflates to about 100 KB, like generated code."""
    rows = (hashlib.sha256(b"%d" % n).hexdigest() for n in range(3000))
    return b"".join(b"ROW = %r\n" % row.encode() for row in rows)


def _stored_stream(wheel: Path, member: str) -> tuple[int, bytes]:
    """Where ``member``'s deflate stream starts in ``wheel``, and its bytes, read from the
    zip structures by hand."""
    with zipfile.ZipFile(wheel) as archive:
        info = archive.getinfo(member)
    data = wheel.read_bytes()
    name_length, extra_length = struct.unpack_from("<HH", data, info.header_offset + 26)
    start = info.header_offset + 30 + name_length + extra_length
    return start, data[start : start + info.compress_size]


def test_a_layer_carries_the_wheels_deflate_streams_as_they_are(tmp_path):
    """Deflating is most of a layer's build time and the wheel already did it: the big
    member's stream is in the layer byte for byte, and the layer is still one valid gzip
    file (gzip checks every member's CRC and length) holding the installed file."""
    tables = _tables()
    wheel = make_tiny_wheel(
        tmp_path / "house", "gamma", "1.0", {"gamma/__init__.py": b"", "gamma/tables.py": tables}
    )
    _, stream = _stored_stream(wheel, "gamma/tables.py")
    assert len(stream) > 4096

    (layer,) = _layers([_dependency(wheel)], LayerCache(tmp_path / "cache"), tmp_path)

    packed = layer.blob.path.read_bytes()
    assert stream in packed
    tested = subprocess.run(["gzip", "-t", str(layer.blob.path)], capture_output=True, check=False)
    assert tested.returncode == 0, tested.stderr
    unpacked = gzip.decompress(packed)
    assert f"sha256:{hashlib.sha256(unpacked).hexdigest()}" == str(layer.blob.diff_id)
    with tarfile.open(layer.blob.path) as tar:
        member = tar.extractfile(f"{SITE}/gamma/tables.py")
        assert member is not None
        assert member.read() == tables


def test_a_big_wheel_read_again_when_packed_gives_the_same_layer(tmp_path, monkeypatch):
    """Past IN_MEMORY_BYTES a wheel's files are not held from the install to the layer but
    read from the wheel again, in pieces: the layer is the same, byte for byte."""
    tables = _tables() * 8  # 1.6 MB: several pieces of the reader's 1 MiB
    wheel = make_tiny_wheel(
        tmp_path / "house", "gamma", "1.0", {"gamma/__init__.py": b"", "gamma/tables.py": tables}
    )
    (held,) = _layers([_dependency(wheel)], LayerCache(tmp_path / "held"), tmp_path / "a")
    monkeypatch.setattr("ocipush.image.deplayers.IN_MEMORY_BYTES", 1000)
    (read_again,) = _layers([_dependency(wheel)], LayerCache(tmp_path / "again"), tmp_path / "b")

    assert read_again.blob.path.read_bytes() == held.blob.path.read_bytes()
    with tarfile.open(read_again.blob.path) as tar:
        member = tar.extractfile(f"{SITE}/gamma/tables.py")
        assert member is not None
        assert member.read() == tables


def test_a_wheel_changed_between_install_and_layer_is_an_error(tmp_path):
    tables = _tables()
    wheel = make_tiny_wheel(tmp_path / "house", "gamma", "1.0", {"gamma/tables.py": tables})
    entries = install_in_memory(wheel, RUNTIME, uid=0, gid=0, keep_members=False)
    # The same file names, other content.
    make_tiny_wheel(tmp_path / "house", "gamma", "1.0", {"gamma/tables.py": tables[::-1]})

    damaged = r"^gamma-1\.0-py3-none-any\.whl: .*: gamma/tables\.py in it is damaged"
    with pytest.raises(WheelInstallError, match=damaged):
        build_layer(entries, tmp_path / "out", compressor=ThreadPoolExecutor(1))
    assert not list((tmp_path / "out").iterdir())  # no layer left behind


def test_a_damaged_wheel_is_an_error_naming_the_wheel_and_the_file(tmp_path):
    wheel = make_tiny_wheel(tmp_path / "house", "gamma", "1.0", {"gamma/tables.py": _tables()})
    start, stream = _stored_stream(wheel, "gamma/tables.py")
    damaged = bytearray(wheel.read_bytes())
    damaged[start + len(stream) // 2] ^= 0xFF  # one flipped byte in the middle of the file
    wheel.write_bytes(bytes(damaged))

    with pytest.raises(ImageError) as caught:
        _layers([_dependency(wheel)], LayerCache(tmp_path / "cache"), tmp_path)

    message = str(caught.value)
    assert message.startswith(f"{wheel.name}: cannot be installed into the image: ")
    assert "gamma/tables.py" in message
    assert "damaged" in message


def test_a_wheel_that_understates_a_files_size_is_an_error(tmp_path):
    """The archive's index says 1000 bytes; the stream holds 200 KB: it is not believed (and
    not inflated past what was declared)."""
    wheel = make_tiny_wheel(tmp_path / "house", "gamma", "1.0", {"gamma/tables.py": _tables()})
    data = bytearray(wheel.read_bytes())
    # The index (central directory) follows every member; an entry is 46 bytes, then its name.
    name = data.index(b"gamma/tables.py", data.index(b"PK\x01\x02"))
    struct.pack_into("<I", data, name - 46 + 24, 1000)  # the entry's uncompressed size
    wheel.write_bytes(bytes(data))

    with pytest.raises(ImageError, match=r"gamma/tables\.py in it is damaged"):
        _layers([_dependency(wheel)], LayerCache(tmp_path / "cache"), tmp_path)


def test_a_file_two_distributions_write_differently_is_an_error_naming_both(tmp_path):
    house = tmp_path / "house"
    one = make_tiny_wheel(house, "one", "1.0", {"shared/data.txt": b"one\n", "one.py": b""})
    two = make_tiny_wheel(house, "two", "1.0", {"shared/data.txt": b"two\n", "two.py": b""})
    same = make_tiny_wheel(house, "same", "1.0", {"shared/data.txt": b"one\n"})
    cache = LayerCache(tmp_path / "cache")

    with pytest.raises(DependencyError) as caught:
        _layers([_dependency(one), _dependency(two)], cache, tmp_path)
    assert str(caught.value).startswith(
        "test dependencies: 1 file(s) are written by two distributions with different "
        f"contents: /{SITE}/shared/data.txt (by one 1.0 and by two 1.0); "
    )
    # The same check in a shared layer (past the cap), and an identical copy is no conflict.
    with pytest.raises(DependencyError, match=r"data.txt \(by one 1.0 and by two 1.0\)"):
        _layers([_dependency(one), _dependency(two)], cache, tmp_path, cap=1)
    assert len(_layers([_dependency(one), _dependency(same)], cache, tmp_path)) == 2


def test_the_cache_hits_misses_on_a_changed_wheel_and_evicts_at_its_bound(wheels, tmp_path):
    cache = LayerCache(tmp_path / "cache")
    alpha, beta = _dependency(wheels["alpha"]), _dependency(wheels["beta"])
    first = _layers([alpha, beta], cache, tmp_path)
    assert sorted(e.label for e in cache.entries()) == [
        "dependency alpha 1.0 for Python 3.11",
        "dependency beta 2.0 for Python 3.11",
    ]

    # A hit reads neither the wheel nor the tree: the wheels may be gone.
    moved = tmp_path / "moved"
    wheels["alpha"].parent.rename(moved)
    again = _layers([alpha, beta], cache, tmp_path / "elsewhere")
    assert [layer.blob.digest for layer in again] == [layer.blob.digest for layer in first]
    # The SBOM still gets the licenses, noted when the layers were built.
    licenses = dependency_licenses([alpha, beta], tmp_path / "elsewhere", cache.wheel_license)
    assert licenses == {"alpha": "MIT", "beta": "MIT"}
    moved.rename(wheels["alpha"].parent)

    # A changed wheel (beta 2.1) misses; alpha still hits.
    newer = _dependency(
        make_tiny_wheel(tmp_path / "house", "beta", "2.1", {"beta/__init__.py": b""})
    )
    bumped = _layers([alpha, newer], cache, tmp_path)
    assert bumped[0].blob.digest == first[0].blob.digest
    assert bumped[1].blob.digest != first[1].blob.digest
    assert len(cache.entries()) == 3

    # At the bound, the least recently used go first (beta 2.0), never what this build uses.
    in_use = sum(e.size for e in cache.entries() if "beta 2.0" not in e.label)
    bounded = LayerCache(cache.directory, max_bytes=in_use)
    _layers([alpha, newer], bounded, tmp_path)
    assert sorted(e.label for e in bounded.entries()) == [
        "dependency alpha 1.0 for Python 3.11",
        "dependency beta 2.1 for Python 3.11",
    ]
    tiny = LayerCache(cache.directory, max_bytes=1)
    _layers([alpha, newer], tiny, tmp_path)
    assert len(tiny.entries()) == 2  # both in use: kept, even over the bound


def test_ocipush_cache_shows_and_clears_the_user_cache(wheels, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    cache = LayerCache.for_user({"XDG_CACHE_HOME": str(tmp_path / "xdg")})
    assert cache.directory == tmp_path / "xdg" / "ocipush" / "layers"
    _layers([_dependency(wheels["alpha"])], cache, tmp_path)
    size = cache.entries()[0].size

    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(
        f"layer cache: {cache.directory}\n1 layer, {size} bytes (bound: 4.0 GiB)\n"
    )
    assert "dependency alpha 1.0 for Python 3.11" in out

    assert main(["cache", "clear"]) == 0
    assert capsys.readouterr().out == f"removed 1 layer ({size} bytes) from {cache.directory}\n"
    assert cache.entries() == []
    assert not cache.directory.exists()
    assert main(["cache", "show"]) == 0
    assert capsys.readouterr().out == f"layer cache: {cache.directory}\nempty\n"


@pytest.mark.parametrize("keep_members", [True, False])
def test_installing_in_memory_gives_the_entries_of_a_staging_tree(keep_members, tmp_path):
    """installer writing files on disk is the reference: the in-memory install, with a big
    file taken as the wheel's deflate stream (held, or read again), gives the same paths,
    modes and contents."""
    files = {"alpha/__init__.py": b"A = 1\n", "acme/alpha.py": b"x = 1\n"}
    files["alpha/tables.py"] = _tables()
    wheel = make_tiny_wheel(tmp_path / "house", "alpha", "1.0", files, scripts={"alpha": "a:m"})
    memory = install_in_memory(wheel, RUNTIME, uid=0, gid=0, keep_members=keep_members)
    disk = install_wheels([wheel], RUNTIME, tmp_path / "staging", uid=0, gid=0)

    def content(entry):
        if entry.packed is not None:
            return b"".join(data for _, data in entry.packed.pieces())
        return entry.data if entry.data is not None else entry.source and entry.source.read_bytes()

    assert {e.path: (e.mode, content(e)) for e in memory} == {
        e.path: (e.mode, content(e)) for e in disk
    }
    assert [e.path for e in memory if e.packed is not None] == [f"/{SITE}/alpha/tables.py"]
    script = next(e for e in memory if e.path == "/usr/local/bin/alpha")
    assert (script.mode, script.data.splitlines()[0]) == (0o755, b"#!/usr/local/bin/python3.11")
