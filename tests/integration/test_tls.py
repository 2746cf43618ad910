"""TLS trust (certs.d, --ca-cert, verification switches) and forward proxies, for real.

The registry is distribution 2.8 serving the session PKI's server certificate, with
htpasswd auth; the forward proxy is a tiny CONNECT proxy on 127.0.0.1 defined here.
"""

from __future__ import annotations

import contextlib
import io
import select
import socket
import socketserver
import ssl
import threading

import pytest

from ocipush.cli import main
from ocipush.cli.remedies import remedy
from ocipush.errors import TransportError, UntrustedCertificateError
from ocipush.oci.layout import write_layout
from ocipush.oci.reference import Registry, parse_reference
from ocipush.registry.keychain import Credentials, StaticKeychain
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.tls import TlsConfig
from ocipush.registry.transport import ConnectionOptions, Transport, bypasses_proxy
from ocipush.registry.writer import Writer
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_image
from support.tools import skopeo_inspect_raw


@pytest.fixture
def tls_registry(local_registry_factory, pki):
    return local_registry_factory(htpasswd={HTPASSWD_USER: HTPASSWD_PASSWORD}, tls=pki.server_pair)


def _keychain(host: str) -> StaticKeychain:
    return StaticKeychain({host: Credentials(HTPASSWD_USER, HTPASSWD_PASSWORD, source="test")})


def _push(host: str, repo: str, **transport_options) -> Writer:
    transport_options.setdefault("proxies", {})
    transport_options.setdefault("tls", TlsConfig.create(cert_dirs=[]))
    writer = Writer(
        Transport(ConnectionOptions(keychain=_keychain(host), **transport_options)),
        retry=RetryPolicy(attempts=1),
    )
    writer.write(parse_reference(f"{host}/{repo}:v1"), make_image({"tls.txt": repo.encode()}))
    return writer


def test_ca_from_a_certs_d_directory(tls_registry, pki, repo_name, tmp_path):
    host_dir = tmp_path / "certs.d" / tls_registry.host
    host_dir.mkdir(parents=True)
    (host_dir / "ca.crt").write_bytes(pki.ca_cert.read_bytes())

    writer = _push(
        tls_registry.host, repo_name, tls=TlsConfig.create(cert_dirs=[tmp_path / "certs.d"])
    )

    assert writer.transport.base_url(Registry.parse(tls_registry.host)).startswith("https://")


def test_an_untrusted_certificate_fails_and_says_how_to_trust_it(tls_registry, repo_name):
    with pytest.raises(TransportError) as caught:
        _push(tls_registry.host, repo_name)
    error = caught.value
    assert isinstance(error, UntrustedCertificateError)
    assert error.host == tls_registry.host
    assert f"registry {tls_registry.host} is not trusted" in str(error)
    # The library says what happened; the CLI says what to do, in flags.
    assert "--" not in str(error)
    hint = remedy(error)
    assert hint is not None
    assert "--ca-cert" in hint
    assert f"certs.d/{tls_registry.host}/" in hint
    assert f"--tls-verify=false:{tls_registry.host}" in hint


def test_insecure_never_turns_off_verification(tls_registry, repo_name):
    """--insecure allows http; it must not make an untrusted https server acceptable."""
    with pytest.raises(TransportError, match="not trusted"):
        _push(tls_registry.host, repo_name, insecure=[tls_registry.host])


def test_tls_verify_false_for_one_registry(tls_registry, repo_name):
    _push(
        tls_registry.host,
        repo_name,
        tls=TlsConfig.create(cert_dirs=[], no_verify=[tls_registry.host]),
    )
    with pytest.raises(TransportError, match="not trusted"):
        _push(
            tls_registry.host,
            f"{repo_name}-2",
            tls=TlsConfig.create(cert_dirs=[], no_verify=["other.example:5000"]),
        )


def test_tls_verify_false_never_allows_plain_http():
    transport = Transport(ConnectionOptions(tls=TlsConfig.create(verify=False), proxies={}))
    assert not transport.connection.allows_http(Registry.parse("registry.example.com"))


