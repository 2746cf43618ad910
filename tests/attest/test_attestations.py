"""The ``attestations`` plugin: SBOMs and provenance attached to a pushed image.

Everything is read back with skopeo and checked with validators not written here:
CycloneDX's own JSON schema validator (cyclonedx-python-lib) and spdx-tools' validator.
"""

from __future__ import annotations

import json

from cryptography.hazmat.primitives.asymmetric import ed25519
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from packageurl import PackageURL
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from attest.helpers import fetch_artifact, referrers_of, run, sha256, write_private_key
from image.sample import push_fake_base, write_app
from support.tools import skopeo_inspect_raw

CYCLONEDX = "application/vnd.cyclonedx+json"
SPDX = "application/spdx+json"
INTOTO = "application/vnd.in-toto+json"
BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"


def _platform_images(release) -> dict[str, str]:
    index = json.loads(skopeo_inspect_raw(release.ref))
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
    }


def _base_digests(release) -> dict[str, str]:
    index = json.loads(skopeo_inspect_raw(release.base))
    return {
        f"{m['platform']['os']}/{m['platform']['architecture']}": m["digest"]
        for m in index["manifests"]
        if m["platform"]["os"] != "unknown"
    }


def test_each_platform_image_gets_a_valid_cyclonedx_sbom_of_its_dependencies_and_base(
    release, wheelhouse, tmp_path
):
    bases = _base_digests(release)
    wheel = next((release.root / "dist").glob("*.whl"))
    wheels = {"greetlib": sha256(next(wheelhouse.glob("greetlib-*.whl")).read_bytes())[7:]}
    for platform, digest in _platform_images(release).items():
        listed = referrers_of(release.host, release.repository, digest)
        sboms = [r for r in listed if r["artifactType"] == CYCLONEDX]
        assert len(sboms) == 1, listed
        manifest, data = fetch_artifact(
            release.host, release.repository, sboms[0]["digest"], tmp_path
        )
        assert manifest["subject"]["digest"] == digest
        assert manifest["artifactType"] == CYCLONEDX
        assert JsonStrictValidator(SchemaVersion.V1_6).validate_str(data.decode()) is None
        bom = json.loads(data)
        assert bom["specVersion"] == "1.6"
        assert bom["metadata"]["timestamp"].startswith("2023-11-14T22:13:20")
        project = bom["metadata"]["component"]
        assert (project["name"], project["version"]) == ("hello-app", "1.0.0")
        assert project["purl"] == "pkg:pypi/hello-app@1.0.0"
        assert project["hashes"] == [{"alg": "SHA-256", "content": sha256(wheel.read_bytes())[7:]}]
        assert project["licenses"] == [{"license": {"id": "MIT"}}]
        components = {c["name"]: c for c in bom["components"]}
        greetlib = components["greetlib"]
        assert greetlib["version"] == "1.0"
        assert greetlib["purl"] == "pkg:pypi/greetlib@1.0"
        assert greetlib["licenses"] == [{"license": {"id": "Apache-2.0"}}]
        assert greetlib["hashes"] == [{"alg": "SHA-256", "content": wheels["greetlib"]}]
        (base,) = [c for c in bom["components"] if c["type"] == "container"]
        assert base["version"] == bases[platform]
        purl = PackageURL.from_string(base["purl"])
        assert (purl.type, purl.version) == ("oci", bases[platform])
        assert purl.qualifiers["repository_url"] == release.base.split("@")[0]


def test_provenance_names_the_index_and_images_and_every_input(release, tmp_path):
    images = _platform_images(release)
    listed = referrers_of(release.host, release.repository, release.index_digest)
    (entry,) = [r for r in listed if r["artifactType"] == INTOTO]
    manifest, data = fetch_artifact(release.host, release.repository, entry["digest"], tmp_path)
    assert manifest["subject"]["digest"] == release.index_digest
    statement = json.loads(data)
    assert statement["_type"] == "https://in-toto.io/Statement/v1"
    assert statement["predicateType"] == "https://slsa.dev/provenance/v1"
    digests = {"sha256:" + s["digest"]["sha256"] for s in statement["subject"]}
    assert digests == {release.index_digest, *images.values()}
    build = statement["predicate"]["buildDefinition"]
    assert build["externalParameters"]["targets"] == [release.ref]
    assert build["externalParameters"]["image"] == {"base": release.base}
    resolved = {d["uri"]: d for d in build["resolvedDependencies"]}
    for base_digest in _base_digests(release).values():
        assert any(
            base_digest.split(":")[1] == d["digest"].get("sha256") for d in resolved.values()
        )
    assert "pkg:pypi/greetlib@1.0" in resolved
    assert "pkg:pypi/hello-app@1.0.0" in resolved
    assert statement["predicate"]["runDetails"]["builder"]["id"] == "local"


