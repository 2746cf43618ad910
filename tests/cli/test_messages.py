"""Issue 12: messages as a user meets them: network errors worded for people, JSON error
objects, an after-push plugin failure after a complete push, one traceback at -vv."""

from __future__ import annotations

import json
import socket
import textwrap
import threading
from collections.abc import Iterator

import pytest

EXIT_AFTER_PUSH = 3


@pytest.fixture
def silent_server() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a stalled registry, which a
    real registry cannot be made into. Yields its ``host:port``."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"127.0.0.1:{listener.getsockname()[1]}"
    stop.set()
    thread.join(5)
    for conn in accepted:
        conn.close()
    listener.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_registry_that_does_not_answer_is_named_with_the_timeout(run, silent_server):
    code, _, err = run("tag", "--timeout-read", "0.5", f"{silent_server}/app:1", "2")
    assert code == 1
    assert f"registry {silent_server} did not answer within 0.5 s" in err
    assert "--timeout-read" in err
    assert "HTTPConnectionPool" not in err
    assert "Read timed out" not in err


def test_connection_refused_is_worded_for_people(run):
    host = f"127.0.0.1:{_free_port()}"
    code, _, err = run("tag", f"{host}/app:1", "2")
    assert code == 1
    assert f"connection refused by registry {host}" in err
    assert "NewConnectionError" not in err
    assert "Errno" not in err


def test_json_failures_print_an_error_object_on_stdout(run, project):
    host = f"127.0.0.1:{_free_port()}"
    code, out, _ = run("push", "--json", "--project", str(project), "--target", f"{host}/a:1")
    assert code == 1
    error = json.loads(out)["error"]
    assert error["kind"] == "network"
    assert f"connection refused by registry {host}" in error["message"]
    assert error["target"] == f"{host}/a:1"


def test_json_usage_errors_keep_their_exit_code(run, project):
    (project / "pyproject.toml").write_text(
        '[project]\nname = "x"\nversion = "1"\n[tool.ocipush]\nbogus = 1\n'
    )
    code, out, _ = run("plan", "--json", "--project", str(project))
    assert code == 2
    assert json.loads(out)["error"]["kind"] == "config"


@pytest.fixture
def failing_after_push(project):
    (project / "cli_plugin_after.py").write_text(
        textwrap.dedent(
            """
            from ocipush.release.hookspecs import hookimpl

            @hookimpl
            def ocipush_after_push(results):
                raise RuntimeError("webhook down")
            """
        )
    )
    return project


def _build_with_failing_plugin(run, project, *flags: str):
    target = f"oci:{project / 'out'}:1"
    code, out, err = run(
        "build",
        *flags,
        "--no-progress",
        "--project",
        str(project),
        "-p",
        "cli_plugin_after",
        "--target",
        target,
    )
    return target, code, out, err


def test_an_after_push_failure_shows_the_result_and_its_own_exit_code(run, failing_after_push):
    target, code, out, err = _build_with_failing_plugin(run, failing_after_push)
    assert code == EXIT_AFTER_PUSH
    assert out.splitlines() == [target]
    assert "the push succeeded" in err
    assert "cli_plugin_after" in err
    assert "webhook down" in err


def test_vv_prints_a_failing_plugins_traceback_once(run, failing_after_push):
    _, _, _, err = _build_with_failing_plugin(run, failing_after_push, "-vv")
    assert err.count('raise RuntimeError("webhook down")') == 1


def test_json_usage_mistakes_print_an_error_object_too(run):
    code, out, err = run("plan", "--json", "--bogus")
    assert code == 2
    error = json.loads(out)["error"]
    assert error["kind"] == "usage"
    assert "--bogus" in error["message"]
    assert "usage: ocipush plan" in err
