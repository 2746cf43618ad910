"""Built-in plugin ``registry``: publish to a container registry."""

from __future__ import annotations

from collections.abc import Sequence

from ocipush.oci.blobs import Blob
from ocipush.oci.digest import Digest
from ocipush.oci.images import Image, ImageIndex, Taggable, manifest_of
from ocipush.oci.localrefs import is_local_reference
from ocipush.oci.reference import Reference, parse_reference, parse_repository
from ocipush.registry.progress import ProgressCallback
from ocipush.registry.writer import Writer, token_scopes
from ocipush.release.config import TargetConfig
from ocipush.release.hookspecs import hookimpl
from ocipush.release.plan import BlobAction, PushItem, Target, TargetPlan, TargetResult, inventory
from ocipush.release.project import Project

#: This plugin reads no table of [tool.ocipush].
OCIPUSH_TABLES: tuple[str, ...] = ()


class RegistryTarget:
    """A registry repository; the image gets the ref's tag plus the configured extra tags,
    or is pushed by digest when there are none (every tag skipped as release-unsafe)."""

    kind = "registry"

    def __init__(
        self, ref: Reference, extra_tags: Sequence[str], project: Project, *, insecure: bool
    ) -> None:
        self.ref = ref
        self.extra_tags = tuple(extra_tags)
        settings = project.settings
        self.writer = Writer(
            project.transport(insecure=[ref.registry.host] if insecure else []),
            jobs=settings.jobs,
            allow_nondistributable_artifacts=settings.allow_nondistributable_artifacts,
        )

    @property
    def name(self) -> str:
        return str(self.ref)

    def _image_refs(self) -> list[Reference]:
        tags = [self.ref.tag] if self.ref.tag is not None else []
        tags += [tag for tag in self.extra_tags if tag != self.ref.tag]
        return [self.ref.with_tag(tag) for tag in tags] or [self.ref]

    def _item_refs(self, item: PushItem, digest: Digest) -> list[Reference]:
        tags = item.tags
        if item.role == "image":
            tags = tuple(ref.tag for ref in self._image_refs() if ref.tag is not None)
        if tags:
            return [self.ref.with_tag(tag) for tag in tags]
        return [self.ref.with_digest(digest)]

    def plan(self, items: Sequence[PushItem], *, check: bool) -> TargetPlan:
        repository = self.ref.repository
        notes: list[str] = []

        def exists(blob: Blob) -> bool:
            assert blob.digest is not None
            return self.writer.has_blob(repository, blob.digest, blob.size)

        def action(blob: Blob) -> tuple[BlobAction, str | None]:
            # The writer's own policy: the push does what this plan says.
            decided, source = self.writer.policy.decide(
                blob, repository, exists=exists if check else None
            )
            return decided, None if source is None else source.name

        blobs, manifests = inventory(
            items,
            root_refs=lambda item, digest: tuple(
                str(r) for r in (self._item_refs(item, digest) if digest else self._image_refs())
            ),
            child_ref=lambda digest: str(self.ref.with_digest(digest)),
            blob_action=action,
        )
        skipped = [b for b in blobs if b.action == "skip-nondistributable"]
        if skipped:
            notes.append(
                f"{len(skipped)} nondistributable layer(s) will not be uploaded "
                "(allow-nondistributable-artifacts = true uploads them)"
            )
        if not check:
            notes.append("existing blobs not checked; `ocipush plan --check` asks the registry")
        all_blobs = {repository: [b for i in items for b in _blobs(i.item)]}
        return TargetPlan(
            target=self.name,
            kind=self.kind,
            items=tuple(items),
            blobs=blobs,
            manifests=manifests,
            scopes=tuple(token_scopes(all_blobs)[repository.registry]),
            notes=tuple(notes),
        )

    def push(self, plan: TargetPlan, *, progress: ProgressCallback | None) -> TargetResult:
        self.writer.progress = progress
        # Images first, as artifacts and referrers may name them as their subject; the
        # writer moves every tag only once all stages were accepted.
        stages: list[dict[Reference, Taggable]] = [{}, {}]
        for item in plan.items:
            stage = stages[0 if item.role == "image" else 1]
            for ref in self._item_refs(item, manifest_of(item.item).digest):
                stage[ref] = item.item
        pushed = self.writer.publish([stage for stage in stages if stage])
        refs: list[str] = []
        artifacts: list[str] = []
        digest: str | None = None
        for stage_number, stage in enumerate(stages):
            for ref in stage:
                descriptor = pushed[ref]
                refs.append(str(ref) if ref.tag is None else f"{ref}@{descriptor.digest}")
                if stage_number == 0:
                    digest = str(descriptor.digest)
                elif str(descriptor.digest) not in artifacts:
                    artifacts.append(str(descriptor.digest))
        return TargetResult(self.name, self.kind, digest, tuple(refs), tuple(artifacts))


def _blobs(item: Taggable) -> list[Blob]:
    images = (
        [n for n in item.walk() if isinstance(n, Image)] if isinstance(item, ImageIndex) else [item]
    )
    return [layer for image in images for layer in image.layers]


@hookimpl(trylast=True)
def ocipush_make_target(
    config: TargetConfig, ref: str, tags: Sequence[str], project: Project
) -> Target | None:
    if is_local_reference(ref):
        return None
    return RegistryTarget(_target_reference(ref), tags, project, insecure=config.insecure)


def _target_reference(ref: str) -> Reference:
    """``ref`` as make_plan passes it: Docker's implied ``latest`` is already written out, so
    a bare repository means "push by digest" (every tag was skipped as release-unsafe)."""
    name = ref.partition("@")[0]
    if "@" in ref or name.rfind(":") > name.rfind("/"):
        return parse_reference(ref)
    return Reference(parse_repository(ref))
