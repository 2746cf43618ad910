"""Digests: parsing, hashing while reading, and verification."""

from __future__ import annotations

import hashlib
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ocipush.errors import DigestMismatchError, InvalidReferenceError, OcipushError
from ocipush.oci.digest import Digest, Hasher, HashingReader, digest_of
from ocipush.oci.reference import parse_reference

EMPTY_SHA256 = "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
EMPTY_SHA512 = (
    "sha512:cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce"
    "47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e"
)
# The OCI empty config blob `{}`.
EMPTY_JSON_SHA256 = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"

SHAPE = "a digest looks like sha256:<64 hex digits>"


def message(text: str, problem: str) -> str:
    return f"invalid reference {text!r}: {problem}"


@pytest.mark.parametrize("text", [EMPTY_SHA256, EMPTY_SHA512, EMPTY_JSON_SHA256])
def test_parse_round_trips(text: str) -> None:
    digest = Digest.parse(text)
    assert str(digest) == text
    assert (digest.algorithm, digest.encoded) == tuple(text.split(":"))
    assert Digest.parse(str(digest)) == digest


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", SHAPE),
        ("sha256", SHAPE),
        ("sha256:", SHAPE),
        (":" + "a" * 64, SHAPE),
        ("SHA256:" + "a" * 64, SHAPE),
        ("sha256:" + "a" * 63 + "!", SHAPE),
        (" " + EMPTY_SHA256, SHAPE),
        (EMPTY_SHA256 + "\n", SHAPE),
        ("sha256:" + "a" * 63, "a sha256 digest has 64 lowercase hex digits"),
        ("sha256:" + "a" * 65, "a sha256 digest has 64 lowercase hex digits"),
        ("sha256:" + "A" * 64, "a sha256 digest has 64 lowercase hex digits"),
        ("sha256:" + "g" * 64, "a sha256 digest has 64 lowercase hex digits"),
        ("sha512:" + "a" * 64, "a sha512 digest has 128 lowercase hex digits"),
        ("sha512:" + "a" * 129, "a sha512 digest has 128 lowercase hex digits"),
        ("sha384:" + "a" * 96, "unsupported digest algorithm 'sha384' (use sha256 or sha512)"),
        ("md5:" + "a" * 32, "unsupported digest algorithm 'md5' (use sha256 or sha512)"),
        (
            "sha256+b64u:LCa0a2j_xo_5m0U8HTBBNBNCLXBkg7-g-YpeiGJm564",
            "unsupported digest algorithm 'sha256+b64u' (use sha256 or sha512)",
        ),
    ],
)
def test_parse_rejects_with_message(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Digest.parse(text)
    assert str(info.value) == message(text, problem)
    assert isinstance(info.value, OcipushError)


def test_parse_non_string_is_an_ocipush_error() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Digest.parse(b"sha256:" + b"a" * 64)  # type: ignore[arg-type]
    assert info.value.problem == SHAPE


def test_digests_compare_and_sort_by_value() -> None:
    a = Digest.parse("sha256:" + "a" * 64)
    b = Digest.parse("sha256:" + "b" * 64)
    assert a == Digest("sha256", "a" * 64)
    assert sorted([b, a]) == [a, b]
    assert len({a, Digest.parse(str(a)), b}) == 2


def test_fallback_tag_is_a_valid_tag() -> None:
    digest = Digest.parse(EMPTY_SHA256)
    assert digest.fallback_tag == "sha256-" + digest.encoded
    ref = parse_reference("ghcr.io/a/b").with_tag(digest.fallback_tag)
    assert str(ref) == f"ghcr.io/a/b:sha256-{digest.encoded}"


def test_sha512_fallback_tag_is_truncated_to_a_valid_tag() -> None:
    # distribution-spec 1.1 "referrers tag schema": <alg>-<ref>, <ref> limited to 64 characters;
    # the untruncated 135 characters would break the 128-character tag limit.
    digest = Digest.parse(EMPTY_SHA512)
    assert digest.fallback_tag == "sha512-" + digest.encoded[:64]
    assert parse_reference("ghcr.io/a/b").with_tag(digest.fallback_tag).tag == digest.fallback_tag


def test_digest_of_known_values() -> None:
    assert str(digest_of(b"")) == EMPTY_SHA256
    assert str(digest_of(b"", "sha512")) == EMPTY_SHA512
    assert str(digest_of(b"{}")) == EMPTY_JSON_SHA256


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=4096))
def test_digest_of_matches_hashlib_and_parses(data: bytes) -> None:
    digest = digest_of(data)
    assert digest.encoded == hashlib.sha256(data).hexdigest()
    assert Digest.parse(str(digest)) == digest
    assert Digest.parse(str(digest_of(data, "sha512"))).algorithm == "sha512"