def test_spdx_sbom_validates_with_spdx_tools(registry, repo_name, tmp_path, capsys, pip_offline):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(
        tmp_path / "app",
        image={"base": base},
        dependencies=("greetlib",),
        extra='[tool.ocipush.attestations]\nsbom = "spdx"\nprovenance = false\n',
    )
    ref = f"{registry.host}/{repo_name}:1"
    code, _, err = run(capsys, "push", "--no-progress", "--project", str(root), "--target", ref)
    assert code == 0, err
    image = sha256(skopeo_inspect_raw(ref))
    listed = referrers_of(registry.host, repo_name, image)
    assert [r["artifactType"] for r in listed] == [SPDX]
    _, data = fetch_artifact(registry.host, repo_name, listed[0]["digest"], tmp_path)
    (tmp_path / "sbom.spdx.json").write_bytes(data)
    assert validate_full_spdx_document(parse_file(str(tmp_path / "sbom.spdx.json"))) == []
    document = json.loads(data)
    packages = {p["name"]: p for p in document["packages"]}
    assert packages["greetlib"]["versionInfo"] == "1.0"
    assert packages["greetlib"]["licenseDeclared"] == "Apache-2.0"
    assert packages["greetlib"]["externalRefs"][0]["referenceLocator"] == "pkg:pypi/greetlib@1.0"
    (base_package,) = [
        p for p in document["packages"] if p.get("primaryPackagePurpose") == "CONTAINER"
    ]
    base_index = json.loads(skopeo_inspect_raw(base))
    amd64 = next(
        m["digest"] for m in base_index["manifests"] if m["platform"]["architecture"] == "amd64"
    )
    assert base_package["versionInfo"] == amd64


def test_two_builds_give_byte_identical_sbom_and_provenance(
    tmp_path, capsys, pip_offline, registry, repo_name
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    blobs = []
    for run_number in (1, 2):
        root = write_app(
            tmp_path / f"app{run_number}", image={"base": base}, dependencies=("greetlib",)
        )
        code, _, err = run(
            capsys, "build", "--no-progress", "--project", str(root), "--target", "oci:out:1"
        )
        assert code == 0, err
        index = json.loads((root / "out" / "index.json").read_text())
        found = {}
        for entry in index["manifests"]:
            manifest = json.loads(
                (root / "out" / "blobs" / "sha256" / entry["digest"][7:]).read_bytes()
            )
            if manifest.get("artifactType") in (CYCLONEDX, INTOTO):
                layer = manifest["layers"][0]["digest"]
                found[(manifest["artifactType"], manifest["subject"]["digest"])] = (
                    root / "out" / "blobs" / "sha256" / layer[7:]
                ).read_bytes()
        assert len(found) == 2
        blobs.append(found)
    assert blobs[0] == blobs[1]


def test_plan_shows_each_attestation_and_signature_and_never_signs(
    registry, repo_name, tmp_path, capsys, pip_offline, monkeypatch
):

    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(tmp_path / "app", image={"base": base}, dependencies=("greetlib",))
    key = write_private_key(tmp_path / "key.pem", ed25519.Ed25519PrivateKey.generate())
    ref = f"{registry.host}/{repo_name}:1"
    code, out, err = run(
        capsys, "plan", "--json", "--project", str(root), "--target", ref, "--sign-key", str(key)
    )
    assert code == 0, err
    roles = [m["role"] for m in json.loads(out)["targets"][0]["manifests"]]
    assert roles == [
        "image",
        "sbom linux/amd64",
        "provenance",
        "signature",
        "signature sbom linux/amd64",
        "signature provenance",
    ]
    # Nothing was pushed, and the signatures are not made yet: no digest (null).
    plan = json.loads(out)["targets"][0]
    assert [m["digest"] for m in plan["manifests"] if m["role"].startswith("signature")] == [
        None
    ] * 3
    code, out, _ = run(
        capsys, "plan", "--json", "--project", str(root), "--target", ref, "--no-sign"
    )
    assert code == 0
    roles = [m["role"] for m in json.loads(out)["targets"][0]["manifests"]]
    assert roles == ["image", "sbom linux/amd64", "provenance"]
    code, out, _ = run(
        capsys, "plan", "--project", str(root), "--target", ref, "--sign-key", str(key)
    )
    assert code == 0
    assert "  sbom linux/amd64  " in out
    assert "  signature provenance  " in out
