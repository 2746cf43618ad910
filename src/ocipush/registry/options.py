"""The client's one options object: how to reach registries, and the timeouts of a request.

Front ends build a :class:`ConnectionOptions` from their flags; it imports no HTTP library,
so parsing a command line costs nothing until a command talks to a registry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ocipush.registry.retry import RetryPolicy

if TYPE_CHECKING:
    from ocipush.registry.keychain import Keychain
    from ocipush.registry.tls import TlsConfig
    from ocipush.registry.transport import Transport

__all__ = ["ConnectionOptions", "Timeouts"]


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait for a connection and for each read; generous for slow registries.

    Defaults: 10 s to connect, 120 s for each read (a registry may take a while to answer
    the final PUT of a large blob while it verifies the digest).
    """

    connect: float = 10.0
    read: float = 120.0


@dataclass(frozen=True)
class ConnectionOptions:
    """How to reach registries: the one options object of the client.

    Front ends build one from their flags; a :class:`Transport` is made from it (plus the
    number of jobs), so every connection of a run honours the same choices.

    :ivar keychain: where credentials come from; anonymous when ``None``.
    :ivar insecure: registry hosts that may be reached over plain http (loopback always
        may). This never switches off certificate verification over https (see ``tls``).
    :ivar allow_credentials_over_http: registry hosts to which credentials and tokens may
        be sent over plain http although they are not loopback (and to their token realm).
    :ivar tls: CA files, ``certs.d`` directories and verification switches; by default the
        system CAs plus docker's and podman's ``certs.d`` directories.
    :ivar proxies: ``{"http": URL, "https": URL, "no": "host,.domain"}``; by default from
        ``HTTP_PROXY``, ``HTTPS_PROXY`` and ``NO_PROXY`` (see
        :func:`~ocipush.registry.connection.bypasses_proxy`).
    :ivar password_grant: get tokens with an OAuth2 password grant instead of GET + Basic.
    :ivar timeouts: connect and read timeouts.
    :ivar retry: how often and how long apart an idempotent request is sent again after a
        reset connection or a busy answer (the retry layer), and (in the writer) a whole
        blob upload.
    """

    keychain: Keychain | None = None
    insecure: tuple[str, ...] = ()
    allow_credentials_over_http: tuple[str, ...] = ()
    tls: TlsConfig | None = None
    proxies: Mapping[str, str] | None = None
    password_grant: bool = False
    timeouts: Timeouts = Timeouts()
    retry: RetryPolicy = RetryPolicy()

    def transport(self, *, jobs: int = 4, insecure: Iterable[str] = ()) -> Transport:
        """A transport with these options, plus more hosts allowed plain http."""
        # Here, not at the top: reading options (the CLI's flags) loads no HTTP library.
        from ocipush.registry.transport import Transport  # noqa: PLC0415

        return Transport(dataclasses.replace(self, insecure=(*self.insecure, *insecure)), jobs=jobs)
