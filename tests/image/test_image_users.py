"""``user = "nonroot"``: the layer that adds uid/gid 65532 when a base lacks it."""

from __future__ import annotations

import gzip
import tarfile

from ocipush.image.listing import BaseFiles
from ocipush.image.users import config_user, nonroot_layer

DEBIAN_PASSWD = (
    "root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534::/nonexistent:/usr/sbin/nologin"
)
DISTROLESS_PASSWD = (
    "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532::/home/nonroot:/sbin/nologin\n"
)


def _files(contents: dict[str, str]) -> BaseFiles:
    return BaseFiles({path: ("f", "") for path in contents}, contents)


def _members(layer) -> dict[str, tarfile.TarInfo]:
    with gzip.open(layer.path) as raw, tarfile.open(fileobj=raw) as tar:
        return {member.name: member for member in tar.getmembers()}


def _text(layer, name: str) -> str:
    with gzip.open(layer.path) as raw, tarfile.open(fileobj=raw) as tar:
        data = tar.extractfile(name)
        assert data is not None
        return data.read().decode()


def test_a_base_without_nonroot_gets_the_entries_after_its_own(tmp_path):
    files = _files({"/etc/passwd": DEBIAN_PASSWD, "/etc/group": "root:x:0:\n"})

    layer = nonroot_layer(files, tmp_path, mtime=0)

    assert layer is not None
    assert _text(layer, "etc/passwd") == (
        DEBIAN_PASSWD + "\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    )
    assert _text(layer, "etc/group") == "root:x:0:\nnonroot:x:65532:\n"
    home = _members(layer)["home/nonroot"]
    assert (home.uid, home.gid, home.isdir()) == (65532, 65532, True)


def test_a_base_that_has_nonroot_gets_no_layer(tmp_path):
    files = _files({"/etc/passwd": DISTROLESS_PASSWD, "/etc/group": "nonroot:x:65532:\n"})

    assert nonroot_layer(files, tmp_path, mtime=0) is None


def test_a_base_without_user_databases_gets_root_and_nonroot(tmp_path):
    layer = nonroot_layer(_files({}), tmp_path, mtime=0)

    assert layer is not None
    assert _text(layer, "etc/passwd") == (
        "root:x:0:0:root:/root:/sbin/nologin\n"
        "nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"
    )


def test_the_config_names_nonroot_by_number():
    assert config_user("nonroot") == "65532:65532"
    assert config_user("1000:1000") == "1000:1000"
