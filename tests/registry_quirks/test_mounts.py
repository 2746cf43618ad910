"""Mounts a registry refuses: the blob goes up as a plain upload, at no extra token cost.

Docker Hub answers 401 to a mount whose ``from`` the token does not cover
(google/go-containerregistry#1404, #1741), Harbor the same for a missing project
(goharbor/harbor#17097). Distribution with token auth does exactly this when the token lacks
``pull`` on the source, so the first test needs no imitation at all.
"""

from __future__ import annotations

from ocipush.oci.images import manifest_of
from ocipush.oci.reference import parse_reference
from ocipush.registry.keychain import Credentials, StaticKeychain
from ocipush.registry.remote import Remote
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support.images import make_image
from support.tools import skopeo_inspect_raw

OWNER, USER = ("owner", "owner-pw"), ("pusher", "pusher-pw")


def _writer(host: str, user: tuple[str, str]) -> Writer:
    keychain = StaticKeychain({host: Credentials(*user, source="test")})
    return Writer(Transport(ConnectionOptions(keychain=keychain, proxies={})))


def test_a_mount_refused_for_its_source_uploads_without_asking_for_that_scope_again(
    token_registry_factory, repo_name
):
    source, target = f"{repo_name}-src", f"{repo_name}-dst"
    registry, tokens = token_registry_factory(
        users=dict([OWNER, USER]),
        grants={OWNER[0]: {"*": {"pull", "push"}}, USER[0]: {target: {"pull", "push"}}},
    )
    image = make_image({"a.txt": b"a\n", "b.txt": b"b\n"})
    owner = _writer(registry.host, OWNER)
    owner.write(parse_reference(f"{registry.host}/{source}:v1"), image)
    # The pusher copies an image it can read only through the owner's credentials: its blobs
    # name the source repository, which the pusher's token does not cover.
    pulled = Remote(owner.transport).get(parse_reference(f"{registry.host}/{source}:v1"))
    pusher = _writer(registry.host, USER)
    before = len(tokens.requests)

    pusher.write(parse_reference(f"{registry.host}/{target}:v1"), pulled)

    # Distribution accepts a manifest only once every blob it names is in the repository.
    raw = skopeo_inspect_raw(f"{registry.host}/{target}:v1", creds=OWNER)
    assert raw == manifest_of(image).raw
    assert pusher.last_result.uploaded
    assert not pusher.last_result.mounted
    # One exchange for the push; a refused mount does not send it back to the token server.
    assert len([r for r in tokens.requests[before:] if r.username == USER[0]]) == 1
