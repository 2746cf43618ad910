"""A real registry on loopback: CNCF distribution (``docker-registry``) started and stopped."""

from __future__ import annotations

import http.client
import json
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ocipush.errors import OcipushError

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import TracebackType


READY_TIMEOUT = 15.0
STOP_TIMEOUT = 5.0
_POLL_INTERVAL = 0.02
_LOG_TAIL_LINES = 20
_BIND_ATTEMPTS = 3
# The registry logs each request twice; the Apache "combined" line on stdout is the terse one.
_ACCESS_LINE = re.compile(r'"(?P<method>[A-Z]+) (?P<path>\S+) HTTP/[0-9.]+" (?P<status>\d{3}) ')
# Readiness probes carry this agent so requests() can leave them out of what tests count.
_PROBE_AGENT = "ocipush-local-registry-readiness-probe"


class LocalRegistryError(OcipushError):
    """The local registry could not be started (binary missing, bad options, crash)."""


@dataclass(frozen=True)
class TokenAuth:
    """Where the registry sends clients for bearer tokens, and how it checks them.

    :ivar realm: the token server URL put in the ``WWW-Authenticate`` challenge.
    :ivar service: the expected ``aud`` claim.
    :ivar issuer: the expected ``iss`` claim.
    :ivar rootcertbundle: PEM file with the certificates token signatures must chain to.
    """

    realm: str
    service: str
    issuer: str
    rootcertbundle: Path


