"""One signed release of the sample app, pushed once for the supply-chain tests to inspect.

hello-app depends on greetlib (served from a local wheelhouse) and is built on a fake
two-platform base in the shared local registry, signed with an ECDSA P-256 key.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from attest.helpers import EPOCH, sha256, write_private_key, write_public_key
from image.sample import make_wheelhouse, push_fake_base, use_wheelhouse, write_app
from ocipush.cli import main
from support.tools import skopeo_inspect_raw

SIGNING_TABLE = '[tool.ocipush.signing]\nkey = "{env:OCIPUSH_SIGNING_KEY}"\n'


@dataclass(frozen=True)
class Release:
    host: str
    repository: str
    root: Path
    base: str
    private_key: Path
    public_key: Path
    index_digest: str

    @property
    def ref(self) -> str:
        return f"{self.host}/{self.repository}:1.0.0"


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    return make_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))


@pytest.fixture
def pip_offline(monkeypatch, wheelhouse):
    use_wheelhouse(monkeypatch, wheelhouse)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)


@pytest.fixture(scope="session")
def release(registry, wheelhouse, tmp_path_factory) -> Release:
    """hello-app 1.0.0 with its SBOMs and provenance, signed with an ECDSA P-256 key."""
    work = tmp_path_factory.mktemp("release")
    repository = "ocipush-tests/supply-chain-" + hashlib.sha256(str(work).encode()).hexdigest()[:8]
    key = ec.generate_private_key(ec.SECP256R1())
    private = write_private_key(work / "signing.pem", key)
    public = write_public_key(work / "signing.pub.pem", key)
    base = push_fake_base(registry.host, f"{repository}-base")
    ref = f"{registry.host}/{repository}:1.0.0"
    with pytest.MonkeyPatch.context() as patch:
        use_wheelhouse(patch, wheelhouse)
        patch.setenv("SOURCE_DATE_EPOCH", EPOCH)
        patch.setenv("OCIPUSH_SIGNING_KEY", str(private))
        root = write_app(
            work / "app", image={"base": base}, dependencies=("greetlib",), extra=SIGNING_TABLE
        )
        code = main(["push", "--no-progress", "--project", str(root), "--target", ref])
        assert code == 0
    digest = sha256(skopeo_inspect_raw(ref))
    return Release(registry.host, repository, root, base, private, public, digest)
