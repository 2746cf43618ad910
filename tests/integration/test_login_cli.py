"""``ocipush login`` / ``logout`` and ``--username --password-stdin``, in-process, for real."""

from __future__ import annotations

import io
import json
import logging

import pytest

from ocipush.cli import PROGRESS_LOGGERS, main
from ocipush.oci.layout import write_layout
from support import HTPASSWD_PASSWORD, HTPASSWD_USER
from support.images import make_image
from support.tools import skopeo_inspect_raw


@pytest.fixture(autouse=True)
def isolated_home(tmp_path, monkeypatch):
    """A home of our own: the developer's docker config must neither help nor change."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    for name in ("DOCKER_CONFIG", "REGISTRY_AUTH_FILE", "XDG_RUNTIME_DIR"):
        monkeypatch.delenv(name, raising=False)
    loggers = [logging.getLogger(name) for name in PROGRESS_LOGGERS]
    levels = [logger.level for logger in loggers]
    yield home
    for logger, level in zip(loggers, levels, strict=True):
        logger.setLevel(level)


def _run(capsys, monkeypatch, *argv: str, stdin: str = "") -> tuple[int, str, str]:
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _layout(tmp_path):
    image = make_image({"login.txt": b"login\n"})
    write_layout(tmp_path / "layout", image, "v1")
    return image, f"oci:{tmp_path / 'layout'}:v1"


def test_login_stores_credentials_that_copy_then_uses_and_logout_removes(
    htpasswd_registry, repo_name, tmp_path, isolated_home, capsys, monkeypatch
):
    host = htpasswd_registry.host
    code, out, err = _run(
        capsys,
        monkeypatch,
        *("login", host, "-u", HTPASSWD_USER, "--password-stdin"),
        stdin=HTPASSWD_PASSWORD + "\n",
    )
    assert (code, err) == (0, "")
    assert out.startswith(f"Login succeeded: credentials for {host} stored")
    config = json.loads((isolated_home / ".docker" / "config.json").read_text())
    assert set(config["auths"]) == {host}

    image, source = _layout(tmp_path)
    target = f"{host}/{repo_name}:v1"
    code, out, err = _run(capsys, monkeypatch, "copy", source, target, "--no-progress", "-v")
    assert code == 0, err
    assert f"credentials for {host}/{repo_name}: docker config" in err
    assert HTPASSWD_PASSWORD not in err + out
    assert skopeo_inspect_raw(target, creds=(HTPASSWD_USER, HTPASSWD_PASSWORD)) == (
        image.manifest().raw
    )

    assert _run(capsys, monkeypatch, "logout", host)[:2] == (0, f"Removed credentials for {host}\n")
    assert _run(capsys, monkeypatch, "logout", host)[1] == (
        f"Not logged in to {host}; nothing to remove\n"
    )
    code, _, err = _run(capsys, monkeypatch, "copy", source, target, "--no-progress")
    assert code == 1
    assert f"authentication to {host} as anonymous failed" in err


def test_login_with_a_wrong_password_stores_nothing(
    htpasswd_registry, isolated_home, capsys, monkeypatch
):
    host = htpasswd_registry.host
    code, out, err = _run(
        capsys,
        monkeypatch,
        *("login", host, "-u", HTPASSWD_USER, "--password-stdin"),
        stdin="not-the-password\n",
    )
    assert code == 1
    assert out == ""
    assert f"error: log in: authentication to {host} as {HTPASSWD_USER} failed" in err
    assert "not-the-password" not in err
    assert not (isolated_home / ".docker" / "config.json").exists()


def test_login_to_a_token_registry_checks_with_the_token_server(
    token_registry_factory, isolated_home, capsys, monkeypatch
):
    registry, tokens = token_registry_factory(users={"bob": "bob-pw"}, grants={})
    code, _, err = _run(
        capsys,
        monkeypatch,
        *("login", registry.host, "-u", "bob", "--password-stdin"),
        stdin="bob-pw",
    )
    assert (code, err) == (0, "")
    assert [(r.username, r.status, r.scopes) for r in tokens.requests] == [("bob", 200, ())]

    code, _, err = _run(
        capsys,
        monkeypatch,
        *("login", registry.host, "-u", "bob", "--password-stdin"),
        stdin="wrong",
    )
    assert code == 1
    assert f"authentication to {registry.host} as bob failed: invalid username or password" in err


def test_username_and_password_stdin_for_copy_and_the_source_at_v(
    htpasswd_registry, repo_name, tmp_path, capsys, monkeypatch
):
    host = htpasswd_registry.host
    _, source = _layout(tmp_path)
    code, _, err = _run(
        capsys,
        monkeypatch,
        *("copy", source, f"{host}/{repo_name}:v1", "--no-progress", "-v"),
        *("-u", HTPASSWD_USER, "--password-stdin"),
        stdin=HTPASSWD_PASSWORD,
    )
    assert code == 0, err
    assert f"credentials for {host}/{repo_name}: --username" in err
    assert HTPASSWD_PASSWORD not in err


@pytest.mark.parametrize(
    ("argv", "stdin", "message"),
    [
        (["--password-stdin"], "pw", "--password-stdin needs --username USER"),
        (["-u", "alice", "--password-stdin"], "", "standard input was empty"),
        (["-u", "alice"], "", "--username alice needs a password"),
    ],
)
def test_credential_flag_mistakes_are_usage_errors(
    registry, tmp_path, capsys, monkeypatch, argv, stdin, message
):
    _, source = _layout(tmp_path)
    code, _, err = _run(
        capsys, monkeypatch, "copy", source, f"{registry.host}/x:v1", *argv, stdin=stdin
    )
    assert code == 2
    assert message in err


def test_tls_verify_values_are_checked(capsys):
    with pytest.raises(SystemExit):
        main(["login", "r.example", "-u", "a", "--tls-verify=maybe"])
    assert "'maybe' is not true, false or false:REGISTRY" in capsys.readouterr().err
