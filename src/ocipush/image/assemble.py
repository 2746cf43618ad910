"""Putting the image together: base, dependencies, app, extra layers; one per platform.

Layers go from least to most often changed, so a registry (and the layer cache) keeps the
big, stable ones: the base's, then third-party dependencies, then the project's wheel, then
file layers from configuration and plugins.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ocipush.image.app import app_layer
from ocipush.image.base import BaseImage, ResolvedBase
from ocipush.image.config import build_config, git_revision, project_annotations, timestamp
from ocipush.image.deplayers import dependency_layers
from ocipush.image.deps import (
    Dependency,
    dependency_layer,
    dependency_licenses,
    resolve_dependencies,
    wheel_requirements,
)
from ocipush.image.errors import ImageError, MissingWheelError
from ocipush.image.facts import BuildFacts, BuiltImage
from ocipush.image.layer_cache import LayerCache
from ocipush.image.listing import base_files
from ocipush.image.locks import is_lock, locked_dependencies
from ocipush.image.python import PythonRuntime, detect_python, environment_of
from ocipush.image.settings import ImageSettings
from ocipush.image.users import NONROOT, nonroot_layer
from ocipush.image.uv_resolve import uv_resolve
from ocipush.oci.blobs import Blob
from ocipush.oci.images import Image, ImageIndex, Taggable
from ocipush.oci.layers import source_date_epoch
from ocipush.oci.model import Platform
from ocipush.release.project import Project, metadata_from_wheel

__all__ = ["DEFAULT_PLATFORM", "ImageBuilder", "project_wheel"]

log = logging.getLogger(__name__)

#: The platform of a scratch image when none is configured.
DEFAULT_PLATFORM = Platform("linux", "amd64")


@dataclass(frozen=True)
class _Built:
    """What one platform's image is made of, before the config is written."""

    base: BaseImage
    runtime: PythonRuntime
    layers: tuple[tuple[Blob, str], ...]
    dependencies: tuple[Dependency, ...] = ()


def project_wheel(project: Project) -> Path:
    """The project's wheel of this release, which the image installs.

    :raises ImageError: there is none, saying how to build it.
    """
    wheel = project.wheel
    if wheel is None:
        raise ImageError(
            f"tool.ocipush.image: no wheel of {project.metadata.name} "
            f"{project.metadata.version} was built in this run or found in "
            f"{project.dist_dir}; build it first (python -m build --wheel) or publish "
            "through the ocipush.backend build backend"
        )
    return wheel


