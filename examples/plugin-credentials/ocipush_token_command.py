"""ocipush plugin ``token-command``: registry credentials from a command, as cloud CLIs
print them.

Each entry of ``[tool.ocipush.token-command]`` names a registry host, the user name that
registry expects, and the command that prints a password or token::

    [tool.ocipush.token-command."123456789012.dkr.ecr.eu-west-1.amazonaws.com"]
    username = "AWS"
    command = ["aws", "ecr", "get-login-password", "--region", "eu-west-1"]

    [tool.ocipush.token-command."europe-docker.pkg.dev"]
    username = "oauth2accesstoken"
    command = ["gcloud", "auth", "print-access-token"]

    [tool.ocipush.token-command."myregistry.azurecr.io"]
    username = "00000000-0000-0000-0000-000000000000"
    command = ["az", "acr", "login", "--name", "myregistry", "--expose-token",
               "--output", "tsv", "--query", "accessToken"]

The command runs once per registry and run, when the registry first asks for credentials;
its standard output, less surrounding white space, is the password.
"""

from __future__ import annotations

import subprocess

from ocipush import hookimpl
from ocipush.errors import AuthError
from ocipush.registry.keychain import Credentials
from ocipush.release.reader import ConfigReader

NAME = "token-command"
#: Seconds a command may take (a cloud CLI may refresh a login first).
TIMEOUT = 60

_COMMAND = (
    'the program that prints the token and its arguments, such as ["gcloud", "auth", '
    '"print-access-token"]'
)

_registries: dict[str, tuple[str, tuple[str, ...]]] = {}
_answers: dict[str, Credentials] = {}


@hookimpl
def ocipush_configure(config: ConfigReader) -> None:
    """Read ``[tool.ocipush.token-command]`` with ocipush's config reader: its problems are
    reported with the core's, each with its key path."""
    _registries.clear()
    _answers.clear()
    table = config.table(NAME)
    if table is None:
        return
    for host in table:
        entry = table.table(host)
        if entry is None:
            continue
        entry.only_known(("username", "command"))
        username = entry.string(
            "username", required='the user name the registry takes with the token, such as "AWS"'
        )
        command = entry.strings("command", required=_COMMAND, non_empty=_COMMAND)
        if username is not None and command:
            _registries[host] = (username, command)


@hookimpl
def ocipush_credentials(registry: str, repository: str | None) -> Credentials | None:
    if registry not in _registries:
        return None
    if registry not in _answers:
        username, command = _registries[registry]
        shown = " ".join(command)
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as error:
            raise AuthError(
                f"{shown} (tool.ocipush.{NAME} for {registry}) could not run: {error}; "
                "install it or fix the command"
            ) from None
        token = done.stdout.strip()
        if done.returncode != 0 or not token:
            # The last line: where tools say what went wrong, after any traceback.
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            raise AuthError(
                f"{shown} (tool.ocipush.{NAME} for {registry}) printed no token "
                f"(exit status {done.returncode}: {said}); log in with that tool first"
            )
        _answers[registry] = Credentials(username=username, password=token, source=shown)
    return _answers[registry]
