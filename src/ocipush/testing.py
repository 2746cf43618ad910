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

PYTEST_DONT_REWRITE: this module has no assertions to rewrite, and conftest files commonly
import it before pytest registers it as a plugin, which would otherwise warn.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import platform
import re
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pytest

from ocipush import media_types as mt
from ocipush.blobs import BytesBlob, FileBlob
from ocipush.config import read_pyproject
from ocipush.digest import Digest
from ocipush.errors import OcipushError
from ocipush.images import Image
from ocipush.layers import LayerEntry, build_layer, entries_from_directory
from ocipush.reference import parse_reference
from ocipush.transport import Transport
from ocipush.writer import Writer

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping, Sequence
    from types import TracebackType

__all__ = [
    "DEBIAN_PYTHON",
    "DEBIAN_SITE_PACKAGES",
    "AccessLogEntry",
    "DebianBaseError",
    "LocalRegistry",
    "LocalRegistryError",
    "LocalRegistryFactory",
    "TokenAuth",
    "debian_base_layer",
    "default_cache_dir",
    "local_registry",
    "local_registry_factory",
    "push_base_image",
    "wheelhouse",
    "wheelhouse_environ",
]

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


def _tail(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
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
            f"free the port or retry; the registry log ends with:\n{_tail(self._error_log)}"
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
                    f"while starting; its log ends with:\n{_tail(self._error_log)}"
                )
            if self._answers():
                return
            time.sleep(_POLL_INTERVAL)
        self._terminate()
        raise LocalRegistryError(
            f"LocalRegistry: docker-registry on {self.host} did not answer GET /v2/ within "
            f"{READY_TIMEOUT:.0f} s; its log ends with:\n{_tail(self._error_log)}"
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


# -- a Debian base with Python ------------------------------------------------------------

DEBIAN_SUITE = "bookworm"
DEBIAN_VARIANT = "minbase"
DEBIAN_MIRROR = "http://deb.debian.org/debian"
#: The interpreter bookworm's ``python3`` package installs; console scripts get it as shebang.
DEBIAN_PYTHON = "/usr/bin/python3.11"
#: Where installed packages go: on ``sys.path`` of Debian's python3 but not owned by dpkg.
DEBIAN_SITE_PACKAGES = "/usr/local/lib/python3.11/dist-packages"
#: Names the cached layer; bump the version when the packing below changes, so a stale layer
#: is not reused.
DEBIAN_CACHE_KEY = f"debootstrap-{DEBIAN_SUITE}-{DEBIAN_VARIANT}-python3-v1"
DEBOOTSTRAP_TIMEOUT = 900
# Not worth a layer: debootstrap's download cache, apt lists, and kernel-provided trees.
_DEBIAN_EXCLUDE = (
    "dev/**",
    "proc/**",
    "sys/**",
    "run/**",
    "tmp/**",
    "var/cache/apt/archives/**",
    "var/lib/apt/lists/**",
    "var/log/**",
)
# uname's machine name to the OCI architecture; debootstrap builds for the host.
_OCI_ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}


class DebianBaseError(OcipushError):
    """The Debian base layer could not be built (not root, no debootstrap, mirror failure)."""


def default_cache_dir() -> Path:
    """``$OCIPUSH_TEST_CACHE``, else ``~/.cache/ocipush-tests``: kept between runs on purpose."""
    configured = os.environ.get("OCIPUSH_TEST_CACHE")
    return Path(configured) if configured else Path.home() / ".cache" / "ocipush-tests"


def _cached_layer(directory: Path) -> FileBlob | None:
    record_path = directory / "layer.json"
    try:
        record = json.loads(record_path.read_text(encoding="utf-8"))
        path = directory / record["file"]
        if not path.is_file() or path.stat().st_size != record["size"]:
            return None
        return FileBlob(
            path,
            mt.OCI_LAYER,
            digest=Digest.parse(record["digest"]),
            size=record["size"],
            diff_id=Digest.parse(record["diff_id"]),
        )
    except (OSError, ValueError, KeyError, TypeError):
        # Absent, or left half-written by an interrupted run: build it again.
        return None


