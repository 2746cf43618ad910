"""``[tool.ocipush.attestations]`` and ``[tool.ocipush.signing]``: parsed and checked.

Both tables are optional. Attestations default to a CycloneDX SBOM and SLSA provenance
whenever the ``image`` plugin builds a runnable image; signing is off unless a key or
keyless signing is configured (or ``--sign-key`` is given).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from ocipush.errors import ConfigProblem

__all__ = [
    "ATTESTATIONS",
    "SIGNING",
    "AttestationSettings",
    "SigningSettings",
    "parse_attestations",
    "parse_signing",
]

#: The plugins (and so the ``[tool.ocipush.<name>]`` tables) of this package.
ATTESTATIONS = "attestations"
SIGNING = "signing"

SbomFormat = Literal["cyclonedx", "spdx"]
_SBOM_FORMATS = ("cyclonedx", "spdx")


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


def _unknown(table: Mapping[str, Any], name: str, known: tuple[str, ...]) -> list[ConfigProblem]:
    return [
        ConfigProblem(
            f"tool.ocipush.{name}.{key}",
            f"unknown key; the keys of [tool.ocipush.{name}] are {', '.join(known)}",
        )
        for key in table
        if key not in known
    ]


def parse_attestations(
    table: Mapping[str, Any] | None,
) -> tuple[AttestationSettings, list[ConfigProblem]]:
    """The settings, and every problem with the table (settings are defaults where wrong)."""
    if table is None:
        return AttestationSettings(), []
    problems = _unknown(table, ATTESTATIONS, ("sbom", "provenance"))
    sbom: SbomFormat | Literal["default"] | None = "default"
    value = table.get("sbom", "default")
    if value is False:
        sbom = None
    elif value in _SBOM_FORMATS:
        sbom = value
    elif "sbom" in table:
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{ATTESTATIONS}.sbom",
                f'{value!r} — write "cyclonedx" (CycloneDX 1.6 JSON), "spdx" (SPDX 2.3 JSON) '
                "or false for no SBOM",
            )
        )
    provenance = table.get("provenance")
    if provenance is not None and not isinstance(provenance, bool):
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{ATTESTATIONS}.provenance",
                f"{provenance!r} — write true or false",
            )
        )
        provenance = None
    return AttestationSettings(sbom, provenance), problems


def parse_signing(table: Mapping[str, Any] | None) -> tuple[SigningSettings, list[ConfigProblem]]:
    """The settings, and every problem with the table."""
    if table is None:
        return SigningSettings(), []
    problems = _unknown(table, SIGNING, ("key", "keyless", "trust-config"))
    key = table.get("key")
    keyless = table.get("keyless", False)
    trust_config = table.get("trust-config")
    if key is not None and (not isinstance(key, str) or not key):
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{SIGNING}.key",
                f"{key!r} — write the path of a PEM private key (ECDSA P-256 or Ed25519), "
                'e.g. "{env:OCIPUSH_SIGNING_KEY}"',
            )
        )
        key = None
    if not isinstance(keyless, bool):
        problems.append(
            ConfigProblem(f"tool.ocipush.{SIGNING}.keyless", f"{keyless!r} — write true or false")
        )
        keyless = False
    if key is not None and keyless:
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{SIGNING}",
                "both key and keyless = true are set; choose one way to sign",
            )
        )
    if trust_config is not None and not isinstance(trust_config, str):
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{SIGNING}.trust-config",
                f"{trust_config!r} — write the path of a Sigstore client trust config (JSON)",
            )
        )
        trust_config = None
    return SigningSettings(key, keyless, trust_config), problems
