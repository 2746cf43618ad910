"""Supply chain: SBOMs, provenance and signatures attached to images, and checking them.

``settings`` reads the tables, ``sbom`` and ``provenance`` make the documents, ``intoto``
the statements, ``dsse`` and ``keyless`` sign and verify, ``verify`` checks an image's
referrers, ``artifact`` wraps a document as an artifact referring to its subject. The
built-in plugins ``attestations`` and ``signing`` put them to work.
"""

from ocipush.attest.settings import AttestationSettings, SigningSettings

__all__ = ["AttestationSettings", "SigningSettings"]
