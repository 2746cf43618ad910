"""Per-repository sessions: credentials and token scopes resolved once per repository."""

from __future__ import annotations

from ocipush.oci.reference import Registry, Repository, parse_reference
from ocipush.registry.keychain import ANONYMOUS, Credentials
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.session import PULL, PUSH, Access
from ocipush.registry.transport import ConnectionOptions, Transport
from ocipush.registry.writer import Writer
from support.images import make_image

ABSENT = "sha256:" + "0" * 64


class _PerRepository:
    """A keychain whose answer depends on the repository path, as docker config keys such
    as ``host/team`` make it; it records every lookup."""

    def __init__(self, by_prefix: dict[str, Credentials]) -> None:
        self.by_prefix = by_prefix
        self.lookups: list[Repository | None] = []

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        self.lookups.append(repository)
        for prefix, credentials in self.by_prefix.items():
            if repository is not None and repository.path.startswith(prefix):
                return credentials
        return ANONYMOUS


def _transport(keychain: _PerRepository) -> Transport:
    return Transport(ConnectionOptions(keychain=keychain, proxies={}))


def test_a_session_resolves_credentials_once_for_all_its_requests(registry, repo_name):
    repository = parse_reference(f"{registry.host}/{repo_name}").repository
    keychain = _PerRepository({})
    session = _transport(keychain).session(repository, PUSH)

    for _ in range(3):
        session.request("HEAD", session.blobs(ABSENT), expected=(404,))
    session.request("GET", session.api("tags/list"), expected=(200, 404))

    assert keychain.lookups == [repository]
    assert session.scopes == (f"repository:{repo_name}:pull,push",)


def test_session_scopes_lead_with_its_own_and_keep_only_same_credentials(registry, repo_name):
    alice = Credentials("alice", "pw-a", source="test a")
    bob = Credentials("bob", "pw-b", source="test b")
    keychain = _PerRepository({f"{repo_name}/alice": alice, f"{repo_name}/bob": bob})
    registry_ = Registry.parse(registry.host)
    mine, also_mine, source, bobs = (
        Repository(registry_, f"{repo_name}/{path}")
        for path in ("alice/app", "alice/other", "alice/base", "bob/app")
    )
    run = [Access(bobs, PUSH), Access(also_mine, PUSH), Access(mine, PUSH), Access(source, PULL)]

    session = _transport(keychain).session(mine, PUSH, also=run)

    assert session.credentials == alice
    assert session.scopes == (
        mine.scope(PUSH),
        also_mine.scope(PUSH),
        source.scope(PULL),
    )


def test_one_push_to_repositories_with_different_credentials_uses_each_ones_own(
    token_registry_factory, repo_name
):
    """Two target repositories of one registry, one user each (docker config entries per
    repository): each repository's requests carry its own user's token, asked only for the
    scopes that user is granted."""
    registry, tokens = token_registry_factory(
        users={"alice": "pw-a", "bob": "pw-b"},
        grants={
            "alice": {f"{repo_name}/alice/*": {"pull", "push"}},
            "bob": {f"{repo_name}/bob/*": {"pull", "push"}},
        },
    )
    keychain = _PerRepository(
        {
            f"{repo_name}/alice": Credentials("alice", "pw-a", source="test a"),
            f"{repo_name}/bob": Credentials("bob", "pw-b", source="test b"),
        }
    )
    image = make_image({"two-users.txt": b"two users\n"})
    refs = {
        parse_reference(f"{registry.host}/{repo_name}/{user}/app:v1"): image
        for user in ("alice", "bob")
    }
    writer = Writer(_transport(keychain), retry=RetryPolicy(attempts=1, initial_delay=0))

    descriptors = writer.multi_write(refs)

    assert {d.digest for d in descriptors.values()} == {image.manifest().digest}
    assert sorted((r.username, r.scopes) for r in tokens.requests) == [
        ("alice", (f"repository:{repo_name}/alice/app:pull,push",)),
        ("bob", (f"repository:{repo_name}/bob/app:pull,push",)),
    ]
    assert all(r.status == 200 for r in tokens.requests)
