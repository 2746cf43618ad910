"""``ocipush referrers`` and the supply-chain configuration."""

from __future__ import annotations

import json

from attest.helpers import run
from ocipush.oci import media_types as mt
from support.proxy import Respond, Rule


def test_registry_with_a_referrers_api_is_asked_through_it(release, proxy_factory, capsys):
    """Distribution 2.8 has no referrers API, so its answer is injected by a proxy in front
    of the real registry: the listing must come from the API, not the fallback tag."""
    proxy = proxy_factory(f"http://{release.host}")
    descriptor = {
        "mediaType": mt.OCI_MANIFEST,
        "digest": "sha256:" + "ab" * 32,
        "size": 123,
        "artifactType": "application/vnd.example.api+json",
    }
    body = json.dumps({"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": [descriptor]})
    api = proxy.add_rule(
        Rule(
            Respond(200, {"Content-Type": mt.OCI_INDEX}, body.encode()),
            method="GET",
            path=r"/referrers/",
            times=None,
        )
    )

    code, out, err = run(capsys, "referrers", "--json", f"{proxy.host}/{release.repository}:1.0.0")

    assert code == 0, err
    listed = json.loads(out)
    # The index and its two platform images each answered with the one injected entry, and
    # that entry was asked for its own referrers once.
    assert api.fired == 4
    assert {r["digest"] for r in listed} == {descriptor["digest"]}
    assert proxy.count("GET", r"/manifests/sha256-") == 0


def test_referrers_lists_the_release_in_a_table(release, capsys):
    code, out, err = run(capsys, "referrers", release.ref)

    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 7
    assert sum("application/vnd.dev.sigstore.bundle.v0.3+json" in line for line in lines) == 4
    assert any(line.endswith("https://sigstore.dev/cosign/sign/v1") for line in lines)


def test_bad_attestation_and_signing_settings_are_reported_together(tmp_path, capsys):
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\n'
        '[tool.ocipush.attestations]\nsbom = "swid"\nprovenance = "yes"\n'
        '[tool.ocipush.signing]\nkey = "k.pem"\nkeyless = true\n'
    )

    code, _, err = run(capsys, "plan", "--project", str(tmp_path))

    assert code == 2
    assert 'tool.ocipush.attestations.sbom: "swid" — expected "cyclonedx"' in err
    assert "tool.ocipush.attestations.provenance: expected a boolean, got a string" in err
    assert "tool.ocipush.signing: both key and keyless = true are set" in err


def test_verify_needs_a_key_or_an_identity(release, capsys):
    code, _, err = run(capsys, "verify", release.ref)

    assert code == 2
    assert "verify needs --key PUBLIC.pem, or --certificate-identity" in err
