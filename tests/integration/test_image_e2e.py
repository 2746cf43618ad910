"""End to end: a real Debian base with Python, hello-app built onto it, run in a chroot.

The base is a minimal Debian rootfs made by ``debootstrap`` (the one step that needs the
network: the Debian mirror), packed into one layer with ocipush's own ``layers.py`` and
pushed to the local registry, by ``ocipush.testing.debian_base_layer`` and
``push_base_image`` (``make demo`` uses them too). The packed layer is cached in
``~/.cache/ocipush-tests`` (``OCIPUSH_TEST_CACHE`` overrides), keyed by suite and variant, so
only the first run on a machine pays for debootstrap. Everything else talks to 127.0.0.1
only; pip installs from a wheelhouse the test builds.

What is checked is what a user checks: the program's output inside the unpacked image,
files in it, manifest digests and the registry's access log.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import marshal
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from image.sample import (
    build_wheel,
    make_tiny_wheel,
    make_wheelhouse,
    push_fake_base,
    use_wheelhouse,
    write_app,
    write_greetlib,
)
from ocipush.cli import main
from ocipush.image.layer_cache import LayerCache
from ocipush.release.config import TargetConfig
from ocipush.release.publish import execute, make_plan, open_project
from ocipush.testing import DEBIAN_PYTHON as PYTHON
from ocipush.testing import DEBIAN_SITE_PACKAGES as SITE
from ocipush.testing import debian_base_layer, push_base_image
from support.engine import PodmanEngine
from support.tools import registry_get_manifest, skopeo_copy, umoci_unpack

RUN_TIMEOUT = 60
BASE_REPO = "ocipush-tests/bases/debian-python"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def debian_base(registry) -> str:
    """``host/repo@digest`` of a one-layer Debian bookworm image with python3."""
    return push_base_image(registry.host, BASE_REPO, debian_base_layer())


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def pip_offline(monkeypatch, wheelhouse):
    use_wheelhouse(monkeypatch, wheelhouse)


def _is_upload(request) -> bool:
    """Whether a registry request is a blob upload's commit: one per blob uploaded, whether
    its bytes came in PATCHes or (small blobs) in the commit PUT itself."""
    return request.method == "PUT" and "/blobs/uploads/" in request.path


def _image_settings(base: str, **extra: object) -> dict[str, object]:
    return {"base": base, "python": PYTHON, "site-packages": SITE, **extra}


def _push(root: Path, target: str, capsys) -> None:
    code = main(["push", "--no-progress", "--project", str(root), "--target", target])
    _out, err = capsys.readouterr()
    assert code == 0, err


def _unpack(ref: str, work: Path, *, arch: str | None = None) -> tuple[Path, dict]:
    """Copy ``ref`` to an OCI layout (skopeo), unpack it (umoci); (rootfs, runtime config)."""
    work.mkdir(parents=True, exist_ok=True)
    layout = work / "layout"
    extra = ["--override-arch", arch] if arch else []
    skopeo_copy(ref, f"oci:{layout}:img", extra_args=extra)
    rootfs = umoci_unpack(layout, "img", work / "bundle")
    return rootfs, json.loads((work / "bundle" / "config.json").read_text())


def _run(rootfs: Path, runtime: dict, *args: str) -> str:
    """Run the image's process (or ``args``) in a chroot, with the environment it declares."""
    process = runtime["process"]
    env = dict(entry.split("=", 1) for entry in process["env"])
    result = subprocess.run(
        ["chroot", str(rootfs), *(args or process["args"])],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _manifest(host: str, repo: str, ref: str) -> dict:
    return json.loads(registry_get_manifest(host, repo, ref)[0])


# -- running the app --------------------------------------------------------------------------


def test_hello_app_runs_in_the_image(registry, repo_name, debian_base, tmp_path, capsys):
    root = write_app(tmp_path / "app", image=_image_settings(debian_base))
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert runtime["process"]["args"] == ["/usr/bin/hello"]
    assert _run(rootfs, runtime) == "Hello from hello-app\n"
    script = (rootfs / "usr/bin/hello").read_text()
    assert script.startswith(f"#!{PYTHON}\n")
    assert (rootfs / SITE.lstrip("/") / "hello_app" / "__init__.py").is_file()
    manifest = _manifest(registry.host, repo_name, "1.0.0")
    assert (
        manifest["annotations"]["org.opencontainers.image.base.digest"] == debian_base.split("@")[1]
    )
    assert len(manifest["layers"]) == 2  # Debian, app (no dependencies)


def test_dependency_from_a_local_wheelhouse(
    registry, repo_name, debian_base, tmp_path, capsys, pip_offline
):
    root = write_app(
        tmp_path / "app", image=_image_settings(debian_base), dependencies=("greetlib>=1",)
    )
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert _run(rootfs, runtime) == "Hello from hello-app\ngreetings, image, from greetlib\n"
    # The dependency's own console script points at the image's interpreter.
    assert _run(rootfs, runtime, "/usr/bin/greet") == "greetings, world, from greetlib\n"
    assert (rootfs / SITE.lstrip("/") / "greetlib-1.0.dist-info" / "INSTALLER").read_text() == (
        "ocipush\n"
    )
    assert len(_manifest(registry.host, repo_name, "1.0.0")["layers"]) == 3


def test_python_is_found_in_the_debian_base_files(
    registry, repo_name, debian_base, tmp_path, capsys, pip_offline
):
    """No python or site-packages keys: the interpreter and Debian's site directory are
    read from the base's file list, which is cached by layer digest."""
    root = write_app(tmp_path / "app", image={"base": debian_base}, dependencies=("greetlib>=1",))
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert runtime["process"]["args"] == ["/usr/bin/hello"]
    assert _run(rootfs, runtime) == "Hello from hello-app\ngreetings, image, from greetlib\n"
    assert (rootfs / "usr/bin/hello").read_text().startswith(f"#!{PYTHON}\n")
    assert (rootfs / SITE.lstrip("/") / "greetlib" / "__init__.py").is_file()
    base_layer = _manifest(registry.host, BASE_REPO, debian_base.split("@")[1])["layers"][0]
    listing = (
        root / "build" / "ocipush" / "listings" / (base_layer["digest"].replace(":", "-") + ".json")
    )
    assert "/usr/bin/python3.11" in listing.read_text()


def test_nonroot_user_is_added_to_a_debian_base_and_runs_the_app(
    registry, repo_name, debian_base, tmp_path, capsys
):
    root = write_app(tmp_path / "app", image={"base": debian_base, "user": "nonroot"})
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert runtime["process"]["user"]["uid"] == 65532
    assert runtime["process"]["user"]["gid"] == 65532
    passwd = (rootfs / "etc" / "passwd").read_text()
    assert passwd.startswith("root:x:0:0:root:/root:/bin/bash\n")  # Debian's, kept
    assert passwd.endswith("nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")
    assert (rootfs / "etc" / "group").read_text().endswith("nonroot:x:65532:\n")
    assert (rootfs / "home" / "nonroot").is_dir()  # owned by 65532: see test_image_users
    env = dict(entry.split("=", 1) for entry in runtime["process"]["env"])
    result = subprocess.run(
        ["chroot", "--userspec=65532:65532", str(rootfs), "/bin/sh", "-c", "id -u && hello"],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert (result.returncode, result.stdout) == (0, "65532\nHello from hello-app\n"), result.stderr
    manifest = _manifest(registry.host, repo_name, "1.0.0")
    assert len(manifest["layers"]) == 3  # Debian, user nonroot, app


@pytest.fixture(scope="module")
def default_bases(registry, debian_base) -> str:
    """A stand-in for docker.io/library/python on the local registry: 3.11-slim is the
    Debian base (its Python is 3.11), 3.12-slim a python.org-like base saying 3.12."""
    repository = f"{registry.host}/ocipush-tests/library/python"
    skopeo_copy(debian_base, f"{repository}:3.11-slim")
    fake = push_fake_base(
        registry.host,
        "ocipush-tests/bases/python312",
        ("linux/amd64",),
        env=("PATH=/usr/local/bin:/usr/bin:/bin", "PYTHON_VERSION=3.12.7"),
    )
    skopeo_copy(fake, f"{repository}:3.12-slim", all_images=True)
    return repository


def test_without_a_base_the_lowest_allowed_python_slim_image_is_used(
    registry, repo_name, default_bases, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OCIPUSH_DEFAULT_BASE", default_bases)
    root = write_app(tmp_path / "app", image={}, requires_python=">=3.10")
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    manifest = _manifest(registry.host, repo_name, "1.0.0")
    # No 3.10-slim in the repository: 3.11 is the lowest it has that >=3.10 allows.
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == (
        f"{default_bases}:3.11-slim"
    )
    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert _run(rootfs, runtime) == "Hello from hello-app\n"


def test_requires_python_picks_the_default_base_series(
    registry, repo_name, default_bases, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OCIPUSH_DEFAULT_BASE", default_bases)
    root = write_app(tmp_path / "app", image={}, requires_python=">=3.12")
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    manifest = _manifest(registry.host, repo_name, "1.0.0")
    assert manifest["annotations"]["org.opencontainers.image.base.name"] == (
        f"{default_bases}:3.12-slim"
    )
    rootfs, _ = _unpack(target, tmp_path / "unpacked")
    assert (rootfs / "usr/local/lib/python3.12/site-packages/hello_app/__init__.py").is_file()


def test_a_default_base_that_fits_no_series_is_a_clear_error(
    registry, default_bases, tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("OCIPUSH_DEFAULT_BASE", default_bases)
    root = write_app(tmp_path / "app", image={}, requires_python=">=3.13")

    code = main(["plan", "--project", str(root)])

    assert code == 1
    assert capsys.readouterr().err.splitlines()[-1] == (
        "error: tool.ocipush.image.base: not set, and the registry has none of "
        f"{default_bases}:3.13-slim, {default_bases}:3.14-slim, {default_bases}:3.15-slim; "
        "set base, or point OCIPUSH_DEFAULT_BASE at a repository that has them"
    )


def test_the_image_loaded_into_an_engine_runs_from_there(
    registry, debian_base, pip_offline, tmp_path, capsys, monkeypatch, tmp_path_factory
):
    """``ocipush build --target docker-daemon:…`` into podman's Docker-compatible API: the
    user's "run it locally" path, with no registry involved. The container podman makes of
    it is exported and run in a chroot (this sandbox forbids podman's own rlimit setup).
    greetlib's layer holds its wheel's deflate streams as gzip members of their own, which
    podman's storage unpacks like any layer."""
    engine = PodmanEngine(tmp_path_factory.mktemp("engine")).start()
    try:
        monkeypatch.setenv("DOCKER_HOST", engine.host)
        root = write_app(
            tmp_path / "app",
            image={"base": debian_base, "user": "nonroot"},
            dependencies=("greetlib",),
        )
        code = main(
            ["build", "--no-progress", "--project", str(root), "--target", "docker-daemon:hello"]
        )
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out.startswith("docker-daemon:hello:1.0.0@sha256:")

        config = engine.inspect("hello:1.0.0")["Config"]
        assert (config["User"], config["Entrypoint"]) == ("65532:65532", ["/usr/bin/hello"])
        container = engine.podman("create", "hello:1.0.0").decode().strip()
        rootfs = tmp_path / "exported"
        rootfs.mkdir()
        exported = tmp_path / "exported.tar"
        exported.write_bytes(engine.podman("export", container))
        subprocess.run(["tar", "-xf", str(exported), "-C", str(rootfs)], check=True)
    finally:
        engine.stop()
    env = dict(entry.split("=", 1) for entry in config["Env"])
    result = subprocess.run(
        ["chroot", f"--userspec={config['User']}", str(rootfs), *config["Entrypoint"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    expected = "Hello from hello-app\ngreetings, image, from greetlib\n"
    assert (result.returncode, result.stdout) == (0, expected), result.stderr


# -- one layer per dependency -----------------------------------------------------------------


def _tree(rootfs: Path) -> dict[str, tuple[int, str]]:
    """Every path of an unpacked image → (mode, content digest or link target)."""
    found = {}
    for path in sorted(rootfs.rglob("*")):
        info = path.lstat()
        if path.is_symlink():
            what = "-> " + os.readlink(path)
        elif path.is_file():
            what = hashlib.sha256(path.read_bytes()).hexdigest()
        else:
            what = ""
        found[str(path.relative_to(rootfs))] = (info.st_mode, what)
    return found


def test_auto_and_single_dependency_layers_unpack_to_the_same_tree(
    registry, repo_name, debian_base, wheelhouse, tmp_path, capsys, monkeypatch
):
    """Two distributions share a namespace package (``acme``) and ``/usr/bin``, and ship an
    identical file; one layer each gives the tree one layer for all gives, and it runs. Their
    big modules' deflate streams go into the "auto" layers as the wheels store them (gzip
    members of their own), which skopeo and umoci read like any layer."""
    house = tmp_path / "house"
    shutil.copytree(wheelhouse, house)
    for name in ("one", "two"):
        code = f"def main():\n    print('acme {name}')\n".encode()
        rows = (hashlib.sha256(f"{name}{n}".encode()).hexdigest() for n in range(2000))
        tables = "".join(f"ROW = {row!r}\n" for row in rows).encode()
        files = {f"acme/{name}.py": code, "acme/py.typed": b"", f"acme/{name}_tables.py": tables}
        make_tiny_wheel(
            house, f"acme-{name}", "1.0", files, scripts={f"acme-{name}": f"acme.{name}:main"}
        )
    use_wheelhouse(monkeypatch, house)
    trees = {}
    for mode in ("single", "auto"):
        settings = {"base": debian_base, "dependency-layers": mode}
        dependencies = ("greetlib", "acme-one", "acme-two")
        root = write_app(tmp_path / mode, image=settings, dependencies=dependencies)
        target = f"{registry.host}/{repo_name}:{mode}"
        _push(root, target, capsys)
        layers = _manifest(registry.host, repo_name, mode)["layers"]
        assert len(layers) == (3 if mode == "single" else 5)  # Debian, deps, app
        rootfs, runtime = _unpack(target, tmp_path / f"unpacked-{mode}")
        trees[mode] = _tree(rootfs)

    assert trees["auto"] == trees["single"]
    assert f"{SITE.lstrip('/')}/acme/one.py" in trees["auto"]
    assert f"{SITE.lstrip('/')}/acme/two_tables.py" in trees["auto"]
    assert _run(rootfs, runtime) == "Hello from hello-app\ngreetings, image, from greetlib\n"
    assert _run(rootfs, runtime, "/usr/bin/acme-two") == "acme two\n"


# -- pinned dependency sets ------------------------------------------------------------------


@pytest.fixture(scope="module")
def newer_wheelhouse(tmp_path_factory, wheelhouse) -> Path:
    """greetlib 1.0 and 2.0: what pip picks unpinned is 2.0."""
    directory = tmp_path_factory.mktemp("newer-wheelhouse")
    shutil.copytree(wheelhouse, directory / "wheels")
    build_wheel(write_greetlib(directory / "greetlib-2", version="2.0"), directory / "wheels")
    return directory / "wheels"


def _installed_greetlib(rootfs: Path) -> list[str]:
    return sorted(p.name for p in (rootfs / SITE.lstrip("/")).glob("greetlib-*.dist-info"))


def _locked_app(root: Path, debian_base: str, lock: str) -> Path:
    settings = {"base": debian_base, "requirements": lock}
    return write_app(root, image=settings, dependencies=("greetlib",), requires_python=">=3.10")


def test_uv_lock_pins_the_older_dependency(
    registry, repo_name, debian_base, wheelhouse, newer_wheelhouse, tmp_path, capsys, monkeypatch
):
    use_wheelhouse(monkeypatch, newer_wheelhouse)
    root = _locked_app(tmp_path / "app", debian_base, "uv.lock")
    # Locked while only greetlib 1.0 existed.
    subprocess.run(
        [sys.executable, "-m", "uv", "lock", "--no-index", "--find-links", str(wheelhouse)],
        cwd=root,
        env={**os.environ, "UV_CACHE_DIR": str(tmp_path / "uv-cache")},
        check=True,
        capture_output=True,
        timeout=RUN_TIMEOUT,
    )
    build_wheel(root, root / "dist")  # newer than the lock, as a release build's would be
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    assert _installed_greetlib(rootfs) == ["greetlib-1.0.dist-info"]
    assert _run(rootfs, runtime) == "Hello from hello-app\ngreetings, image, from greetlib\n"


def test_pylock_pins_the_older_dependency_and_checks_its_hash(
    registry, repo_name, debian_base, wheelhouse, newer_wheelhouse, tmp_path, capsys, monkeypatch
):
    use_wheelhouse(monkeypatch, newer_wheelhouse)
    root = _locked_app(tmp_path / "app", debian_base, "pylock.toml")
    wheel = next(wheelhouse.glob("greetlib-1.0-*.whl"))
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
    lock = (
        'lock-version = "1.0"\ncreated-by = "hand"\n\n[[packages]]\nname = "greetlib"\n'
        f'version = "1.0"\nwheels = [{{ url = "{wheel.as_uri()}", '
        f'hashes = {{ sha256 = "{digest}" }} }}]\n'
    )
    (root / "pylock.toml").write_text(lock)
    build_wheel(root, root / "dist")
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    rootfs, _ = _unpack(target, tmp_path / "unpacked")
    assert _installed_greetlib(rootfs) == ["greetlib-1.0.dist-info"]

    # A wheel that does not match the lock's hash is refused, and nothing is pushed.
    (root / "pylock.toml").write_text(lock.replace(digest, "0" * 64))
    build_wheel(root, root / "dist")
    shutil.rmtree(root / "build")
    code = main(["push", "--no-progress", "--project", str(root), "--target", f"{target}-bad"])
    err = capsys.readouterr().err
    assert code == 1
    assert "downloading the wheels failed" in err
    assert "do not match the hashes" in err.lower()


def test_resolver_uv_gives_the_same_image_as_pip(
    registry, repo_name, debian_base, newer_wheelhouse, tmp_path, capsys, monkeypatch
):
    use_wheelhouse(monkeypatch, newer_wheelhouse)
    monkeypatch.setenv("UV_CACHE_DIR", str(tmp_path / "uv-cache"))
    target = f"{registry.host}/{repo_name}:1.0.0"
    planned = {}
    for resolver in ("pip", "uv"):
        settings = {"base": debian_base, "resolver": resolver}
        root = write_app(tmp_path / resolver, image=settings, dependencies=("greetlib>=1",))
        planned[resolver] = _planned(root, target, capsys)
        (entry,) = LayerCache.for_user(os.environ).entries()
        assert entry.label == "dependency greetlib 2.0 for Python 3.11"  # the newest

    assert planned["uv"] == planned["pip"]  # same wheels (greetlib 2.0), same layers, same image


# -- reproducibility and the layer cache ------------------------------------------------------


def _planned(root: Path, target: str, capsys) -> tuple[str, list[str]]:
    code = main(["plan", "--json", "--project", str(root), "--target", target])
    out, err = capsys.readouterr()
    assert code == 0, err
    plan = json.loads(out)["targets"][0]
    image = next(m for m in plan["manifests"] if m["role"] == "image")
    layers = [b["digest"] for b in plan["blobs"] if "layer" in b["mediaType"]]
    return image["digest"], layers


def test_reproducible_and_an_app_change_rebuilds_only_the_app_layer(
    registry, repo_name, debian_base, tmp_path, capsys, monkeypatch, pip_offline
):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    target = f"{registry.host}/{repo_name}:1.0.0"
    settings = _image_settings(debian_base)
    first = write_app(tmp_path / "a", image=settings, dependencies=("greetlib",))
    digest_a, layers_a = _planned(first, target, capsys)
    time.sleep(1.1)  # file times differ between the two trees
    second = write_app(tmp_path / "b", image=settings, dependencies=("greetlib",))
    digest_b, layers_b = _planned(second, target, capsys)
    assert digest_a == digest_b
    assert layers_a == layers_b

    _push(second, target, capsys)
    # The dependency layer came from the user's layer cache, filled by the first project:
    # this one never fetched a wheel, and will not.
    assert not (second / "build" / "ocipush" / "wheels").exists()
    uploads_before = sum(_is_upload(r) for r in registry.requests())
    write_app(tmp_path / "b", image=settings, dependencies=("greetlib",), message="Hello, v2")
    started = time.monotonic()
    _push(second, target, capsys)
    app_only_seconds = time.monotonic() - started
    digest_c, layers_c = _planned(second, target, capsys)

    assert not (second / "build" / "ocipush" / "wheels").exists()
    assert digest_c != digest_b
    assert layers_c[:2] == layers_b[:2]  # Debian and dependencies untouched
    assert layers_c[2] != layers_b[2]  # the app layer changed
    # Only the new app layer and the new config were sent, and the new SBOM and provenance
    # (both name the new wheel's digest).
    assert sum(_is_upload(r) for r in registry.requests()) - uploads_before == 4
    print(f"app-only rebuild+push: {app_only_seconds:.2f} s")


def test_compile_bytecode_adds_reproducible_pycs_for_the_image_python(
    registry, repo_name, debian_base, tmp_path, capsys, pip_offline
):
    settings = {"base": debian_base, "compile-bytecode": True}
    target = f"{registry.host}/{repo_name}:1.0.0"
    first = write_app(tmp_path / "a", image=settings, dependencies=("greetlib",))
    second = write_app(tmp_path / "b", image=settings, dependencies=("greetlib",))
    assert _planned(first, target, capsys) == _planned(second, target, capsys)
    _push(first, target, capsys)

    rootfs, runtime = _unpack(target, tmp_path / "unpacked")
    site = rootfs / SITE.lstrip("/")
    for module in ("hello_app", "greetlib"):
        pyc = site / module / "__pycache__" / "__init__.cpython-311.pyc"
        data = pyc.read_bytes()
        assert data[:4] == importlib.util.MAGIC_NUMBER  # Python 3.11's, the image's
        assert int.from_bytes(data[4:8], "little") == 0b01  # hash-based, unchecked
        # Tracebacks name the file where it is in the image.
        assert marshal.loads(data[16:]).co_filename == f"{SITE}/{module}/__init__.py"
    assert _run(rootfs, runtime) == "Hello from hello-app\ngreetings, image, from greetlib\n"


# -- several platforms ------------------------------------------------------------------------


def test_two_platforms_make_an_index_and_both_unpack(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64", "linux/arm64"))
    root = write_app(
        tmp_path / "app",
        image={"base": base, "platforms": ["linux/amd64", "linux/arm64"]},
        dependencies=("greetlib",),
    )
    target = f"{registry.host}/{repo_name}:1.0.0"
    _push(root, target, capsys)

    index = _manifest(registry.host, repo_name, "1.0.0")
    assert [e["platform"] for e in index["manifests"]] == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux"},
    ]
    for arch in ("amd64", "arm64"):
        rootfs, runtime = _unpack(target, tmp_path / arch, arch=arch)
        assert (rootfs / "etc/base-platform").read_text().startswith(f"linux/{arch}")
        site = rootfs / "usr/local/lib/python3.11/site-packages"
        assert (site / "greetlib" / "__init__.py").is_file()
        assert (site / "hello_app" / "__init__.py").is_file()
        assert runtime["process"]["args"] == ["/usr/local/bin/hello"]


# -- where base layers come from --------------------------------------------------------------


def _base_layer_digest(base: str) -> str:
    host, _, rest = base.partition("/")
    repo, _, digest = rest.partition("@")
    return _manifest(host, repo, digest)["layers"][0]["digest"]


def test_base_layers_are_mounted_on_the_same_registry(
    registry, repo_name, debian_base, tmp_path, capsys
):
    root = write_app(tmp_path / "app", image=_image_settings(debian_base))
    _push(root, f"{registry.host}/{repo_name}:1", capsys)
    layer = _base_layer_digest(debian_base)
    mine = [r for r in registry.requests() if f"/v2/{repo_name}/" in r.path]
    mounts = [
        r for r in mine if r.method == "POST" and f"mount={layer}" in r.path.replace("%3A", ":")
    ]
    assert [r.status for r in mounts] == [201]
    assert not any(f"digest={layer}" in r.path.replace("%3A", ":") for r in mine)
    # Uploaded (each blob's commit PUT): the app layer and the config; then the SBOM, the
    # artifacts' empty config and the provenance.
    assert sum(_is_upload(r) for r in mine) == 5


def test_base_layers_stream_across_registries_without_temp_files(
    registry, local_registry_factory, repo_name, debian_base, tmp_path, monkeypatch
):
    other = local_registry_factory()
    root = write_app(tmp_path / "app", image=_image_settings(debian_base))
    project, manager = open_project(root)
    plan = make_plan(project, manager, targets=[TargetConfig(f"{other.host}/{repo_name}:1")])
    actions = {b.digest: b.action for b in plan.targets[0].blobs}
    layer = _base_layer_digest(debian_base)
    assert actions[layer] == "upload"

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    files_before = sorted(p for p in root.rglob("*"))
    execute(plan, project, manager)
    assert list(temp.iterdir()) == []
    assert sorted(p for p in root.rglob("*")) == files_before
    source_reads = [
        r for r in registry.requests() if r.method == "GET" and r.path.endswith(f"/blobs/{layer}")
    ]
    assert source_reads
    received = [r.path.replace("%3A", ":") for r in other.requests() if r.method == "PUT"]
    assert any(f"digest={layer}" in path for path in received)
    assert not any("mount=" in r.path for r in other.requests())
    copy = tmp_path / "copy"
    rootfs, runtime = _unpack(f"{other.host}/{repo_name}:1", copy)
    assert _run(rootfs, runtime) == "Hello from hello-app\n"
