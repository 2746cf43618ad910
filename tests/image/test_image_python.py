"""Which interpreter and site-packages an image gets, from configuration and base env."""

from __future__ import annotations

import pytest

from ocipush.image.errors import ImageError
from ocipush.image.python import PythonRuntime, detect_python

PYTHON_ORG_ENV = {
    "PATH": "/usr/local/bin:/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin",
    "PYTHON_VERSION": "3.12.7",
}


def test_python_org_images_are_detected_from_their_environment():
    runtime = detect_python(PYTHON_ORG_ENV, python=None, site_packages=None, base="python")
    assert runtime == PythonRuntime(
        "/usr/local/bin/python3.12", (3, 12), "/usr/local/lib/python3.12/site-packages"
    )
    assert runtime.scripts == "/usr/local/bin"
    assert runtime.scheme()["data"] == "/usr/local"


def test_a_versioned_interpreter_gives_the_version_and_site_packages():
    runtime = detect_python({}, python="/usr/bin/python3.11", site_packages=None, base="debian")
    assert runtime.version == (3, 11)
    assert runtime.site_packages == "/usr/lib/python3.11/site-packages"


def test_configured_site_packages_wins():
    runtime = detect_python(
        {},
        python="/usr/bin/python3.11",
        site_packages="/usr/local/lib/python3.11/dist-packages",
        base="debian",
    )
    assert runtime.site_packages == "/usr/local/lib/python3.11/dist-packages"


def test_an_unversioned_interpreter_takes_the_version_from_the_base():
    runtime = detect_python(
        PYTHON_ORG_ENV, python="/opt/py/bin/python3", site_packages=None, base="b"
    )
    assert runtime.version == (3, 12)
    assert runtime.site_packages == "/opt/py/lib/python3.12/site-packages"


def test_a_base_that_does_not_say_asks_for_python():
    with pytest.raises(ImageError, match=r'set python = "/usr/bin/python3.11"'):
        detect_python({"PATH": "/usr/bin"}, python=None, site_packages=None, base="debian:12")


def test_an_unknown_version_asks_for_the_versioned_interpreter():
    with pytest.raises(ImageError, match=r'"/usr/bin/python3" does not say which Python version'):
        detect_python({}, python="/usr/bin/python3", site_packages=None, base="debian:12")
