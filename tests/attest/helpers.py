"""Keys, runs and independent reads of what a supply-chain test pushed."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from ocipush.cli import main
from support.tools import skopeo_copy, skopeo_inspect_raw

__all__ = [
    "EPOCH",
    "PrivateKey",
    "fetch_artifact",
    "referrers_of",
    "run",
    "sha256",
    "write_private_key",
    "write_public_key",
]

EPOCH = "1700000000"
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_private_key(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return path


def write_public_key(path: Path, key: PrivateKey) -> Path:
    path.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return path


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def referrers_of(host: str, repository: str, digest: str) -> list[dict]:
    """The fallback-tag index of ``digest``, read with skopeo (distribution 2.8 has no API)."""
    raw = skopeo_inspect_raw(f"{host}/{repository}:{digest.replace(':', '-')}")
    return json.loads(raw)["manifests"]


def fetch_artifact(host: str, repository: str, digest: str, into: Path) -> tuple[dict, bytes]:
    """The manifest and the one layer of an artifact, copied out with ``skopeo copy`` to a
    ``dir:`` directory (files named by digest) and checked against their digests."""
    target = into / digest.replace(":", "-")
    skopeo_copy(f"{host}/{repository}@{digest}", f"dir:{target}")
    manifest_raw = (target / "manifest.json").read_bytes()
    assert sha256(manifest_raw) == digest
    manifest = json.loads(manifest_raw)
    (layer,) = manifest["layers"]
    data = (target / layer["digest"].split(":", 1)[1]).read_bytes()
    assert sha256(data) == layer["digest"]
    return manifest, data
