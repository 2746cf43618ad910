"""Credential discovery, login and logout, against files and helper scripts under tmp_path."""

from __future__ import annotations

import base64
import json
import logging
import stat
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ocipush.errors import AuthError, OcipushError
from ocipush.oci.reference import Registry, Repository, parse_repository
from ocipush.registry.keychain import (
    ANONYMOUS,
    CredentialHelperError,
    Credentials,
    CredentialsFileError,
    DefaultKeychain,
    Keychain,
    login,
    logout,
)

GHCR = Registry("ghcr.io")
HUB = Registry("index.docker.io")


def basic(username: str, password: str) -> str:
    return base64.b64encode(f"{username}:{password}".encode()).decode()


class Sandbox:
    """A home directory, a PATH of helper scripts, and the environment pointing at them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.home = root / "home"
        self.home.mkdir()
        self.bin = root / "bin"
        self.bin.mkdir()
        self.environ: dict[str, str] = {"HOME": str(self.home), "PATH": f"{self.bin}:/usr/bin:/bin"}

    @property
    def docker_config(self) -> Path:
        return self.home / ".docker" / "config.json"

    def write_json(self, path: Path, data: object) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(data))
        return path

    def helper(self, name: str, known: Mapping[str, tuple[str, str]]) -> Path:
        """A ``docker-credential-<name>`` script answering ``get`` for ``known`` server URLs.

        Every call is appended to ``<name>.log`` as ``action stdin``.
        """
        log = self.root / f"{name}.log"
        cases = "".join(
            f'  "{server}") printf \'{{"ServerURL":"%s","Username":"{user}","Secret":"{secret}"}}\''
            ' "$server" ;;\n'
            for server, (user, secret) in known.items()
        )
        script = (
            "#!/bin/sh\n"
            "read -r server\n"
            f'printf "%s %s\\n" "$1" "$server" >> "{log}"\n'
            'case "$server" in\n'
            f"{cases}"
            '  *) echo "credentials not found in native keychain"; exit 1 ;;\n'
            "esac\n"
        )
        return self.script(name, script)

    def script(self, name: str, text: str) -> Path:
        path = self.bin / f"docker-credential-{name}"
        path.write_text(text)
        path.chmod(0o755)
        return path

    def calls(self, name: str) -> list[str]:
        log = self.root / f"{name}.log"
        return log.read_text().splitlines() if log.exists() else []

    def keychain(self, **kwargs: Any) -> DefaultKeychain:
        return DefaultKeychain(environ=self.environ, home=self.home, **kwargs)


@pytest.fixture
def sandbox(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


# --- what an auths entry can hold --------------------------------------------------------------


@pytest.mark.parametrize("padded", [True, False], ids=["padded", "unpadded"])
def test_auth_field_is_decoded_with_or_without_padding(sandbox: Sandbox, padded: bool) -> None:
    auth = basic("alice", "pw-1")
    assert auth.endswith("=")
    sandbox.write_json(
        sandbox.docker_config,
        {"auths": {"ghcr.io": {"auth": auth if padded else auth.rstrip("=")}}},
    )

    found = sandbox.keychain().resolve(GHCR)

    assert (found.username, found.password) == ("alice", "pw-1")
    assert found.source == f'docker config {sandbox.docker_config} (auths["ghcr.io"])'


def test_username_and_password_fields(sandbox: Sandbox) -> None:
    sandbox.write_json(
        sandbox.docker_config, {"auths": {"ghcr.io": {"username": "bob", "password": "pw-2"}}}
    )

    found = sandbox.keychain().resolve(GHCR)

    assert (found.username, found.password) == ("bob", "pw-2")


def test_identity_token(sandbox: Sandbox) -> None:
    sandbox.write_json(
        sandbox.docker_config,
        {"auths": {"ghcr.io": {"auth": basic("carol", ""), "identitytoken": "refresh-1"}}},
    )

    found = sandbox.keychain().resolve(GHCR)

    assert found.username == "carol"
    assert found.identity_token == "refresh-1"
    assert found.password is None


def test_registry_token(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"ghcr.io": {"registrytoken": "bearer-1"}}})

    found = sandbox.keychain().resolve(GHCR)

    assert found.registry_token == "bearer-1"
    assert not found.anonymous


def test_token_user_means_identity_token(sandbox: Sandbox) -> None:
    sandbox.write_json(
        sandbox.docker_config, {"auths": {"ghcr.io": {"auth": basic("<token>", "rt")}}}
    )

    found = sandbox.keychain().resolve(GHCR)

    assert found.identity_token == "rt"
    assert found.username is None
    assert found.password is None


def test_empty_entry_left_by_a_creds_store_is_not_credentials(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"ghcr.io": {}}})

    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS


# --- which source wins -------------------------------------------------------------------------


def test_sources_are_tried_in_documented_order(sandbox: Sandbox) -> None:
    runtime = sandbox.root / "run"
    sandbox.environ["XDG_RUNTIME_DIR"] = str(runtime)
    auth_file = sandbox.root / "auth-file.json"
    sandbox.environ["REGISTRY_AUTH_FILE"] = str(auth_file)
    files = [
        ("REGISTRY_AUTH_FILE", auth_file),
        ("docker config", sandbox.docker_config),
        ("podman auth.json", runtime / "containers" / "auth.json"),
        ("podman auth.json", sandbox.home / ".config" / "containers" / "auth.json"),
    ]
    for index, (_, path) in enumerate(files):
        sandbox.write_json(path, {"auths": {"ghcr.io": {"auth": basic(f"user{index}", "pw")}}})
    explicit = {"ghcr.io": Credentials.from_secret("cli", "pw", source="command line")}

    assert sandbox.keychain(explicit=explicit).resolve(GHCR).source == "command line"
    for index, (label, path) in enumerate(files):
        found = sandbox.keychain().resolve(GHCR)
        assert found.username == f"user{index}"
        assert found.source == f'{label} {path} (auths["ghcr.io"])'
        path.unlink()
    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS
    assert ANONYMOUS.source == "anonymous"


def test_docker_config_variable_replaces_home_docker_dir(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"ghcr.io": {"auth": basic("home", "x")}}})
    elsewhere = sandbox.write_json(
        sandbox.root / "dc" / "config.json", {"auths": {"ghcr.io": {"auth": basic("dc", "x")}}}
    )
    sandbox.environ["DOCKER_CONFIG"] = str(elsewhere.parent)

    assert sandbox.keychain().resolve(GHCR).username == "dc"


def test_explicit_credentials_are_only_for_their_host(sandbox: Sandbox) -> None:
    explicit = {"docker.io": Credentials.from_secret("cli", "pw", source="command line")}
    keychain = sandbox.keychain(explicit=explicit)

    assert keychain.resolve(HUB).username == "cli"
    assert keychain.resolve(GHCR) is ANONYMOUS


# --- which key matches -------------------------------------------------------------------------


def test_longest_repository_prefix_beats_host(sandbox: Sandbox) -> None:
    sandbox.write_json(
        sandbox.docker_config,
        {
            "auths": {
                "ghcr.io": {"auth": basic("host", "x")},
                "ghcr.io/acme/app": {"auth": basic("app", "x")},
                "ghcr.io/acme": {"auth": basic("org", "x")},
            }
        },
    )
    keychain = sandbox.keychain()

    def user_for(name: str) -> str | None:
        repository = parse_repository(name)
        return keychain.resolve(repository.registry, repository).username

    assert user_for("ghcr.io/acme/app") == "app"
    assert user_for("ghcr.io/acme/app/sub") == "app"
    assert user_for("ghcr.io/acme/other") == "org"
    assert user_for("ghcr.io/acme-corp/app") == "host"
    assert keychain.resolve(GHCR).username == "host"


@pytest.mark.parametrize(
    "key",
    ["https://registry.example.com/v2/", "http://registry.example.com", "REGISTRY.example.com/"],
)
def test_keys_with_scheme_and_trailing_path_match_the_host(sandbox: Sandbox, key: str) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {key: {"auth": basic("u", "x")}}})

    assert sandbox.keychain().resolve(Registry("registry.example.com")).username == "u"


@pytest.mark.parametrize(
    "key", ["https://index.docker.io/v1/", "index.docker.io", "docker.io", "registry-1.docker.io"]
)
def test_docker_hub_aliases(sandbox: Sandbox, key: str) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {key: {"auth": basic("hub", "x")}}})
    repository = parse_repository("python")

    assert sandbox.keychain().resolve(repository.registry, repository).username == "hub"


# --- credential helpers ------------------------------------------------------------------------


def test_cred_helpers_entry_runs_the_helper_on_path(sandbox: Sandbox) -> None:
    sandbox.helper("fake", {"ghcr.io": ("helper-user", "helper-secret")})
    sandbox.write_json(sandbox.docker_config, {"credHelpers": {"ghcr.io": "fake"}})

    found = sandbox.keychain().resolve(GHCR)

    assert (found.username, found.password) == ("helper-user", "helper-secret")
    assert found.source == (
        f"credential helper docker-credential-fake (credHelpers in {sandbox.docker_config})"
    )
    assert sandbox.calls("fake") == ["get ghcr.io"]


def test_creds_store_is_asked_for_docker_hub_by_its_v1_url(sandbox: Sandbox) -> None:
    sandbox.helper("store", {"https://index.docker.io/v1/": ("hub-user", "hub-secret")})
    sandbox.write_json(sandbox.docker_config, {"credsStore": "store"})

    found = sandbox.keychain().resolve(HUB)

    assert found.username == "hub-user"
    assert found.source.startswith("credential helper docker-credential-store (credsStore in ")
    assert sandbox.calls("store") == ["get https://index.docker.io/v1/"]


def test_helper_token_user_means_identity_token(sandbox: Sandbox) -> None:
    sandbox.helper("fake", {"ghcr.io": ("<token>", "refresh-2")})
    sandbox.write_json(sandbox.docker_config, {"credsStore": "fake"})

    found = sandbox.keychain().resolve(GHCR)

    assert found.identity_token == "refresh-2"
    assert found.password is None


def test_not_found_falls_through_helpers_then_to_auths(sandbox: Sandbox) -> None:
    sandbox.helper("specific", {})
    sandbox.helper("store", {"other.example": ("s", "x")})
    sandbox.write_json(
        sandbox.docker_config,
        {
            "credHelpers": {"ghcr.io": "specific"},
            "credsStore": "store",
            "auths": {"ghcr.io": {"auth": basic("from-file", "x")}},
        },
    )

    found = sandbox.keychain().resolve(GHCR)

    assert found.username == "from-file"
    assert sandbox.calls("specific") == ["get ghcr.io"]
    assert sandbox.calls("store") == ["get ghcr.io"]


def test_creds_store_answers_after_cred_helper_says_not_found(sandbox: Sandbox) -> None:
    sandbox.helper("specific", {})
    sandbox.helper("store", {"ghcr.io": ("from-store", "x")})
    sandbox.write_json(
        sandbox.docker_config, {"credHelpers": {"ghcr.io": "specific"}, "credsStore": "store"}
    )

    assert sandbox.keychain().resolve(GHCR).username == "from-store"


def test_helper_is_run_once_per_repository(sandbox: Sandbox) -> None:
    sandbox.helper("fake", {"ghcr.io": ("u", "s")})
    sandbox.write_json(sandbox.docker_config, {"credsStore": "fake"})
    keychain = sandbox.keychain()

    for _ in range(3):
        keychain.resolve(GHCR)

    assert sandbox.calls("fake") == ["get ghcr.io"]


def test_helper_for_another_host_is_not_run(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"credHelpers": {"gcr.io": "not-installed"}})

    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS


def test_missing_cred_helper_says_where_it_is_configured(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"credHelpers": {"ghcr.io": "nope"}})

    with pytest.raises(CredentialHelperError) as caught:
        sandbox.keychain().resolve(GHCR)

    message = str(caught.value)
    assert "docker-credential-nope" in message
    assert 'credHelpers["ghcr.io"]' in message
    assert str(sandbox.docker_config) in message
    assert "install docker-credential-nope or remove that entry" in message


def test_missing_creds_store_says_where_it_is_configured(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"credsStore": "desktop"})

    with pytest.raises(
        OcipushError, match=r"docker-credential-desktop .*credsStore in .*config\.json"
    ):
        sandbox.keychain().resolve(GHCR)


def test_failing_helper_reports_its_message(sandbox: Sandbox) -> None:
    sandbox.script("broken", "#!/bin/sh\necho 'keyring is locked' >&2\nexit 3\n")
    sandbox.write_json(sandbox.docker_config, {"credsStore": "broken"})

    with pytest.raises(CredentialHelperError, match="exit status 3: keyring is locked"):
        sandbox.keychain().resolve(GHCR)


def test_helper_answering_garbage_is_reported(sandbox: Sandbox) -> None:
    sandbox.script("garbage", "#!/bin/sh\necho 'not json'\n")
    sandbox.write_json(sandbox.docker_config, {"credsStore": "garbage"})

    with pytest.raises(CredentialHelperError, match="docker-credential-garbage get did not answer"):
        sandbox.keychain().resolve(GHCR)


def test_slow_helper_times_out(sandbox: Sandbox) -> None:
    sandbox.script("slow", "#!/bin/sh\nexec sleep 10\n")
    sandbox.write_json(sandbox.docker_config, {"credsStore": "slow"})

    with pytest.raises(CredentialHelperError, match=r"did not finish within 0\.5 seconds"):
        sandbox.keychain(helper_timeout=0.5).resolve(GHCR)


def test_helpers_can_be_run_by_an_injected_runner(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"credsStore": "injected"})
    seen: list[tuple[str, str, str]] = []

    def run(
        program: str, action: str, *, stdin: str, environ: Mapping[str, str], timeout: float
    ) -> subprocess.CompletedProcess[str]:
        seen.append((program, action, stdin))
        answer = json.dumps({"ServerURL": stdin, "Username": "u", "Secret": "s"})
        return subprocess.CompletedProcess([program, action], 0, answer, "")

    assert sandbox.keychain(run=run).resolve(GHCR).password == "s"
    assert seen == [("docker-credential-injected", "get", "ghcr.io")]


# --- broken files ------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["docker", "REGISTRY_AUTH_FILE", "podman"])
def test_malformed_json_names_file_and_position(sandbox: Sandbox, which: str) -> None:
    paths = {
        "docker": sandbox.docker_config,
        "REGISTRY_AUTH_FILE": sandbox.root / "auth.json",
        "podman": sandbox.home / ".config" / "containers" / "auth.json",
    }
    path = paths[which]
    sandbox.environ["REGISTRY_AUTH_FILE"] = str(paths["REGISTRY_AUTH_FILE"])
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{\n  "auths": {\n    "ghcr.io": {"auth": "c2VjcmV0" ,,}\n  }\n}\n')

    with pytest.raises(CredentialsFileError) as caught:
        sandbox.keychain().resolve(GHCR)

    message = str(caught.value)
    assert message.startswith(f"{path}: line 3, column ")
    assert "c2VjcmV0" not in message


def test_malformed_auth_names_file_and_key_but_not_value(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"ghcr.io": {"auth": "bm9jb2xvbg"}}})

    with pytest.raises(CredentialsFileError) as caught:
        sandbox.keychain().resolve(GHCR)

    message = str(caught.value)
    assert str(sandbox.docker_config) in message
    assert 'auths["ghcr.io"].auth' in message
    assert "bm9jb2xvbg" not in message


def test_wrongly_typed_entry_is_reported(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"ghcr.io": "u:p"}})

    with pytest.raises(CredentialsFileError, match=r'auths\["ghcr.io"\] must be a JSON object'):
        sandbox.keychain().resolve(GHCR)


def test_empty_config_file_is_accepted(sandbox: Sandbox) -> None:
    sandbox.docker_config.parent.mkdir()
    sandbox.docker_config.touch()

    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS


# --- login and logout --------------------------------------------------------------------------


def test_login_creates_private_config(sandbox: Sandbox) -> None:
    path = login("ghcr.io", "alice", "pw-3", environ=sandbox.environ, home=sandbox.home)

    assert path == sandbox.docker_config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert json.loads(path.read_text()) == {"auths": {"ghcr.io": {"auth": basic("alice", "pw-3")}}}


def test_login_logout_round_trip_keeps_everything_else(sandbox: Sandbox) -> None:
    others = {
        "auths": {"quay.io": {"auth": basic("q", "x")}, "ghcr.io/acme": {"auth": basic("o", "x")}},
        "psFormat": "table {{.ID}}",
    }
    sandbox.write_json(sandbox.docker_config, others)
    sandbox.docker_config.chmod(0o644)
    options: dict[str, Any] = {"environ": sandbox.environ, "home": sandbox.home}

    login("ghcr.io", "alice", "pw-4", **options)

    assert stat.S_IMODE(sandbox.docker_config.stat().st_mode) == 0o600
    written = json.loads(sandbox.docker_config.read_text())
    assert written["psFormat"] == "table {{.ID}}"
    assert written["auths"]["quay.io"] == others["auths"]["quay.io"]
    assert written["auths"]["ghcr.io/acme"] == others["auths"]["ghcr.io/acme"]
    assert sandbox.keychain().resolve(GHCR).password == "pw-4"

    assert logout("ghcr.io", **options) is True
    assert json.loads(sandbox.docker_config.read_text()) == others
    assert stat.S_IMODE(sandbox.docker_config.stat().st_mode) == 0o600
    assert logout("ghcr.io", **options) is False
    assert list(sandbox.docker_config.parent.iterdir()) == [sandbox.docker_config]


def test_login_to_docker_hub_uses_the_v1_key_and_replaces_aliases(sandbox: Sandbox) -> None:
    sandbox.write_json(sandbox.docker_config, {"auths": {"docker.io": {"auth": basic("old", "x")}}})

    login("docker.io", "new", "pw-5", environ=sandbox.environ, home=sandbox.home)

    written = json.loads(sandbox.docker_config.read_text())
    assert written == {"auths": {"https://index.docker.io/v1/": {"auth": basic("new", "pw-5")}}}
    assert sandbox.keychain().resolve(HUB).username == "new"


def test_logout_without_config_is_false(sandbox: Sandbox) -> None:
    assert logout(GHCR, environ=sandbox.environ, home=sandbox.home) is False
    assert not sandbox.docker_config.exists()


def test_login_rejects_unstorable_user_name(sandbox: Sandbox) -> None:
    with pytest.raises(AuthError, match="contains ':'"):
        login("ghcr.io", "a:b", "pw", environ=sandbox.environ, home=sandbox.home)


def test_login_and_logout_through_creds_store(sandbox: Sandbox) -> None:
    received = sandbox.root / "received"
    sandbox.script(
        "recorder",
        f'#!/bin/sh\nprintf "%s\\n" "$1" >> "{received}.actions"\ncat > "{received}.$1"\n',
    )
    sandbox.write_json(
        sandbox.docker_config,
        {"credsStore": "recorder", "auths": {"ghcr.io": {"auth": basic("stale", "old-pw")}}},
    )

    path = login("ghcr.io", "alice", "pw-6", environ=sandbox.environ, home=sandbox.home)

    assert path == sandbox.docker_config
    assert json.loads(Path(f"{received}.store").read_text()) == {
        "ServerURL": "ghcr.io",
        "Username": "alice",
        "Secret": "pw-6",
    }
    text = sandbox.docker_config.read_text()
    assert "pw-6" not in text
    assert basic("stale", "old-pw") not in text
    assert json.loads(text)["credsStore"] == "recorder"

    assert logout("ghcr.io", environ=sandbox.environ, home=sandbox.home) is True
    assert Path(f"{received}.erase").read_text().strip() == "ghcr.io"
    assert Path(f"{received}.actions").read_text().split() == ["store", "erase"]


def test_failing_store_does_not_show_the_secret(sandbox: Sandbox) -> None:
    sandbox.script("echoer", "#!/bin/sh\ncat >&2\nexit 1\n")
    sandbox.write_json(sandbox.docker_config, {"credsStore": "echoer"})

    with pytest.raises(CredentialHelperError) as caught:
        login("ghcr.io", "alice", "pw-7-secret", environ=sandbox.environ, home=sandbox.home)

    assert "pw-7-secret" not in str(caught.value)
    assert "docker-credential-echoer store failed" in str(caught.value)


# --- secrets stay secret -----------------------------------------------------------------------


def test_secrets_never_in_repr_str_or_debug_logs(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    secrets = ["pw-secret-8", "refresh-secret-8", "bearer-secret-8", "helper-secret-8"]
    sandbox.helper("fake", {"ghcr.io": ("u", "helper-secret-8")})
    sandbox.write_json(
        sandbox.docker_config,
        {
            "credHelpers": {"ghcr.io": "fake"},
            "auths": {
                "quay.io": {"auth": basic("u", "pw-secret-8"), "identitytoken": "refresh-secret-8"},
                "gcr.io": {"registrytoken": "bearer-secret-8"},
            },
        },
    )
    caplog.set_level(logging.DEBUG, logger="ocipush")
    keychain: Keychain = sandbox.keychain()

    found = [keychain.resolve(Registry(host)) for host in ("ghcr.io", "quay.io", "gcr.io")]
    login("other.example", "u", "pw-secret-8", environ=sandbox.environ, home=sandbox.home)

    shown = " ".join([*map(repr, found), *map(str, found), caplog.text])
    assert "ghcr.io" in caplog.text
    assert "credential helper docker-credential-fake" in caplog.text
    for secret in secrets:
        assert secret not in shown
    assert sorted(s for creds in found for s in creds.secrets()) == sorted(secrets)


# --- CI and plugins ----------------------------------------------------------------------------


def _in_github_actions(sandbox: Sandbox) -> None:
    sandbox.environ.update(
        GITHUB_ACTIONS="true", GITHUB_TOKEN="ghs_job_token", GITHUB_ACTOR="octocat"
    )


def test_github_token_logs_in_to_ghcr_in_github_actions(sandbox: Sandbox) -> None:
    _in_github_actions(sandbox)

    found = sandbox.keychain().resolve(GHCR, Repository(GHCR, "acme/app"))

    assert (found.username, found.password) == ("octocat", "ghs_job_token")
    assert found.source == (
        "GITHUB_TOKEN of this GitHub Actions job (no other credentials for ghcr.io)"
    )
    assert "ghs_job_token" not in repr(found)


def test_github_token_is_for_ghcr_only_and_only_in_github_actions(sandbox: Sandbox) -> None:
    _in_github_actions(sandbox)
    assert sandbox.keychain().resolve(HUB) is ANONYMOUS

    del sandbox.environ["GITHUB_ACTIONS"]
    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS


def test_configured_credentials_beat_github_token(sandbox: Sandbox) -> None:
    _in_github_actions(sandbox)
    sandbox.write_json(
        sandbox.docker_config, {"auths": {"ghcr.io": {"username": "me", "password": "pat"}}}
    )

    assert sandbox.keychain().resolve(GHCR).username == "me"


def test_a_provider_answers_after_explicit_credentials_and_before_files(sandbox: Sandbox) -> None:
    sandbox.write_json(
        sandbox.docker_config, {"auths": {"ghcr.io": {"username": "file", "password": "pw"}}}
    )
    asked: list[tuple[str, str | None]] = []

    def provider(registry: Registry, repository: Repository | None) -> Credentials | None:
        asked.append((registry.host, None if repository is None else repository.path))
        return Credentials("cloud", "token", source="cloud CLI") if registry == GHCR else None

    keychain = sandbox.keychain(
        explicit={"docker.io": Credentials("cli", "pw", source="command line")},
        providers=[provider],
    )

    assert keychain.resolve(GHCR, Repository(GHCR, "acme/app")).username == "cloud"
    assert keychain.resolve(HUB).username == "cli"
    assert keychain.resolve(Registry("quay.io")) is ANONYMOUS
    assert asked == [("ghcr.io", "acme/app"), ("quay.io", None)]


def _in_gitlab_ci(sandbox: Sandbox, registry: str = "registry.gitlab.com") -> None:
    sandbox.environ.update(
        GITLAB_CI="true",
        CI_REGISTRY=registry,
        CI_REGISTRY_USER="gitlab-ci-token",
        CI_REGISTRY_PASSWORD="glcbt-job-token",
    )


def test_gitlab_ci_job_credentials_log_in_to_ci_registry(sandbox: Sandbox) -> None:
    _in_gitlab_ci(sandbox, "registry.example.com:5050")
    registry = Registry.parse("registry.example.com:5050")

    found = sandbox.keychain().resolve(registry, Repository(registry, "group/app"))

    assert (found.username, found.password) == ("gitlab-ci-token", "glcbt-job-token")
    assert found.source == (
        "CI_REGISTRY_USER / CI_REGISTRY_PASSWORD of this GitLab CI job (no other credentials "
        "for registry.example.com:5050)"
    )
    assert "glcbt-job-token" not in repr(found)


def test_gitlab_ci_credentials_are_for_ci_registry_only(sandbox: Sandbox) -> None:
    _in_gitlab_ci(sandbox)
    assert sandbox.keychain().resolve(HUB) is ANONYMOUS
    assert sandbox.keychain().resolve(GHCR) is ANONYMOUS
    sandbox.write_json(
        sandbox.docker_config,
        {"auths": {"registry.gitlab.com": {"username": "me", "password": "pat"}}},
    )
    assert sandbox.keychain().resolve(Registry.parse("registry.gitlab.com")).username == "me"
