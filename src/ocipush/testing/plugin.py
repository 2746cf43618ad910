"""The pytest part of :mod:`ocipush.testing`: fixtures for real local registries.

Loaded by ``pytest_plugins = ["ocipush.testing"]`` (or ``"ocipush.testing.plugin"``) from a
``conftest.py``; nothing else imports pytest.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from ocipush.testing.registry import LocalRegistry, TokenAuth

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping


class LocalRegistryFactory(Protocol):
    """Type of the ``local_registry_factory`` fixture: starts a registry with these options."""

    def __call__(
        self,
        *,
        htpasswd: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        token: TokenAuth | None = None,
        log_level: str = "info",
    ) -> LocalRegistry: ...


@pytest.fixture
def local_registry_factory(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LocalRegistryFactory]:
    """Start registries with the given options; all are stopped when the test ends."""
    started: list[LocalRegistry] = []

    def start(
        *,
        htpasswd: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        token: TokenAuth | None = None,
        log_level: str = "info",
    ) -> LocalRegistry:
        registry = LocalRegistry(
            workdir=tmp_path_factory.mktemp("registry"),
            htpasswd=htpasswd,
            tls=tls,
            token=token,
            log_level=log_level,
        )
        started.append(registry)
        return registry.start()

    yield start
    for registry in reversed(started):
        registry.stop()


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalRegistry]:
    """A plain HTTP registry shared by the whole session: use a unique repository per test."""
    with LocalRegistry(workdir=tmp_path_factory.mktemp("registry")) as registry:
        yield registry
