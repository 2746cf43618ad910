"""Built-in plugin ``artifacts``: ``[[tool.ocipush.artifacts]]`` as OCI artifact manifests.

Each file becomes a layer titled with its name; the config is the empty descriptor, and the
manifest's ``artifactType`` says what the set of files is. With ``subject``, the artifact is
attached to an image and listed among its referrers.

A file entry naming ``{wheel}`` or ``{sdist}`` that this run did not build (``python -m build
--wheel`` builds no sdist) is left out with a warning, and an artifact left with no files is
not pushed; with ``required = true`` the run stops instead.
"""

from __future__ import annotations

import dataclasses
import glob
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from ocipush.attest.artifact import EMPTY_CONFIG, TITLE
from ocipush.errors import ConfigError, ConfigProblem
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.media_types import is_valid_media_type
from ocipush.oci.model import Descriptor
from ocipush.oci.reference import parse_reference
from ocipush.registry.remote import Remote
from ocipush.release.config import check_tag
from ocipush.release.distributions import Distribution
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan, PushItem
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader, quote
from ocipush.release.sources import inside, outside_problem

log = logging.getLogger(__name__)

NAME = "artifacts"
#: The image of this run, when named as an artifact's subject.
IMAGE_SUBJECT = "image"


@dataclass(frozen=True)
class ArtifactConfig:
    """Files pushed as an OCI artifact. ``files``, annotation values, ``subject`` and ``tag``
    are templates.

    :ivar files: globs from the project root; ``{wheel}`` and ``{sdist}`` are the
        distributions just built.
    :ivar media_type: the media type of each file's layer; ``None`` leaves the choice to plugins.
    :ivar subject: ``"image"`` for the image pushed in the same run, or a reference.
    :ivar tag: the tag of the artifact manifest; ``None`` pushes it by digest only.
    :ivar required: whether a run that did not build a ``{wheel}``/``{sdist}`` it names must
        fail; otherwise such files (or the whole artifact) are left out with a note.
    :ivar allow_outside: whether ``files`` may name files outside the project root.
    """

    files: tuple[str, ...]
    artifact_type: str
    media_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    subject: str | None = None
    tag: str | None = None
    required: bool = False
    allow_outside: bool = False


@dataclass(frozen=True)
class ArtifactsSettings:
    """The ``[[tool.ocipush.artifacts]]`` of a project, in order."""

    artifacts: tuple[ArtifactConfig, ...] = ()

    def needed_distributions(self) -> frozenset[Distribution]:
        """The distributions the files name: ``{wheel}``, ``{sdist}``."""
        patterns = [pattern for artifact in self.artifacts for pattern in artifact.files]
        wanted: tuple[Distribution, ...] = ("wheel", "sdist")
        return frozenset(d for d in wanted if any(f"{{{d}}}" in p for p in patterns))


def _media_type(entry: ConfigReader, key: str, *, required: str = "") -> str | None:
    media_type = entry.string(key, required=required)
    if media_type is not None and not is_valid_media_type(media_type):
        entry.report(
            key,
            f"{quote(media_type)} — a media type is type/subtype, "
            'such as "application/vnd.acme.release.v1"',
        )
        return None
    return media_type


_KEYS = (
    "files",
    "artifact-type",
    "media-type",
    "annotations",
    "subject",
    "tag",
    "required",
    "allow-outside",
)


def read_artifact(entry: ConfigReader) -> ArtifactConfig:
    """One ``[[tool.ocipush.artifacts]]`` entry, its problems recorded on ``entry``."""
    entry.only_known(_KEYS)
    files = entry.strings(
        "files",
        required='a list of files or globs, such as ["{wheel}", "{sdist}"]',
        non_empty='at least one file or glob, such as "{wheel}"',
        each=lambda text, at: entry.template(text, at, files=True),
    )
    artifact_type = _media_type(
        entry, "artifact-type", required='a media type, such as "application/vnd.acme.release.v1"'
    )
    media_type = _media_type(entry, "media-type")
    annotations = entry.string_table("annotations", templates=True)
    subject = entry.string("subject")
    if subject is not None and subject != IMAGE_SUBJECT:
        entry.expanded(subject, entry.key_path("subject"), parse_reference)
    tag = entry.string("tag")
    if tag is not None:
        entry.expanded(tag, entry.key_path("tag"), check_tag, tag=True)
    return ArtifactConfig(
        files=files or (),
        artifact_type=artifact_type or "",
        media_type=media_type,
        annotations=MappingProxyType(annotations),
        subject=subject,
        tag=tag,
        required=entry.boolean("required"),
        allow_outside=entry.boolean("allow-outside"),
    )


