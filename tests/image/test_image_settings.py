"""``[tool.ocipush.image]`` validation: values users write, problems they read."""

from __future__ import annotations

from ocipush.image.settings import parse_image_settings
from ocipush.oci.model import Platform


def _messages(table):
    settings, problems = parse_image_settings(table)
    return settings, [str(p) for p in problems]


def test_a_full_table_is_read():
    settings, problems = _messages(
        {
            "base": "docker.io/library/python:3.12-slim",
            "platforms": ["linux/amd64", "linux/arm/v7"],
            "entrypoint": ["/usr/local/bin/app"],
            "cmd": ["--serve"],
            "env": {"MODE": "prod"},
            "workdir": "/srv",
            "user": "1000:1000",
            "ports": [8080, "53/udp"],
            "volumes": ["/data"],
            "labels": {"team": "core"},
            "annotations": {"com.example.x": "y"},
            "python": "/usr/local/bin/python3.12",
            "site-packages": "/usr/local/lib/python3.12/site-packages",
            "requirements": "requirements.lock",
            "uid": 1000,
            "gid": 1000,
        }
    )
    assert problems == []
    assert settings.platforms == (Platform("linux", "amd64"), Platform("linux", "arm", "v7"))
    assert settings.ports == ("8080/tcp", "53/udp")
    assert settings.env == {"MODE": "prod"}
    assert (settings.uid, settings.gid) == (1000, 1000)


def test_scratch_is_a_base():
    settings, problems = _messages({"base": "scratch"})
    assert problems == []
    assert settings.base == "scratch"


def test_every_problem_is_reported_with_its_key_path_in_the_one_reader_style():
    settings, problems = _messages(
        {
            "platforms": ["linux"],
            "entrypoint": [],
            "env": {"A": 1},
            "ports": [70000],
            "volumes": ["data"],
            "uid": -1,
            "python": "python3",
            "colour": "red",
        }
    )
    assert settings is None
    assert problems == [
        "tool.ocipush.image.colour: unknown key — known keys are annotations, base, cmd, "
        "compile-bytecode, dependency-layers, entrypoint, env, gid, labels, platforms, ports, "
        "python, requirements, resolver, site-packages, uid, user, volumes, workdir",
        'tool.ocipush.image.platforms[0]: "linux" — expected os/architecture[/variant], e.g. '
        "linux/arm64",
        'tool.ocipush.image.entrypoint: [] — name the program to run, e.g. ["/usr/local/bin/app"]',
        "tool.ocipush.image.env.A: expected a string, got an integer",
        "tool.ocipush.image.ports[0]: 70000 — expected a port number (1-65535), optionally with "
        '"/tcp", "/udp" or "/sctp"',
        'tool.ocipush.image.volumes[0]: "data" — expected an absolute path in the image',
        'tool.ocipush.image.python: "python3" — expected an absolute path in the image',
        "tool.ocipush.image.uid: -1 — must be at least 0",
    ]


def test_a_platform_listed_twice_is_a_problem():
    _, problems = _messages({"base": "scratch", "platforms": ["linux/amd64", "linux/amd64"]})
    assert problems == ["tool.ocipush.image.platforms: lists a platform twice; name each once"]


def test_resolver_is_pip_or_uv_and_bytecode_a_boolean():
    assert _messages({"base": "scratch"})[0].resolver == "pip"
    settings, problems = _messages(
        {"base": "scratch", "resolver": "poetry", "compile-bytecode": "yes"}
    )
    assert settings is None
    assert problems == [
        "tool.ocipush.image.compile-bytecode: expected a boolean, got a string",
        'tool.ocipush.image.resolver: "poetry" — expected "pip" or "uv"',
    ]


def test_dependency_layers_is_auto_or_single():
    assert _messages({"base": "scratch"})[0].dependency_layers == "auto"
    assert _messages({"base": "scratch", "dependency-layers": "single"})[0].dependency_layers == (
        "single"
    )
    settings, problems = _messages({"base": "scratch", "dependency-layers": "per-package"})
    assert settings is None
    assert problems == [
        'tool.ocipush.image.dependency-layers: "per-package" — expected "auto" or "single"'
    ]
