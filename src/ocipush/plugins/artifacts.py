"""Built-in plugin ``artifacts``: ``[[tool.ocipush.artifacts]]`` as OCI artifact manifests.

Each file becomes a layer titled with its name; the config is the empty descriptor, and the
manifest's ``artifactType`` says what the set of files is. With ``subject``, the artifact is
attached to an image and listed among its referrers.
"""

from __future__ import annotations

import dataclasses
import glob
from pathlib import Path

from ocipush import media_types as mt
from ocipush.blobs import BytesBlob, FileBlob
from ocipush.config import IMAGE_SUBJECT, ArtifactConfig
from ocipush.errors import ConfigError, ConfigProblem
from ocipush.hookspecs import hookimpl
from ocipush.images import Image, Taggable
from ocipush.model import Descriptor
from ocipush.plan import Plan, PushItem
from ocipush.project import Project
from ocipush.reference import parse_reference
from ocipush.remote import Remote
from ocipush.sources import inside, outside_problem

TITLE = "org.opencontainers.image.title"
#: The empty JSON object, the config of every artifact (image-spec 1.1).
EMPTY_CONFIG = b"{}"


def _problem(path: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem(path, message)])


def _files(project: Project, config: ArtifactConfig, path: str) -> list[Path]:
    found: list[Path] = []
    for number, pattern in enumerate(config.files):
        key = f"{path}.files[{number}]"
        for placeholder, built in (("{wheel}", project.wheel), ("{sdist}", project.sdist)):
            if placeholder in pattern and built is None:
                raise _problem(
                    key,
                    f'"{pattern}" — no {placeholder[1:-1]} of {project.metadata.name} '
                    f"{project.metadata.version} was built in this run or found in "
                    f"{project.dist_dir}; build it first (python -m build) or publish through "
                    "the ocipush.backend build backend",
                )
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
        layers = [
            FileBlob(
                file,
                config.media_type or project.file_media_type(file),
                annotations={TITLE: file.name},
            )
            for file in _files(project, config, path)
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
        tags = (project.expand(config.tag, f"{path}.tag"),) if config.tag else ()
        items.append(PushItem(artifact, "artifact", tags, name=config.artifact_type))
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
