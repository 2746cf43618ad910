"""Software bills of materials of one platform image: CycloneDX 1.6 or SPDX 2.3, as JSON.

Made with the formats' own libraries (``cyclonedx-python-lib``, ``spdx-tools``), imported
only when an SBOM is made. What goes in: the project (its wheel's sha256), every
distribution of the dependency layer (version, ``pkg:pypi`` purl, wheel sha256, license
from its metadata) and the base image (``pkg:oci`` purl with its manifest digest).

The same inputs give the same bytes: the time is ``SOURCE_DATE_EPOCH``, components are
sorted, and the serial number (SPDX: the namespace) is derived from the rest of the content.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ocipush import __version__
from ocipush.attest.settings import SbomFormat
from ocipush.image.facts import BuildFacts
from ocipush.oci.digest import file_digest

if TYPE_CHECKING:
    from packageurl import PackageURL

__all__ = ["ProjectFacts", "make_sbom"]

_TOOL = "ocipush"


@dataclass(frozen=True)
class ProjectFacts:
    """The project as an SBOM names it: identity, license and its wheel's sha256."""

    name: str
    version: str
    license: str = ""
    wheel: Path | None = None

    @property
    def wheel_sha256(self) -> str | None:
        return file_digest(self.wheel)[0].encoded if self.wheel is not None else None


def _pypi_purl(name: str, version: str) -> PackageURL:
    from packageurl import PackageURL  # noqa: PLC0415 (only when an SBOM is made)

    return PackageURL(type="pypi", name=name.lower().replace("_", "-"), version=version)


def _oci_purl(facts: BuildFacts) -> PackageURL:
    from packageurl import PackageURL  # noqa: PLC0415

    assert facts.base_repository is not None
    assert facts.base_digest is not None
    return PackageURL(
        type="oci",
        name=facts.base_repository.rsplit("/", 1)[-1],
        version=str(facts.base_digest),
        qualifiers={"repository_url": facts.base_repository},
    )


def _content_uuid(content: bytes) -> uuid.UUID:
    return uuid.UUID(bytes=hashlib.sha256(content).digest()[:16], version=5)


def make_sbom(kind: SbomFormat, project: ProjectFacts, facts: BuildFacts, *, created: int) -> bytes:
    """The SBOM of one platform image, as JSON bytes.

    :param created: seconds since the epoch (``SOURCE_DATE_EPOCH``).
    """
    when = datetime.fromtimestamp(created, tz=timezone.utc)
    if kind == "spdx":
        return _spdx(project, facts, when)
    return _cyclonedx(project, facts, when)


# -- CycloneDX ------------------------------------------------------------------------------


def _cyclonedx(project: ProjectFacts, facts: BuildFacts, when: datetime) -> bytes:
    from cyclonedx.contrib.license.factories import LicenseFactory  # noqa: PLC0415
    from cyclonedx.model import HashAlgorithm, HashType, Property  # noqa: PLC0415
    from cyclonedx.model.bom import Bom  # noqa: PLC0415
    from cyclonedx.model.component import Component, ComponentType  # noqa: PLC0415
    from cyclonedx.output.json import JsonV1Dot6  # noqa: PLC0415

    licenses = LicenseFactory()

    def component(
        kind: ComponentType,
        name: str,
        version: str,
        purl: PackageURL,
        sha256: str | None,
        license_text: str | None,
    ) -> Component:
        return Component(
            type=kind,
            name=name,
            version=version,
            purl=purl,
            bom_ref=str(purl),
            hashes=[HashType(alg=HashAlgorithm.SHA_256, content=sha256)] if sha256 else [],
            licenses=[licenses.make_from_string(license_text)] if license_text else [],
        )

    root = component(
        ComponentType.APPLICATION,
        project.name,
        project.version,
        _pypi_purl(project.name, project.version),
        project.wheel_sha256,
        project.license,
    )
    parts = [
        component(
            ComponentType.LIBRARY,
            dependency.name,
            dependency.version,
            _pypi_purl(dependency.name, dependency.version),
            dependency.sha256,
            (facts.licenses or {}).get(dependency.name),
        )
        for dependency in facts.dependencies
    ]
    if facts.base_digest is not None and facts.base is not None:
        base = component(
            ComponentType.CONTAINER,
            facts.base,
            str(facts.base_digest),
            _oci_purl(facts),
            facts.base_digest.encoded if facts.base_digest.algorithm == "sha256" else None,
            None,
        )
        parts.append(base)

    def render(serial: uuid.UUID) -> str:
        bom = Bom(serial_number=serial, components=parts)
        bom.metadata.timestamp = when
        bom.metadata.component = root
        bom.metadata.tools.components.add(
            Component(type=ComponentType.APPLICATION, name=_TOOL, version=__version__)
        )
        if facts.platform is not None:
            bom.metadata.properties.add(
                Property(name="ocipush:platform", value=str(facts.platform))
            )
        bom.register_dependency(root, parts)
        return JsonV1Dot6(bom).output_as_string(indent=2)

    draft = render(uuid.UUID(int=0))
    return render(_content_uuid(draft.encode())).encode()


