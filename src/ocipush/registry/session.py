"""A repository's session with its registry: credentials and token scopes resolved once.

Everything that talks to one repository (the writer, a blob upload, the referrers update,
delete, the remote reader) asks the client for ``session(repository, actions)`` and sends
its requests through the :class:`Session` it gets. The session knows whose credentials
apply and which scopes its tokens carry, so no layer works that out again from a URL or a
scope string. Below it, :meth:`Transport.send <ocipush.registry.transport.Transport.send>`
is the auth layer (401 flows), over the retry and connection layers.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, BinaryIO

from ocipush.oci.reference import Registry, Repository

if TYPE_CHECKING:
    from urllib3.response import BaseHTTPResponse

    from ocipush.registry.auth import RegistryAuth
    from ocipush.registry.credentials import Credentials
    from ocipush.registry.transport import Transport

__all__ = ["PULL", "PUSH", "Access", "Session", "with_query"]

#: The actions of a token that reads a repository.
PULL = "pull"
#: The actions of a token that writes one: pushing needs ``pull`` too.
PUSH = "pull,push"


def with_query(url: str, **params: str) -> str:
    """``url`` plus ``params``, keeping its own query string (upload state)."""
    return url + ("&" if "?" in url else "?") + urllib.parse.urlencode(params)


@dataclass(frozen=True)
class Access:
    """A repository and what a token must allow on it (:data:`PULL` or :data:`PUSH`)."""

    repository: Repository
    actions: str = PULL

    @property
    def scope(self) -> str:
        """The token scope, ``repository:<path>:<actions>``."""
        return self.repository.scope(self.actions)


class Session:
    """Requests to one repository with the credentials and token scopes resolved for it.

    Made by :meth:`Transport.session <ocipush.registry.transport.Transport.session>`;
    sessions of one registry and credentials share the client's tokens, so a push to
    several repositories still costs one token exchange when their scopes are asked
    together.

    :ivar repository: the repository whose credentials apply and whose paths
        :meth:`blobs` and :meth:`manifests` spell.
    :ivar scopes: the token scopes of every request, this repository's first.
    """

    def __init__(
        self,
        transport: Transport,
        repository: Repository,
        auth: RegistryAuth,
        scopes: tuple[str, ...],
    ) -> None:
        self.transport = transport
        self.repository = repository
        self.auth = auth
        self.scopes = scopes

    def __repr__(self) -> str:
        return f"<Session {self.repository} {' '.join(self.scopes)}>"

    @property
    def registry(self) -> Registry:
        return self.repository.registry

    @property
    def credentials(self) -> Credentials:
        return self.auth.credentials

    def blobs(self, suffix: str) -> str:
        """The API path ``/v2/<repository>/blobs/<suffix>``."""
        return f"/v2/{self.repository.path}/blobs/{suffix}"

    def manifests(self, identifier: str) -> str:
        """The API path ``/v2/<repository>/manifests/<identifier>`` (a tag or a digest)."""
        return f"/v2/{self.repository.path}/manifests/{identifier}"

    def api(self, suffix: str) -> str:
        """Any other API path of the repository: ``tags/list``, ``referrers/<digest>``."""
        return f"/v2/{self.repository.path}/{suffix}"

    def absolute(self, url: str) -> str:
        """``url`` (a path or an upload ``Location``) resolved against the registry."""
        return urllib.parse.urljoin(self.transport.base_url(self.registry) + "/", url)

    def prepare(self) -> None:
        """Fetch this session's token now, before any request body is streamed."""
        self.auth.header(self.scopes)

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | Iterable[bytes] | BinaryIO | None = None,
        expected: Collection[int] = (200,),
        stream: bool = False,
        what: str = "",
        api: bool = True,
        idempotent: bool | None = None,
        reauthenticate: bool = True,
    ) -> BaseHTTPResponse:
        """Send a request with this session's credentials and scopes; see
        :meth:`Transport.send <ocipush.registry.transport.Transport.send>`.

        :param url: a path starting with ``/v2/``, or an absolute URL (an upload
            ``Location``), which gets credentials only when it is on the registry's host.
        """
        return self.transport.send(
            self.registry,
            self.auth,
            self.scopes,
            method,
            url,
            headers=headers,
            body=body,
            expected=expected,
            stream=stream,
            what=what,
            api=api,
            idempotent=idempotent,
            reauthenticate=reauthenticate,
        )

    def fetch(self, url: str, *, what: str) -> BinaryIO:
        """Stream a GET (a blob), following redirects to storage without credentials."""
        response = self.request("GET", url, stream=True, what=what, expected=(200,))
        return _ResponseReader(response)  # type: ignore[return-value]


class _ResponseReader:
    """A streamed response body as a file object that returns its connection on close."""

    def __init__(self, response: BaseHTTPResponse) -> None:
        self._response = response

    def read(self, size: int = -1) -> bytes:
        return self._response.read(None if size < 0 else size)

    def close(self) -> None:
        self._response.drain_conn()
        self._response.release_conn()

    def __enter__(self) -> _ResponseReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
