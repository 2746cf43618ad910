"""``[tool.ocipush.signing]`` and ``[tool.ocipush.attestations]`` as a user meets their
mistakes in ``ocipush plan``: read with the one config reader like every other table, so
their problems come in the same style (key path, TOML-quoted value, "did you mean") and in
the same single report as the core's, with exit status 2 (issue 11 item 4).

Driven through the real CLI entry point; none of these runs reaches a registry.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from ocipush.cli import main

HEAD = '[project]\nname = "cfg-app"\nversion = "1.0.0"\n\n[tool.ocipush]\n'
LAYER = '[[tool.ocipush.layers]]\nsource = "static"\ndest = "/srv"\n'


def _plan_problems(
    capsys: pytest.CaptureFixture[str], root: Path, text: str, *argv: str
) -> list[str]:
    """The sorted problem lines of the report ``ocipush plan`` gives for ``text``, after
    checking that it failed with exit status 2, printed no plan and counted them all."""
    (root / "static").mkdir(exist_ok=True)
    (root / "static" / "index.html").write_text("<p>hi</p>\n")
    (root / "pyproject.toml").write_text(HEAD + textwrap.dedent(text))
    code = main(["plan", "--project", str(root), "--no-progress", *argv])
    out, err = capsys.readouterr()
    assert (code, out) == (2, ""), err
    problems = [line.strip() for line in err.splitlines() if line.startswith("  ")]
    if len(problems) > 1:
        assert f"{root / 'pyproject.toml'}: {len(problems)} configuration problems:" in err
    return sorted(problems)


def test_bad_signing_keys_are_reported_with_the_core_problems(tmp_path, capsys):
    problems = _plan_problems(
        capsys,
        tmp_path,
        """\
        jobs = 0

        [[tool.ocipush.targets]]
        ref = "127.0.0.1:1/Upper"

        [tool.ocipush.signing]
        key = 42
        keyles = true
        trust-config = ""
        """
        + LAYER,
    )

    assert problems == sorted(
        [
            "tool.ocipush.jobs: 0 — must be at least 1",
            'tool.ocipush.targets[0].ref: "127.0.0.1:1/Upper" — repository names must be lowercase',
            'tool.ocipush.signing.keyles: unknown key — did you mean "keyless"?',
            "tool.ocipush.signing.key: expected the path of a PEM private key (ECDSA P-256 or "
            'Ed25519) as a string, such as "{env:OCIPUSH_SIGNING_KEY}", got an integer',
            'tool.ocipush.signing.trust-config: "" — must not be empty',
        ]
    )


def test_bad_attestations_keys_are_reported_with_the_core_problems(tmp_path, capsys):
    problems = _plan_problems(
        capsys,
        tmp_path,
        """\
        targetz = []

        [tool.ocipush.attestations]
        sbom = "swid"
        provenance = "yes"
        provenanse = false
        """
        + LAYER,
    )

    assert problems == sorted(
        [
            'tool.ocipush.targetz: unknown key — did you mean "targets"?',
            'tool.ocipush.attestations.sbom: "swid" — expected "cyclonedx" (CycloneDX 1.6 '
            'JSON), "spdx" (SPDX 2.3 JSON) or false for no SBOM',
            "tool.ocipush.attestations.provenance: expected a boolean, got a string",
            'tool.ocipush.attestations.provenanse: unknown key — did you mean "provenance"?',
        ]
    )


def test_signing_and_attestations_problems_share_one_report(tmp_path, capsys):
    problems = _plan_problems(
        capsys,
        tmp_path,
        """\
        [tool.ocipush.attestations]
        sbom = true

        [tool.ocipush.signing]
        key = "k.pem"
        keyless = true
        """
        + LAYER,
    )

    assert problems == sorted(
        [
            'tool.ocipush.attestations.sbom: true — expected "cyclonedx" (CycloneDX 1.6 JSON), '
            '"spdx" (SPDX 2.3 JSON) or false for no SBOM',
            "tool.ocipush.signing: both key and keyless = true are set; choose one way to sign",
        ]
    )


def test_a_signing_key_template_is_checked_before_anything_is_built(tmp_path, capsys):
    problems = _plan_problems(
        capsys,
        tmp_path,
        '[tool.ocipush.signing]\nkey = "{home}/signing.pem"\n' + LAYER,
    )

    [problem] = problems
    assert problem.startswith('tool.ocipush.signing.key: "{home}/signing.pem" — ')
    assert "{home}" in problem.split(" — ", 1)[1]


def test_a_table_of_a_disabled_signing_plugin_is_named(tmp_path, capsys):
    problems = _plan_problems(
        capsys,
        tmp_path,
        '[tool.ocipush.signing]\nkey = "k.pem"\n' + LAYER,
        "-p",
        "no:signing",
    )

    assert problems == [
        "tool.ocipush.signing: table tool.ocipush.signing belongs to plugin 'signing', which "
        "is disabled (-p no:signing); remove the table or enable the plugin"
    ]


def test_signing_and_attestations_values_that_are_not_tables_are_reported(tmp_path, capsys):
    problems = _plan_problems(capsys, tmp_path, 'signing = 1\nattestations = "spdx"\n' + LAYER)

    assert problems == [
        "tool.ocipush.attestations: expected a table, got a string",
        "tool.ocipush.signing: expected a table, got an integer",
    ]