def test_cli_ca_cert_and_password_stdin(tls_registry, pki, repo_name, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no stray certs.d or docker config
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    image = make_image({"cli-tls.txt": b"cli\n"})
    write_layout(tmp_path / "layout", image, "v1")
    monkeypatch.setattr("sys.stdin", io.StringIO(HTPASSWD_PASSWORD + "\n"))
    target = f"{tls_registry.host}/{repo_name}:v1"

    code = main(
        [
            "copy",
            f"oci:{tmp_path / 'layout'}:v1",
            target,
            "--ca-cert",
            str(pki.ca_cert),
            "-u",
            HTPASSWD_USER,
            "--password-stdin",
            "--no-progress",
        ]
    )

    assert code == 0
    raw = skopeo_inspect_raw(
        target, tls_verify=True, creds=(HTPASSWD_USER, HTPASSWD_PASSWORD), cert_dir=pki.cert_dir
    )
    assert raw == image.manifest().raw


# -- forward proxy ------------------------------------------------------------------------------


class _ConnectProxy(socketserver.ThreadingTCPServer):
    """Answers ``CONNECT host:port`` by tunnelling bytes; records each target."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ConnectHandler)
        self.targets: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ConnectHandler(socketserver.StreamRequestHandler):
    server: _ConnectProxy

    def handle(self) -> None:
        line = self.rfile.readline(8192).decode("latin-1")
        while self.rfile.readline(8192) not in (b"\r\n", b"\n", b""):
            pass
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        self.server.targets.append(target)
        host, _, port = target.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            self._pipe(self.connection, upstream)

    @staticmethod
    def _pipe(client: socket.socket, upstream: socket.socket) -> None:
        sockets = [client, upstream]
        for _ in range(100_000):  # bounded: a push here is a few hundred reads
            readable, _, _ = select.select(sockets, [], [], 10)
            if not readable:
                return
            for sock in readable:
                data = sock.recv(65536)
                if not data:
                    return
                (upstream if sock is client else client).sendall(data)


@pytest.fixture
def connect_proxy():
    proxy = _ConnectProxy()
    thread = threading.Thread(target=proxy.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    yield proxy
    proxy.shutdown()
    proxy.server_close()
    thread.join(5)


def _clear_proxy_env(monkeypatch) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)


def test_https_proxy_from_the_environment_is_used(
    tls_registry, pki, repo_name, connect_proxy, monkeypatch
):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)

    _push(tls_registry.host, repo_name, proxies=None, tls=TlsConfig.create(ca_files=[pki.ca_cert]))

    assert connect_proxy.targets
    assert set(connect_proxy.targets) == {tls_registry.host}


def test_no_proxy_bypasses_the_proxy(tls_registry, pki, repo_name, connect_proxy, monkeypatch):
    _clear_proxy_env(monkeypatch)
    monkeypatch.setenv("HTTPS_PROXY", connect_proxy.url)
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")

    _push(tls_registry.host, repo_name, proxies=None, tls=TlsConfig.create(ca_files=[pki.ca_cert]))

    assert connect_proxy.targets == []


@pytest.mark.parametrize(
    ("netloc", "no_proxy", "bypassed"),
    [
        ("127.0.0.1:5000", "", False),
        ("127.0.0.1:5000", "127.0.0.1", True),
        ("127.0.0.1:5000", "127.0.0.1:5001", False),
        ("127.0.0.1:5000", "127.0.0.0/8", True),
        ("reg.example.com", ".example.com", True),
        ("reg.example.com", "example.com", True),
        ("badexample.com", "example.com", False),
        ("anything:1", "*", True),
        ("[::1]:5000", "::1", True),
    ],
)
def test_no_proxy_matching(netloc, no_proxy, bypassed):
    assert bypasses_proxy(netloc, no_proxy) is bypassed


def test_client_certificate_from_certs_d_is_presented(pki, tmp_path):
    """distribution's client-CA option is not exposed by LocalRegistry, so a small TLS
    server that requires a client certificate stands in for it."""
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(*map(str, pki.server_pair))
    server_context.load_verify_locations(str(pki.ca_cert))
    server_context.verify_mode = ssl.CERT_REQUIRED
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    seen: list[object] = []

    def serve() -> None:
        with contextlib.suppress(OSError), listener:
            conn, _ = listener.accept()
            with server_context.wrap_socket(conn, server_side=True) as tls:
                seen.append(tls.getpeercert())
                tls.recv(65536)
                tls.sendall(
                    b"HTTP/1.1 200 OK\r\nDocker-Distribution-API-Version: registry/2.0\r\n"
                    b"Content-Length: 0\r\nConnection: close\r\n\r\n"
                )

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    host = f"127.0.0.1:{port}"
    host_dir = tmp_path / host
    host_dir.mkdir()
    for name in ("ca.crt", "client.cert", "client.key"):
        (host_dir / name).write_bytes((pki.cert_dir / name).read_bytes())

    transport = Transport(ConnectionOptions(tls=TlsConfig.create(cert_dirs=[tmp_path]), proxies={}))
    assert transport.base_url(Registry.parse(host)) == f"https://{host}"
    thread.join(5)
    assert seen
    assert seen[0]
