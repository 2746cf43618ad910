"""The files docker and podman log in to, and their credential helpers.

Reading: ``REGISTRY_AUTH_FILE``, docker's ``config.json`` (``credHelpers``, ``credsStore``,
then ``auths``, the most specific ``host/path`` key first) and podman's ``auth.json``, each
problem worded with the file and entry at fault. Writing: :func:`login` and :func:`logout`
edit docker's config the way ``docker login`` and ``docker logout`` do, so both tools see
the result. :class:`~ocipush.registry.keychain.DefaultKeychain` asks :class:`AuthFiles`.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from ocipush.errors import (
    AuthError,
    CredentialHelperError,
    CredentialsFileError,
    InvalidReferenceError,
)
from ocipush.oci.reference import DOCKER_HUB, Registry
from ocipush.registry.credentials import Credentials

__all__ = [
    "DOCKER_HUB_SERVER_URL",
    "HELPER_TIMEOUT",
    "AuthFiles",
    "HelperRunner",
    "login",
    "logout",
]

logger = logging.getLogger(__name__)

#: How docker names Docker Hub in config files and to credential helpers.
DOCKER_HUB_SERVER_URL = "https://index.docker.io/v1/"
#: Seconds a credential helper may take; some unlock a keyring or ask for a passphrase.
HELPER_TIMEOUT = 60.0

_HELPER_PREFIX = "docker-credential-"
_HELPER_NOT_FOUND = "credentials not found"


class HelperRunner(Protocol):
    """Runs ``program action`` with ``stdin``, like :func:`subprocess.run` with text output.

    Raises :class:`FileNotFoundError` when ``program`` is not installed and
    :class:`subprocess.TimeoutExpired` when it outlives ``timeout``.
    """

    def __call__(
        self, program: str, action: str, *, stdin: str, environ: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]: ...


def _run_helper(
    program: str, action: str, *, stdin: str, environ: Mapping[str, str], timeout: float
) -> subprocess.CompletedProcess[str]:
    # Looked up on the given PATH, not ours, so an injected environment decides what runs.
    executable = shutil.which(program, path=environ.get("PATH", os.defpath))
    if executable is None:
        raise FileNotFoundError(program)
    return subprocess.run(
        [executable, action],
        input=stdin,
        capture_output=True,
        text=True,
        env=dict(environ),
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class AuthFiles:
    """Where credentials files are and how helpers run: the environment they are looked up
    in, so tests can substitute every part."""

    environ: Mapping[str, str]
    home: Path
    run: HelperRunner
    helper_timeout: float

    @classmethod
    def create(
        cls,
        environ: Mapping[str, str] | None,
        home: Path | None,
        run: HelperRunner | None,
        helper_timeout: float,
    ) -> AuthFiles:
        env = os.environ if environ is None else environ
        if home is None:
            home = Path(env["HOME"]) if env.get("HOME") else Path.home()
        return cls(env, home, run or _run_helper, helper_timeout)

    @property
    def docker_config(self) -> Path:
        directory = self.environ.get("DOCKER_CONFIG")
        base = Path(directory) if directory else self.home / ".docker"
        return base / "config.json"

    def auth_files(self) -> Iterator[tuple[str, Path]]:
        """``(label, path)`` of every file that may hold credentials, first match wins."""
        if auth_file := self.environ.get("REGISTRY_AUTH_FILE"):
            yield "REGISTRY_AUTH_FILE", Path(auth_file)
        yield "docker config", self.docker_config
        # Podman writes to the runtime directory but still reads the persistent file after it.
        if runtime_dir := self.environ.get("XDG_RUNTIME_DIR"):
            yield "podman auth.json", Path(runtime_dir) / "containers" / "auth.json"
        yield "podman auth.json", self.home / ".config" / "containers" / "auth.json"

    def lookup(self, registry: Registry, repository_path: str | None) -> Credentials | None:
        """The credentials the first file holding any for ``registry`` gives, if any."""
        for label, path in self.auth_files():
            found = _lookup_in_file(label, path, registry, repository_path, self)
            if found is not None:
                return found
        return None


@dataclass(frozen=True)
class _Helper:
    """One ``docker-credential-<name>`` program, and the config entry that named it."""

    name: str
    setting: str
    key: str | None
    config_path: Path
    context: AuthFiles

    @property
    def program(self) -> str:
        return _HELPER_PREFIX + self.name

    @property
    def entry(self) -> str:
        return self.setting if self.key is None else f"{self.setting}[{json.dumps(self.key)}]"

    @property
    def source(self) -> str:
        return f"credential helper {self.program} ({self.setting} in {self.config_path})"

    def get(self, server_url: str) -> Credentials | None:
        """The stored credentials, or ``None`` when the helper has none for ``server_url``."""
        result = self._call("get", server_url)
        if result.returncode != 0:
            if _says_not_found(result):
                return None
            raise self._failure("get", result)
        try:
            answer = json.loads(result.stdout)
        except json.JSONDecodeError:
            answer = None
        if not isinstance(answer, dict) or not all(
            isinstance(answer.get(name, ""), str) for name in ("Username", "Secret")
        ):
            raise CredentialHelperError(
                f"{self.program} get did not answer with a JSON object holding the strings "
                f"Username and Secret (it is configured by {self.entry} in "
                f"{self.config_path}); check that it is a docker credential helper"
            )
        secret = answer.get("Secret")
        if not secret:
            return None
        return Credentials.from_secret(answer.get("Username") or None, secret, source=self.source)

    def store(self, server_url: str, username: str, secret: str) -> None:
        payload = json.dumps({"ServerURL": server_url, "Username": username, "Secret": secret})
        result = self._call("store", payload)
        if result.returncode != 0:
            raise self._failure("store", result, hidden=(username, secret))

    def erase(self, server_url: str) -> bool:
        """Whether there was something to erase."""
        result = self._call("erase", server_url)
        if result.returncode == 0:
            return True
        if _says_not_found(result):
            return False
        raise self._failure("erase", result)

    def _call(self, action: str, stdin: str) -> subprocess.CompletedProcess[str]:
        context = self.context
        try:
            return context.run(
                self.program,
                action,
                stdin=stdin,
                environ=context.environ,
                timeout=context.helper_timeout,
            )
        except FileNotFoundError:
            raise CredentialHelperError(
                f"{self.program} is not installed (not found on PATH), but {self.entry} in "
                f"{self.config_path} says to use it; install {self.program} or remove that "
                "entry"
            ) from None
        except subprocess.TimeoutExpired:
            raise CredentialHelperError(
                f"{self.program} {action} did not finish within {context.helper_timeout:g} "
                f"seconds ({self.entry} in {self.config_path} says to use it); check whether "
                "it is waiting for a locked keyring or a passphrase"
            ) from None

    def _failure(
        self, action: str, result: subprocess.CompletedProcess[str], hidden: tuple[str, ...] = ()
    ) -> CredentialHelperError:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        said = lines[0] if lines else "no output"
        # A misbehaving helper could echo its input, and store's input holds the secret.
        for secret in hidden:
            said = said.replace(secret, "<hidden>")
        return CredentialHelperError(
            f"{self.program} {action} failed with exit status {result.returncode}: {said} "
            f"({self.entry} in {self.config_path} says to use it)"
        )


def _says_not_found(result: subprocess.CompletedProcess[str]) -> bool:
    return _HELPER_NOT_FOUND in (result.stdout + result.stderr).lower()


def _server_url(registry: Registry) -> str:
    """How docker names ``registry`` as a config key and to credential helpers."""
    return DOCKER_HUB_SERVER_URL if registry.host == DOCKER_HUB else registry.host


def _parse_key(key: str) -> tuple[str, str] | None:
    """The ``(host, repository path prefix)`` a config key names, or ``None`` if no registry."""
    text = key.strip()
    for scheme in ("https://", "http://"):
        text = text.removeprefix(scheme)
    host_text, _, path = text.partition("/")
    try:
        host = Registry.parse(host_text).host
    except InvalidReferenceError:
        return None
    path = path.strip("/")
    # "https://index.docker.io/v1/" names the whole registry, not a repository called "v1".
    return host, "" if path in ("v1", "v2") else path


def _matching_keys(
    entries: Mapping[str, object], registry: Registry, repository_path: str | None
) -> list[str]:
    """Keys naming ``registry`` or a path prefix of the repository, most specific first."""
    matches: list[tuple[str, str]] = []
    for key in entries:
        parsed = _parse_key(key)
        if parsed is None or parsed[0] != registry.host:
            continue
        prefix = parsed[1]
        if not prefix or (
            repository_path is not None
            and (repository_path == prefix or repository_path.startswith(prefix + "/"))
        ):
            matches.append((prefix, key))
    matches.sort(key=lambda match: len(match[0]), reverse=True)
    return [key for _, key in matches]


def _load_config(path: Path) -> dict[str, object] | None:
    """The JSON object in ``path``, or ``None`` when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "it is not UTF-8 text"
        raise CredentialsFileError(
            f"{path}: cannot be read ({reason}); fix the file or remove it"
        ) from None
    if not text.strip():
        return {}  # an empty file is how `touch` leaves it, and docker accepts that
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CredentialsFileError(
            f"{path}: line {exc.lineno}, column {exc.colno}: {exc.msg}; "
            "the file is not valid JSON, fix it or remove it"
        ) from None
    return _object(data, path, "the top level")