def _debootstrap(rootfs: Path) -> None:
    if os.geteuid() != 0:
        raise DebianBaseError(
            "building the Debian base needs root (debootstrap chroots and creates device "
            "nodes); run as root or with sudo, or point OCIPUSH_TEST_CACHE at a cache that "
            f"already holds {DEBIAN_CACHE_KEY}"
        )
    if shutil.which("debootstrap") is None:
        raise DebianBaseError(
            "building the Debian base needs debootstrap, which is not on PATH; install the "
            "Debian package debootstrap (`make system-deps`, or apt-get install debootstrap)"
        )
    command = [
        "debootstrap",
        f"--variant={DEBIAN_VARIANT}",
        "--include=python3",
        DEBIAN_SUITE,
        str(rootfs),
        DEBIAN_MIRROR,
    ]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=DEBOOTSTRAP_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise DebianBaseError(
            f"{' '.join(command)} did not finish in {DEBOOTSTRAP_TIMEOUT} s; check that "
            f"{DEBIAN_MIRROR} is reachable (HTTP_PROXY is honoured) and retry"
        ) from None
    except subprocess.CalledProcessError as error:
        log = _tail(rootfs / "debootstrap" / "debootstrap.log")
        raise DebianBaseError(
            f"{' '.join(command)} exited with {error.returncode}; check that {DEBIAN_MIRROR} "
            f"is reachable. stderr:\n{error.stderr.strip()}\ndebootstrap.log ends with:\n{log}"
        ) from None


def debian_base_layer(cache_dir: Path | None = None) -> FileBlob:
    """One reproducible layer holding a minimal Debian bookworm with ``python3``.

    Built once with ``debootstrap --variant=minbase --include=python3`` (needs root and the
    Debian mirror; a few minutes), packed with :func:`ocipush.layers.build_layer`, and kept in
    ``cache_dir`` (default :func:`default_cache_dir`) under :data:`DEBIAN_CACHE_KEY`; later
    calls only read the cache. Its interpreter is :data:`DEBIAN_PYTHON`.

    :raises DebianBaseError: when the layer is not cached and cannot be built.
    """
    directory = (cache_dir or default_cache_dir()) / DEBIAN_CACHE_KEY
    cached = _cached_layer(directory)
    if cached is not None:
        return cached
    directory.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="rootfs-", dir=directory))
    try:
        _debootstrap(rootfs)
        entries = entries_from_directory(rootfs, "/", exclude=_DEBIAN_EXCLUDE)
        entries = [entry for entry in entries if entry.path != "/"]
        # Runtimes mount over these; they must exist, empty, in the image.
        entries += [LayerEntry(f"/{name}", None, 0o755) for name in ("dev", "proc", "sys", "run")]
        entries.append(LayerEntry("/tmp", None, 0o1777))  # noqa: S108 (a path in the image)
        blob = build_layer(entries, directory)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    record = {
        "file": blob.path.name,
        "digest": str(blob.digest),
        "diff_id": str(blob.diff_id),
        "size": blob.size,
    }
    # Written last and renamed into place: a record always names a complete layer file.
    partial = directory / "layer.json.partial"
    partial.write_text(json.dumps(record), encoding="utf-8")
    partial.replace(directory / "layer.json")
    return blob


