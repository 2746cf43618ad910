"""A user's side of ocipush: a virtual environment with it installed, and its images run."""

from __future__ import annotations

import json
import subprocess
import venv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ocipush.testing import DEBIAN_PYTHON, DEBIAN_SITE_PACKAGES, wheelhouse_environ
from support.tools import skopeo_copy, umoci_unpack

COMMAND_TIMEOUT = 600
RUN_TIMEOUT = 60


@dataclass(frozen=True)
class UserEnv:
    """A user's virtual environment with ocipush and build installed from wheels."""

    path: Path
    environ: dict[str, str]

    @property
    def python(self) -> str:
        return str(self.path / "bin" / "python")

    def run(
        self, command: Sequence[str], cwd: Path, **environ: str
    ) -> subprocess.CompletedProcess[str]:
        """Run ``command`` (``python`` and ``ocipush`` are this venv's) in ``cwd``."""
        resolved = [str(self.path / "bin" / command[0]), *command[1:]]
        return subprocess.run(
            resolved,
            cwd=cwd,
            env={**self.environ, **environ},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )

    def pip_version(self) -> str:
        completed = self.run(["python", "-m", "pip", "--version"], self.path)
        return completed.stdout.split()[1]


def make_user_env(directory: Path, index: Path, *, pip: str | None = None) -> UserEnv:
    venv.EnvBuilder(with_pip=True).create(directory)
    environ = wheelhouse_environ(index)
    # The developer's own tool settings must not leak into a user's run.
    for name in ("OCIPUSH_PUSH", "SOURCE_DATE_EPOCH", "VIRTUAL_ENV", "PYTHONPATH"):
        environ.pop(name, None)
    environ["PATH"] = f"{directory / 'bin'}:{environ.get('PATH', '')}"
    env = UserEnv(directory, environ)
    install = ["python", "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    if pip is not None:
        completed = env.run([*install, f"pip=={pip}"], directory)
        assert completed.returncode == 0, completed.stderr
    completed = env.run([*install, "ocipush", "build"], directory)
    assert completed.returncode == 0, completed.stderr
    return env


def image_settings(base: str, entrypoint: str) -> str:
    return (
        "[tool.ocipush.image]\n"
        f'base = "{base}"\n'
        f'python = "{DEBIAN_PYTHON}"\n'
        f'site-packages = "{DEBIAN_SITE_PACKAGES}"\n'
        f'entrypoint = ["/usr/bin/{entrypoint}"]\n'
    )


def run_image(ref: str, work: Path) -> str:
    """Copy ``ref`` out of the registry (skopeo), unpack it (umoci), run it in a chroot."""
    work.mkdir(parents=True, exist_ok=True)
    layout = work / "layout"
    skopeo_copy(ref, f"oci:{layout}:img")
    rootfs = umoci_unpack(layout, "img", work / "bundle")
    process = json.loads((work / "bundle" / "config.json").read_text())["process"]
    result = subprocess.run(
        ["chroot", str(rootfs), *process["args"]],
        env=dict(entry.split("=", 1) for entry in process["env"]),
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
