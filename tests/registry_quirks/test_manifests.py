"""Manifests and tags through registries with their own rules (ECR, Artifactory, Docker Hub)."""

from __future__ import annotations

import logging
import urllib.error
import urllib.request

import pytest

from ocipush.errors import OcipushError, RegistryError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image, ImageIndex, manifest_of
from ocipush.oci.model import Platform
from ocipush.oci.reference import parse_reference
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support.images import make_image
from support.personalities import artifactory, docker_hub, ecr, gitlab, quay, zot
from support.proxy import Respond, Rule
from support.tools import registry_blob_exists, skopeo_inspect_raw, skopeo_list_tags


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


def test_docker_hub_a_push_checks_manifests_with_head_and_shows_the_pull_quota(
    registry, proxy_factory, repo_name, caplog
):
    proxy = docker_hub(proxy_factory(registry.url), limit=100, remaining=76)
    caplog.set_level(logging.INFO, logger="ocipush")
    index = ImageIndex(
        [
            make_image({f"{arch}.txt": arch.encode()}, platform=Platform("linux", arch))
            for arch in ("amd64", "arm64")
        ]
    )
    ref = parse_reference(f"{proxy.host}/{repo_name}:v1")

    Writer().write_index(ref, index)
    Writer().write_index(ref, index)

    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest_of(index).raw
    # Existence checks never cost a pull.
    assert proxy.count("HEAD", r"/manifests/") >= 3
    assert proxy.count("GET", r"/manifests/") == 0
    assert f"{proxy.host} rate limit: 76 of 100 pulls per 6 h left" in caplog.messages


def test_docker_hub_a_pull_limit_429_says_when_it_resets_and_that_head_is_free(
    registry, proxy_factory, repo_name
):
    proxy = docker_hub(proxy_factory(registry.url), remaining=0)
    Writer().write(parse_reference(f"{registry.host}/{repo_name}:v1"), make_image({}))
    # Docker Hub usage docs ("pull rate limit"): over the quota, a manifest GET gets 429.
    proxy.add_rule(
        Rule(
            Respond(
                429,
                {
                    "Content-Type": "application/json",
                    "Retry-After": "3600",
                    "ratelimit-limit": "100;w=21600",
                    "ratelimit-remaining": "0;w=21600",
                },
                b'{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your '
                b'unauthenticated pull rate limit."}]}',
            ),
            method="GET",
            path=r"/manifests/",
            times=None,
        )
    )
    quick = RetryPolicy(attempts=2, initial_delay=0.001, max_delay=0.01, retry_after_cap=0.01)
    remote = Remote(Transport(ConnectionOptions(retry=quick, proxies={})))

    with pytest.raises(RegistryError) as caught:
        remote.get(parse_reference(f"{proxy.host}/{repo_name}:v1"))

    assert "pull rate limit" in str(caught.value)
    hint = caught.value.hint
    assert "0 of 100 pulls per 6 h left" in hint
    assert "resets in about 1 h" in hint
    assert "HEAD" in hint


def test_gitlab_a_referrers_index_over_the_manifest_cap_is_refused_with_a_clear_message(
    registry, proxy_factory, repo_name
):
    proxy = gitlab(proxy_factory(registry.url))
    image = make_image({"app.txt": b"app\n"})
    Writer().write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    def attach(number: int) -> None:
        # Large annotations go into the fallback index's entries, as every client copies them.
        artifact = Image(
            layers=[BytesBlob(f"sig {number}".encode(), "application/octet-stream")],
            config=BytesBlob(b"{}", mt.OCI_EMPTY),
            artifact_type="application/vnd.example.signature",
            subject=image.descriptor(),
            annotations={"org.example.note": "x" * 100_000},
        )
        Writer().write(parse_reference(f"{proxy.host}/{repo_name}:sig{number}"), artifact)

    attach(1)
    attach(2)
    with pytest.raises(RegistryError) as caught:
        attach(3)

    assert "request body too large" in str(caught.value)
    hint = caught.value.hint
    assert "referrers index" in hint
    assert "3 entries" in hint
    assert "referrers API" in hint
    assert "tags left unchanged" in " ".join(caught.value.notes)
    tags = skopeo_list_tags(f"{registry.host}/{repo_name}")
    assert "sig3" not in tags
    assert {"sig1", "sig2"} <= tags


def test_quay_an_artifact_type_it_does_not_allow_names_the_type_to_allow_or_change(
    registry, proxy_factory, repo_name
):
    proxy = quay(proxy_factory(registry.url), artifact_types=frozenset())
    image = make_image({"app.txt": b"app\n"})
    release = Image(
        layers=[BytesBlob(b"wheel", "application/octet-stream")],
        config=BytesBlob(b"{}", mt.OCI_EMPTY),
        artifact_type="application/vnd.example.python-release.v1",
        subject=image.descriptor(),
    )
    ref = parse_reference(f"{proxy.host}/{repo_name}:v1")
    files_ref = parse_reference(f"{proxy.host}/{repo_name}:v1-files")

    with pytest.raises(RegistryError) as caught:
        Writer().publish([{ref: image}, {files_ref: release}])

    assert caught.value.status == 415
    hint = caught.value.hint
    assert "application/vnd.example.python-release.v1" in hint
    assert mt.OCI_EMPTY in hint
    assert "artifact-type" in hint
    # Nothing is tagged: the image went up by digest, its tag waits for the whole release.
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == set()


def test_artifactory_a_blob_head_that_lied_is_uploaded_and_later_heads_are_confirmed(
    registry, proxy_factory, repo_name
):
    member, target = f"{repo_name}-member", f"{repo_name}-virtual"
    first = make_image({"a.txt": b"shared\n"})
    Writer().write(parse_reference(f"{registry.host}/{member}:v1"), first)
    proxy = artifactory(proxy_factory(registry.url), virtual_of=(member,))
    writer = Writer()

    writer.write(parse_reference(f"{proxy.host}/{target}:v1"), first)

    assert skopeo_inspect_raw(f"{registry.host}/{target}:v1") == manifest_of(first).raw
    for blob in first.blobs():
        assert registry_blob_exists(registry.host, target, str(blob.digest))
    assert writer.last_result.uploaded == {blob.digest for blob in first.blobs()}
    refused = proxy.find("PUT", r"/manifests/sha256:")
    assert [e.status for e in refused] == [400, 201]
    # Learnt: the next image's HEAD 200s are checked with a one-byte GET before skipping.
    second = make_image({"b.txt": b"second\n"})
    Writer().write(parse_reference(f"{registry.host}/{member}:v2"), second)
    proxy.clear()
    writer.write(parse_reference(f"{proxy.host}/{target}:v2"), second)
    assert skopeo_inspect_raw(f"{registry.host}/{target}:v2") == manifest_of(second).raw
    assert proxy.count("GET", r"/blobs/sha256:") == 2
    assert [e.status for e in proxy.find("PUT", r"/manifests/sha256:")] == [201]


def test_zot_refuses_an_index_before_its_children_so_the_push_order_is_checked(
    registry, proxy_factory, repo_name
):
    proxy = zot(proxy_factory(registry.url))
    child = make_image({"c.txt": b"child\n"}, platform=Platform("linux", "amd64"))
    index = ImageIndex([child])
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    early = urllib.request.Request(
        f"{proxy.url}/v2/{repo_name}/manifests/v0",
        data=manifest_of(index).raw,
        method="PUT",
        headers={"Content-Type": mt.OCI_INDEX},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(early, timeout=10)
    assert refused.value.code == 400

    Writer().write_index(parse_reference(f"{proxy.host}/{repo_name}:v1"), index)

    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == manifest_of(index).raw
