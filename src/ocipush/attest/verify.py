"""``ocipush verify``: check every signature attached to an image, list its attestations.

A signature is a Sigstore bundle referring to a manifest of the image (the image, its
index, a platform image). It passes when its DSSE envelope verifies (a key, or a Sigstore
identity) *and* the statement it signs names the manifest it is attached to. An
attestation (SBOM, provenance) is reported as signed when a passing bundle on the same
subject signs exactly its content.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ocipush.attest.dsse import bundle_envelope, load_public_key, verify_envelope
from ocipush.attest.intoto import BUNDLE_MEDIA_TYPE, INTOTO_MEDIA_TYPE, PREDICATE_TYPES
from ocipush.attest.keyless import verify_keyless
from ocipush.errors import OcipushError
from ocipush.oci.digest import Digest, digest_of
from ocipush.oci.images import Image
from ocipush.registry.referrers import Place, Referrer, walk_referrers

__all__ = ["Check", "VerifyReport", "key_check", "keyless_check", "verify"]

#: Checks a bundle's signature and returns the statement it signs (or raises).
BundleCheck = Callable[[bytes], bytes]


@dataclass(frozen=True)
class Check:
    """One referrer and what was found about it."""

    referrer: Referrer
    kind: str
    ok: bool
    detail: str

    def line(self) -> str:
        status = "ok  " if self.ok else "FAIL"
        descriptor = self.referrer.descriptor
        return (
            f"{status}  {self.kind:<11}  {descriptor.digest}  on {self.referrer.subject}  "
            f"{self.detail}"
        ).rstrip()


@dataclass
class VerifyReport:
    """Every signature checked and every attestation listed."""

    checks: list[Check] = field(default_factory=list)
    #: Failures tied to no one referrer.
    problems: list[str] = field(default_factory=list)

    @property
    def failures(self) -> list[str]:
        return [check.line() for check in self.checks if not check.ok] + self.problems

    @property
    def signatures(self) -> list[Check]:
        return [check for check in self.checks if check.kind == "signature"]

    def lines(self, name: str) -> list[str]:
        """One line per check, then one per problem, then the verdict on ``name``."""
        lines = [check.line() for check in self.checks]
        lines += [f"FAIL  {problem}" for problem in self.problems]
        if not self.failures:
            lines.append(f"verified: {len(self.signatures)} signature(s) on {name}")
        return lines


def key_check(public_key: Path) -> BundleCheck:
    """Bundles signed with the key whose public half is in PEM file ``public_key``."""
    key = load_public_key(public_key)
    return lambda raw: verify_envelope(bundle_envelope(raw, "the bundle"), key)


def keyless_check(identity: str, issuer: str, trust_config: Path | None) -> BundleCheck:
    """Keyless bundles whose certificate names ``identity``, vouched for by ``issuer``."""
    return lambda raw: verify_keyless(
        raw, identity=identity, issuer=issuer, trust_config=trust_config
    )


def _content(place: Place, referrer: Referrer) -> bytes:
    """The one layer of a referrer, checked against its digest."""
    artifact = place.read(referrer.descriptor.digest)
    if not isinstance(artifact, Image) or len(artifact.layers) != 1:
        raise OcipushError("not an artifact with one layer")
    layer = artifact.layers[0]
    with layer.open() as reader:
        data = reader.read()
    if layer.digest is not None and digest_of(data, layer.digest.algorithm) != layer.digest:
        raise OcipushError(f"its layer does not match its digest {layer.digest}")
    return data


def _statement_subjects(statement: Any) -> set[str]:
    subjects = statement.get("subject", []) if isinstance(statement, dict) else []
    return {
        f"{algorithm}:{value}"
        for entry in subjects
        if isinstance(entry, dict) and isinstance(entry.get("digest"), dict)
        for algorithm, value in entry["digest"].items()
    }


def verify(place: Place, check: BundleCheck, top: Digest) -> VerifyReport:
    """Check every bundle among the referrers of ``place``'s image.

    :param check: verifies one bundle's signature, returning the statement it signs.
    :param top: the digest the image itself is known by; it must carry a signature.
    """
    report = VerifyReport()
    # (subject, predicate type) -> statements that verified, to match attestations against.
    signed: dict[tuple[Digest, str], list[dict[str, Any]]] = {}
    attestations: list[tuple[Referrer, bytes | None, str]] = []
    for referrer in walk_referrers(place, place.root()):
        artifact_type = referrer.descriptor.artifact_type or ""
        if artifact_type == BUNDLE_MEDIA_TYPE:
            try:
                statement = json.loads(check(_content(place, referrer)))
                if str(referrer.subject) not in _statement_subjects(statement):
                    raise OcipushError(  # noqa: TRY301 (one report line per failure)
                        f"it signs {sorted(_statement_subjects(statement))}, not the manifest "
                        "it is attached to"
                    )
            except (OcipushError, ValueError) as error:
                report.checks.append(Check(referrer, "signature", False, str(error)))
                continue
            predicate_type = str(statement.get("predicateType", ""))
            signed.setdefault((referrer.subject, predicate_type), []).append(statement)
            report.checks.append(Check(referrer, "signature", True, predicate_type))
        elif artifact_type == INTOTO_MEDIA_TYPE or artifact_type in PREDICATE_TYPES:
            try:
                attestations.append((referrer, _content(place, referrer), artifact_type))
            except OcipushError as error:
                report.checks.append(Check(referrer, "attestation", False, str(error)))
    for referrer, data, artifact_type in attestations:
        report.checks.append(
            Check(
                referrer,
                "attestation",
                True,
                f"{artifact_type} {_coverage(signed, referrer, data)}",
            )
        )
    if not any(c.ok and c.referrer.subject == top for c in report.signatures):
        report.problems.append(f"{top} itself carries no valid signature")
    return report


def _coverage(
    signed: dict[tuple[Digest, str], list[dict[str, Any]]], referrer: Referrer, data: bytes | None
) -> str:
    """``signed`` when a verified statement on the same subject carries this content."""
    try:
        document = json.loads(data or b"")
    except ValueError:
        return "(unsigned)"
    artifact_type = referrer.descriptor.artifact_type or ""
    if artifact_type == INTOTO_MEDIA_TYPE:
        key = (referrer.subject, str(document.get("predicateType", "")))
        matches = [s for s in signed.get(key, []) if s == document]
    else:
        key = (referrer.subject, PREDICATE_TYPES[artifact_type])
        matches = [s for s in signed.get(key, []) if s.get("predicate") == document]
    return "signed" if matches else "(unsigned)"