class ImageBuilder:
    """Builds the project's image from ``[tool.ocipush.image]``.

    :param project: the project; its wheel must have been built.
    :param settings: the validated table.
    :param base: the resolved base.
    :param extra_layers: the layers other plugins and ``[[tool.ocipush.layers]]`` made.
    """

    def __init__(
        self,
        project: Project,
        settings: ImageSettings,
        base: ResolvedBase,
        extra_layers: Sequence[Blob],
    ) -> None:
        self.project = project
        self.settings = settings
        self.base = base
        self.extra_layers = tuple(extra_layers)
        self.mtime = source_date_epoch(dict(project.environ))
        self.created = timestamp(self.mtime)
        self.wheel = project_wheel(project)
        self._app_layers: dict[PythonRuntime, Blob] = {}

    # -- the whole image ------------------------------------------------------------------

    def build(self) -> Taggable:
        """One image, or an index of one image per platform."""
        metadata = metadata_from_wheel(self.wheel)
        if self.settings.entrypoint is None and len(metadata.scripts) != 1:
            # Before any download: this needs only the wheel.
            self._entrypoint(None, metadata.scripts)
        built = self._build_platforms()
        annotations = {
            **project_annotations(
                metadata, created=self.created, revision=git_revision(self.project.root)
            ),
            **self.base.annotations,
        }
        entrypoint = self._entrypoint(built[0].runtime, metadata.scripts)
        images = [self._image(item, entrypoint, annotations) for item in built]
        if len(images) == 1:
            return images[0]
        return ImageIndex(images, annotations={**annotations, **self.settings.annotations})

    def _build_platforms(self) -> list[_Built]:
        if self.settings.platforms:
            return [self._build_one(platform) for platform in self.settings.platforms]
        offered = self.base.platforms() or [DEFAULT_PLATFORM]
        if len(offered) == 1:
            return [self._build_one(offered[0])]
        # Default: every platform of the base that the dependencies have wheels for.
        built: list[_Built] = []
        skipped: list[MissingWheelError] = []
        for platform in offered:
            try:
                built.append(self._build_one(platform))
            except MissingWheelError as error:
                log.warning("skipping %s: no wheel of %s for it", platform, error.requirement)
                skipped.append(error)
        if not built:
            raise skipped[0]
        return built

    def _entrypoint(self, runtime: PythonRuntime | None, scripts: Mapping[str, str]) -> list[str]:
        if self.settings.entrypoint is not None:
            return list(self.settings.entrypoint)
        if len(scripts) == 1 and runtime is not None:
            return [f"{runtime.scripts}/{next(iter(scripts))}"]
        found = ", ".join(sorted(scripts)) if scripts else "none"
        example = next(iter(sorted(scripts)), "app")
        raise ImageError(
            f"tool.ocipush.image.entrypoint: not set, and {self.wheel.name} has "
            f"{len(scripts)} console scripts ({found}), so ocipush cannot tell which program "
            f'the image runs; set it, e.g. entrypoint = ["/usr/local/bin/{example}"]'
        )

    # -- one platform ---------------------------------------------------------------------

    def _build_one(self, platform: Platform) -> _Built:
        base = self.base.image(platform)
        cache = self.project.cache_dir
        # Listed only when something needs the base's files, and then once.
        files = functools.cache(lambda: base_files(base.layers, cache))
        runtime = detect_python(
            environment_of(base.config),
            python=self.settings.python,
            site_packages=self.settings.site_packages,
            base=self.base.name,
            files=files if base.layers else None,
        )
        layers: list[tuple[Blob, str]] = []
        if self.settings.user == NONROOT:
            users = nonroot_layer(files(), cache / "layers", mtime=self.mtime)
            if users is not None:
                layers.append((users, f"ocipush: user {NONROOT}"))
        dependencies = self._dependencies(platform, runtime)
        layers += self._dependency_layers(dependencies, platform, runtime)
        layers.append((self._app_layer(runtime), f"ocipush: {self.wheel.name}"))
        layers += [(blob, f"ocipush: layer {blob.describe()}") for blob in self.extra_layers]
        return _Built(base, runtime, tuple(layers), dependencies)

    def _dependencies(self, platform: Platform, runtime: PythonRuntime) -> tuple[Dependency, ...]:
        settings, project = self.settings, self.project
        if settings.requirements is not None and is_lock(settings.requirements):
            return locked_dependencies(
                project.root / settings.requirements,
                platform=platform,
                runtime=runtime,
                exclude=project.metadata.name,
                environ=project.environ,
            )
        if settings.requirements is not None:
            file = str(project.root / settings.requirements)
            requirements, lines = ["-r", file], [f"-r {file}"]
            source, exclude = settings.requirements, None
        elif wheel_requirements(self.wheel):
            requirements, lines = [str(self.wheel)], wheel_requirements(self.wheel)
            source, exclude = self.wheel.name, project.metadata.name
        else:
            return ()  # nothing to resolve: spare the pip run
        if settings.resolver == "uv":
            return uv_resolve(
                lines,
                platform=platform,
                runtime=runtime,
                environ=project.environ,
                source=source,
            )
        return resolve_dependencies(
            requirements,
            platform=platform,
            runtime=runtime,
            exclude=exclude,
            environ=project.environ,
            source=source,
        )

    def _dependency_layers(
        self, dependencies: Sequence[Dependency], platform: Platform, runtime: PythonRuntime
    ) -> list[tuple[Blob, str]]:
        """The dependency layers with their history lines: one per distribution ("auto"),
        or all in one ("single")."""
        settings, project = self.settings, self.project
        if not dependencies:
            return []
        what = f"dependencies for {platform} ({len(dependencies)} distributions)"
        if settings.dependency_layers == "auto":
            built = dependency_layers(
                dependencies,
                platform=platform,
                runtime=runtime,
                cache=LayerCache.for_user(project.environ),
                wheels_dir=project.cache_dir / "wheels",
                environ=project.environ,
                uid=settings.uid,
                gid=settings.gid,
                what=what,
                bytecode=settings.compile_bytecode,
            )
            return [(layer.blob, layer.history) for layer in built]
        layer = dependency_layer(
            dependencies,
            platform=platform,
            runtime=runtime,
            cache_dir=project.cache_dir,
            environ=project.environ,
            mtime=self.mtime,
            uid=settings.uid,
            gid=settings.gid,
            what=what,
            bytecode=settings.compile_bytecode,
        )
        return [] if layer is None else [(layer, f"ocipush: dependencies for {platform}")]

    def _app_layer(self, runtime: PythonRuntime) -> Blob:
        # Platforms sharing an interpreter layout share the app layer (a pure wheel).
        if runtime not in self._app_layers:
            self._app_layers[runtime] = app_layer(
                self.wheel,
                runtime,
                self.project.cache_dir / "layers",
                mtime=self.mtime,
                uid=self.settings.uid,
                gid=self.settings.gid,
                bytecode=self.project.environ if self.settings.compile_bytecode else None,
            )
        return self._app_layers[runtime]

    def _facts(self, built: _Built) -> BuildFacts:
        reference = self.base.reference
        return BuildFacts(
            built.base.platform,
            base=None if reference is None else self.base.name,
            base_repository=None if reference is None else reference.repository.name,
            base_digest=built.base.digest,
            dependencies=built.dependencies,
            licenses=dependency_licenses(
                built.dependencies,
                self.project.cache_dir,
                LayerCache.for_user(self.project.environ).wheel_license,
            ),
        )

    def _image(self, built: _Built, entrypoint: list[str], annotations: dict[str, str]) -> Image:
        labels = {key: value for key, value in annotations.items() if "base." not in key}
        config = build_config(
            built.base.config,
            platform=built.base.platform,
            settings=self.settings,
            entrypoint=entrypoint,
            layers=built.layers,
            labels=labels,
            created=self.created,
        )
        manifest_annotations = dict(annotations)
        if built.base.digest is not None:
            # In an index each image names its own platform's base manifest.
            manifest_annotations["org.opencontainers.image.base.digest"] = str(built.base.digest)
        return BuiltImage(
            facts=self._facts(built),
            layers=[*built.base.layers, *(blob for blob, _ in built.layers)],
            config=config,
            annotations={**manifest_annotations, **self.settings.annotations},
            platform=built.base.platform,
        )
