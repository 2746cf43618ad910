"""Built-in plugin ``signing``: Sigstore bundles over the image and its attestations.

With ``[tool.ocipush.signing] key`` (or ``--sign-key``) statements are signed with that
key, offline; with ``keyless = true`` through Sigstore with the CI's identity. The image
gets a bundle over a statement naming its digest (predicate
``https://sigstore.dev/cosign/sign/v1``, as cosign 2.x writes it), and each SBOM and
provenance document gets a bundle over it as an in-toto statement about the same subject.
Bundles are attached as referrers of the manifest they speak about.

Signatures are made after the plan is shown, just before anything is written
(:class:`~ocipush.oci.blobs.DeferredBlob`): ``ocipush plan`` never signs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

from ocipush.attest.artifact import attached, subject_of
from ocipush.attest.intoto import (
    BUNDLE_MEDIA_TYPE,
    INTOTO_MEDIA_TYPE,
    PREDICATE_TYPE_ANNOTATION,
    PREDICATE_TYPES,
    SIGN_PREDICATE,
    statement,
    subject,
)
from ocipush.attest.settings import SIGNING, SigningSettings, read_signing
from ocipush.oci.blobs import DeferredBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.model import Descriptor
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import PushItem
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader

NAME = SIGNING
_CONTENT_ANNOTATION = "dev.sigstore.bundle.content"


class _Signer(Protocol):
    def sign_statement(self, statement: bytes) -> bytes: ...


@hookimpl
def ocipush_configure(config: ConfigReader) -> SigningSettings | None:
    """Read ``[tool.ocipush.signing]`` (or what ``--sign-key``/``--no-sign`` put there)."""
    table = config.table(NAME)
    if table is None:
        return None
    settings = read_signing(table)
    if settings.keyless:
        try:
            import sigstore  # noqa: F401, PLC0415
        except ImportError:
            table.report(
                "keyless",
                "true — keyless signing needs the sigstore library: pip install 'ocipush[keyless]'",
            )
    return settings


def _signer(project: Project, settings: SigningSettings) -> _Signer:
    if settings.key is not None:
        from ocipush.attest.dsse import KeySigner  # noqa: PLC0415

        path = Path(project.expand(settings.key, f"tool.ocipush.{NAME}.key"))
        return KeySigner(path if path.is_absolute() else project.root / path)
    from ocipush.attest.keyless import KeylessSigner  # noqa: PLC0415

    trust = settings.trust_config
    return KeylessSigner(trust_config=None if trust is None else project.root / trust)


def _bundle(
    signer: _Signer, document: bytes, target: Descriptor, predicate_type: str, what: str
) -> Image:
    layer = DeferredBlob(
        lambda: signer.sign_statement(document),
        BUNDLE_MEDIA_TYPE,
        name=f"signature over the {what}, made at push time",
    )
    annotations = {PREDICATE_TYPE_ANNOTATION: predicate_type, _CONTENT_ANNOTATION: "dsse-envelope"}
    return attached(layer, target, annotations=annotations)


def _attested(item: PushItem, name: str) -> tuple[bytes, Descriptor, str] | None:
    """The statement an attestation item amounts to (its subject called ``name``), the
    subject's descriptor and the predicate type."""
    artifact = item.item
    if not isinstance(artifact, Image) or len(artifact.layers) != 1:
        return None
    subject_descriptor = artifact.manifest().subject
    layer = artifact.layers[0]
    if subject_descriptor is None or layer.digest is None:
        return None
    if layer.media_type == INTOTO_MEDIA_TYPE:
        with layer.open() as reader:
            document = reader.read()
        return document, subject_descriptor, str(json.loads(document).get("predicateType", ""))
    predicate_type = PREDICATE_TYPES.get(layer.media_type)
    if predicate_type is None:
        return None
    with layer.open() as reader:
        predicate = json.loads(reader.read())
    named = [subject(name, subject_descriptor.digest)]
    return statement(named, predicate_type, predicate), subject_descriptor, predicate_type


@hookimpl
def ocipush_add_signatures(
    project: Project, image: Taggable | None, items: Sequence[PushItem]
) -> list[PushItem]:
    settings = project.configured(NAME, SigningSettings) or SigningSettings()
    if image is None or not settings.enabled:
        return []
    signer = _signer(project, settings)  # the key is read here, once per run
    top = subject_of(image)
    signed = statement([subject(project.metadata.name, top.digest)], SIGN_PREDICATE, {})
    out = [
        PushItem(
            _bundle(signer, signed, top, SIGN_PREDICATE, "image"),
            "signature",
            name="image signature",
        )
    ]
    for item in items:
        found = _attested(item, project.metadata.name)
        if found is None:
            continue
        document, target, predicate_type = found
        out.append(
            PushItem(
                _bundle(signer, document, target, predicate_type, item.role),
                f"signature {item.role}",
                name=f"signature over the {item.name or item.role}",
            )
        )
    return out
