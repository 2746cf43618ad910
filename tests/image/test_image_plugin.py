"""The ``image`` plugin through the command line, on a small fake multi-platform base.

The base images here hold no Python (they only look like python.org images), so these tests
check what ocipush builds and pushes: platforms, layers, config, annotations and errors.
Running the app is the end-to-end test's job (tests/integration/test_image_e2e.py).
"""

from __future__ import annotations

import json
import logging
import urllib.request

import pytest

from image.sample import make_wheelhouse, push_fake_base, use_wheelhouse, write_app
from ocipush.cli import main
from support.tools import registry_get_manifest


@pytest.fixture(scope="module")
def wheelhouse(tmp_path_factory):
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def pip_offline(monkeypatch, wheelhouse):
    use_wheelhouse(monkeypatch, wheelhouse)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")


def _plan(capsys, root, target):
    code = main(["plan", "--json", "--project", str(root), "--target", target])
    out, err = capsys.readouterr()
    assert code == 0, err
    return json.loads(out)


def _push(capsys, root, target):
    code = main(["push", "--no-progress", "--project", str(root), "--target", target])
    out, err = capsys.readouterr()
    assert code == 0, err
    return out


def _manifest(host, repo, ref):
    body, _ = registry_get_manifest(host, repo, ref)
    return json.loads(body)


def _blob(host, repo, digest):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=10) as response:
        return json.loads(response.read())


