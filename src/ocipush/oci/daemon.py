"""Loading an image into a local Docker-compatible engine (``docker-daemon:REF``).

The engine is reached over its API socket, as the ``docker`` CLI does: ``DOCKER_HOST``
(``unix:///path`` or ``tcp://host:port``), by default ``unix:///var/run/docker.sock``. Docker
and ``podman system service`` both answer ``POST /images/load`` with a ``docker load`` tar in
the body; ocipush streams that tar (:mod:`ocipush.oci.archives`) in chunked encoding straight from
the image's blobs, so no copy of the whole image is made on disk.
"""

from __future__ import annotations

import http.client
import io
import json
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from ocipush.errors import OcipushError
from ocipush.oci.archives import write_archive
from ocipush.oci.images import Image
from ocipush.oci.model import Descriptor, Platform

__all__ = ["DAEMON_PREFIX", "DEFAULT_DOCKER_HOST", "Daemon", "DaemonError"]

log = logging.getLogger(__name__)

DAEMON_PREFIX = "docker-daemon:"
DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
#: Seconds one socket operation may take; an engine unpacks big layers before answering.
TIMEOUT = 600.0
#: Largest answer read from the engine (its load report is a few lines).
_ANSWER_LIMIT = 1024 * 1024
_START_HINT = "start Docker (or `podman system service`), or point DOCKER_HOST at a running engine"


class DaemonError(OcipushError):
    """The engine cannot be reached or refused the image."""


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class _ChunkedBody(io.RawIOBase):
    """A writable stream sending each write as one HTTP/1.1 chunk."""

    def __init__(self, connection: http.client.HTTPConnection) -> None:
        self._connection = connection

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if data:
            self._connection.send(b"%x\r\n%s\r\n" % (len(data), bytes(data)))
        return len(data)

    def finish(self) -> None:
        self._connection.send(b"0\r\n\r\n")


class Daemon:
    """A Docker-compatible engine's API.

    :param environ: where ``DOCKER_HOST`` is read from.
    """

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.host = environ.get("DOCKER_HOST") or DEFAULT_DOCKER_HOST
        url = urlsplit(self.host)
        if url.scheme not in ("unix", "tcp", "http") or not (url.path or url.netloc):
            raise DaemonError(
                f"DOCKER_HOST={self.host!r} is not an engine address ocipush can use; write "
                "unix:///path/to/docker.sock or tcp://HOST:PORT"
            )
        self._url = url

    def _connect(self) -> http.client.HTTPConnection:
        if self._url.scheme == "unix":
            return _UnixConnection(self._url.path, TIMEOUT)
        return http.client.HTTPConnection(self._url.netloc, timeout=TIMEOUT)

    def _unreachable(self, error: OSError) -> DaemonError:
        return DaemonError(
            f"no Docker-compatible engine answers at {self.host} "
            f"({error.strerror or error}); {_START_HINT}"
        )

    def platform(self) -> Platform:
        """The engine's own platform (``GET /version``), which the loaded image must match."""
        connection = self._connect()
        try:
            connection.request("GET", "/version")
            response = connection.getresponse()
            answer = response.read(_ANSWER_LIMIT)
        except OSError as error:
            raise self._unreachable(error) from None
        finally:
            connection.close()
        try:
            version = json.loads(answer)
            return Platform(str(version["Os"]), str(version["Arch"]))
        except (ValueError, KeyError, TypeError):
            raise DaemonError(
                f"{self.host} answered GET /version with HTTP {response.status} and no "
                f"platform; is it a Docker-compatible engine? {_START_HINT}"
            ) from None

    def load(self, image: Image, repo_tags: Sequence[str]) -> Descriptor:
        """Stream ``image`` into the engine, tagged ``repo_tags``.

        :raises DaemonError: the engine is unreachable or reports a failure, quoting it.
        """
        connection = self._connect()
        try:
            try:
                connection.putrequest("POST", "/images/load?quiet=1")
                connection.putheader("Content-Type", "application/x-tar")
                connection.putheader("Transfer-Encoding", "chunked")
                connection.endheaders()
            except OSError as error:
                raise self._unreachable(error) from None
            body = _ChunkedBody(connection)
            try:
                (descriptor,) = write_archive(body, [(image, ())], repo_tags=repo_tags)  # type: ignore[arg-type]
                body.finish()
            except OSError as error:
                # The engine hung up mid-stream; its answer, if any, says why.
                log.debug("engine closed the load stream", exc_info=True)
                sent_error: OSError | None = error
            else:
                sent_error = None
            try:
                response = connection.getresponse()
                answer = response.read(_ANSWER_LIMIT).decode("utf-8", "replace")
            except OSError as error:
                raise DaemonError(
                    f"{self.host} dropped the image load "
                    f"({(sent_error or error).strerror or sent_error or error}); "
                    "see the engine's log"
                ) from None
        finally:
            connection.close()
        problem = _load_problem(response.status, answer)
        if problem:
            raise DaemonError(f"{self.host} refused the image: {problem}")
        log.info("loaded %s into %s: %s", ", ".join(repo_tags), self.host, answer.strip())
        return descriptor


def _load_problem(status: int, answer: str) -> str | None:
    """What went wrong according to the engine's answer (JSON lines, or one JSON object)."""
    messages = []
    for line in answer.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict):
            detail = entry.get("errorDetail") or {}
            text = entry.get("error") or entry.get("message") or detail.get("message")
            if text and (status >= 400 or "error" in entry or "errorDetail" in entry):
                messages.append(str(text))
    if messages:
        return "; ".join(messages)
    if status >= 400:
        return f"HTTP {status}: {answer.strip()[:500] or 'no details'}"
    return None
