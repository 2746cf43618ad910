"""Shared fixtures: real registries (from ocipush.testing), proxies, tokens, certificates."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ocipush.testing import LocalRegistry, LocalRegistryFactory
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.pki import Pki, make_pki
from support.proxy import Proxy
from support.token_server import TokenServer

pytest_plugins = ["ocipush.testing"]

#: Fixtures that start or share a real registry: a test using one gets the `registry` marker.
REGISTRY_FIXTURES = frozenset(
    {
        "registry",
        "local_registry",
        "local_registry_factory",
        "htpasswd_registry",
        "token_registry_factory",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark tests that need a real registry, so `-m "not registry"` runs the rest alone.

    Those using a registry fixture, and everything in integration/ and outside_in/ (which
    start their own LocalRegistry where a fixture does not fit).
    """
    for item in items:
        folder = item.path.parent.name
        uses = REGISTRY_FIXTURES.intersection(getattr(item, "fixturenames", ()))
        if uses or folder in ("integration", "outside_in"):
            item.add_marker(pytest.mark.registry)


@pytest.fixture(autouse=True)
def _user_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test gets its own user cache (``$XDG_CACHE_HOME``: ocipush's layer cache), so no
    test sees another's layers or the developer's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))


@pytest.fixture(scope="session")
def registry(local_registry: LocalRegistry) -> LocalRegistry:
    """The plain HTTP registry every test shares; pair it with ``repo_name``."""
    return local_registry


@pytest.fixture(scope="session")
def htpasswd_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A shared registry with Basic auth for ``HTPASSWD_USER`` / ``HTPASSWD_PASSWORD``."""
    workdir = tmp_path_factory.mktemp("htpasswd-registry")
    with LocalRegistry(workdir=workdir, htpasswd={HTPASSWD_USER: HTPASSWD_PASSWORD}) as started:
        yield started


@pytest.fixture
def repo_name(request: pytest.FixtureRequest) -> str:
    """A repository name unique to this test, valid in the distribution grammar.

    Readable (from the test's name) and collision-free (a hash of its node id), so tests
    sharing a registry never see each other's tags.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:60].strip("-")
    suffix = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:8]
    return f"ocipush-tests/{slug or 'test'}-{suffix}"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA with a server certificate for 127.0.0.1, ::1 and localhost, and a client pair."""
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def proxy_factory() -> Iterator[Callable[..., Proxy]]:
    """Start :class:`support.proxy.Proxy` objects (same arguments); stopped at teardown."""
    started: list[Proxy] = []

    def start(*args: Any, **kwargs: Any) -> Proxy:
        proxy = Proxy(*args, **kwargs).start()
        started.append(proxy)
        return proxy

    yield start
    for proxy in reversed(started):
        proxy.stop()


@pytest.fixture
def token_registry_factory(
    tmp_path_factory: pytest.TempPathFactory, local_registry_factory: LocalRegistryFactory
) -> Iterator[Callable[..., tuple[LocalRegistry, TokenServer]]]:
    """Start a token server (``TokenServer`` keyword arguments) and a registry trusting it."""
    servers: list[TokenServer] = []

    def start(**options: Any) -> tuple[LocalRegistry, TokenServer]:
        server = TokenServer(tmp_path_factory.mktemp("token-server"), **options).start()
        servers.append(server)
        return local_registry_factory(token=server.token_auth), server

    yield start
    for server in reversed(servers):
        server.stop()
