"""The ``signing`` plugin and ``ocipush verify``.

Key-based signatures are checked here with an independent implementation of the DSSE
spec (the pre-authentication encoding written out below, and the public key through
``cryptography``), not with ocipush's own verification code.
"""

from __future__ import annotations

import base64
import json
import logging

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from attest.helpers import (
    fetch_artifact,
    referrers_of,
    run,
    sha256,
    write_private_key,
    write_public_key,
)
from image.sample import push_fake_base, write_app
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.digest import Digest
from ocipush.oci.images import Image
from ocipush.oci.model import Descriptor
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from support.tools import ToolError, skopeo_inspect_raw

BUNDLE = "application/vnd.dev.sigstore.bundle.v0.3+json"
INTOTO = "application/vnd.in-toto+json"
CYCLONEDX = "application/vnd.cyclonedx+json"


def _pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE v1 pre-authentication encoding, written from the spec."""
    kind = payload_type.encode()
    return b" ".join(
        [b"DSSEv1", str(len(kind)).encode(), kind, str(len(payload)).encode(), payload]
    )


def _verify_dsse(bundle: dict, public_key) -> dict:
    """The statement of a bundle whose envelope a signature by ``public_key`` covers."""
    assert bundle["mediaType"] == BUNDLE
    envelope = bundle["dsseEnvelope"]
    assert envelope["payloadType"] == INTOTO
    payload = base64.b64decode(envelope["payload"])
    message = _pae(envelope["payloadType"], payload)
    (signature,) = envelope["signatures"]
    raw = base64.b64decode(signature["sig"])
    if isinstance(public_key, ed25519.Ed25519PublicKey):
        public_key.verify(raw, message)
    else:
        public_key.verify(raw, message, ec.ECDSA(hashes.SHA256()))
    return json.loads(payload)


def _subjects(statement: dict) -> set[str]:
    return {"sha256:" + s["digest"]["sha256"] for s in statement["subject"]}


def _bundles(host: str, repository: str, digest: str, tmp_path) -> list[tuple[dict, dict]]:
    listed = [r for r in referrers_of(host, repository, digest) if r["artifactType"] == BUNDLE]
    return [fetch_artifact(host, repository, r["digest"], tmp_path) for r in listed]


def test_every_signature_verifies_with_an_independent_dsse_check(release, tmp_path):
    public_key = load_pem_public_key(release.public_key.read_bytes())
    index = json.loads(skopeo_inspect_raw(release.ref))
    # The index: a signature over its digest and one over its provenance.
    signed = {}
    for manifest, data in _bundles(
        release.host, release.repository, release.index_digest, tmp_path
    ):
        statement = _verify_dsse(json.loads(data), public_key)
        assert _subjects(statement) >= {release.index_digest}
        assert manifest["subject"]["digest"] == release.index_digest
        predicate_type = manifest["annotations"]["dev.sigstore.bundle.predicateType"]
        assert statement["predicateType"] == predicate_type
        signed[predicate_type] = statement
    assert set(signed) == {"https://sigstore.dev/cosign/sign/v1", "https://slsa.dev/provenance/v1"}
    (provenance_ref,) = [
        r
        for r in referrers_of(release.host, release.repository, release.index_digest)
        if r["artifactType"] == INTOTO
    ]
    _, provenance = fetch_artifact(
        release.host, release.repository, provenance_ref["digest"], tmp_path
    )
    assert signed["https://slsa.dev/provenance/v1"] == json.loads(provenance)
    # Each platform image: a signature over its SBOM, whose predicate is the SBOM itself.
    for entry in index["manifests"]:
        (sbom_ref,) = [
            r
            for r in referrers_of(release.host, release.repository, entry["digest"])
            if r["artifactType"] == CYCLONEDX
        ]
        _, sbom = fetch_artifact(release.host, release.repository, sbom_ref["digest"], tmp_path)
        ((manifest, data),) = _bundles(release.host, release.repository, entry["digest"], tmp_path)
        statement = _verify_dsse(json.loads(data), public_key)
        assert statement["predicateType"] == "https://cyclonedx.org/bom"
        assert _subjects(statement) == {entry["digest"]}
        assert statement["predicate"] == json.loads(sbom)


def test_verify_accepts_the_release_and_rejects_another_key(release, tmp_path, capsys):
    code, out, err = run(capsys, "verify", release.ref, "--key", str(release.public_key))
    assert (code, err) == (0, ""), out
    lines = out.splitlines()
    assert sum(line.startswith("ok    signature") for line in lines) == 4
    attestations = [line for line in lines if "attestation" in line]
    assert len(attestations) == 3
    assert all(line.endswith("signed") and "(unsigned)" not in line for line in attestations)
    assert lines[-1] == f"verified: 4 signature(s) on {release.ref}"

    other = write_public_key(tmp_path / "other.pem", ec.generate_private_key(ec.SECP256R1()))
    code, out, err = run(capsys, "verify", release.ref, "--key", str(other))
    assert code == 1
    assert sum(line.startswith("FAIL  signature") for line in out.splitlines()) == 4
    assert "no signature in the envelope was made by this key" in out
    assert f"failed on {release.ref}" in err


def test_verify_rejects_a_tampered_envelope(release, registry, repo_name, tmp_path, capsys):
    copy = f"{registry.host}/{repo_name}:1.0.0"
    code, _, err = run(capsys, "copy", "--no-progress", release.ref, copy)
    assert code == 0, err
    ((_, data),) = [
        (m, d)
        for m, d in _bundles(release.host, release.repository, release.index_digest, tmp_path)
        if m["annotations"]["dev.sigstore.bundle.predicateType"].endswith("sign/v1")
    ]
    bundle = json.loads(data)
    statement = json.loads(base64.b64decode(bundle["dsseEnvelope"]["payload"]))
    statement["predicate"] = {"tampered": True}
    bundle["dsseEnvelope"]["payload"] = base64.b64encode(json.dumps(statement).encode()).decode()
    layer = BytesBlob(json.dumps(bundle).encode(), BUNDLE)
    subject = Descriptor(
        mt.OCI_INDEX, Digest.parse(release.index_digest), len(skopeo_inspect_raw(release.ref))
    )
    tampered = Image(
        layers=[layer], config=BytesBlob(b"{}", mt.OCI_EMPTY), artifact_type=BUNDLE, subject=subject
    )
    reference = parse_reference(copy).with_digest(tampered.manifest().digest)
    Writer().write(reference, tampered)

    code, out, _ = run(capsys, "verify", copy, "--key", str(release.public_key))

    assert code == 1
    (failure,) = [line for line in out.splitlines() if line.startswith("FAIL")]
    assert str(tampered.manifest().digest) in failure
    assert "no signature in the envelope was made by this key" in failure
    assert sum(line.startswith("ok    signature") for line in out.splitlines()) == 4


def _push_signed(capsys, root, ref: str, key) -> tuple[int, str, str]:
    return run(
        capsys,
        "push",
        "--no-progress",
        "--project",
        str(root),
        "--target",
        ref,
        "--sign-key",
        str(key),
    )


def test_ed25519_sign_key_flag_signs_and_warns_about_a_readable_key(
    registry, repo_name, tmp_path, capsys, pip_offline, caplog
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(tmp_path / "app", image={"base": base})
    key = ed25519.Ed25519PrivateKey.generate()
    private = write_private_key(tmp_path / "ed25519.pem", key)
    private.chmod(0o644)
    public = write_public_key(tmp_path / "ed25519.pub.pem", key)
    ref = f"{registry.host}/{repo_name}:1"
    with caplog.at_level(logging.WARNING, logger="ocipush"):
        code, _, err = _push_signed(capsys, root, ref, private)
    assert code == 0, err
    assert "the signing key can be read by other users; chmod 600 it" in caplog.text
    assert private.read_bytes().decode() not in caplog.text + err
    digest = sha256(skopeo_inspect_raw(ref))
    bundles = _bundles(registry.host, repo_name, digest, tmp_path)
    # The image's own signature, the SBOM's and the provenance's.
    statements = [_verify_dsse(json.loads(data), key.public_key()) for _, data in bundles]
    assert sorted(s["predicateType"] for s in statements) == [
        "https://cyclonedx.org/bom",
        "https://sigstore.dev/cosign/sign/v1",
        "https://slsa.dev/provenance/v1",
    ]
    assert all(_subjects(s) == {digest} for s in statements)
    code, out, _ = run(capsys, "verify", ref, "--key", str(public))
    assert code == 0, out


def test_unreadable_key_stops_the_push_before_any_tag_moves(
    registry, repo_name, tmp_path, capsys, pip_offline
):
    base = push_fake_base(registry.host, f"{repo_name}-base", ("linux/amd64",))
    root = write_app(tmp_path / "app", image={"base": base})
    ref = f"{registry.host}/{repo_name}:1"
    missing = tmp_path / "nowhere.pem"
    code, _, err = _push_signed(capsys, root, ref, missing)
    assert code == 1
    assert f"error: {missing}: cannot read the signing key: No such file or directory" in err
    with pytest.raises(ToolError, match="manifest unknown"):
        skopeo_inspect_raw(ref)
