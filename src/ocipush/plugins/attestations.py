"""Built-in plugin ``attestations``: an SBOM per platform image and SLSA provenance.

``[tool.ocipush.attestations]`` chooses them; by default a runnable image (built by the
``image`` plugin) gets a CycloneDX SBOM per platform image and one provenance statement
over the image and its platform images. Each is an artifact referring to what it
describes, so registries list it among that manifest's referrers (API or fallback tag).
See :mod:`ocipush.attest` for how each document is made.
"""

from __future__ import annotations

from ocipush.attest.artifact import TITLE, attached, subject_of
from ocipush.attest.intoto import CYCLONEDX_MEDIA_TYPE, INTOTO_MEDIA_TYPE, SPDX_MEDIA_TYPE
from ocipush.attest.provenance import BuildInputs, make_provenance
from ocipush.attest.sbom import ProjectFacts, make_sbom
from ocipush.attest.settings import ATTESTATIONS, AttestationSettings, read_attestations
from ocipush.errors import ConfigError, ConfigProblem
from ocipush.image.config import git_remote, git_revision, timestamp
from ocipush.image.facts import BuiltImage, facts_of
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image, ImageIndex, Taggable
from ocipush.oci.layers import source_date_epoch
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import PushItem
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader

NAME = ATTESTATIONS
_CREATED = "org.opencontainers.image.created"


@hookimpl
def ocipush_configure(config: ConfigReader) -> AttestationSettings | None:
    """Read ``[tool.ocipush.attestations]``; without it, the defaults apply."""
    table = config.table(NAME)
    return None if table is None else read_attestations(table)


def _platform_images(image: Taggable) -> list[Image]:
    if isinstance(image, ImageIndex):
        return [node for node in image.walk() if isinstance(node, Image)]
    return [image]


@hookimpl
def ocipush_add_artifacts(project: Project, image: Taggable | None) -> list[PushItem]:
    if image is None:
        return []
    settings = project.configured(NAME, AttestationSettings) or AttestationSettings()
    images = _platform_images(image)
    runnable = any(isinstance(node, BuiltImage) for node in images)
    sbom = settings.sbom if settings.sbom != "default" else ("cyclonedx" if runnable else None)
    provenance = settings.provenance if settings.provenance is not None else runnable
    if not (sbom or provenance):
        return []
    if any(node.streaming for node in images):
        raise ConfigError(
            [
                ConfigProblem(
                    f"tool.ocipush.{NAME}",
                    "the image has streamed layers, whose digests are known only after "
                    "upload, so nothing can name it yet; set sbom = false and "
                    "provenance = false, or build the layers as files",
                )
            ]
        )
    created = source_date_epoch(dict(project.environ))
    annotations = {_CREATED: timestamp(created)}
    metadata = project.metadata
    facts = ProjectFacts(metadata.name, metadata.version, metadata.license, project.wheel)
    items: list[PushItem] = []
    if sbom:
        media_type = SPDX_MEDIA_TYPE if sbom == "spdx" else CYCLONEDX_MEDIA_TYPE
        suffix = "spdx.json" if sbom == "spdx" else "cdx.json"
        for node in images:
            platform = node.platform
            document = make_sbom(sbom, facts, facts_of(node), created=created)
            title = f"{metadata.name}-{metadata.version}" + (
                f"-{str(platform).replace('/', '-')}" if platform else ""
            )
            layer = BytesBlob(document, media_type, annotations={TITLE: f"{title}.{suffix}"})
            items.append(
                PushItem(
                    attached(layer, subject_of(node), annotations=annotations),
                    f"sbom {platform}" if platform else "sbom",
                    name=f"{sbom} SBOM",
                )
            )
    if provenance:
        subjects = [(metadata.name, image.descriptor().digest)]
        if isinstance(image, ImageIndex):
            subjects += [
                (f"{metadata.name}@{node.platform}", node.descriptor().digest) for node in images
            ]
        inputs = BuildInputs(
            project=facts,
            targets=tuple(
                project.expand(target.ref, f"tool.ocipush.targets[{number}].ref")
                for number, target in enumerate(project.settings.targets)
            ),
            image_config=project.settings.plugin_tables.get("image", {}),
            revision=git_revision(project.root),
            remote=git_remote(project.root),
            created=created,
            environ=project.environ,
        )
        document = make_provenance(subjects, inputs, [facts_of(node) for node in images])
        layer = BytesBlob(
            document, INTOTO_MEDIA_TYPE, annotations={TITLE: f"{metadata.name}.provenance.json"}
        )
        items.append(
            PushItem(
                attached(layer, subject_of(image), annotations=annotations),
                "provenance",
                name="SLSA provenance",
            )
        )
    return items
