"""Ctrl-C during a push, as a user does it: ``ocipush copy`` in a subprocess gets SIGINT.

The proxy slows every blob upload's answer down so the push is still running when the signal lands.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from ocipush.oci.images import Image
from ocipush.oci.layout import write_layout
from support.images import make_config, make_tar_gz_layer
from support.proxy import Rule, Stall
from support.tools import ToolError, registry_blob_exists, registry_get_manifest, skopeo_inspect_raw

LAYERS = 11
SLOW_UPLOAD = 0.3
DEADLINE = 30.0
# Workers stop at their next request; one slowed answer plus a commit is all they may finish.
PROMPT = 3.0


def _environment() -> dict[str, str]:
    # Loopback only: a proxy from the environment must not see the traffic.
    return {k: v for k, v in os.environ.items() if not k.lower().endswith("_proxy")}


def _copy(layout, destination: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "ocipush.cli", "copy", "--no-progress", "-j", "2"]
    command += ["--timeout-read", "5", f"oci:{layout}:v1", destination]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(),
    )


def test_sigint_stops_the_push_reports_what_is_missing_and_a_rerun_finishes(
    registry, repo_name, proxy_factory, tmp_path
):
    layers = [make_tar_gz_layer({f"{i}.txt": f"{repo_name} {i}\n".encode()}) for i in range(LAYERS)]
    image = Image(layers=layers, config=make_config(layers))
    write_layout(tmp_path / "layout", image, "v1")
    blobs = {str(b.digest): b for b in image.blobs()}
    proxy = proxy_factory(registry.url)
    slow = proxy.add_rule(
        Rule(Stall(SLOW_UPLOAD), method="PUT", path="/blobs/uploads/", times=None)
    )
    destination = f"{proxy.host}/{repo_name}:v1"

    process = _copy(tmp_path / "layout", destination)
    try:
        deadline = time.monotonic() + DEADLINE
        while proxy.count("PUT", r"digest=") < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proxy.count("PUT", r"digest=") >= 3, "the push never got going"
        interrupted_at = time.monotonic()
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=DEADLINE)
        stopped_after = time.monotonic() - interrupted_at
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert process.returncode == 130
    assert stopped_after < PROMPT
    assert "Traceback" not in stderr
    match = re.fullmatch(
        r"error: interrupted: no tag was changed; of (\d+) blobs (\d+) uploaded, 0 mounted, "
        r"0 already present, (\d+) not uploaded: ([^\n]+)\n"
        r"hint: run the same command again: only what is missing is uploaded\n",
        stderr,
    )
    assert match, stderr
    total, uploaded, missing = (int(match[i]) for i in (1, 2, 3))
    assert total == LAYERS + 1
    assert uploaded + missing == total
    assert 3 <= uploaded < total
    listed = match[4].split(" and ")[0].split(", ")
    assert len(listed) == min(missing, 5)
    if missing > 5:
        assert match[4].endswith(f" and {missing - 5} more")
    # What the message says matches the registry, blob by blob.
    present = {d for d in blobs if registry_blob_exists(registry.host, repo_name, d)}
    assert len(present) == uploaded
    absent_short = {f"sha256:{d.split(':')[1][:12]}" for d in blobs if d not in present}
    assert set(listed) <= absent_short
    with pytest.raises(ToolError, match=": 404 "):
        registry_get_manifest(registry.host, repo_name, "v1")

    # The re-run uploads only what was missing.
    slow.times = 0
    proxy.clear()
    rerun = _copy(tmp_path / "layout", destination)
    out, err = rerun.communicate(timeout=DEADLINE)
    assert rerun.returncode == 0, err
    assert out.strip().endswith(f"@{image.manifest().digest}")
    assert proxy.count("PUT", r"/blobs/uploads/.*digest=") == missing
    committed = {
        e.path.rsplit("digest=", 1)[1].replace("%3A", ":")
        for e in proxy.find("PUT")
        if "digest=" in e.path
    }
    assert committed == set(blobs) - present
    assert skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1") == image.manifest().raw
