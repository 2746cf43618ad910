"""Shared pieces of the personality tests: a big image and a proxy in front of the registry."""

from __future__ import annotations

import os

import pytest

from ocipush.oci.images import Image
from support.images import make_config, make_tar_gz_layer

MIB = 1024 * 1024


def big_image(seed: str, *, mib: int = 9, layers: int = 1) -> Image:
    """An image whose layers are ``mib`` MiB of incompressible bytes each (so over 4 MiB)."""
    blobs = [make_tar_gz_layer({f"{seed}-{n}.bin": os.urandom(mib * MIB)}) for n in range(layers)]
    return Image(layers=blobs, config=make_config(blobs))


@pytest.fixture
def image_factory():
    return big_image
