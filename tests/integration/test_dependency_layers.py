"""Dependency layers per distribution against a real registry: a one-dependency bump
re-pushes one small layer, and a shared dependency is one layer across projects.

The wheelhouse is built in the test: dozens of tiny pure-Python wheels (more than the cap of
32 layers, so the smallest share one) and two versions of ``bumplib``. Bytes are counted in
the registry's own storage (what it stored, not what ocipush says it sent). The base is a
small python.org-like image with no real Python: nothing runs here (the image runs in
test_image_e2e's Debian chroot).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from image.sample import make_tiny_wheel, push_fake_base, use_wheelhouse, write_app
from ocipush.cli import main

pytestmark = pytest.mark.slow

FILLERS = [f"filler-{number:02d}" for number in range(35)]
NO_ATTESTATIONS = "[tool.ocipush.attestations]\nsbom = false\nprovenance = false\n"


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory) -> Path:
    house = tmp_path_factory.mktemp("many-wheels")
    for number, name in enumerate(FILLERS):
        module = name.replace("-", "_")
        # Sizes differ, so which share a layer is decided by size, not by name; hex digits
        # compress about as well as code does.
        noise = "".join(hashlib.sha256(f"{name}{i}".encode()).hexdigest() for i in range(number))
        body = f"VALUE = {number}\nNOISE = {noise!r}\n".encode()
        make_tiny_wheel(house, name, "1.0", {f"{module}/__init__.py": body})
    for version in ("1.0", "2.0"):
        body = f"VERSION = {version!r}\n".encode() + b"# a larger library\n" * 4000
        make_tiny_wheel(house, "bumplib", version, {"bumplib/__init__.py": body})
    return house


def _stored_blobs(registry) -> dict[str, int]:
    """Every blob in the registry's storage (layers, configs, manifests) → its size."""
    root = registry.storage / "docker" / "registry" / "v2" / "blobs" / "sha256"
    return {f"sha256:{data.parent.name}": data.stat().st_size for data in root.glob("*/*/data")}


def _plan(root: Path, target: str, capsys) -> dict:
    code = main(["plan", "--json", "--project", str(root), "--target", target])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)["targets"][0]


def _dependency_layers(plan: dict) -> list[dict]:
    return [
        b
        for b in plan["blobs"]
        if b["source"]["description"].startswith("dependency ")
        or " small dependencies (" in b["source"]["description"]
    ]


def _push(root: Path, target: str, capsys) -> None:
    code = main(["push", "--no-progress", "--project", str(root), "--target", target])
    assert code == 0, capsys.readouterr().err
    capsys.readouterr()


def test_a_one_dependency_bump_uploads_that_layer_the_app_config_and_manifest(
    registry, repo_name, wheelhouse, tmp_path, capsys, monkeypatch
):
    use_wheelhouse(monkeypatch, wheelhouse)
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",), attestation=False)
    target = f"{registry.host}/{repo_name}:app"

    def app(pin: str) -> Path:
        return write_app(
            tmp_path / "app",
            image={"base": base},
            dependencies=(*FILLERS, f"bumplib=={pin}"),
            extra=NO_ATTESTATIONS,
        )

    root = app("1.0")
    plan = _plan(root, target, capsys)
    sources = [b["source"]["description"] for b in _dependency_layers(plan)]
    # 36 distributions, at most 32 layers: the five smallest wheels share one, placed (as
    # every layer) by the canonical name of its first distribution.
    assert len(sources) == 32
    assert sources[0].startswith("dependency bumplib 1.0 for Python 3.11 [")
    assert sources[1].startswith(
        "5 small dependencies (filler-00 1.0, filler-01 1.0, filler-02 1.0, filler-03 1.0, "
        "filler-04 1.0) for Python 3.11 ["
    )
    assert sources[2].startswith("dependency filler-05 1.0 for Python 3.11 [")
    assert sources[-1].startswith("dependency filler-34 1.0 for Python 3.11 [")
    _push(root, target, capsys)
    before = _stored_blobs(registry)

    root = app("2.0")
    plan = _plan(root, target, capsys)
    _push(root, target, capsys)
    after = _stored_blobs(registry)

    new = {digest: size for digest, size in after.items() if digest not in before}
    blobs = {b["source"]["description"].split(" [")[0]: b for b in plan["blobs"]}
    changed = blobs["dependency bumplib 2.0 for Python 3.11"]
    app_layer = next(
        b for b in plan["blobs"] if b["source"]["description"].startswith("hello_app-1.0.0")
    )
    config = next(b for b in plan["blobs"] if "config" in b["mediaType"])
    manifest = next(m for m in plan["manifests"] if m["role"] == "image")
    expected = {
        changed["digest"]: changed["size"],
        app_layer["digest"]: app_layer["size"],
        config["digest"]: config["size"],
        manifest["digest"]: manifest["size"],
    }
    assert new == expected
    total = sum(new.values())
    dependency_bytes = sum(b["size"] for b in _dependency_layers(plan))
    print(f"bump re-push stored {total} bytes {sorted(new.values())}; deps: {dependency_bytes}")
    assert total < dependency_bytes / 3  # kilobytes, not the whole dependency set


def test_two_projects_sharing_a_dependency_get_the_same_layer(
    registry, repo_name, wheelhouse, tmp_path, capsys, monkeypatch
):
    use_wheelhouse(monkeypatch, wheelhouse)
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",), attestation=False)
    target = f"{registry.host}/{repo_name}:app"
    layers = []
    for name, dependencies, epoch in (
        ("one", ("bumplib==1.0",), "1700000000"),
        ("two", ("bumplib==1.0", "filler-07"), "1800000000"),
    ):
        monkeypatch.setenv("SOURCE_DATE_EPOCH", epoch)  # another project, built another day
        # Each project with a cache of its own: the same bytes, not a shared cache entry.
        monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"cache-{name}"))
        root = write_app(tmp_path / name, image={"base": base}, dependencies=dependencies)
        plan = _plan(root, target, capsys)
        (layer,) = [
            b
            for b in plan["blobs"]
            if b["source"]["description"].startswith("dependency bumplib 1.0")
        ]
        layers.append(layer["digest"])
    assert layers[0] == layers[1]