@dataclass(frozen=True)
class AccessLogEntry:
    """One request the registry answered, as its access log recorded it."""

    method: str
    path: str
    status: int


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def tail_of_file(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return "(no output)"
    return "\n".join(text.splitlines()[-lines:]) or "(no output)"


class LocalRegistry:
    """One ``docker-registry serve`` process on ``127.0.0.1`` and a free port.

    Storage and logs live in ``workdir`` (a fresh temporary directory when not given, removed
    again by :meth:`stop`). Deleting is always enabled. Options are keyword-only:

    :param htpasswd: user name to password; enables Basic auth (bcrypt, via ``htpasswd``).
    :param tls: ``(certificate, key)`` PEM paths; the registry then serves HTTPS.
    :param token: enables bearer-token auth checked against a token server's certificate.
    :param log_level: the level of the registry's own log (``registry.log`` in ``workdir``,
        quoted when a start fails); the access log :meth:`requests` reads is kept at any level.
    :param binary: the registry executable, looked up on ``PATH``.
    :param extra_config: more top-level configuration sections, e.g.
        ``{"validation": {"manifests": {"urls": {"allow": ["^https?://"]}}}}``.
    """

    def __init__(
        self,
        *,
        workdir: Path | None = None,
        htpasswd: Mapping[str, str] | None = None,
        tls: tuple[Path, Path] | None = None,
        token: TokenAuth | None = None,
        log_level: str = "info",
        binary: str = "docker-registry",
        extra_config: Mapping[str, object] | None = None,
    ) -> None:
        if htpasswd is not None and token is not None:
            raise LocalRegistryError(
                "LocalRegistry: htpasswd and token auth were both given; "
                "the registry supports one auth method, so pass only one"
            )
        self._owns_workdir = workdir is None
        self._workdir = (
            Path(tempfile.mkdtemp(prefix="ocipush-registry-")) if workdir is None else workdir
        )
        self._htpasswd = dict(htpasswd) if htpasswd is not None else None
        self._tls = tls
        self._token = token
        self._log_level = log_level
        self._binary = binary
        self._extra_config = dict(extra_config or {})
        self._port: int | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalRegistry {self.url if self._port else 'unbound'} {state}>"

    # -- where it is --------------------------------------------------------------------------

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of a reference."""
        if self._port is None:
            raise LocalRegistryError("LocalRegistry: not started yet; call start() first")
        return f"127.0.0.1:{self._port}"

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT`` or ``https://…`` when serving TLS."""
        scheme = "https" if self._tls else "http"
        return f"{scheme}://{self.host}"

    @property
    def storage(self) -> Path:
        """The filesystem storage root (``docker/registry/v2/...`` lives below it)."""
        return self._workdir / "storage"

    @property
    def workdir(self) -> Path:
        return self._workdir

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def _access_log(self) -> Path:
        return self._workdir / "access.log"

    @property
    def _error_log(self) -> Path:
        return self._workdir / "registry.log"

    @property
    def _htpasswd_file(self) -> Path:
        return self._workdir / "htpasswd"

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self) -> LocalRegistry:
        """Start the registry and wait until it answers ``GET /v2/``."""
        if self.running:
            return self
        executable = shutil.which(self._binary)
        if executable is None:
            raise LocalRegistryError(
                f"LocalRegistry: registry executable {self._binary!r} not found on PATH; "
                "install the Debian package docker-registry or pass binary="
            )
        self.storage.mkdir(parents=True, exist_ok=True)
        if self._htpasswd is not None:
            self._write_htpasswd(self._htpasswd)
        # restart() keeps its port; otherwise a probed free port can be taken before the
        # registry binds it, so a few fresh ones are tried.
        keep_port = self._port is not None
        attempts = 1 if keep_port else _BIND_ATTEMPTS
        for _ in range(attempts):
            if not keep_port:
                self._port = _free_port()
            if self._launch(executable):
                return self
        raise LocalRegistryError(
            f"LocalRegistry: could not bind 127.0.0.1:{self._port} ({attempts} attempts); "
            f"free the port or retry; the registry log ends with:\n{tail_of_file(self._error_log)}"
        )

    def stop(self) -> None:
        """Stop the process; remove the working directory if this object created it."""
        self._terminate()
        if self._owns_workdir:
            shutil.rmtree(self._workdir, ignore_errors=True)

    def restart(self) -> None:
        """Kill the process and start it again on the same port with the same storage."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(STOP_TIMEOUT)
            self._process = None
        self.start()

    def __enter__(self) -> LocalRegistry:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def requests(self) -> list[AccessLogEntry]:
        """Every request answered since the first start (across restarts), oldest first.

        The readiness probes of :meth:`start` are left out. The registry logs a request as
        its handler returns, so a client that streamed a large response may read this a moment
        before the last entry lands.
        """
        try:
            text = self._access_log.read_text(errors="replace")
        except FileNotFoundError:
            return []
        return [
            AccessLogEntry(match["method"], match["path"], int(match["status"]))
            for match in map(_ACCESS_LINE.search, text.splitlines())
            if match and not match.string.endswith(f'"{_PROBE_AGENT}"')
        ]

    # -- internals ----------------------------------------------------------------------------

    def _config(self) -> dict[str, object]:
        http: dict[str, object] = {
            "addr": self.host,
            # Fixed so upload-state tokens stay valid across restart().
            "secret": "ocipush-local-registry-secret",
        }
        if self._tls is not None:
            certificate, key = self._tls
            http["tls"] = {"certificate": str(certificate), "key": str(key)}
        config: dict[str, object] = {
            "version": "0.1",
            "log": {"level": self._log_level, "formatter": "text"},
            "storage": {
                "filesystem": {"rootdirectory": str(self.storage)},
                "delete": {"enabled": True},
            },
            "http": http,
        }
        if self._htpasswd is not None:
            config["auth"] = {
                "htpasswd": {"realm": "ocipush-local", "path": str(self._htpasswd_file)}
            }
        if self._token is not None:
            config["auth"] = {
                "token": {
                    "realm": self._token.realm,
                    "service": self._token.service,
                    "issuer": self._token.issuer,
                    "rootcertbundle": str(self._token.rootcertbundle),
                }
            }
        config.update(self._extra_config)
        return config

    def _write_htpasswd(self, users: Mapping[str, str]) -> None:
        lines = []
        for user, password in users.items():
            # -i reads the password from stdin, keeping it out of the process list.
            result = subprocess.run(
                ["htpasswd", "-Bin", user],
                input=password.encode(),
                capture_output=True,
                timeout=30,
                check=False,
            )
            if result.returncode != 0:
                raise LocalRegistryError(
                    f"LocalRegistry: htpasswd failed for user {user!r}: "
                    f"{result.stderr.decode(errors='replace').strip()}; "
                    "install apache2-utils (it provides htpasswd)"
                )
            lines.append(result.stdout.decode().strip())
        self._htpasswd_file.write_text("\n".join(lines) + "\n")

    def _launch(self, executable: str) -> bool:
        """Run the registry; False if its port was taken, an error for any other failure."""
        config_path = self._workdir / "config.yml"
        # JSON is valid YAML, and spares us YAML quoting rules.
        config_path.write_text(json.dumps(self._config(), indent=2))
        log_size = self._error_log.stat().st_size if self._error_log.exists() else 0
        with self._access_log.open("ab") as stdout, self._error_log.open("ab") as stderr:
            # Files, not pipes: nobody drains a pipe during a test, and a full one blocks the
            # registry.
            self._process = subprocess.Popen(
                [executable, "serve", str(config_path)],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
            )
        try:
            self._wait_ready(self._process)
        except LocalRegistryError:
            with self._error_log.open("rb") as log:
                log.seek(log_size)
                if b"address already in use" in log.read():
                    return False
            raise
        return True

    def _wait_ready(self, process: subprocess.Popen[bytes]) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if process.poll() is not None:
                code = process.returncode
                self._process = None
                raise LocalRegistryError(
                    f"LocalRegistry: docker-registry on {self.host} exited with status {code} "
                    f"while starting; its log ends with:\n{tail_of_file(self._error_log)}"
                )
            if self._answers():
                return
            time.sleep(_POLL_INTERVAL)
        self._terminate()
        raise LocalRegistryError(
            f"LocalRegistry: docker-registry on {self.host} did not answer GET /v2/ within "
            f"{READY_TIMEOUT:.0f} s; its log ends with:\n{tail_of_file(self._error_log)}"
        )

    def _answers(self) -> bool:
        """Whether anything HTTP answers ``GET /v2/``; a 401 counts, the server is up."""
        connection: http.client.HTTPConnection
        if self._tls:
            # Readiness only: the caller's trust settings are checked by the caller's requests.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            connection = http.client.HTTPSConnection(self.host, timeout=1, context=context)
        else:
            connection = http.client.HTTPConnection(self.host, timeout=1)
        try:
            connection.request("GET", "/v2/", headers={"User-Agent": _PROBE_AGENT})
            connection.getresponse().read()
        except (OSError, http.client.HTTPException):
            return False
        finally:
            connection.close()
        return True

    def _terminate(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(STOP_TIMEOUT)
