"""Where credentials come from: the chain of sources a :class:`Keychain` asks in turn.

:class:`DefaultKeychain` tries, in order: credentials given explicitly, plugins' answers
(the ``ocipush_credentials`` hook), the files docker and podman log in to
(:mod:`ocipush.registry.authfiles`: ``REGISTRY_AUTH_FILE``, docker's ``config.json`` with its
credential helpers, podman's ``auth.json``), in GitHub Actions ``GITHUB_TOKEN`` for
``ghcr.io``, in GitLab CI ``CI_REGISTRY_USER`` and ``CI_REGISTRY_PASSWORD`` for
``CI_REGISTRY``, and finally :data:`ANONYMOUS`. The names credentials are used by are
re-exported here (:class:`Credentials`, :func:`login`, :func:`logout`), so this module is
the one to import.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ocipush.errors import CredentialHelperError, CredentialsFileError
from ocipush.oci.reference import Registry, Repository
from ocipush.registry.authfiles import (
    DOCKER_HUB_SERVER_URL,
    HELPER_TIMEOUT,
    AuthFiles,
    HelperRunner,
    login,
    logout,
)
from ocipush.registry.credentials import ANONYMOUS, IDENTITY_TOKEN_USERNAME, Credentials

__all__ = [
    "ANONYMOUS",
    "DOCKER_HUB_SERVER_URL",
    "HELPER_TIMEOUT",
    "IDENTITY_TOKEN_USERNAME",
    "CredentialHelperError",
    "CredentialProvider",
    "Credentials",
    "CredentialsFileError",
    "DefaultKeychain",
    "HelperRunner",
    "Keychain",
    "StaticKeychain",
    "login",
    "logout",
]

logger = logging.getLogger(__name__)

#: The registry GitHub Actions' ``GITHUB_TOKEN`` can push to.
GITHUB_REGISTRY = "ghcr.io"


class Keychain(Protocol):
    """Resolves credentials for a registry, optionally narrowed to a repository."""

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        """Return the credentials to use, or :data:`ANONYMOUS`."""
        ...


@dataclass(frozen=True)
class StaticKeychain:
    """Explicit credentials per registry host (from the API or the command line)."""

    by_host: dict[str, Credentials] = field(default_factory=dict)

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        return self.by_host.get(registry.host, ANONYMOUS)


#: Asked for credentials after explicit ones and before any file (a plugin, through the
#: ``ocipush_credentials`` hook); ``None`` means "I have none for this registry".
CredentialProvider = Callable[[Registry, "Repository | None"], "Credentials | None"]


def _github_actions(registry: Registry, environ: Mapping[str, str]) -> Credentials | None:
    """``GITHUB_TOKEN`` for ghcr.io in a GitHub Actions job, as ``docker/login-action``
    would log in with it; GitHub takes any user name, ``GITHUB_ACTOR`` names the run's."""
    token = environ.get("GITHUB_TOKEN")
    if registry.host != GITHUB_REGISTRY or environ.get("GITHUB_ACTIONS") != "true" or not token:
        return None
    return Credentials(
        username=environ.get("GITHUB_ACTOR") or "github-actions",
        password=token,
        source="GITHUB_TOKEN of this GitHub Actions job (no other credentials for ghcr.io)",
    )


def _gitlab_ci(registry: Registry, environ: Mapping[str, str]) -> Credentials | None:
    """GitLab CI's job credentials for the project's registry (``CI_REGISTRY``), as the
    ``docker login -u "$CI_REGISTRY_USER" -p "$CI_REGISTRY_PASSWORD" "$CI_REGISTRY"`` of
    GitLab's own examples would log in."""
    host, user = environ.get("CI_REGISTRY"), environ.get("CI_REGISTRY_USER")
    password = environ.get("CI_REGISTRY_PASSWORD")
    if not host or not user or not password:
        return None
    try:
        if Registry.parse(host).host != registry.host:
            return None
    except ValueError:
        return None
    return Credentials(
        username=user,
        password=password,
        source="CI_REGISTRY_USER / CI_REGISTRY_PASSWORD of this GitLab CI job (no other "
        f"credentials for {registry.host})",
    )


class DefaultKeychain:
    """Finds credentials where docker and podman keep them, after any given explicitly.

    Answers are remembered per repository, so a helper that asks for a passphrase asks once.

    :param explicit: credentials per registry host (e.g. from ``--username``), used first;
        make them with :meth:`Credentials.from_secret` and a ``source`` such as
        ``"command line"``.
    :param environ: the environment to read (default :data:`os.environ`); helpers run in it.
    :param home: the home directory (default ``$HOME`` from ``environ``).
    :param run: runs credential helpers (default: a subprocess found on ``environ``'s PATH).
    :param helper_timeout: seconds a credential helper may take.
    :param providers: asked in turn after ``explicit`` and before any file.
    """

    def __init__(
        self,
        explicit: Mapping[str, Credentials] | None = None,
        *,
        providers: Sequence[CredentialProvider] = (),
        environ: Mapping[str, str] | None = None,
        home: Path | None = None,
        run: HelperRunner | None = None,
        helper_timeout: float = HELPER_TIMEOUT,
    ) -> None:
        self._explicit = {
            Registry.parse(host).host: creds for host, creds in (explicit or {}).items()
        }
        self._files = AuthFiles.create(environ, home, run, helper_timeout)
        self._providers = tuple(providers)
        self._resolved: dict[tuple[Registry, str | None], Credentials] = {}
        # Serialised so concurrent pushes to one registry run a helper once, not once each.
        self._lock = threading.Lock()

    def resolve(self, registry: Registry, repository: Repository | None = None) -> Credentials:
        key = (registry, None if repository is None else repository.path)
        with self._lock:
            found = self._resolved.get(key)
            if found is None:
                found = self._resolved[key] = self._lookup(registry, key[1])
                logger.debug("credentials for %s: %s", repository or registry, found.source)
        return found

    def refresh(self, registry: Registry) -> Credentials:
        """Forget what was found for ``registry`` and look again: a helper or plugin then
        hands out a new short-lived password (ECR's last 12 hours, regclient/regclient#709).
        """
        with self._lock:
            for key in [key for key in self._resolved if key[0] == registry]:
                del self._resolved[key]
        return self.resolve(registry)

    def _lookup(self, registry: Registry, repository_path: str | None) -> Credentials:
        if explicit := self._explicit.get(registry.host):
            return explicit
        repository = None if repository_path is None else Repository(registry, repository_path)
        for provider in self._providers:
            if (supplied := provider(registry, repository)) is not None:
                return supplied
        found = self._files.lookup(registry, repository_path)
        environ = self._files.environ
        return (
            found
            or _github_actions(registry, environ)
            or _gitlab_ci(registry, environ)
            or ANONYMOUS
        )