@hookimpl
def ocipush_configure(config: ConfigReader) -> ArtifactsSettings:
    return ArtifactsSettings(tuple(read_artifact(entry) for entry in config.tables(NAME) or ()))


def _artifacts(project: Project) -> tuple[ArtifactConfig, ...]:
    settings = project.configured(NAME, ArtifactsSettings)
    return () if settings is None else settings.artifacts


def _problem(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, message)])


def _unbuilt(project: Project, pattern: str) -> str | None:
    """The distribution ``pattern`` names that this run did not build, if any."""
    for placeholder, built in (("{wheel}", project.wheel), ("{sdist}", project.sdist)):
        if placeholder in pattern and built is None:
            return placeholder[1:-1]
    return None


def _files(project: Project, config: ArtifactConfig, path: str) -> list[Path]:
    found: list[Path] = []
    release = f"{project.metadata.name} {project.metadata.version}"
    for number, pattern in enumerate(config.files):
        key = f"{path}.files[{number}]"
        missing = _unbuilt(project, pattern)
        if missing is not None and config.required:
            raise _problem(
                key,
                f'"{pattern}" — this run built no {missing} of {release}, and the artifact '
                f"is required; build both files (python -m build, or ocipush push), or set "
                f"{path}.required = false to publish without it",
            )
        if missing is not None:
            log.warning(
                "%s: %s left out — this run built no %s of %s", key, pattern, missing, release
            )
            continue
        expanded = project.expand(pattern, key)
        absolute = expanded if Path(expanded).is_absolute() else str(project.root / expanded)
        matches = sorted(Path(m) for m in glob.glob(absolute, recursive=True) if Path(m).is_file())
        if not matches:
            raise _problem(key, f'"{pattern}" matched no file under {project.root}')
        # The distributions of this run are meant, wherever the build frontend put them.
        distributions = {d.resolve() for d in (project.wheel, project.sdist) if d is not None}
        for match in matches:
            meant = config.allow_outside or match.resolve() in distributions
            if not meant and not inside(match, project.root):
                raise outside_problem(key, str(match), match, project.root)
        found += [m for m in matches if m not in found]
    return found


def _subject(
    project: Project, config: ArtifactConfig, image: Taggable | None, path: str
) -> Descriptor | None:
    if config.subject is None:
        return None
    if config.subject == IMAGE_SUBJECT:
        if image is None:
            raise _problem(
                f"{path}.subject",
                '"image" — this run builds no image; configure layers or an image, '
                "or name a reference as the subject",
            )
        return image.descriptor()
    ref = parse_reference(project.expand(config.subject, f"{path}.subject"))
    document = Remote(project.transport()).manifest(ref)
    return document.descriptor()


@hookimpl
def ocipush_add_artifacts(project: Project, image: Taggable | None) -> list[PushItem]:
    items = []
    for number, config in enumerate(_artifacts(project)):
        path = f"tool.ocipush.artifacts[{number}]"
        files = _files(project, config, path)
        if not files:
            log.warning(
                "%s (%s): not pushed — none of its files was built in this run",
                path,
                config.artifact_type,
            )
            continue
        layers = [
            FileBlob(
                file,
                config.media_type or project.file_media_type(file),
                annotations={TITLE: file.name},
            )
            for file in files
        ]
        annotations = {
            key: project.expand(value, f"{path}.annotations.{key}")
            for key, value in config.annotations.items()
        }
        artifact = Image(
            layers=layers,
            config=BytesBlob(EMPTY_CONFIG, mt.OCI_EMPTY),
            artifact_type=config.artifact_type,
            subject=_subject(project, config, image, path),
            annotations=annotations,
        )
        tags, skipped = project.release_tags(
            [(project.expand_tag(config.tag, f"{path}.tag"), config.tag)] if config.tag else []
        )
        items.append(
            PushItem(artifact, "artifact", tags, name=config.artifact_type, skipped_tags=skipped)
        )
    return items


@hookimpl
def ocipush_modify_plan(plan: Plan, project: Project) -> Plan | None:
    """Say which artifacts may take files from outside the project root."""
    notes = [
        f"artifact tool.ocipush.artifacts[{number}] ({config.artifact_type}) may take files "
        "from outside the project root (allow-outside = true)"
        for number, config in enumerate(_artifacts(project))
        if config.allow_outside
    ]
    return dataclasses.replace(plan, notes=(*plan.notes, *notes)) if notes else None
