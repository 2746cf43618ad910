"""OCI image layouts: round trips, interop with skopeo and umoci, and every user-facing error."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from ocipush.errors import DigestMismatchError, InvalidReferenceError, LayoutError
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import Blob, FileBlob, StreamBlob
from ocipush.oci.digest import digest_of
from ocipush.oci.images import Image, ImageIndex
from ocipush.oci.layout import (
    LayoutReference,
    is_layout_reference,
    parse_layout_reference,
    read_layout,
    write_layout,
)
from ocipush.oci.model import Platform
from support.images import make_config, make_image, make_tar, make_tar_gz_layer

AMD64 = Platform("linux", "amd64")
ARM64 = Platform("linux", "arm64", "v8")


def tool(name: str) -> str:
    path = shutil.which(name)
    assert path is not None, f"{name} is not installed: run `make system-deps`"
    return path


def run(*args: str) -> bytes:
    return subprocess.run(args, check=True, capture_output=True, timeout=60).stdout


def read_blob(blob: Blob) -> bytes:
    with blob.open() as reader:
        return reader.read()


def blob_file(layout: Path, digest: object) -> Path:
    algorithm, encoded = str(digest).split(":")
    return layout / "blobs" / algorithm / encoded


def index_entries(layout: Path) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = json.loads((layout / "index.json").read_text())["manifests"]
    return entries


def read_image(layout: Path, tag: str | None = None) -> Image:
    loaded = read_layout(layout, tag)
    assert isinstance(loaded, Image)
    return loaded


def tags_of(layout: Path) -> list[str | None]:
    entries = index_entries(layout)
    return [e.get("annotations", {}).get("org.opencontainers.image.ref.name") for e in entries]


# --- references -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "tag"),
    [
        ("oci:dist/oci", "dist/oci", None),
        ("oci:dist/oci:1.0", "dist/oci", "1.0"),
        ("oci:/abs/path:latest", "/abs/path", "latest"),
        ("oci:a:b:v2", "a:b", "v2"),
        ("oci:/srv/a:b/c", "/srv/a:b/c", None),  # 'b/c' is no tag, so the colon is the path's
        ("oci::latest", ":latest", None),  # no path before the colon: the whole is the path
    ],
)
def test_parse_layout_reference(text: str, path: str, tag: str | None) -> None:
    assert parse_layout_reference(text) == LayoutReference(Path(path), tag)


def test_layout_reference_prints_as_parsed() -> None:
    assert str(parse_layout_reference("oci:dist/oci:1.0")) == "oci:dist/oci:1.0"
    assert str(parse_layout_reference("oci:dist/oci")) == "oci:dist/oci"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("oci:", "'oci:': the layout path is empty; write oci:PATH or oci:PATH:TAG"),
        (
            "docker://x",
            "'docker://x': not a layout reference: write oci:PATH or oci:PATH:TAG",
        ),
        ("oci:dir:-bad", "'oci:dir:-bad': '-bad' is not a valid tag: "),
        ("oci:out:v1@sha256:abc", "'oci:out:v1@sha256:abc': a layout image is named by tag"),
    ],
)
def test_parse_layout_reference_rejects(text: str, message: str) -> None:
    with pytest.raises(InvalidReferenceError) as caught:
        parse_layout_reference(text)
    assert str(caught.value).startswith(f"invalid reference {message}")


def test_is_layout_reference() -> None:
    assert is_layout_reference("oci:dist")
    assert not is_layout_reference("ghcr.io/org/app:1.0")


# --- round trips ----------------------------------------------------------------------------


def test_round_trip_keeps_manifest_and_blob_bytes(tmp_path: Path) -> None:
    image = make_image({"hello.txt": b"hi\n"})
    written = write_layout(tmp_path, image, "1.0")

    assert json.loads((tmp_path / "oci-layout").read_text()) == {"imageLayoutVersion": "1.0.0"}
    assert written.digest == image.manifest().digest
    assert written.annotations == {"org.opencontainers.image.ref.name": "1.0"}
    assert index_entries(tmp_path) == [written.to_json()]

    loaded = read_image(tmp_path, "1.0")
    assert loaded.manifest().raw == image.manifest().raw
    assert blob_file(tmp_path, written.digest).read_bytes() == image.manifest().raw
    assert [read_blob(b) for b in loaded.blobs()] == [read_blob(b) for b in image.blobs()]
    assert all(isinstance(b, FileBlob) for b in loaded.blobs())
    assert read_image(tmp_path).manifest().raw == image.manifest().raw  # the only entry


def test_nested_index_round_trip(tmp_path: Path) -> None:
    arm_image = make_image({"arm": b"64"}, platform=ARM64)
    inner = ImageIndex([arm_image], platform=ARM64)
    outer = ImageIndex([make_image({"amd": b"64"}, platform=AMD64), inner])
    write_layout(tmp_path, outer, "multi")

    loaded = read_layout(tmp_path, "multi")
    assert isinstance(loaded, ImageIndex)
    assert loaded.index().raw == outer.index().raw
    first, second = loaded.children
    assert isinstance(first, Image)
    assert isinstance(second, ImageIndex)
    assert first.platform == AMD64
    assert second.platform == ARM64
    assert second.index().raw == inner.index().raw
    (arm,) = second.children
    assert isinstance(arm, Image)
    assert arm.platform == ARM64
    assert read_blob(arm.layers[0]) == read_blob(arm_image.layers[0])


def test_stream_blob_is_written_and_completed(tmp_path: Path) -> None:
    tar = make_tar({"streamed.txt": b"from a pipe\n"})
    layer = StreamBlob(io.BytesIO(tar), mt.OCI_LAYER, compress=True)
    image = Image(layers=[layer], config=make_config)

    written = write_layout(tmp_path, image, "stream")

    assert layer.digest is not None
    stored = blob_file(tmp_path, layer.digest).read_bytes()
    assert layer.digest == digest_of(stored)
    assert layer.size == len(stored)
    assert gzip.decompress(stored) == tar
    assert layer.diff_id == digest_of(tar)
    config = json.loads(read_blob(image.config_blob()))
    assert config["rootfs"]["diff_ids"] == [str(digest_of(tar))]
    assert read_image(tmp_path, "stream").manifest().digest == written.digest


def test_blobs_already_present_are_not_read_again(tmp_path: Path) -> None:
    source = tmp_path / "layer.tar.gz"
    source.write_bytes(make_tar_gz_layer({"a": b"1"}).data)
    layer = FileBlob(source, mt.OCI_LAYER, diff_id=digest_of(make_tar({"a": b"1"})))
    image = Image(layers=[layer], config=make_config)
    layout = tmp_path / "layout"
    write_layout(layout, image, "one")
    source.unlink()

    write_layout(layout, image, "two")

    assert tags_of(layout) == ["one", "two"]


def test_tag_replacement_keeps_other_entries(tmp_path: Path) -> None:
    first, second, third = (make_image({"n": bytes([n])}) for n in range(3))
    write_layout(tmp_path, first, "a")
    write_layout(tmp_path, second, "b")
    write_layout(tmp_path, third, "a")

    assert tags_of(tmp_path) == ["b", "a"]
    assert read_image(tmp_path, "a").manifest().raw == third.manifest().raw
    assert read_image(tmp_path, "b").manifest().raw == second.manifest().raw


def test_untagged_write_lists_a_digest_once(tmp_path: Path) -> None:
    image = make_image({"x": b"y"})
    write_layout(tmp_path, image)
    write_layout(tmp_path, image)
    write_layout(tmp_path, image, "t")

    assert tags_of(tmp_path) == [None, "t"]


def test_unknown_index_fields_survive_an_update(tmp_path: Path) -> None:
    write_layout(tmp_path, make_image({"x": b"1"}), "old")
    index = json.loads((tmp_path / "index.json").read_text())
    index["annotations"] = {"kept": "yes"}
    index["manifests"][0]["data"] = "e30="
    (tmp_path / "index.json").write_text(json.dumps(index))

    write_layout(tmp_path, make_image({"x": b"2"}), "new")

    updated = json.loads((tmp_path / "index.json").read_text())
    assert updated["annotations"] == {"kept": "yes"}
    assert updated["manifests"][0]["data"] == "e30="


def test_nondistributable_layers_are_skipped_unless_allowed(tmp_path: Path) -> None:
    foreign = make_tar_gz_layer({"licensed": b"!"})
    foreign.media_type = mt.OCI_LAYER_NONDIST_GZIP
    image = Image(layers=[foreign], config=make_config)

    write_layout(tmp_path / "skip", image, "t")
    write_layout(tmp_path / "copy", image, "t", allow_nondistributable=True)

    assert not blob_file(tmp_path / "skip", foreign.digest).exists()
    assert blob_file(tmp_path / "copy", foreign.digest).read_bytes() == foreign.data
    loaded = read_image(tmp_path / "skip", "t")  # an absent foreign layer is not an error
    assert loaded.manifest().raw == image.manifest().raw


# --- interop with real tools ----------------------------------------------------------------


def test_skopeo_reads_the_bytes_written(tmp_path: Path) -> None:
    skopeo = tool("skopeo")
    image = make_image({"hello.txt": b"hi\n"})
    index = ImageIndex([make_image({"a": b"1"}, platform=AMD64)])
    write_layout(tmp_path, image, "1.0")
    write_layout(tmp_path, index, "all")

    assert run(skopeo, "inspect", "--raw", f"oci:{tmp_path}:1.0") == image.manifest().raw
    assert run(skopeo, "inspect", "--raw", f"oci:{tmp_path}:all") == index.index().raw


def test_umoci_unpacks_the_files(tmp_path: Path) -> None:
    umoci = tool("umoci")
    layout = tmp_path / "layout"
    write_layout(layout, make_image({"hello.txt": b"hi\n", "app/main.py": b"print(1)\n"}), "1.0")

    run(umoci, "unpack", "--rootless", "--image", f"{layout}:1.0", str(tmp_path / "bundle"))

    rootfs = tmp_path / "bundle" / "rootfs"
    assert (rootfs / "hello.txt").read_bytes() == b"hi\n"
    assert (rootfs / "app" / "main.py").read_bytes() == b"print(1)\n"


def test_reads_a_tag_skopeo_copied(tmp_path: Path) -> None:
    skopeo = tool("skopeo")
    image = make_image({"hello.txt": b"hi\n"})
    write_layout(tmp_path, image, "1.0")

    run(skopeo, "--insecure-policy", "copy", "-q", f"oci:{tmp_path}:1.0", f"oci:{tmp_path}:copy")

    copied = read_image(tmp_path, "copy")
    assert copied.manifest().raw == image.manifest().raw
    assert [read_blob(b) for b in copied.blobs()] == [read_blob(b) for b in image.blobs()]


# --- errors ---------------------------------------------------------------------------------


@pytest.fixture
def layout(tmp_path: Path) -> Path:
    write_layout(tmp_path, make_image({"one": b"1"}), "1.0")
    write_layout(tmp_path, make_image({"two": b"2"}), "latest")
    return tmp_path


def test_missing_oci_layout_file(tmp_path: Path) -> None:
    with pytest.raises(LayoutError) as caught:
        read_layout(tmp_path)
    assert str(caught.value) == (
        f"{tmp_path}/oci-layout: missing; {tmp_path} is not an OCI image layout; "
        "pass the directory holding oci-layout and index.json"
    )


def test_wrong_layout_version(layout: Path) -> None:
    (layout / "oci-layout").write_text('{"imageLayoutVersion": "2.0.0"}')
    with pytest.raises(LayoutError) as caught:
        read_layout(layout, "1.0")
    assert str(caught.value) == (
        f"{layout}/oci-layout: imageLayoutVersion is '2.0.0' but ocipush reads version 1 "
        'layouts (the file should hold {"imageLayoutVersion": "1.0.0"}); '
        "repair it or write the image to a new layout"
    )


def test_missing_index_json(layout: Path) -> None:
    (layout / "index.json").unlink()
    with pytest.raises(LayoutError) as caught:
        read_layout(layout)
    assert str(caught.value) == (
        f"{layout}/index.json: missing; every OCI image layout has one; "
        "repair it or write the image to a new layout"
    )


def test_index_json_that_is_not_json_reports_the_position(layout: Path) -> None:
    (layout / "index.json").write_text('{\n  "manifests": [,]\n}')
    with pytest.raises(LayoutError) as caught:
        read_layout(layout)
    assert str(caught.value) == (
        f"{layout}/index.json: not valid JSON (Expecting value: line 2 column 17 (char 18)); "
        "repair it or write the image to a new layout"
    )


def test_index_json_of_the_wrong_shape(layout: Path) -> None:
    (layout / "index.json").write_text('{"manifests": {}}')
    with pytest.raises(LayoutError) as caught:
        read_layout(layout)
    assert str(caught.value) == (
        f"{layout}/index.json: 'manifests' must be a list; "
        "repair it or write the image to a new layout"
    )


def test_unknown_tag_lists_the_tags(layout: Path) -> None:
    with pytest.raises(LayoutError) as caught:
        read_layout(layout, "2.0")
    assert str(caught.value) == (
        f"{layout}: no image is tagged '2.0'; available tags: 1.0, latest; "
        f"pass oci:{layout}:TAG with one of them"
    )


def test_no_tag_with_several_images_is_ambiguous(layout: Path) -> None:
    write_layout(layout, make_image({"three": b"3"}))
    with pytest.raises(LayoutError) as caught:
        read_layout(layout)
    assert str(caught.value) == (
        f"{layout}: the layout holds 3 images (available tags: 1.0, latest, and 1 untagged); "
        f"pass oci:{layout}:TAG to choose one"
    )


def test_missing_layer_blob_names_its_path(layout: Path) -> None:
    layer = read_image(layout, "1.0").manifest().layers[0]
    blob_file(layout, layer.digest).unlink()
    with pytest.raises(LayoutError) as caught:
        read_layout(layout, "1.0")
    assert str(caught.value) == (
        f"{blob_file(layout, layer.digest)}: missing {mt.OCI_LAYER} blob {layer.digest}; "
        "the layout is incomplete, repair it or write the image to a new layout"
    )


def test_missing_manifest_blob_names_its_path(layout: Path) -> None:
    entry = index_entries(layout)[0]
    blob_file(layout, entry["digest"]).unlink()
    with pytest.raises(LayoutError) as caught:
        read_layout(layout, "1.0")
    assert str(caught.value) == (
        f"{blob_file(layout, entry['digest'])}: missing; the layout is incomplete; "
        "repair it or write the image to a new layout"
    )


def test_corrupt_manifest_fails_its_digest(layout: Path) -> None:
    entry = index_entries(layout)[0]
    file = blob_file(layout, entry["digest"])
    corrupt = file.read_bytes().replace(b'"schemaVersion":2', b'"schemaVersion":3')
    file.write_bytes(corrupt)
    with pytest.raises(DigestMismatchError) as caught:
        read_layout(layout, "1.0")
    assert str(caught.value) == (
        f"{file}: content has digest sha256:{hashlib.sha256(corrupt).hexdigest()} but "
        f"{entry['digest']} was declared; the source changed or is corrupt, so it was not pushed"
    )


def test_manifest_of_the_wrong_size(layout: Path) -> None:
    entry = index_entries(layout)[0]
    file = blob_file(layout, entry["digest"])
    file.write_bytes(file.read_bytes() + b"\n")
    with pytest.raises(LayoutError) as caught:
        read_layout(layout, "1.0")
    assert str(caught.value) == (
        f"{file}: {entry['size'] + 1} bytes but its descriptor says {entry['size']}; "
        "the layout is corrupt, repair it or write the image to a new layout"
    )


def test_writing_a_blob_that_fails_its_digest_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "layer.tar.gz"
    source.write_bytes(b"not what was declared")
    declared = digest_of(b"something else")
    image = Image(
        layers=[FileBlob(source, mt.OCI_LAYER, digest=declared, diff_id=declared)],
        config=make_config,
    )
    layout = tmp_path / "layout"
    with pytest.raises(DigestMismatchError) as caught:
        write_layout(layout, image, "t")
    assert str(caught.value) == (
        f"{source}: content has digest {digest_of(b'not what was declared')} but {declared} "
        "was declared; the source changed or is corrupt, so it was not pushed"
    )
    assert sorted(p.name for p in layout.iterdir()) == ["index.json", "oci-layout"]
    assert tags_of(layout) == []


def test_refuses_to_write_into_a_directory_that_is_not_a_layout(tmp_path: Path) -> None:
    (tmp_path / "README.md").write_text("mine")
    with pytest.raises(LayoutError) as caught:
        write_layout(tmp_path, make_image({"x": b"1"}), "t")
    assert str(caught.value) == (
        f"{tmp_path}: not an OCI image layout (no oci-layout file) and not empty; "
        "write to a new or empty directory"
    )


def test_refuses_an_invalid_tag(tmp_path: Path) -> None:
    with pytest.raises(LayoutError) as caught:
        write_layout(tmp_path, make_image({"x": b"1"}), "-bad")
    assert str(caught.value).startswith(f"'-bad' cannot tag an image in {tmp_path}: a tag is ")
    assert not any(tmp_path.iterdir())