def push_base_image(registry_host: str, repo: str, layer: FileBlob) -> str:
    """Push a one-layer image of ``layer`` (from :func:`debian_base_layer`) to a registry.

    It is tagged with the suite (``bookworm``) and its config sets ``PATH`` and
    ``Cmd = ["python3"]``, like Debian's own images. The registry is reached directly, never
    through a proxy from the environment: it is meant to be a local one.

    :return: ``registry_host/repo@digest``, a pinned ``[tool.ocipush.image] base``.
    """
    machine = platform.machine().lower()
    made_by = f"debootstrap --variant={DEBIAN_VARIANT} --include=python3 {DEBIAN_SUITE}"
    config = {
        "architecture": _OCI_ARCHITECTURES.get(machine, machine),
        "os": "linux",
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["python3"],
        },
        "rootfs": {"type": "layers", "diff_ids": [str(layer.diff_id)]},
        "history": [{"created_by": made_by}],
    }
    image = Image(
        layers=[layer],
        config=BytesBlob(json.dumps(config, sort_keys=True).encode(), mt.OCI_CONFIG),
    )
    writer = Writer(Transport(proxies={}))
    descriptor = writer.write(parse_reference(f"{registry_host}/{repo}:{DEBIAN_SUITE}"), image)
    return f"{registry_host}/{repo}@{descriptor.digest}"


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


# --- an offline package index for isolated builds ---------------------------------------------

WHEELHOUSE_TIMEOUT = 900


class WheelhouseError(OcipushError):
    """The wheelhouse could not be made (the package index unreachable, a build failing)."""


def _pip(arguments: Sequence[str], what: str) -> None:
    command = [sys.executable, "-m", "pip", *arguments, "--quiet", "--disable-pip-version-check"]
    try:
        subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=WHEELHOUSE_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise WheelhouseError(f"{what}: pip took over {WHEELHOUSE_TIMEOUT} s") from None
    except subprocess.CalledProcessError as error:
        raise WheelhouseError(f"{what} failed:\n{error.stderr.strip()}") from None


def wheelhouse(
    projects: Sequence[Path], requirements: Sequence[str], *, cache_dir: Path | None = None
) -> Path:
    """A fresh directory of wheels that ``pip install --no-index --find-links`` can use.

    It holds a wheel of each of ``projects`` (built now, since their sources change), and
    their ``[project] dependencies`` and ``requirements`` with everything those depend on,
    for this interpreter: downloaded from the package index once, then kept in ``cache_dir``
    (default :func:`default_cache_dir`) under a key made of the list. Isolated ``python -m
    build`` runs of a project whose ``[build-system]`` requires one of ``projects`` then work
    offline and install exactly these files: see :func:`wheelhouse_environ`.

    :raises WheelhouseError: when a download or a build fails.
    """
    requirements = [*requirements]
    for project in projects:
        declared = read_pyproject(project).get("project", {}).get("dependencies", [])
        requirements += [str(requirement) for requirement in declared]
    material = "\n".join([sys.version, *sorted(requirements)]).encode()
    key = hashlib.sha256(material).hexdigest()[:16]
    cached = (cache_dir or default_cache_dir()) / f"wheelhouse-{key}"
    if not (cached / ".complete").is_file():
        cached.mkdir(parents=True, exist_ok=True)
        _pip(
            ["download", "--only-binary=:all:", "-d", str(cached), *requirements],
            f"downloading {', '.join(requirements)}",
        )
        (cached / ".complete").write_text("\n".join(requirements), encoding="utf-8")
    out = Path(tempfile.mkdtemp(prefix="ocipush-wheelhouse-"))
    for wheel in cached.glob("*.whl"):
        shutil.copy2(wheel, out / wheel.name)
    for project in projects:
        # With what is installed: building the fixture is not the path under test.
        _pip(
            ["wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(project)],
            f"building a wheel of {project}",
        )
    return out


def wheelhouse_environ(directory: Path, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``environ`` (default: this process's) with pip pointed at ``directory`` only.

    Every pip that runs under it, including those of isolated build environments and the
    one ocipush runs to resolve image dependencies, installs from ``directory``.
    """
    base = dict(os.environ if environ is None else environ)
    for name in [name for name in base if name.startswith("PIP_")]:
        del base[name]
    return {**base, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(directory)}
