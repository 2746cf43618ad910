"""Built-in plugin ``image``: a runnable image of the project from ``[tool.ocipush.image]``.

It owns that table. With the table present it builds the image (tryfirst, ahead of
``scratch``): the base's layers (the configured base, or the default one), then the
dependencies, the project's wheel and the file layers of this run. Without the table it
steps aside. See :mod:`ocipush.image` for how each part is made.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocipush.image import ImageBuilder, ImageSettings, resolve_base
from ocipush.image.assemble import project_wheel
from ocipush.image.default_base import default_base
from ocipush.image.settings import read_image_settings
from ocipush.oci.blobs import Blob
from ocipush.oci.images import Taggable
from ocipush.registry.remote import Remote
from ocipush.release.hookspecs import hookimpl
from ocipush.release.project import Project
from ocipush.release.reader import ConfigReader

NAME = "image"


@hookimpl
def ocipush_configure(project: Project, config: ConfigReader) -> ImageSettings | None:
    """Read ``[tool.ocipush.image]``; without it the plugin steps aside."""
    table = config.table(NAME)
    if table is None:
        return None
    problems_before = len(config.problems)
    settings = read_image_settings(table)
    requirements = settings.requirements
    if requirements is not None and not (project.root / requirements).is_file():
        table.report(
            "requirements",
            f'"{requirements}" — no such file under {project.root}; name a '
            "requirements or lock file relative to the project root",
        )
    return settings if len(config.problems) == problems_before else None


@hookimpl(tryfirst=True)
def ocipush_build_image(project: Project, layers: Sequence[Blob]) -> Taggable | None:
    settings = project.configured(NAME, ImageSettings)
    if settings is None:
        return None
    remote = Remote(project.transport())
    if settings.base:
        base = resolve_base(settings.base, remote)
    else:
        base = default_base(project_wheel(project), project.environ, remote)
    return ImageBuilder(project, settings, base, layers).build()