def test_default_platforms_are_the_bases_and_the_index_names_them(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(registry.host, f"{repo_name}-base")
    root = write_app(tmp_path / "app", image={"base": base}, dependencies=("greetlib",))
    _push(capsys, root, f"{registry.host}/{repo_name}:1")

    index = _manifest(registry.host, repo_name, "1")
    assert index["mediaType"] == "application/vnd.oci.image.index.v1+json"
    platforms = [entry["platform"] for entry in index["manifests"]]
    assert platforms == [
        {"architecture": "amd64", "os": "linux"},
        {"architecture": "arm64", "os": "linux", "variant": "v8"},
    ]
    assert index["annotations"]["org.opencontainers.image.base.digest"] == base.split("@")[1]
    for entry in index["manifests"]:
        manifest = _manifest(registry.host, repo_name, entry["digest"])
        config = _blob(registry.host, repo_name, manifest["config"]["digest"])
        # base layer, dependencies, app
        assert len(manifest["layers"]) == 3
        assert config["architecture"] == entry["platform"]["architecture"]
        assert config["config"]["Entrypoint"] == ["/usr/local/bin/hello"]
        assert "Cmd" not in config["config"]
        assert "PYTHON_VERSION=3.11.9" in config["config"]["Env"]
        assert config["config"]["Labels"]["base.label"] == "kept"
        assert config["config"]["Labels"]["org.opencontainers.image.title"] == "hello-app"
        assert config["created"] == "2023-11-14T22:13:20Z"
        assert len(config["rootfs"]["diff_ids"]) == 3
        annotations = manifest["annotations"]
        assert annotations["org.opencontainers.image.version"] == "1.0.0"
        assert annotations["org.opencontainers.image.licenses"] == "MIT"
        assert annotations["org.opencontainers.image.source"] == "https://example.org/hello-app"
        assert annotations["org.opencontainers.image.base.name"].endswith(f"{repo_name}-base")


def test_plan_lists_layers_with_sizes_and_what_the_target_has(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(tmp_path / "app", image={"base": base}, dependencies=("greetlib",))
    target = f"{registry.host}/{repo_name}:1"
    before = _plan(capsys, root, target)["targets"][0]["blobs"]
    # Base layer mounted from the base's repository; deps, app and config uploaded; then
    # the SBOM, the artifacts' empty config and the provenance (attestations plugin).
    assert [b["action"] for b in before] == ["mount", *["upload"] * 6]
    assert all(b["size"] > 0 for b in before)
    assert before[0]["source"]["kind"] == "registry"
    # Each dependency layer names its distribution and version.
    assert before[1]["source"]["description"].startswith(
        "dependency greetlib 1.0 for Python 3.11 ["
    )
    _push(capsys, root, target)
    code = main(["plan", "--check", "--project", str(root), "--target", target])
    table = capsys.readouterr().out
    assert code == 0
    assert table.count("present") == 6, table
    assert "KiB" in table or " B " in table


def test_configured_platform_with_variant_is_picked(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(
        registry.host, f"{repo_name}-base", ("linux/amd64", "linux/arm/v6", "linux/arm/v7")
    )
    root = write_app(tmp_path / "app", image={"base": base, "platforms": ["linux/arm/v7"]})
    _push(capsys, root, f"{registry.host}/{repo_name}:1")
    manifest = _manifest(registry.host, repo_name, "1")
    config = _blob(registry.host, repo_name, manifest["config"]["digest"])
    assert (config["architecture"], config["variant"]) == ("arm", "v7")
    # No dependencies: base layer and app layer only.
    assert len(manifest["layers"]) == 2


def test_missing_platform_is_a_clear_error(registry, repo_name, tmp_path, capsys, pip_offline):
    base = push_fake_base(registry.host, f"{repo_name}-base")
    root = write_app(tmp_path / "app", image={"base": base, "platforms": ["linux/s390x"]})
    code = main(["plan", "--project", str(root), "--target", f"{registry.host}/{repo_name}:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "linux/s390x" in err
    assert "offers: linux/amd64, linux/arm64/v8" in err


def test_bad_base_reference_is_a_clear_error(registry, tmp_path, capsys, pip_offline):
    root = write_app(tmp_path / "app", image={"base": "Not A Reference"})
    code = main(["plan", "--project", str(root), "--target", f"{registry.host}/x/y:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert 'tool.ocipush.image.base: "Not A Reference" is not an image reference' in err


def test_missing_base_is_a_clear_error(registry, repo_name, tmp_path, capsys, pip_offline):
    root = write_app(tmp_path / "app", image={"base": f"{registry.host}/{repo_name}/nope:1"})
    code = main(["plan", "--project", str(root), "--target", f"{registry.host}/x/y:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "was not found in its registry" in err


def test_unpinned_base_warns(registry, repo_name, tmp_path, capsys, pip_offline, caplog):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    tagged = base.split("@")[0] + ":base"
    root = write_app(tmp_path / "app", image={"base": tagged})
    with caplog.at_level(logging.WARNING, logger="ocipush"):
        _plan(capsys, root, f"{registry.host}/{repo_name}:1")
    assert any("not pinned by digest" in r.getMessage() for r in caplog.records)


def test_no_console_script_asks_for_an_entrypoint(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(tmp_path / "app", image={"base": base}, scripts={})
    code = main(["plan", "--project", str(root), "--target", f"{registry.host}/{repo_name}:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "tool.ocipush.image.entrypoint: not set" in err
    assert "0 console scripts" in err


def test_dependency_without_wheel_for_a_platform_names_both(
    registry, repo_name, tmp_path, capsys, monkeypatch, wheelhouse
):
    # A wheelhouse whose only greetlib is an x86_64 wheel.
    only_amd64 = tmp_path / "wheelhouse"
    only_amd64.mkdir()
    wheel = next(wheelhouse.glob("greetlib-*.whl"))
    (only_amd64 / "greetlib-1.0-py3-none-manylinux_2_17_x86_64.whl").write_bytes(wheel.read_bytes())
    use_wheelhouse(monkeypatch, only_amd64)
    base = push_fake_base(registry.host, f"{repo_name}-base")
    root = write_app(
        tmp_path / "app",
        image={"base": base, "platforms": ["linux/amd64", "linux/arm64"]},
        dependencies=("greetlib",),
    )
    code = main(["plan", "--project", str(root), "--target", f"{registry.host}/{repo_name}:1"])
    err = capsys.readouterr().err
    assert code == 1
    assert "no wheel of greetlib for linux/arm64" in err


def test_configuration_problems_are_listed_together(tmp_path, capsys):
    root = write_app(
        tmp_path / "app",
        image={"platforms": ["linux"], "ports": ["http"], "workdir": "app", "colour": "red"},
    )
    code = main(["plan", "--project", str(root)])
    err = capsys.readouterr().err
    assert code == 2
    assert "tool.ocipush.image.base" not in err  # no base means the default one
    for expected in (
        'tool.ocipush.image.platforms[0]: "linux" — expected os/architecture',
        'tool.ocipush.image.ports[0]: "http" — expected a port number',
        'tool.ocipush.image.workdir: "app" — expected an absolute path',
        "tool.ocipush.image.colour: unknown key",
    ):
        assert expected in err
