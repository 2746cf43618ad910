"""A throwaway certificate authority for TLS tests.

:func:`make_pki` writes a CA, a server certificate for ``127.0.0.1``, ``::1`` and
``localhost``, and a client certificate. The directory follows the containers ``certs.d``
convention (``ca.crt``; ``client.cert`` + ``client.key``), so it can be passed as skopeo's
``--cert-dir``; the server pair sits in a subdirectory that such tools do not read.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["Pki", "make_pki"]

# Short-lived yet immune to clock skew between the test and the server.
_VALID_BEFORE = datetime.timedelta(days=1)
_VALID_FOR = datetime.timedelta(days=7)


@dataclass(frozen=True)
class Pki:
    """Paths of everything :func:`make_pki` wrote (all PEM)."""

    cert_dir: Path
    ca_cert: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @property
    def server_pair(self) -> tuple[Path, Path]:
        """``(certificate, key)``, the shape ``LocalRegistry(tls=...)`` takes."""
        return self.server_cert, self.server_key

    def client_context(self) -> ssl.SSLContext:
        """A client context that trusts only this CA."""
        return ssl.create_default_context(cafile=str(self.ca_cert))


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "ocipush tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _issue(
    common_name: str,
    key: ec.EllipticCurvePrivateKey,
    ca: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    extensions: list[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name, signing_key = (ca[0].subject, ca[1]) if ca else (_name(common_name), key)
    issuer_public = signing_key.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _VALID_BEFORE)
        .not_valid_after(now + _VALID_FOR)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public), critical=False
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(signing_key, hashes.SHA256())


def _usage(*, signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )


def make_pki(directory: Path) -> Pki:
    """Create the CA, a server and a client certificate in ``directory`` (created if needed)."""
    server_dir = directory / "server"
    server_dir.mkdir(parents=True, exist_ok=True)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _issue(
        "ocipush test CA",
        ca_key,
        None,
        [
            (x509.BasicConstraints(ca=True, path_length=0), True),
            (_usage(signs_certificates=True), True),
        ],
    )
    leaf = [(x509.BasicConstraints(ca=False, path_length=None), True)]
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = _issue(
        "127.0.0.1",
        server_key,
        (ca_cert, ca_key),
        [
            *leaf,
            (_usage(signs_certificates=False), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
            (
                x509.SubjectAlternativeName(
                    [
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                        x509.IPAddress(ipaddress.ip_address("::1")),
                        x509.DNSName("localhost"),
                    ]
                ),
                False,
            ),
        ],
    )
    client_key = ec.generate_private_key(ec.SECP256R1())
    client_cert = _issue(
        "ocipush test client",
        client_key,
        (ca_cert, ca_key),
        [
            *leaf,
            (_usage(signs_certificates=False), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        ],
    )
    pki = Pki(
        cert_dir=directory,
        ca_cert=directory / "ca.crt",
        server_cert=server_dir / "server.crt",
        server_key=server_dir / "server.key",
        client_cert=directory / "client.cert",
        client_key=directory / "client.key",
    )
    for certificate, path in (
        (ca_cert, pki.ca_cert),
        (server_cert, pki.server_cert),
        (client_cert, pki.client_cert),
    ):
        path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_key(server_key, pki.server_key)
    _write_key(client_key, pki.client_key)
    return pki
