"""A real registry for tests: CNCF distribution (``docker-registry``) on loopback.

Opt in from a ``conftest.py`` with ``pytest_plugins = ["ocipush.testing"]`` to get two
fixtures: ``local_registry`` (one plain registry per session) and ``local_registry_factory``
(registries with htpasswd, TLS or token auth, stopped when the test ends). Outside pytest,
:class:`LocalRegistry` is a context manager::

    with LocalRegistry(htpasswd={"alice": "pw"}) as registry:
        push(f"{registry.host}/demo:1")
        assert any(r.method == "PATCH" for r in registry.requests())

It also makes a real base image to build runnable images on, without a daemon or a
public registry: :func:`debian_base_layer` packs a minimal Debian bookworm with ``python3``
(made once by ``debootstrap``, then cached) and :func:`push_base_image` pushes it::

    base = push_base_image(registry.host, "bases/debian-python", debian_base_layer())
    # [tool.ocipush.image] base = base, python = DEBIAN_PYTHON,
    #                      site-packages = DEBIAN_SITE_PACKAGES

The fixtures live in :mod:`ocipush.testing.plugin`, imported here only when pytest is
already running, so a plain install can use :class:`LocalRegistry` without pytest.

PYTEST_DONT_REWRITE: this module has no assertions to rewrite, and conftest files commonly
import it before pytest registers it as a plugin, which would otherwise warn.
"""

from __future__ import annotations

import sys

from ocipush.testing.base import (
    DEBIAN_PYTHON,
    DEBIAN_SITE_PACKAGES,
    DebianBaseError,
    debian_base_layer,
    default_cache_dir,
    push_base_image,
)
from ocipush.testing.registry import AccessLogEntry, LocalRegistry, LocalRegistryError, TokenAuth
from ocipush.testing.wheelhouse import WheelhouseError, wheelhouse, wheelhouse_environ

__all__ = [
    "DEBIAN_PYTHON",
    "DEBIAN_SITE_PACKAGES",
    "AccessLogEntry",
    "DebianBaseError",
    "LocalRegistry",
    "LocalRegistryError",
    "TokenAuth",
    "WheelhouseError",
    "debian_base_layer",
    "default_cache_dir",
    "push_base_image",
    "wheelhouse",
    "wheelhouse_environ",
]

if "pytest" in sys.modules:
    # Under pytest, `pytest_plugins = ["ocipush.testing"]` gets the fixtures from here.
    from ocipush.testing.plugin import (  # noqa: F401 - re-exported for pytest
        LocalRegistryFactory,
        local_registry,
        local_registry_factory,
    )
