"""Issue 12, item 14: on a terminal the progress bar is closed before the result is printed.

Run under a real pseudo-terminal (``script``), as a user's shell runs it: a pipe would not
show the bar at all.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys


def test_the_result_line_stands_alone_after_the_bar(run, project, registry, repo_name):
    layout = project / "out"
    assert (
        run("build", "--no-progress", "--project", str(project), "--target", f"oci:{layout}:1")[0]
        == 0
    )
    target = f"{registry.host}/{repo_name}:1"
    command = shlex.join([sys.executable, "-m", "ocipush.cli", "copy", f"oci:{layout}:1", target])
    # script's terminal has no size unless given one, and tqdm hides bars on a 0-row screen.
    finished = subprocess.run(
        ["script", "-qec", f"stty rows 24 cols 80; {command}", "/dev/null"],
        capture_output=True,
        timeout=120,
        env=dict(os.environ, TERM="xterm"),
        check=False,
    )
    screen = finished.stdout.decode("utf-8", "replace")
    assert finished.returncode == 0, screen
    assert "100%|" in screen, f"no bar was drawn: {screen!r}"
    bar, _, result = screen.rpartition("\r\n" + f"{registry.host}/{repo_name}@sha256:")
    # The result starts a line of its own (the bar was closed first) and nothing follows it.
    assert bar, f"the result is glued to the bar: {screen!r}"
    assert result.endswith("\r\n")
    assert "\r" not in result[:-2], f"the bar was drawn again after the result: {screen!r}"