@settings(max_examples=300, deadline=None)
@given(st.lists(st.binary(max_size=300), max_size=10))
def test_hasher_accumulates_pieces(pieces: list[bytes]) -> None:
    hasher = Hasher()
    for piece in pieces:
        hasher.update(piece)
    whole = b"".join(pieces)
    assert hasher.size == len(whole)
    assert hasher.digest() == digest_of(whole)
    hasher.verify(digest_of(whole), "layer")  # no exception


def test_hasher_sha512() -> None:
    hasher = Hasher("sha512")
    hasher.update(b"")
    assert str(hasher.digest()) == EMPTY_SHA512
    hasher.verify(Digest.parse(EMPTY_SHA512), "blob")


def test_verify_mismatch_message() -> None:
    hasher = Hasher()
    hasher.update(b"{}")
    with pytest.raises(DigestMismatchError) as info:
        hasher.verify(Digest.parse(EMPTY_SHA256), "config blob")
    assert str(info.value) == (
        f"config blob: content has digest {EMPTY_JSON_SHA256} but {EMPTY_SHA256} was declared; "
        "the source changed or is corrupt, so it was not pushed"
    )
    assert (info.value.what, info.value.expected, info.value.actual) == (
        "config blob",
        EMPTY_SHA256,
        EMPTY_JSON_SHA256,
    )
    assert isinstance(info.value, OcipushError)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=5000), st.integers(1, 1024))
def test_hashing_reader_chunks(data: bytes, size: int) -> None:
    reader = HashingReader(io.BytesIO(data))
    chunks = list(reader.chunks(size))
    assert b"".join(chunks) == data
    assert all(0 < len(chunk) <= size for chunk in chunks)
    assert reader.hasher.size == len(data)
    assert reader.hasher.digest() == digest_of(data)
    assert list(reader.chunks(size)) == []  # exhausted


def test_hashing_reader_read_and_close() -> None:
    raw = io.BytesIO(b"hello world")
    reader = HashingReader(raw, "sha512")
    assert reader.read(5) == b"hello"
    assert reader.read() == b" world"
    assert reader.read() == b""
    assert reader.hasher.digest() == digest_of(b"hello world", "sha512")
    assert reader.hasher.size == 11
    reader.close()
    assert raw.closed


def test_hashing_reader_detects_changed_content() -> None:
    declared = digest_of(b"original")
    reader = HashingReader(io.BytesIO(b"tampered"))
    for _ in reader.chunks(3):
        pass
    with pytest.raises(DigestMismatchError) as info:
        reader.hasher.verify(declared, "layer app.tar.gz")
    assert str(info.value).startswith(
        f"layer app.tar.gz: content has digest {digest_of(b'tampered')} but {declared}"
    )


def test_checkpoint_and_restore_rewind_the_hash() -> None:
    hasher = Hasher()
    hasher.update(b"head-")
    mark = hasher.checkpoint()
    hasher.update(b"partial chunk that must be resent")
    hasher.restore(mark)
    assert hasher.size == 5
    hasher.update(b"tail")
    assert hasher.digest() == digest_of(b"head-tail")
    assert hasher.size == 9
    # The checkpoint is independent: it can be restored again.
    hasher.restore(mark)
    assert hasher.digest() == digest_of(b"head-")
    assert mark.digest() == digest_of(b"head-")
