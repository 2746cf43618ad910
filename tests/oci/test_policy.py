"""BlobPolicy: the one rule every plan and push uses for a blob."""

from __future__ import annotations

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.policy import BlobPolicy
from ocipush.oci.reference import parse_repository

TARGET = parse_repository("registry.example/acme/app")
SIBLING = parse_repository("registry.example/acme/base")
ELSEWHERE = parse_repository("other.example/acme/base")


class _Mountable(BytesBlob):
    def __init__(self, source) -> None:
        super().__init__(b"layer", mt.OCI_LAYER)
        self._source = source

    @property
    def mount_source(self):
        return self._source


def test_a_nondistributable_layer_is_skipped_unless_allowed():
    foreign = BytesBlob(b"foreign", mt.OCI_LAYER_NONDIST_GZIP)

    assert BlobPolicy().decide(foreign, TARGET) == ("skip-nondistributable", None)
    assert BlobPolicy(allow_nondistributable=True).decide(foreign, TARGET) == ("upload", None)


def test_a_blob_elsewhere_on_the_same_registry_is_mounted():
    assert BlobPolicy().decide(_Mountable(SIBLING), TARGET) == ("mount", SIBLING)
    assert BlobPolicy().decide(_Mountable(ELSEWHERE), TARGET) == ("upload", None)
    assert BlobPolicy().decide(_Mountable(TARGET), TARGET) == ("upload", None)


def test_a_blob_already_there_is_present_only_when_asked():
    blob = BytesBlob(b"layer", mt.OCI_LAYER)
    asked: list[object] = []

    def exists(candidate) -> bool:
        asked.append(candidate)
        return True

    assert BlobPolicy().decide(blob, TARGET) == ("upload", None)
    assert BlobPolicy().decide(blob, TARGET, exists=exists) == ("present", None)
    assert asked == [blob]
