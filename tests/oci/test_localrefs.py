"""Local target references: which are local, and where their tag is."""

from __future__ import annotations

import pytest

from ocipush.errors import LayoutError
from ocipush.oci.archives import parse_archive_reference
from ocipush.oci.localrefs import is_local_reference, split_local_tag


@pytest.mark.parametrize(
    ("ref", "expected"),
    [
        ("oci:dist/oci:1.0", ("oci:dist/oci", "1.0")),
        ("oci-archive:dist/app.tar", ("oci-archive:dist/app.tar", None)),
        ("oci-archive:dist/app.tar:rc1", ("oci-archive:dist/app.tar", "rc1")),
        ("docker-archive:app.tar", ("docker-archive:app.tar", None)),
        ("docker-archive:app.tar:acme/app", ("docker-archive:app.tar:acme/app", None)),
        ("docker-archive:app.tar:acme/app:2.0", ("docker-archive:app.tar:acme/app", "2.0")),
        ("docker-daemon:localhost:5000/app", ("docker-daemon:localhost:5000/app", None)),
        ("docker-daemon:localhost:5000/app:1", ("docker-daemon:localhost:5000/app", "1")),
    ],
)
def test_the_tag_is_split_off_where_each_kind_keeps_it(ref, expected):
    assert is_local_reference(ref)
    assert split_local_tag(ref) == expected


def test_registry_references_are_not_local():
    assert not is_local_reference("ghcr.io/acme/app:1.0")
    assert not is_local_reference("localhost:5000/oci:1")


def test_a_docker_archive_name_must_be_an_image_name():
    with pytest.raises(LayoutError, match=r"'Bad Name' is not an image name"):
        parse_archive_reference("docker-archive:app.tar:Bad Name")
