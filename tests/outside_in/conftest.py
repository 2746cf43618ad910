"""The outside-in suite: ocipush run the way its users run it.

A fresh virtual environment made with ``python -m venv`` (its bundled pip kept as it is),
ocipush installed into it from a wheel built from this checkout, and every build
requirement served by a local wheelhouse (:func:`ocipush.testing.wheelhouse`: downloaded
from the package index once, then cached). Projects are built with ``python -m build``
*isolated*, or published with the venv's ``ocipush`` command, in clean checkouts with no
``dist/``. Results are checked in a real registry with skopeo, and images are unpacked with
umoci and run in a chroot.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from ocipush.testing import debian_base_layer, push_base_image, wheelhouse
from support.users import UserEnv, make_user_env

CHECKOUT = Path(__file__).resolve().parents[2]
#: The oldest pip ocipush supports (README); the venv's bundled one is newer.
PIP_FLOOR = "22.2"
#: What the sample projects' builds and images need besides ocipush and its dependencies.
BUILD_REQUIREMENTS = ["build", "hatchling", "setuptools>=68", "setuptools-scm", "wheel", "idna"]
BASE_REPO = "ocipush-tests/bases/debian-python"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def offline_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Wheels of ocipush (this checkout) and of everything the sample builds install."""
    directory = wheelhouse([CHECKOUT], BUILD_REQUIREMENTS)
    # The floor pip, for the venv that checks it; it cannot share a download with pip>=22.2.
    for wheel in wheelhouse([], [f"pip=={PIP_FLOOR}"]).glob("pip-*.whl"):
        shutil.copy2(wheel, directory / wheel.name)
    return directory


@pytest.fixture(scope="session")
def user_env(tmp_path_factory: pytest.TempPathFactory, offline_index: Path) -> UserEnv:
    """The venv as ``python -m venv`` makes it: the pip bundled with this Python."""
    return make_user_env(tmp_path_factory.mktemp("user") / "venv", offline_index)


@pytest.fixture(scope="session")
def debian_base(registry) -> str:
    """``host/repo@digest`` of a one-layer Debian bookworm image with python3."""
    return push_base_image(registry.host, BASE_REPO, debian_base_layer())
