"""Built-in plugin ``layout``: write to an OCI image layout directory (``oci:PATH[:TAG]``).

This is also the embedded default target, ``oci:dist/oci``, when none is configured.
"""

from __future__ import annotations

from collections.abc import Sequence

from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.layout import (
    LayoutReference,
    collect_garbage,
    is_layout_reference,
    parse_layout_reference,
    write_layout,
)
from ocipush.oci.policy import BlobPolicy
from ocipush.registry.progress import ProgressCallback
from ocipush.release.config import TargetConfig
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import BlobAction, PushItem, Target, TargetPlan, TargetResult, inventory
from ocipush.release.project import Project

#: This plugin reads no table of [tool.ocipush].
OCIPUSH_TABLES: tuple[str, ...] = ()


class LayoutTarget:
    """A layout directory; the image is tagged with the ref's tag (default: the version)."""

    kind = "layout"

    def __init__(
        self, layout: LayoutReference, extra_tags: Sequence[str], project: Project
    ) -> None:
        path = layout.path if layout.path.is_absolute() else project.root / layout.path
        self.path = path
        self.tag = layout.tag or project.expand_tag("{version}", "tool.ocipush.targets")
        self.extra_tags = tuple(t for t in extra_tags if t != self.tag)
        self.allow_nondistributable = project.settings.allow_nondistributable_artifacts
        self._shown = f"oci:{layout.path}:{self.tag}"

    @property
    def name(self) -> str:
        return self._shown

    def _tags(self, item: PushItem) -> tuple[str, ...]:
        return (self.tag, *self.extra_tags) if item.role == "image" else item.tags

    def _has(self, digest: Digest) -> bool:
        return (self.path / "blobs" / digest.algorithm / digest.encoded).is_file()

    def plan(self, items: Sequence[PushItem], *, check: bool) -> TargetPlan:
        def action(blob: Blob) -> tuple[BlobAction, str | None]:
            if BlobPolicy(self.allow_nondistributable).skips(blob):
                return "skip-nondistributable", None
            # Looking into a local directory is free, so existence is always checked.
            return ("present" if blob.digest and self._has(blob.digest) else "write"), None

        blobs, manifests = inventory(
            items,
            root_refs=lambda item, digest: (
                tuple(f"oci:{self.path}:{t}" for t in self._tags(item))
                or (f"oci:{self.path}@{digest}",)
            ),
            child_ref=lambda digest: f"oci:{self.path}@{digest}",
            blob_action=action,
        )
        return TargetPlan(self.name, self.kind, tuple(items), blobs, manifests)

    def push(self, plan: TargetPlan, *, progress: ProgressCallback | None) -> TargetResult:
        refs: list[str] = []
        artifacts: list[str] = []
        digest: str | None = None
        # Every item's blobs first: no tag moves until everything of this target is written.
        for item in plan.items:
            write_layout(
                self.path,
                item.item,
                allow_nondistributable=self.allow_nondistributable,
                record=False,
            )
        for item in plan.items:
            tags: Sequence[str | None] = self._tags(item) or (None,)
            for tag in tags:
                descriptor = write_layout(
                    self.path, item.item, tag, allow_nondistributable=self.allow_nondistributable
                )
                refs.append(
                    f"oci:{self.path}:{tag}" if tag else f"oci:{self.path}@{descriptor.digest}"
                )
            if item.role == "image":
                digest = str(descriptor.digest)
            else:
                artifacts.append(str(descriptor.digest))
        # What a moved tag left behind (the last build's image) goes, as `umoci gc` would.
        collect_garbage(self.path)
        return TargetResult(self.name, self.kind, digest, tuple(refs), tuple(artifacts))


@hookimpl(trylast=True)
def ocipush_make_target(
    config: TargetConfig, ref: str, tags: Sequence[str], project: Project
) -> Target | None:
    if not is_layout_reference(ref):
        return None
    return LayoutTarget(parse_layout_reference(ref), tags, project)
