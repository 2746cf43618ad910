"""The referrers API where a registry serves it, the fallback tag where it does not.

Distribution 2.8 has no referrers API (registry-facts.md), so :func:`serve_referrers` adds
one in front of it, the way ECR, ACR, Harbor 2.8+ and Zot serve it.
"""

from __future__ import annotations

import json

from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.images import Image
from ocipush.oci.reference import parse_reference, parse_repository
from ocipush.registry.remote import Remote
from ocipush.registry.transport import Transport
from ocipush.registry.writer import Writer
from support.images import make_image
from support.personalities import serve_referrers
from support.proxy import Respond, Rule
from support.tools import registry_get_manifest, skopeo_list_tags

SIGNATURE = "application/vnd.example.signature"


def _artifact(subject: Image, payload: bytes) -> Image:
    return Image(
        layers=[BytesBlob(payload, "application/vnd.example.payload")],
        config=BytesBlob(b"{}", mt.OCI_EMPTY),
        artifact_type=SIGNATURE,
        subject=subject.descriptor(),
    )


def _push_with_artifact(host: str, repo_name: str) -> tuple[Image, Image]:
    image = make_image({"app.txt": b"app\n"})
    artifact = _artifact(image, b"signed")
    subject_ref = parse_reference(f"{host}/{repo_name}:v1")
    artifact_ref = parse_reference(f"{host}/{repo_name}:sig")
    Writer().publish([{subject_ref: image}, {artifact_ref: artifact}])
    return image, artifact


def test_a_registry_serving_the_referrers_api_gets_no_fallback_tag(
    registry, proxy_factory, repo_name
):
    proxy = proxy_factory(registry.url)
    api = serve_referrers(proxy)

    image, artifact = _push_with_artifact(proxy.host, repo_name)

    # The artifact is in the registry; no sha256-<hex> tag was written next to it.
    body, _ = registry_get_manifest(registry.host, repo_name, "sig")
    assert body == artifact.manifest().raw
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == {"v1", "sig"}
    # The OCI-Subject answer said it all: no probe of the API, no fallback read.
    assert proxy.count("GET", r"/referrers/") == 0
    assert proxy.count(None, r"/manifests/sha256-") == 0
    listed = Remote(Transport()).referrers(
        parse_repository(f"{proxy.host}/{repo_name}"), image.manifest().digest
    )
    assert [(d.digest, d.artifact_type) for d in listed] == [
        (artifact.manifest().digest, SIGNATURE)
    ]
    assert proxy.count("GET", r"/referrers/") == 1
    assert list(api.referrers) == [(repo_name, str(image.manifest().digest))]


def test_a_referrers_api_without_oci_subject_is_found_by_probing(
    registry, proxy_factory, repo_name
):
    proxy = proxy_factory(registry.url)
    serve_referrers(proxy, subject_header=False)

    _push_with_artifact(proxy.host, repo_name)

    assert proxy.count("GET", r"/referrers/") == 1
    assert skopeo_list_tags(f"{registry.host}/{repo_name}") == {"v1", "sig"}


def test_a_referrers_path_redirected_to_a_web_page_means_no_api(registry, proxy_factory, repo_name):
    proxy = proxy_factory(registry.url)
    # GCR once redirected /referrers to an HTML login page (soci-snapshotter docs/registry.md).
    proxy.add_rule(
        Rule(Respond(302, {"Location": "/accounts/login"}), path=r"/referrers/", times=None)
    )
    proxy.route(
        "GET",
        r"/accounts/login",
        lambda request: Respond(200, {"Content-Type": "text/html"}, b"<html>sign in</html>"),
    )

    image, artifact = _push_with_artifact(proxy.host, repo_name)

    tag = image.manifest().digest.fallback_tag
    body, _ = registry_get_manifest(registry.host, repo_name, tag)
    assert [m["digest"] for m in json.loads(body)["manifests"]] == [str(artifact.manifest().digest)]
    listed = Remote(Transport()).referrers(
        parse_repository(f"{proxy.host}/{repo_name}"), image.manifest().digest
    )
    assert [d.digest for d in listed] == [artifact.manifest().digest]
