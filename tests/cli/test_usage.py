"""Issue 12, usage: flags before or after the command, the subcommand's own usage on a
mistake, ``help``, each command's own flags, repeated targets, ``--ca-cert``."""

from __future__ import annotations

import json

import pytest

from ocipush.cli.parser import COMMANDS

EXIT_USAGE = 2


def test_common_flags_are_taken_before_the_command(run, project):
    code, out, err = run("-v", "--json", "--project", str(project), "plan")
    assert code == 0, err
    assert json.loads(out)["targets"][0]["target"].endswith("dist/oci:1.0.0")


def test_common_flags_are_taken_after_the_command(run, project):
    code, out, err = run("plan", "-v", "--json", "--project", str(project))
    assert code == 0, err
    assert json.loads(out)["targets"]


def test_verbosity_before_and_after_adds_up(run, project):
    # -v then -v: the plan table lists every file taken, as -vv does anywhere.
    code, _out, err = run("-v", "plan", "-v", "--project", str(project))
    assert code == 0, err
    assert "Traceback" not in err


def test_a_common_flag_the_command_does_not_take_is_named(run):
    code, _, err = run("--project", "somewhere", "copy", "oci:a", "oci:b")
    assert code == EXIT_USAGE
    assert "usage: ocipush copy" in err
    assert "--project" in err


def test_an_unknown_flag_shows_the_commands_usage_and_names_the_flag(run):
    code, _, err = run("copy", "--bogus", "oci:a", "oci:b")
    assert code == EXIT_USAGE
    assert "usage: ocipush copy" in err
    assert "--bogus" in err
    assert "usage: ocipush [-h]" not in err


def test_a_bad_flag_value_shows_the_commands_usage(run):
    code, _, err = run("copy", "--jobs", "0", "oci:a", "oci:b")
    assert code == EXIT_USAGE
    assert "usage: ocipush copy" in err
    assert "--jobs" in err
    assert "'0'" in err


def test_help_command_lists_the_commands(run):
    code, out, _ = run("help")
    assert code == 0
    for command in COMMANDS:
        assert command in out


def test_help_command_shows_a_commands_help(run):
    code, out, _ = run("help", "copy")
    assert code == 0
    code, direct, _ = run("copy", "--help")
    assert out == direct


def test_help_of_an_unknown_command_is_a_usage_error(run):
    code, _, err = run("help", "cpy")
    assert code == EXIT_USAGE
    assert "cpy" in err
    assert "copy" in err


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_a_description_and_an_example(run, command):
    code, out, _ = run(command, "--help")
    assert code == 0
    _usage, _, rest = out.partition("\n\n")
    description = rest.split("\n\n", 1)[0]
    assert description.strip()
    assert not description.startswith(("positional", "options"))
    assert f"ocipush {command} " in out.partition("\nexample:\n")[2]


@pytest.mark.parametrize("command", ["tag", "delete"])
def test_tag_and_delete_offer_only_flags_that_do_something(run, command):
    _, out, _ = run(command, "--help")
    for flag in ("--jobs", "--allow-nondistributable-artifacts", "--no-progress"):
        assert flag not in out


def test_a_repeated_target_is_planned_once(run, project):
    target = f"oci:{project / 'out'}:1"
    code, out, err = run(
        "plan", "--json", "--project", str(project), "--target", target, "--target", target
    )
    assert code == 0, err
    assert [t["target"] for t in json.loads(out)["targets"]] == [target]


def test_a_repeated_target_is_built_once(run, project):
    target = f"oci:{project / 'out'}:1"
    code, out, err = run(
        "build", "--no-progress", "--project", str(project), "--target", target, "--target", target
    )
    assert code == 0, err
    assert len(out.splitlines()) == 1


def test_a_missing_ca_cert_is_a_usage_error(run, tmp_path):
    missing = tmp_path / "nonexistent.pem"
    code, _, err = run("copy", "--ca-cert", str(missing), "oci:a", "oci:b")
    assert code == EXIT_USAGE
    assert str(missing) in err
    assert "usage: ocipush copy" in err


def test_quiet_prints_the_result_and_nothing_else(run, project):
    target = f"oci:{project / 'out'}:1"
    code, out, err = run("-q", "build", "--project", str(project), "--target", target)
    assert code == 0, err
    assert out.splitlines() == [target]
    assert err == ""
