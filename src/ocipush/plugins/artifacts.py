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
from pathlib import Path

from ocipush.attest.artifact import EMPTY_CONFIG, TITLE
from ocipush.errors import ConfigError, ConfigProblem
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob, FileBlob
from ocipush.oci.images import Image, Taggable
from ocipush.oci.model import Descriptor
from ocipush.oci.reference import parse_reference
from ocipush.registry.remote import Remote
from ocipush.release.config import IMAGE_SUBJECT, ArtifactConfig
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import Plan, PushItem
from ocipush.release.project import Project
from ocipush.release.sources import inside, outside_problem

log = logging.getLogger(__name__)


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
    for number, config in enumerate(project.settings.artifacts):
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
        for number, config in enumerate(project.settings.artifacts)
        if config.allow_outside
    ]
    return dataclasses.replace(plan, notes=(*plan.notes, *notes)) if notes else None
