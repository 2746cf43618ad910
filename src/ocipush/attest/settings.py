"""``[tool.ocipush.attestations]`` and ``[tool.ocipush.signing]``: read with the one config
reader (:class:`~ocipush.release.reader.ConfigReader`), every problem recorded on it.

Both tables are optional. Attestations default to a CycloneDX SBOM and SLSA provenance
whenever the ``image`` plugin builds a runnable image; signing is off unless a key or
keyless signing is configured (or ``--sign-key`` is given).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ocipush.release.reader import ConfigReader, quote, type_name

__all__ = [
    "ATTESTATIONS",
    "SIGNING",
    "AttestationSettings",
    "SigningSettings",
    "read_attestations",
    "read_signing",
]

#: The plugins (and so the ``[tool.ocipush.<name>]`` tables) of this package.
ATTESTATIONS = "attestations"
SIGNING = "signing"

SbomFormat = Literal["cyclonedx", "spdx"]
_SBOM_FORMATS: tuple[SbomFormat, ...] = ("cyclonedx", "spdx")
_SBOM_EXPECTED = '"cyclonedx" (CycloneDX 1.6 JSON), "spdx" (SPDX 2.3 JSON) or false for no SBOM'
_KEY_EXPECTED = (
    "the path of a PEM private key (ECDSA P-256 or Ed25519) as a string, "
    'such as "{env:OCIPUSH_SIGNING_KEY}"'
)
_TRUST_EXPECTED = "the path of a Sigstore client trust config (JSON) as a string"


@dataclass(frozen=True)
class AttestationSettings:
    """``sbom``: the format or ``None`` for none; ``provenance``: whether to attach it.
    ``None`` for either means "not configured": on for runnable images."""

    sbom: SbomFormat | Literal["default"] | None = "default"
    provenance: bool | None = None


@dataclass(frozen=True)
class SigningSettings:
    """``key``: a template naming a PEM private key; ``keyless``: Sigstore with the CI's
    identity; ``trust_config``: a Sigstore client trust config file for a private instance."""

    key: str | None = None
    keyless: bool = False
    trust_config: str | None = None

    @property
    def enabled(self) -> bool:
        return self.key is not None or self.keyless


def _sbom(table: ConfigReader) -> SbomFormat | Literal["default"] | None:
    if "sbom" not in table:
        return "default"
    value = table.raw("sbom")
    if value is False:
        return None
    found = next((name for name in _SBOM_FORMATS if value == name), None)
    if found is None:
        if isinstance(value, str | bool):
            table.report("sbom", f"{quote(value)} — expected {_SBOM_EXPECTED}")
        else:
            table.report("sbom", f"expected {_SBOM_EXPECTED}, got {type_name(value)}")
        return "default"
    return found


def read_attestations(table: ConfigReader) -> AttestationSettings:
    """Read ``[tool.ocipush.attestations]``; problems are recorded on ``table``."""
    table.only_known(("sbom", "provenance"))
    provenance: bool | None = table.value("provenance", "a boolean")
    return AttestationSettings(_sbom(table), provenance)


def _path(table: ConfigReader, key: str, expected: str) -> str | None:
    """A non-empty string naming a file."""
    text: str | None = table.value(key, "a string", expected=expected)
    if text == "":
        table.report(key, '"" — must not be empty')
        return None
    return text


def read_signing(table: ConfigReader) -> SigningSettings:
    """Read ``[tool.ocipush.signing]``; problems are recorded on ``table``."""
    table.only_known(("key", "keyless", "trust-config"))
    key = _path(table, "key", _KEY_EXPECTED)
    if key is not None:
        table.template(key, table.key_path("key"))
    keyless = table.boolean("keyless")
    if key is not None and keyless:
        table.report("", "both key and keyless = true are set; choose one way to sign")
    return SigningSettings(key, keyless, _path(table, "trust-config", _TRUST_EXPECTED))
