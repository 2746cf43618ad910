"""Images of Python projects: a base, the dependencies, the app, one image per platform."""

from ocipush.image.assemble import DEFAULT_PLATFORM, ImageBuilder
from ocipush.image.base import BaseImage, ResolvedBase, resolve_base
from ocipush.image.errors import BaseImageError, DependencyError, ImageError, MissingWheelError
from ocipush.image.python import PythonRuntime, detect_python
from ocipush.image.settings import SCRATCH, ImageSettings, parse_image_settings

__all__ = [
    "DEFAULT_PLATFORM",
    "SCRATCH",
    "BaseImage",
    "BaseImageError",
    "DependencyError",
    "ImageBuilder",
    "ImageError",
    "ImageSettings",
    "MissingWheelError",
    "PythonRuntime",
    "ResolvedBase",
    "detect_python",
    "parse_image_settings",
    "resolve_base",
]
