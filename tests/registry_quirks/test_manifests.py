"""Manifests and tags through registries with their own rules (ECR, Artifactory, Docker Hub)."""

from __future__ import annotations

import pytest

from ocipush.errors import OcipushError
from ocipush.oci.images import manifest_of
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from support.images import make_image
from support.personalities import ecr
from support.tools import skopeo_inspect_raw


def test_ecr_an_immutable_tag_is_reported_and_an_unchanged_one_never_put_again(
    registry, proxy_factory, repo_name
):
    proxy = ecr(proxy_factory(registry.url), immutable=True)
    first, second = make_image({"v.txt": b"1\n"}), make_image({"v.txt": b"2\n"})
    ref = parse_reference(f"{proxy.host}/{repo_name}:v1")
    Writer().write(ref, first)
    proxy.clear()

    # The same release again: the tag already names it, so nothing is put.
    Writer().write(ref, first)
    assert proxy.count("PUT") == 0
    assert proxy.count("GET", r"/manifests/") == 0

    with pytest.raises(OcipushError) as caught:
        Writer().write(ref, second)

    message = str(caught.value)
    assert f"{repo_name}:v1" in message
    assert "immutable" in message
    assert "new tag" in caught.value.hint
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest_of(first).raw
    # Refused is refused: the tag PUT is not repeated.
    assert proxy.count("PUT", r"/manifests/v1$") == 1
