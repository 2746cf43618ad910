"""in-toto statements and the media types of what is attached to an image.

A statement says something (its predicate) about subjects named by digest. It is written
as compact JSON with sorted keys, so the same facts always give the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from ocipush.oci.digest import Digest

__all__ = [
    "BUNDLE_MEDIA_TYPE",
    "CYCLONEDX_MEDIA_TYPE",
    "INTOTO_MEDIA_TYPE",
    "PREDICATE_TYPES",
    "PREDICATE_TYPE_ANNOTATION",
    "PROVENANCE_PREDICATE",
    "SIGN_PREDICATE",
    "SPDX_MEDIA_TYPE",
    "STATEMENT_TYPE",
    "canonical_json",
    "statement",
    "subject",
]

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
#: The DSSE payload type of a statement, and the artifact type of a bare statement.
INTOTO_MEDIA_TYPE = "application/vnd.in-toto+json"
CYCLONEDX_MEDIA_TYPE = "application/vnd.cyclonedx+json"
SPDX_MEDIA_TYPE = "application/spdx+json"
BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
#: The predicate of a plain signature, as cosign 2.x writes it in its new bundle format.
SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"
PROVENANCE_PREDICATE = "https://slsa.dev/provenance/v1"
#: The predicate type a document of each artifact type becomes when it is signed.
PREDICATE_TYPES: Mapping[str, str] = {
    CYCLONEDX_MEDIA_TYPE: "https://cyclonedx.org/bom",
    SPDX_MEDIA_TYPE: "https://spdx.dev/Document",
}
#: Says on a bundle's manifest what it signs, as cosign does.
PREDICATE_TYPE_ANNOTATION = "dev.sigstore.bundle.predicateType"


def canonical_json(value: Any) -> bytes:
    """Compact JSON with sorted keys: one byte string per value."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def subject(name: str, digest: Digest) -> dict[str, Any]:
    """One statement subject: a name and a digest."""
    return {"name": name, "digest": {digest.algorithm: digest.encoded}}


def statement(
    subjects: Sequence[Mapping[str, Any]], predicate_type: str, predicate: Mapping[str, Any]
) -> bytes:
    """The bytes of an in-toto v1 statement."""
    return canonical_json(
        {
            "_type": STATEMENT_TYPE,
            "subject": list(subjects),
            "predicateType": predicate_type,
            "predicate": predicate,
        }
    )
