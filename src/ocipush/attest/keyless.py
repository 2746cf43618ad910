"""Sigstore keyless signing and verification, through the ``sigstore`` library.

Signing uses the CI's ambient OIDC identity (GitHub Actions, GitLab, Buildkite, Google
Cloud…, as ``sigstore``'s detection finds it) and never prompts: with no identity it is a
clear error. The short-lived certificate comes from Fulcio and the signature is entered in
Rekor, the public transparency log, which is why ``ocipush plan`` never signs.

``sigstore`` is an optional extra (``pip install 'ocipush[keyless]'``): it is imported only
here, and only when keyless signing or verification is asked for.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocipush.errors import OcipushError, SigningError, VerificationError

if TYPE_CHECKING:
    from sigstore.models import ClientTrustConfig

__all__ = ["KeylessSigner", "verify_keyless"]

_INSTALL = "keyless signing needs the sigstore library: pip install 'ocipush[keyless]'"
_NO_IDENTITY = (
    "keyless signing found no ambient OIDC identity; in GitHub Actions give the job "
    "`permissions: id-token: write`, in GitLab CI define an id_token named SIGSTORE_ID_TOKEN, "
    "or sign with a key (tool.ocipush.signing.key / --sign-key)"
)


def _require(error_type: type[OcipushError]) -> None:
    try:
        import sigstore  # noqa: F401, PLC0415
    except ImportError:
        raise error_type(_INSTALL) from None


def _reason(error: BaseException) -> str:
    # sigstore's errors can be empty; their class names mean nothing to a user.
    return str(error) or "the service refused and gave no reason"


def _trust_config(path: Path | None) -> ClientTrustConfig:
    from sigstore.models import ClientTrustConfig  # noqa: PLC0415

    if path is None:
        return ClientTrustConfig.production()
    return ClientTrustConfig.from_json(path.read_text(encoding="utf-8"))


class KeylessSigner:
    """Signs statements with a Fulcio certificate for the CI's identity.

    :param trust_config: a Sigstore client trust config for a private instance; the
        public-good instance when ``None``.
    """

    def __init__(self, *, trust_config: Path | None = None) -> None:
        _require(SigningError)
        self._trust_config = trust_config
        self._signer: Any = None
        self._context: Any = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return "<KeylessSigner>"

    def _open(self) -> Any:
        from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
        from sigstore.oidc import IdentityToken, detect_credential  # noqa: PLC0415
        from sigstore.sign import SigningContext  # noqa: PLC0415

        try:
            token = detect_credential()
        except SigstoreError as error:
            raise SigningError(f"{_NO_IDENTITY} (detection failed: {error})") from None
        if token is None:
            raise SigningError(_NO_IDENTITY)
        try:
            identity = IdentityToken(token)
            context = SigningContext.from_trust_config(_trust_config(self._trust_config))
        except (SigstoreError, OSError, ValueError) as error:
            raise SigningError(f"keyless signing failed: {_reason(error)}") from None
        try:
            # Entering the signer asks Fulcio for the certificate.
            self._context = context.signer(identity)
            return self._context.__enter__()
        except Exception as error:  # sigstore's client errors share no base class
            raise SigningError(
                "keyless signing failed getting a signing certificate from Fulcio: "
                f"{_reason(error)}"
            ) from None

    def sign_statement(self, statement: bytes) -> bytes:
        """A Sigstore bundle (certificate, DSSE envelope, Rekor entry) over ``statement``."""
        from sigstore.dsse import Statement  # noqa: PLC0415

        with self._lock:
            if self._signer is None:
                self._signer = self._open()
            try:
                bundle = self._signer.sign_dsse(Statement(statement))
            except Exception as error:  # sigstore's client errors share no base class
                raise SigningError(
                    f"keyless signing failed recording the signature in Rekor: {_reason(error)}"
                ) from None
        return bytes(bundle.to_json().encode())


def verify_keyless(
    raw: bytes, *, identity: str, issuer: str, trust_config: Path | None = None
) -> bytes:
    """The statement a keyless bundle signs, once certificate, identity and log entry check.

    :raises VerificationError: it does not verify, or ``sigstore`` is not installed.
    """
    _require(VerificationError)
    from sigstore.errors import Error as SigstoreError  # noqa: PLC0415
    from sigstore.models import Bundle  # noqa: PLC0415
    from sigstore.verify import Verifier  # noqa: PLC0415
    from sigstore.verify.policy import Identity  # noqa: PLC0415

    try:
        bundle = Bundle.from_json(raw)
        verifier = (
            Verifier.production()
            if trust_config is None
            else Verifier(trusted_root=_trust_config(trust_config).trusted_root)
        )
        _, payload = verifier.verify_dsse(bundle, Identity(identity=identity, issuer=issuer))
    except (SigstoreError, OSError, ValueError) as error:
        raise VerificationError(f"keyless verification failed: {error}") from None
    return bytes(payload)
