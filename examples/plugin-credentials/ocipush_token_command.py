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

import json
import subprocess
from collections.abc import Mapping
from typing import Any

from ocipush import hookimpl
from ocipush.errors import AuthError, ConfigProblem
from ocipush.registry.keychain import Credentials
from ocipush.release.project import Project

NAME = "token-command"
#: Seconds a command may take (a cloud CLI may refresh a login first).
TIMEOUT = 60

_registries: dict[str, tuple[str, list[str]]] = {}
_answers: dict[str, Credentials] = {}


def _entries(project: Project) -> Mapping[str, Any]:
    return project.settings.plugin_tables.get(NAME, {})


@hookimpl
def ocipush_validate(project: Project) -> list[ConfigProblem]:
    problems = []
    for host, entry in _entries(project).items():
        path = f'tool.ocipush.{NAME}."{host}"'
        if not isinstance(entry, Mapping) or set(entry) - {"username", "command"}:
            problems.append(ConfigProblem(path, 'expected a table with "username" and "command"'))
            continue
        if not isinstance(entry.get("username"), str) or not entry["username"]:
            problems.append(
                ConfigProblem(
                    f"{path}.username",
                    f"{json.dumps(entry.get('username'))} — "
                    "expected the user name the registry takes with the token",
                )
            )
        command = entry.get("command")
        if (
            not isinstance(command, list)
            or not command
            or not all(isinstance(part, str) for part in command)
        ):
            problems.append(
                ConfigProblem(
                    f"{path}.command",
                    f"{json.dumps(command)} — expected a list of "
                    'strings, e.g. ["gcloud", "auth", "print-access-token"]',
                )
            )
    return problems


@hookimpl
def ocipush_configure(project: Project) -> None:
    _registries.clear()
    _answers.clear()
    for host, entry in _entries(project).items():
        if isinstance(entry, Mapping):
            _registries[host] = (str(entry.get("username")), list(entry.get("command", [])))


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
