"""DSSE envelopes signed with a key, wrapped in Sigstore bundles (v0.3).

A DSSE signature is over the *pre-authentication encoding* (PAE) of the payload and its
type, never over the bare payload, so a signed statement cannot be replayed as something
else. Keys are ECDSA P-256 (SHA-256, DER signatures) or Ed25519, in PEM files. A key-signed
bundle carries no certificate and no transparency-log entry: only a hint naming the public
key (base64 of the SHA-256 of its SubjectPublicKeyInfo), as cosign writes for keys.

``cryptography`` is imported only when a key is read.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocipush.attest.intoto import BUNDLE_MEDIA_TYPE, INTOTO_MEDIA_TYPE, canonical_json
from ocipush.errors import SigningError, VerificationError

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import (
        PrivateKeyTypes,
        PublicKeyTypes,
    )

__all__ = [
    "KeySigner",
    "bundle_envelope",
    "key_hint",
    "load_public_key",
    "pae",
    "verify_envelope",
]

log = logging.getLogger(__name__)

_KEY_KINDS = "an ECDSA P-256 or Ed25519 private key in PEM"


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding of ``payload`` and its type."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def key_hint(public_key: PublicKeyTypes) -> str:
    """The bundle's hint for ``public_key``: base64 of the SHA-256 of its DER encoding."""
    import hashlib  # noqa: PLC0415

    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return _b64(hashlib.sha256(der).digest())


def _check_kind(key: PrivateKeyTypes | PublicKeyTypes, where: str) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: PLC0415

    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        if isinstance(key.curve, ec.SECP256R1):
            return
        raise SigningError(f"{where}: an ECDSA key on {key.curve.name}; use {_KEY_KINDS}")
    if isinstance(key, ed25519.Ed25519PrivateKey | ed25519.Ed25519PublicKey):
        return
    raise SigningError(f"{where}: a {type(key).__name__.lstrip('_')}; use {_KEY_KINDS}")


class KeySigner:
    """Signs statements with a private key, read once from a PEM file.

    The key is kept only in this object (never in its repr or in messages). A key file
    that other users may read gets a warning.
    """

    def __init__(self, path: Path) -> None:
        from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

        try:
            mode = path.stat().st_mode
            data = path.read_bytes()
        except OSError as error:
            raise SigningError(
                f"{path}: cannot read the signing key: {error.strerror}; check the path given "
                "by tool.ocipush.signing.key or --sign-key"
            ) from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("%s: the signing key can be read by other users; chmod 600 it", path)
        try:
            key = serialization.load_pem_private_key(data, password=None)
        except TypeError:
            raise SigningError(
                f"{path}: the signing key is encrypted; ocipush reads unencrypted PEM keys "
                "(keep the file private, e.g. in a CI secret)"
            ) from None
        except (ValueError, binascii.Error):
            raise SigningError(f"{path}: not {_KEY_KINDS}") from None
        _check_kind(key, str(path))
        self._key = key
        self._path = path
        self.hint = key_hint(key.public_key())

    def __repr__(self) -> str:
        return f"<KeySigner {self._path}>"

    def _signature(self, message: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
        from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: PLC0415

        if isinstance(self._key, ed25519.Ed25519PrivateKey):
            return self._key.sign(message)
        assert isinstance(self._key, ec.EllipticCurvePrivateKey)
        return self._key.sign(message, ec.ECDSA(hashes.SHA256()))

    def sign_statement(self, statement: bytes) -> bytes:
        """A Sigstore bundle holding a DSSE envelope over ``statement``."""
        envelope = {
            "payload": _b64(statement),
            "payloadType": INTOTO_MEDIA_TYPE,
            "signatures": [
                {"keyid": "", "sig": _b64(self._signature(pae(INTOTO_MEDIA_TYPE, statement)))}
            ],
        }
        return canonical_json(
            {
                "mediaType": BUNDLE_MEDIA_TYPE,
                "verificationMaterial": {"publicKey": {"hint": self.hint}, "tlogEntries": []},
                "dsseEnvelope": envelope,
            }
        )


def bundle_envelope(raw: bytes, where: str) -> Mapping[str, Any]:
    """The DSSE envelope of a bundle; :class:`VerificationError` if it has none."""
    try:
        envelope = json.loads(raw).get("dsseEnvelope")
    except (ValueError, AttributeError):
        envelope = None
    if not isinstance(envelope, dict):
        raise VerificationError(f"{where}: not a Sigstore bundle with a DSSE envelope")
    return envelope


def load_public_key(path: Path) -> PublicKeyTypes:
    """A PEM public key (ECDSA P-256 or Ed25519) for ``ocipush verify --key``."""
    from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except OSError as error:
        raise VerificationError(f"{path}: cannot read the public key: {error.strerror}") from None
    except (ValueError, binascii.Error):
        raise VerificationError(
            f"{path}: not a PEM public key; export it with "
            "`openssl pkey -in KEY.pem -pubout -out PUBLIC.pem`"
        ) from None
    try:
        _check_kind(key, str(path))
    except SigningError as error:
        raise VerificationError(str(error)) from None
    return key


def verify_envelope(envelope: Mapping[str, Any], public_key: PublicKeyTypes) -> bytes:
    """The payload of ``envelope`` once a signature by ``public_key`` over its PAE checks.

    :raises VerificationError: malformed, or no signature made by the key.
    """
    from cryptography.exceptions import InvalidSignature  # noqa: PLC0415
    from cryptography.hazmat.primitives import hashes  # noqa: PLC0415
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519  # noqa: PLC0415

    try:
        payload = base64.b64decode(envelope["payload"], validate=True)
        payload_type = str(envelope["payloadType"])
        signatures = [base64.b64decode(s["sig"], validate=True) for s in envelope["signatures"]]
    except (KeyError, TypeError, ValueError, binascii.Error):
        raise VerificationError("the DSSE envelope is malformed") from None
    message = pae(payload_type, payload)
    for signature in signatures:
        try:
            if isinstance(public_key, ed25519.Ed25519PublicKey):
                public_key.verify(signature, message)
            elif isinstance(public_key, ec.EllipticCurvePublicKey):
                public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            else:
                continue
        except InvalidSignature:
            continue
        return payload
    raise VerificationError("no signature in the envelope was made by this key")