def _object(value: object, path: Path, where: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise CredentialsFileError(f"{path}: {where} must be a JSON object; fix that entry")
    return value


def _string(fields: Mapping[str, object], name: str, path: Path, where: str) -> str | None:
    value = fields.get(name)
    if value is not None and not isinstance(value, str):
        raise CredentialsFileError(f"{path}: {where}.{name} must be a string; fix that entry")
    return value or None


def _decode_auth(value: str, path: Path, where: str) -> tuple[str, str]:
    # Docker writes padded base64, but hand-made and some tools' entries drop the padding.
    padded = value.strip() + "=" * (-len(value.strip()) % 4)
    try:
        decoded = base64.b64decode(padded, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    username, colon, password = decoded.partition(":")
    if not colon:
        raise CredentialsFileError(
            f"{path}: {where}.auth is not base64 of 'username:password'; "
            "log in again or correct that entry"
        )
    return username, password


def _entry_credentials(entry: object, path: Path, where: str, source: str) -> Credentials | None:
    fields = _object(entry, path, where)
    username = _string(fields, "username", path, where)
    password = _string(fields, "password", path, where)
    if auth := _string(fields, "auth", path, where):
        username, password = _decode_auth(auth, path, where)
    found = Credentials.from_secret(username or None, password or None, source=source)
    found = replace(
        found,
        identity_token=found.identity_token or _string(fields, "identitytoken", path, where),
        registry_token=_string(fields, "registrytoken", path, where),
    )
    # Entries left empty by `docker login` with a credsStore hold nothing to use.
    return None if found.anonymous else found


def _helpers(
    config: Mapping[str, object], path: Path, registry: Registry, context: AuthFiles
) -> list[_Helper]:
    """The helpers ``config`` names for ``registry``: ``credHelpers`` first, then ``credsStore``."""
    helpers = []
    per_registry = config.get("credHelpers")
    if per_registry is not None:
        for key, name in _object(per_registry, path, "credHelpers").items():
            where = f"credHelpers[{json.dumps(key)}]"
            if not isinstance(name, str):
                raise CredentialsFileError(f"{path}: {where} must be a string; fix that entry")
            parsed = _parse_key(key)
            if name and parsed is not None and parsed[0] == registry.host:
                helpers.append(_Helper(name, "credHelpers", key, path, context))
                break
    store = config.get("credsStore")
    if store is not None and not isinstance(store, str):
        raise CredentialsFileError(f"{path}: credsStore must be a string; fix that entry")
    if store:
        helpers.append(_Helper(store, "credsStore", None, path, context))
    return helpers


def _lookup_in_file(
    label: str, path: Path, registry: Registry, repository_path: str | None, context: AuthFiles
) -> Credentials | None:
    config = _load_config(path)
    if config is None:
        return None
    for helper in _helpers(config, path, registry, context):
        if found := helper.get(_server_url(registry)):
            return found
    entries = _object(config.get("auths", {}), path, "auths")
    for key in _matching_keys(entries, registry, repository_path):
        where = f"auths[{json.dumps(key)}]"
        if found := _entry_credentials(entries[key], path, where, f"{label} {path} ({where})"):
            return found
    return None


def login(
    registry: str | Registry,
    username: str,
    password: str,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    run: HelperRunner | None = None,
    helper_timeout: float = HELPER_TIMEOUT,
) -> Path:
    """Store credentials for ``registry`` where ``docker login`` would.

    With a ``credsStore`` (or a ``credHelpers`` entry for the registry) in the docker config the
    secret goes to that helper; otherwise it is written to the config's ``auths``, in a file
    only its owner can read. Other settings and entries are kept.

    :return: the docker config file, which holds the credentials or names their helper.
    :raises AuthError: if the user name or password cannot be stored.
    """
    target = registry if isinstance(registry, Registry) else Registry.parse(registry)
    if not username or ":" in username:
        raise AuthError(
            f"cannot log in to {target}: the user name {username!r} is empty or contains ':', "
            "which docker's config format cannot store; use the registry's user name"
        )
    if not password:
        raise AuthError(f"cannot log in to {target}: the password is empty; give a password")
    context = AuthFiles.create(environ, home, run, helper_timeout)
    path = context.docker_config
    config = _load_config(path) or {}
    helpers = _helpers(config, path, target, context)
    if helpers:
        helpers[0].store(_server_url(target), username, password)
        # A plain-text copy left in the file would outlive the secret the helper now guards.
        if _drop_entries(config, path, target):
            _write_config(path, config)
        logger.debug("stored credentials for %s with %s", target, helpers[0].program)
    else:
        _drop_entries(config, path, target)
        entries = _object(config.setdefault("auths", {}), path, "auths")
        secret = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        entries[_server_url(target)] = {"auth": secret}
        _write_config(path, config)
        logger.debug("stored credentials for %s in %s", target, path)
    return path


def logout(
    registry: str | Registry,
    *,
    environ: Mapping[str, str] | None = None,
    home: Path | None = None,
    run: HelperRunner | None = None,
    helper_timeout: float = HELPER_TIMEOUT,
) -> bool:
    """Remove what :func:`login` (or ``docker login``) stored for ``registry``.

    :return: whether there was anything to remove.
    """
    target = registry if isinstance(registry, Registry) else Registry.parse(registry)
    context = AuthFiles.create(environ, home, run, helper_timeout)
    path = context.docker_config
    config = _load_config(path)
    if config is None:
        return False
    helpers = _helpers(config, path, target, context)
    erased = bool(helpers) and helpers[0].erase(_server_url(target))
    if _drop_entries(config, path, target):
        _write_config(path, config)
        erased = True
    return erased


def _drop_entries(config: dict[str, object], path: Path, registry: Registry) -> bool:
    """Remove every ``auths`` key naming all of ``registry`` (any alias); whether any was."""
    entries = _object(config.get("auths", {}), path, "auths")
    stale = [key for key in entries if _parse_key(key) == (registry.host, "")]
    for key in stale:
        del entries[key]
    return bool(stale)


def _write_config(path: Path, config: Mapping[str, object]) -> None:
    # Follow a symlinked config (dotfile managers) rather than replacing the link with a file.
    target = path.resolve()
    try:
        target.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    temp = Path(temp_name)
    try:
        # mkstemp creates the file 0600, so the secret is never readable by others, even briefly.
        with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
            json.dump(config, stream, indent="\t")
            stream.write("\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, target)
    except OSError as exc:
        raise _unwritable(path, exc) from exc
    finally:
        temp.unlink(missing_ok=True)


def _unwritable(path: Path, exc: OSError) -> CredentialsFileError:
    return CredentialsFileError(
        f"{path}: cannot be written ({exc.strerror}); check the permissions of {path.parent}"
    )