# -- SPDX -----------------------------------------------------------------------------------


def _spdx(project: ProjectFacts, facts: BuildFacts, when: datetime) -> bytes:
    import io  # noqa: PLC0415

    from spdx_tools.common.spdx_licensing import spdx_licensing  # noqa: PLC0415
    from spdx_tools.spdx.model import (  # noqa: PLC0415
        Actor,
        ActorType,
        Checksum,
        ChecksumAlgorithm,
        CreationInfo,
        Document,
        ExternalPackageRef,
        ExternalPackageRefCategory,
        Package,
        PackagePurpose,
        Relationship,
        RelationshipType,
        SpdxNoAssertion,
    )
    from spdx_tools.spdx.writer.json.json_writer import write_document_to_stream  # noqa: PLC0415

    def declared(text: str | None) -> Any:
        if text and not spdx_licensing.validate(text).errors:
            return spdx_licensing.parse(text)
        return SpdxNoAssertion()

    def package(
        spdx_id: str,
        name: str,
        version: str,
        purl: PackageURL,
        sha256: str | None,
        license_text: str | None,
        location: str | None,
        purpose: PackagePurpose,
    ) -> Package:
        return Package(
            spdx_id=spdx_id,
            name=name,
            download_location=location or SpdxNoAssertion(),
            version=version,
            files_analyzed=False,
            checksums=[Checksum(ChecksumAlgorithm.SHA256, sha256)] if sha256 else [],
            license_declared=declared(license_text),
            license_concluded=SpdxNoAssertion(),
            copyright_text=SpdxNoAssertion(),
            external_references=[
                ExternalPackageRef(ExternalPackageRefCategory.PACKAGE_MANAGER, "purl", str(purl))
            ],
            primary_package_purpose=purpose,
        )

    root = package(
        "SPDXRef-Project",
        project.name,
        project.version,
        _pypi_purl(project.name, project.version),
        project.wheel_sha256,
        project.license,
        None,
        PackagePurpose.APPLICATION,
    )
    packages = [root]
    for number, dependency in enumerate(facts.dependencies):
        packages.append(
            package(
                f"SPDXRef-Dependency-{number}",
                dependency.name,
                dependency.version,
                _pypi_purl(dependency.name, dependency.version),
                dependency.sha256,
                (facts.licenses or {}).get(dependency.name),
                dependency.url if dependency.url.startswith("https:") else None,
                PackagePurpose.LIBRARY,
            )
        )
    if facts.base_digest is not None and facts.base is not None:
        packages.append(
            package(
                "SPDXRef-Base",
                facts.base,
                str(facts.base_digest),
                _oci_purl(facts),
                facts.base_digest.encoded if facts.base_digest.algorithm == "sha256" else None,
                None,
                None,
                PackagePurpose.CONTAINER,
            )
        )
    relationships = [Relationship("SPDXRef-DOCUMENT", RelationshipType.DESCRIBES, root.spdx_id)]
    relationships += [
        Relationship(root.spdx_id, RelationshipType.DEPENDS_ON, other.spdx_id)
        for other in packages[1:]
    ]

    def render(namespace: str) -> str:
        document = Document(
            CreationInfo(
                spdx_version="SPDX-2.3",
                spdx_id="SPDXRef-DOCUMENT",
                name=f"{project.name}-{project.version}"
                + (f"-{facts.platform}".replace("/", "-") if facts.platform else ""),
                document_namespace=namespace,
                creators=[Actor(ActorType.TOOL, f"{_TOOL}-{__version__}")],
                created=when,
            ),
            packages=packages,
            relationships=relationships,
        )
        out = io.StringIO()
        write_document_to_stream(document, out, validate=False)
        return out.getvalue()

    prefix = f"https://spdx.org/spdxdocs/{project.name}-{project.version}-"
    draft = render(prefix + str(uuid.UUID(int=0)))
    return render(prefix + str(_content_uuid(draft.encode()))).encode()
