"""A real Docker-compatible engine for tests: ``podman system service`` on a unix socket.

Each engine keeps its images under its own temporary root (vfs storage, so no overlay
mount is needed), so tests never see or touch the machine's images.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

from support.tools import ToolError

__all__ = ["PodmanEngine"]

_START_TIMEOUT = 30.0
_COMMAND_TIMEOUT = 60.0


class PodmanEngine:
    """Start with :meth:`start`, stop with :meth:`stop`; ``host`` is its ``DOCKER_HOST``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket = directory / "engine.sock"
        self.host = f"unix://{self.socket}"
        self._process: subprocess.Popen[bytes] | None = None

    def _options(self) -> list[str]:
        return [
            f"--root={self.directory / 'root'}",
            f"--runroot={self.directory / 'run'}",
            "--storage-driver=vfs",
            "--cgroup-manager=cgroupfs",
            "--events-backend=file",
        ]

    def start(self) -> PodmanEngine:
        log = (self.directory / "engine.log").open("wb")
        self._process = subprocess.Popen(
            ["podman", *self._options(), "system", "service", "--time=0", self.host],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while not self.socket.exists():
            if self._process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise ToolError(f"podman system service did not start: {self.log()}")
            time.sleep(0.1)
        return self

    def log(self) -> str:
        return (self.directory / "engine.log").read_text(errors="replace")

    def stop(self) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
            self._process = None

    def podman(self, *args: str) -> bytes:
        """Run ``podman ARGS`` against this engine's storage; raise on failure."""
        result = subprocess.run(
            ["podman", *self._options(), *args],
            capture_output=True,
            timeout=_COMMAND_TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise ToolError(
                f"podman {' '.join(args)} exited with {result.returncode}:\n"
                f"{result.stderr.decode(errors='replace')}"
            )
        return result.stdout

    def inspect(self, name: str) -> dict[str, Any]:
        found = json.loads(self.podman("image", "inspect", name))
        assert isinstance(found, list)
        return dict(found[0])
