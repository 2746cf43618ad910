"""What importing ocipush costs: the build backend and the testing helpers load lazily."""

from __future__ import annotations

import json
import subprocess
import sys


def _modules_after(statement: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``statement``."""
    code = f"{statement}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    return set(json.loads(out.splitlines()[-1]))  # the last line: a command may print too


def test_importing_the_build_backend_loads_no_network_or_plugin_code():
    loaded = _modules_after("import ocipush.backend")

    assert "ocipush.backend" in loaded
    unwanted = {"urllib3", "pluggy", "ocipush.registry.transport", "ocipush.registry.writer"}
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)


def test_importing_ocipush_testing_needs_no_pytest():
    loaded = _modules_after("from ocipush.testing import LocalRegistry, debian_base_layer")

    assert "pytest" not in loaded
    assert "ocipush.testing.plugin" not in loaded


def test_the_public_api_is_there_on_first_use():
    loaded = _modules_after(
        "import ocipush\n"
        "assert 'ocipush.registry.writer' not in __import__('sys').modules\n"
        "from ocipush import Writer, hookimpl, parse_reference\n"
        "assert Writer.__module__ == 'ocipush.registry.writer'"
    )

    assert {"ocipush.registry.writer", "ocipush.release.hookspecs"} <= loaded


def _cli(*argv: str) -> str:
    """A statement running ``ocipush ARGV`` in-process, whatever its exit status."""
    call = f"main({list(argv)!r})"
    return f"from ocipush.cli import main\ntry:\n    {call}\nexcept SystemExit:\n    pass"


#: What no registry command needs: the plugin machinery, the project reader, attestation
#: verification and signing, the progress bar.
_PROJECT_AND_EXTRAS = {
    "pluggy",
    "pathspec",
    "tqdm",
    "ocipush.release.manager",
    "ocipush.release.project",
    "ocipush.release.publish",
    "ocipush.attest.verify",
    "ocipush.attest.dsse",
    "ocipush.plugins.outputs",
}


def test_ocipush_version_loads_no_urllib3_or_plugin_code():
    loaded = _modules_after(_cli("--version"))

    assert "ocipush.cli" in loaded
    unwanted = {"urllib3", "ocipush.registry.transport", *_PROJECT_AND_EXTRAS}
    assert loaded.isdisjoint(unwanted), sorted(loaded & unwanted)


def test_ocipush_copy_loads_only_what_copying_uses(tmp_path):
    missing = tmp_path / "no-such-layout"
    loaded = _modules_after(_cli("copy", "--no-progress", f"oci:{missing}:v1", "127.0.0.1:9/a:b"))

    assert {"ocipush.registry.writer", "ocipush.registry.referrers"} <= loaded
    assert loaded.isdisjoint(_PROJECT_AND_EXTRAS), sorted(loaded & _PROJECT_AND_EXTRAS)
