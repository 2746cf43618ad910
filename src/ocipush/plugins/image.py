"""Built-in plugin ``image``: a runnable image of the project from ``[tool.ocipush.image]``.

With the table present it builds the image (tryfirst, ahead of ``scratch``): the base's
layers (the configured base, or the default one), then the dependencies, the project's
wheel and the file layers of this run. Without the table it steps aside. See
:mod:`ocipush.image` for how each part is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocipush.errors import ConfigError, ConfigProblem
from ocipush.image import ImageBuilder, ImageSettings, parse_image_settings, resolve_base
from ocipush.image.assemble import project_wheel
from ocipush.image.default_base import default_base
from ocipush.oci.blobs import Blob
from ocipush.oci.images import Taggable
from ocipush.registry.remote import Remote
from ocipush.release.hookspecs import hookimpl
from ocipush.release.project import Project

NAME = "image"


def _settings(project: Project) -> ImageSettings | None:
    table = project.settings.plugin_tables.get(NAME)
    if table is None:
        return None
    settings, problems = parse_image_settings(table)
    if settings is None:
        raise ConfigError(problems, source=str(project.root / "pyproject.toml"))
    return settings


@hookimpl
def ocipush_validate(project: Project) -> list[ConfigProblem]:
    table = project.settings.plugin_tables.get(NAME)
    if table is None:
        return []
    settings, problems = parse_image_settings(table)
    requirements = settings.requirements if settings is not None else None
    if requirements is not None and not (project.root / requirements).is_file():
        problems.append(
            ConfigProblem(
                f"tool.ocipush.{NAME}.requirements",
                f'"{requirements}" — no such file under {project.root}; name a '
                "requirements or lock file relative to the project root",
            )
        )
    return problems


@hookimpl(tryfirst=True)
def ocipush_build_image(project: Project, layers: Sequence[Blob]) -> Taggable | None:
    settings = _settings(project)
    if settings is None:
        return None
    remote = Remote(project.transport())
    if settings.base:
        base = resolve_base(settings.base, remote)
    else:
        base = default_base(project_wheel(project), project.environ, remote)
    return ImageBuilder(project, settings, base, layers).build()
