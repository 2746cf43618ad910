"""TLS trust and client certificates per registry, the way docker and podman configure them.

Verification uses the system CAs, plus any ``--ca-cert`` files, plus the per-host
directories docker and containers/podman read::

    /etc/docker/certs.d/<host[:port]>/        ~/.docker/certs.d/<host[:port]>/
    /etc/containers/certs.d/<host[:port]>/

where ``*.crt`` files are extra CAs and each ``name.cert`` with a matching ``name.key`` is a
client certificate. Verification can be switched off for all registries or for named ones;
that never allows plain http, which is a separate switch (``--insecure``).
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ocipush.errors import OcipushError
from ocipush.oci.reference import Registry

__all__ = ["TlsConfig", "TlsError", "default_cert_dirs"]

log = logging.getLogger(__name__)


class TlsError(OcipushError):
    """A CA file or client certificate cannot be loaded."""


def default_cert_dirs(home: Path | None = None) -> tuple[Path, ...]:
    """The ``certs.d`` roots docker and podman read, most system-wide first."""
    user = (home or Path.home()) / ".docker" / "certs.d"
    return (Path("/etc/docker/certs.d"), user, Path("/etc/containers/certs.d"))


@dataclass(frozen=True)
class TlsConfig:
    """How to set up TLS for each registry (and token realm) host.

    :param ca_files: extra CA bundles trusted for every host (``--ca-cert``).
    :param cert_dirs: ``certs.d`` roots; ``None`` means :func:`default_cert_dirs`.
    :param verify: ``False`` skips certificate verification for every host.
    :param no_verify: hosts (``host[:port]``) whose certificates are not verified.
    """

    ca_files: Sequence[Path] = ()
    cert_dirs: Sequence[Path] | None = None
    verify: bool = True
    no_verify: frozenset[str] = frozenset()
    _contexts: dict[str, ssl.SSLContext] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )
    _lock: threading.Lock = field(
        default_factory=threading.Lock, init=False, repr=False, compare=False
    )

    @classmethod
    def create(
        cls,
        *,
        ca_files: Iterable[Path | str] = (),
        cert_dirs: Iterable[Path | str] | None = None,
        verify: bool = True,
        no_verify: Iterable[str] = (),
    ) -> TlsConfig:
        """A config with host names normalised the way references spell them."""
        return cls(
            ca_files=tuple(Path(p) for p in ca_files),
            cert_dirs=None if cert_dirs is None else tuple(Path(p) for p in cert_dirs),
            verify=verify,
            no_verify=frozenset(Registry.parse(host).host for host in no_verify),
        )

    def verifies(self, host: str) -> bool:
        """Whether certificates of ``host`` (``name[:port]``) are checked."""
        return self.verify and host.lower() not in self.no_verify

    def context(self, host: str) -> ssl.SSLContext:
        """The SSL context for connections to ``host``; built once per host."""
        key = host.lower()
        with self._lock:
            found = self._contexts.get(key)
            if found is None:
                found = self._contexts[key] = self._build(key)
            return found

    def _build(self, host: str) -> ssl.SSLContext:
        context = ssl.create_default_context()  # the system CAs
        for ca_file in self.ca_files:
            self._load_ca(context, ca_file, "--ca-cert")
        roots = default_cert_dirs() if self.cert_dirs is None else self.cert_dirs
        for root in roots:
            self._load_dir(context, root / host)
        if not self.verifies(host):
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
            log.info("not verifying the TLS certificate of %s, as asked", host)
        return context

    @staticmethod
    def _load_ca(context: ssl.SSLContext, path: Path, origin: str) -> None:
        try:
            context.load_verify_locations(cafile=str(path))
        except FileNotFoundError:
            raise TlsError(
                f"{origin} {path}: no such file; give the path of a PEM CA file"
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise TlsError(
                f"{origin} {path}: cannot be loaded as PEM certificates ({_reason(exc)}); "
                "give a PEM file holding the CA certificate"
            ) from None

    def _load_dir(self, context: ssl.SSLContext, directory: Path) -> None:
        try:
            names = sorted(p.name for p in directory.iterdir())
        except (FileNotFoundError, NotADirectoryError):
            return
        except OSError as exc:
            log.warning("ignoring %s: %s", directory, exc.strerror)
            return
        for name in names:
            path = directory / name
            if name.endswith(".crt"):
                log.debug("trusting CA %s", path)
                self._load_ca(context, path, "CA file")
            elif name.endswith(".cert"):
                key = path.with_suffix(".key")
                if not key.exists():
                    raise TlsError(
                        f"client certificate {path} has no key {key.name} next to it; "
                        f"add {key} or remove the certificate"
                    )
                log.debug("client certificate %s", path)
                try:
                    context.load_cert_chain(str(path), str(key))
                except (OSError, ssl.SSLError) as exc:
                    raise TlsError(
                        f"client certificate {path} with key {key}: cannot be loaded "
                        f"({_reason(exc)}); check that both are PEM and belong together"
                    ) from None
            elif name.endswith(".key") and not path.with_suffix(".cert").exists():
                raise TlsError(
                    f"client key {path} has no certificate {path.with_suffix('.cert').name} "
                    "next to it; add the certificate or remove the key"
                )


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or getattr(exc, "strerror", None) or exc)
