"""Blob uploads through registries that depart from the spec (GHCR, ECR, Artifact Registry).

Each test pushes through a :mod:`support.personalities` proxy in front of a real registry
and checks the result in that registry; request counts show what the quirk cost.
"""

from __future__ import annotations

from ocipush.oci.images import manifest_of
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from registry_quirks.conftest import MIB, big_image
from support.personalities import ecr, gar, ghcr
from support.tools import registry_blob_exists, skopeo_inspect_raw


def _check_in_registry(registry, repo_name, image) -> None:
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest_of(image).raw
    for layer in image.layers:
        assert registry_blob_exists(registry.host, repo_name, str(layer.digest))


def test_ghcr_a_chunk_refused_as_over_4_mib_shrinks_the_chunks_and_resumes(
    registry, proxy_factory, repo_name
):
    proxy = ghcr(proxy_factory(registry.url))
    image = big_image(repo_name, layers=2)
    # Chunked because over the threshold; the default chunk size (64 MiB) is over GHCR's cap.
    writer = Writer(chunk_threshold=1 * MIB, jobs=1, small_blob=0)

    writer.write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    _check_in_registry(registry, repo_name, image)
    patches = proxy.find("PATCH", r"/blobs/uploads/")
    refused = [p for p in patches if p.status == 416]
    # Learnt once: the second layer starts with chunks GHCR accepts.
    assert len(refused) == 1
    accepted = [p for p in patches if p.status == 202]
    assert all(p.request_body_bytes <= 4 * MIB for p in accepted)
    sizes = [layer.size for layer in image.layers] + [image.config_blob().size]
    assert sum(p.request_body_bytes for p in accepted) == sum(sizes)


def test_ecr_patch_answered_201_with_a_range_that_does_not_advance(
    registry, proxy_factory, repo_name
):
    proxy = ecr(proxy_factory(registry.url))
    image = big_image(repo_name, mib=6)
    # Both upload kinds: the small config in one PATCH, the layer in 2 MiB chunks.
    writer = Writer(chunk_threshold=1 * MIB, chunk_size=2 * MIB, small_blob=0)

    writer.write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    _check_in_registry(registry, repo_name, image)
    patches = proxy.find("PATCH", r"/blobs/uploads/")
    assert {p.status for p in patches} == {201}
    assert len(patches) == 1 + -(-image.layers[0].size // (2 * MIB))


def test_gar_chunks_refused_means_one_monolithic_upload(registry, proxy_factory, repo_name):
    proxy = gar(proxy_factory(registry.url))
    image = big_image(repo_name, mib=3)
    writer = Writer(chunk_threshold=1 * MIB, chunk_size=1 * MIB, jobs=1, small_blob=0)

    writer.write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    _check_in_registry(registry, repo_name, image)
    patches = proxy.find("PATCH", r"/blobs/uploads/")
    assert [p.status for p in patches if "Content-Range" in p.request_headers] == [400]
    monolithic = [p for p in patches if "Content-Range" not in p.request_headers]
    assert sorted(p.request_body_bytes for p in monolithic) == sorted(
        [image.layers[0].size, image.config_blob().size]
    )
    posts = proxy.find("POST", r"/blobs/uploads/")
    assert all(p.request_headers["Content-Length"] == "0" for p in posts)
