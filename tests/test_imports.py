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
    return set(json.loads(out))


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
