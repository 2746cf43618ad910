"""Errors of image building: each names the input, what is wrong and what to do."""

from __future__ import annotations

from ocipush.errors import OcipushError

__all__ = [
    "BaseImageError",
    "DependencyError",
    "ImageError",
    "MissingWheelError",
    "WheelInstallError",
]


class ImageError(OcipushError):
    """The project's image cannot be built as configured."""


class WheelInstallError(ImageError):
    """A wheel cannot be installed into the image (or, read again, no longer holds what was
    installed)."""

    def __init__(self, wheel_name: str, why: object) -> None:
        super().__init__(f"{wheel_name}: cannot be installed into the image: {why}")


class BaseImageError(ImageError):
    """The base image cannot be used: bad reference, missing platform, unusable config."""


class DependencyError(ImageError):
    """The project's dependencies cannot be resolved or installed for a platform."""


class MissingWheelError(DependencyError):
    """A dependency has no wheel for a platform (so that platform cannot be built).

    :ivar requirement: the dependency pip could not find a wheel for.
    :ivar platform: the platform, as ``os/arch[/variant]``.
    """

    def __init__(self, message: str, *, requirement: str, platform: str) -> None:
        super().__init__(message)
        self.requirement = requirement
        self.platform = platform
