"""References: Docker's defaulting rules, the OCI grammar, and no traceback for any input."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from ocipush.errors import InvalidReferenceError, OcipushError
from ocipush.oci.digest import Digest
from ocipush.oci.reference import (
    CREDENTIALS_PROBLEM,
    DOCKER_HUB,
    Reference,
    Registry,
    Repository,
    is_loopback,
    parse_reference,
    parse_repository,
)

SHA256 = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "fedcba9876543210" * 8

NAME_PROBLEM = (
    "a repository name is lowercase letters and digits in '/'-separated components, "
    "joined within a component by '.', '_', '__' or '-'"
)
TAG_PROBLEM = (
    "a tag is 1 to 128 characters of letters, digits, '_', '.' and '-', "
    "not starting with '.' or '-'"
)

FUZZ = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
GEN = settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parts(ref: Reference) -> tuple[str, str, str | None, str | None]:
    digest = None if ref.digest is None else str(ref.digest)
    return ref.registry.host, ref.repository.path, ref.tag, digest


def message(text: str, problem: str) -> str:
    return f"invalid reference {text!r}: {problem}"


# --- Docker's defaulting rules -------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Docker Hub: one-part names get library/, the default tag is latest.
        ("alpine", (DOCKER_HUB, "library/alpine", "latest", None)),
        ("alpine:3.20", (DOCKER_HUB, "library/alpine", "3.20", None)),
        ("acme/app", (DOCKER_HUB, "acme/app", "latest", None)),
        ("acme/team/app:v1", (DOCKER_HUB, "acme/team/app", "v1", None)),
        # Every Hub alias folds to index.docker.io.
        ("docker.io/alpine", (DOCKER_HUB, "library/alpine", "latest", None)),
        ("docker.io/library/alpine", (DOCKER_HUB, "library/alpine", "latest", None)),
        ("index.docker.io/alpine", (DOCKER_HUB, "library/alpine", "latest", None)),
        ("registry-1.docker.io/acme/app:1", (DOCKER_HUB, "acme/app", "1", None)),
        ("DOCKER.IO/acme/app", (DOCKER_HUB, "acme/app", "latest", None)),
        # A first part with '.' or ':' or equal to localhost is a registry; no library/ there.
        ("ghcr.io/acme/app", ("ghcr.io", "acme/app", "latest", None)),
        ("ghcr.io/app", ("ghcr.io", "app", "latest", None)),
        ("GHCR.IO/acme/app", ("ghcr.io", "acme/app", "latest", None)),
        ("localhost/app", ("localhost", "app", "latest", None)),
        ("localhost:5000/app:dev", ("localhost:5000", "app", "dev", None)),
        ("myhost:5000/a/b", ("myhost:5000", "a/b", "latest", None)),
        ("127.0.0.1:5000/app", ("127.0.0.1:5000", "app", "latest", None)),
        ("registry.example.com:443/a/b/c", ("registry.example.com:443", "a/b/c", "latest", None)),
        # IPv6 literals, with and without port.
        ("[::1]:5000/app", ("[::1]:5000", "app", "latest", None)),
        ("[::1]/app:v2", ("[::1]", "app", "v2", None)),
        ("[2001:DB8::1]:443/app", ("[2001:db8::1]:443", "app", "latest", None)),
        # A first part without '.', ':' and not localhost is a Hub namespace.
        ("myhost/app", (DOCKER_HUB, "myhost/app", "latest", None)),
        ("localhostx/app", (DOCKER_HUB, "localhostx/app", "latest", None)),
        # Without a path, "localhost:5000" is the Hub image localhost with tag 5000 (as Docker).
        ("localhost:5000", (DOCKER_HUB, "library/localhost", "5000", None)),
        # Digests: alone (no default tag), or with a tag (both kept).
        (f"alpine@{SHA256}", (DOCKER_HUB, "library/alpine", None, SHA256)),
        (f"ghcr.io/a/b:v1@{SHA256}", ("ghcr.io", "a/b", "v1", SHA256)),
        (f"localhost:5000/a@{SHA512}", ("localhost:5000", "a", None, SHA512)),
        # Name grammar separators.
        ("ghcr.io/a.b_c__d---e/f-g", ("ghcr.io", "a.b_c__d---e/f-g", "latest", None)),
        # Tag grammar: underscore first, upper case, dots and dashes later.
        ("app:_Under.Score-1", (DOCKER_HUB, "library/app", "_Under.Score-1", None)),
    ],
)
def test_parse_reference_applies_docker_rules(text: str, expected: tuple[str, ...]) -> None:
    assert parts(parse_reference(text)) == expected


def test_default_tag_can_be_changed_or_required() -> None:
    assert parse_reference("ghcr.io/a/b", default_tag="edge").tag == "edge"
    assert parse_reference(f"ghcr.io/a/b@{SHA256}", default_tag="edge").tag is None
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference("ghcr.io/a/b", default_tag=None)
    assert str(info.value) == message("ghcr.io/a/b", "a tag or a digest is required")
    assert parse_reference("ghcr.io/a/b:v1", default_tag=None).tag == "v1"
    assert str(parse_reference(f"ghcr.io/a/b@{SHA256}", default_tag=None).digest) == SHA256


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("alpine", "index.docker.io/library/alpine:latest"),
        ("docker.io/acme/app:v1", "index.docker.io/acme/app:v1"),
        ("localhost:5000/app", "localhost:5000/app:latest"),
        ("[::1]:5000/app", "[::1]:5000/app:latest"),
        (f"ghcr.io/a/b:v1@{SHA256}", f"ghcr.io/a/b:v1@{SHA256}"),
        (f"ghcr.io/a/b@{SHA256}", f"ghcr.io/a/b@{SHA256}"),
    ],
)
def test_str_is_canonical_and_round_trips(text: str, canonical: str) -> None:
    ref = parse_reference(text)
    assert str(ref) == canonical
    assert parse_reference(canonical) == ref


def test_identifier_prefers_the_digest() -> None:
    assert parse_reference("ghcr.io/a/b:v1").identifier == "v1"
    assert parse_reference(f"ghcr.io/a/b:v1@{SHA256}").identifier == SHA256
    assert parse_reference(f"ghcr.io/a/b@{SHA256}").identifier == SHA256


def test_identifier_without_tag_or_digest_is_an_ocipush_error() -> None:
    bare = Reference(Repository(Registry("ghcr.io"), "a/b"))
    with pytest.raises(InvalidReferenceError) as info:
        _ = bare.identifier
    assert str(info.value) == message("ghcr.io/a/b", "a tag or a digest is required")


def test_with_tag_validates_and_drops_the_digest() -> None:
    ref = parse_reference(f"ghcr.io/a/b:v1@{SHA256}")
    moved = ref.with_tag("v2")
    assert (moved.tag, moved.digest, moved.repository) == ("v2", None, ref.repository)
    assert str(moved) == "ghcr.io/a/b:v2"
    assert ref.with_tag("x" * 128).tag == "x" * 128
    for bad in ["", ".v1", "-v1", "v 1", "v/1", "v:1", "x" * 129, "é"]:
        with pytest.raises(InvalidReferenceError) as info:
            ref.with_tag(bad)
        assert str(info.value) == message(bad, TAG_PROBLEM)


def test_with_digest_drops_the_tag() -> None:
    ref = parse_reference("ghcr.io/a/b:v1").with_digest(Digest.parse(SHA512))
    assert (ref.tag, str(ref.digest)) == (None, SHA512)
    assert str(ref) == f"ghcr.io/a/b@{SHA512}"


def test_repository_name_and_scope() -> None:
    repo = parse_repository("localhost:5000/acme/app")
    assert repo.name == str(repo) == "localhost:5000/acme/app"
    assert repo.scope("pull,push") == "repository:acme/app:pull,push"
    assert parse_repository("alpine").name == "index.docker.io/library/alpine"
    assert parse_repository("docker.io/alpine") == parse_repository("alpine")
    assert parse_reference("ghcr.io/a/b:v1").repository == parse_repository("ghcr.io/a/b")


# --- Rejections, with the exact message -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the reference is empty"),
        (" alpine", "a reference cannot contain white space"),
        ("alpine ", "a reference cannot contain white space"),
        ("ghcr.io/a b", "a reference cannot contain white space"),
        ("ghcr.io/a\tb", "a reference cannot contain white space"),
        ("ghcr.io/", "the repository name is empty"),
        ("docker.io/", "the repository name is empty"),
        (":v1", "the repository name is empty"),
        (f"@{SHA256}", "the repository name is empty"),
        ("Alpine", "repository names must be lowercase"),
        ("ghcr.io/Acme/App", "repository names must be lowercase"),
        ("ghcr.io/acme/APP:v1", "repository names must be lowercase"),
        ("ghcr.io/a//b", NAME_PROBLEM),
        ("ghcr.io/a/", NAME_PROBLEM),
        ("ghcr.io/-a", NAME_PROBLEM),
        ("ghcr.io/a-", NAME_PROBLEM),
        ("ghcr.io/a___b", NAME_PROBLEM),
        ("ghcr.io/a..b", NAME_PROBLEM),
        ("ghcr.io/a.-b", NAME_PROBLEM),
        ("ghcr.io/é", NAME_PROBLEM),
        ("a:b:c", NAME_PROBLEM),
        ("alpine:", TAG_PROBLEM),
        ("alpine:.v1", TAG_PROBLEM),
        ("alpine:-v1", TAG_PROBLEM),
        ("alpine:v+1", TAG_PROBLEM),
        ("alpine:" + "x" * 129, TAG_PROBLEM),
        (f"alpine:@{SHA256}", TAG_PROBLEM),
        ("alpine@", "a digest looks like sha256:<64 hex digits>"),
        ("alpine@sha256:abc", "a sha256 digest has 64 lowercase hex digits"),
        ("alpine@md5:" + "a" * 32, "unsupported digest algorithm 'md5' (use sha256 or sha512)"),
        (f"alpine@{SHA256}@{SHA256}", "a digest looks like sha256:<64 hex digits>"),
        ("bad_host.io/app", "'bad_host.io' is not a valid registry host[:port]"),
        ("ghcr.io:/app", "'ghcr.io:' is not a valid registry host[:port]"),
        ("ghcr.io:http/app", "'ghcr.io:http' is not a valid registry host[:port]"),
        ("ghcr.io:123456/app", "'ghcr.io:123456' is not a valid registry host[:port]"),
        ("-ghcr.io/app", "'-ghcr.io' is not a valid registry host[:port]"),
        ("[::1]x/app", "'[::1]x' is not a valid registry host[:port]"),
        ("[::1]:/app", "'[::1]:' is not a valid registry host[:port]"),
        ("[::1/app", "'[::1' is not a valid registry host[:port]"),
        ("[zz::1]/app", "'[zz::1]' is not a valid IPv6 registry address"),
        ("[1.2.3.4]/app", "'[1.2.3.4]' is not a valid IPv6 registry address"),
        ("[::1%eth0]/app", "'[::1%eth0]' is not a valid IPv6 registry address"),
    ],
)
def test_parse_reference_rejects_with_message(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(text)
    assert str(info.value) == message(text, problem)
    assert (info.value.text, info.value.problem) == (text, problem)
    assert isinstance(info.value, OcipushError)
    assert isinstance(info.value, ValueError)


def test_non_string_input_is_an_ocipush_error() -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(None)  # type: ignore[arg-type]
    assert str(info.value) == message("None", "the reference is empty")


def test_name_length_limit_counts_host_slash_and_path() -> None:
    host = "registry.example.com"  # 20 characters, so the path may have 234
    longest = f"{host}/{'a' * 234}"
    assert len(longest) == 255
    assert parse_reference(longest + ":v1").repository.path == "a" * 234
    too_long = f"{host}/{'a' * 235}"
    with pytest.raises(InvalidReferenceError) as info:
        parse_reference(too_long)
    assert str(info.value) == message(too_long, "the name is longer than 255 characters")
    # The tag and digest do not count.
    assert parse_reference(f"{longest}:{'t' * 128}@{SHA512}").tag == "t" * 128


def test_name_length_limit_counts_the_normalised_hub_name() -> None:
    # index.docker.io/ is 16 characters, so a Hub path may have 239, whatever alias was typed.
    ok = "acme/" + "a" * 234
    assert parse_reference(ok).repository.path == ok
    assert parse_reference("docker.io/" + ok).repository.path == ok
    for text in ["acme/" + "a" * 235, "docker.io/acme/" + "a" * 235]:
        with pytest.raises(InvalidReferenceError) as info:
            parse_reference(text)
        assert info.value.problem == "the name is longer than 255 characters"
    # library/ is part of the name.
    with pytest.raises(InvalidReferenceError):
        parse_reference("a" * 232)
    assert parse_reference("a" * 231).repository.path == "library/" + "a" * 231


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the reference is empty"),
        ("ghcr.io/", "the repository name is empty"),
        ("ghcr.io/App", "repository names must be lowercase"),
        ("ghcr.io/app:v1", NAME_PROBLEM),
        (f"ghcr.io/app@{SHA256}", NAME_PROBLEM),
        (" ghcr.io/app", "a reference cannot contain white space"),
        ("ghcr.io /app", "a reference cannot contain white space"),
    ],
)
def test_parse_repository_rejects_with_message(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        parse_repository(text)
    assert str(info.value) == message(text, problem)


# --- Registry hosts ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "host"),
    [
        ("ghcr.io", "ghcr.io"),
        ("GHCR.io", "ghcr.io"),
        ("https://ghcr.io", "ghcr.io"),
        ("http://localhost:5000/", "localhost:5000"),
        ("https://index.docker.io/v1/", DOCKER_HUB),
        ("https://registry-1.docker.io/v2/", DOCKER_HUB),
        ("docker.io", DOCKER_HUB),
        ("  quay.io\n", "quay.io"),
        ("[::1]:5000", "[::1]:5000"),
        ("[::1]", "[::1]"),
        ("myhost", "myhost"),
    ],
)
def test_registry_parse_accepts_urls_and_aliases(text: str, host: str) -> None:
    registry = Registry.parse(text)
    assert registry.host == str(registry) == host
    assert Registry.parse(str(registry)) == registry


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "the registry host is empty"),
        ("https://", "the registry host is empty"),
        ("ghcr.io/acme", "'ghcr.io/acme' is not a valid registry host[:port]"),
        ("ghcr.io:abc", "'ghcr.io:abc' is not a valid registry host[:port]"),
        ("[::1", "'[::1' is not a valid registry host[:port]"),
        ("[::1%\r\nX-Evil: 1]", "'[::1%\\r\\nX-Evil: 1]' is not a valid IPv6 registry address"),
    ],
)
def test_registry_parse_rejects_with_message(text: str, problem: str) -> None:
    with pytest.raises(InvalidReferenceError) as info:
        Registry.parse(text)
    assert str(info.value) == message(text, problem)


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("localhost:5000", True),
        ("LOCALHOST", True),
        ("registry.localhost:5000", True),
        ("127.0.0.1", True),
        ("127.1.2.3:5000", True),
        ("[::1]", True),
        ("[::1]:5000", True),
        ("::1", True),
        ("ghcr.io", False),
        ("localhost.example.com", False),
        ("10.0.0.1:5000", False),
        ("[2001:db8::1]:5000", False),
        ("", False),
    ],
)
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_registry_is_loopback_property() -> None:
    assert parse_reference("localhost:5000/a").registry.is_loopback
    assert parse_reference("[::1]:5000/a").registry.is_loopback
    assert not parse_reference("alpine").registry.is_loopback


# --- Fuzzing: any text gives a value that round-trips, or our own error quoting the input --------


def _total(parse, text: str) -> None:
    error: InvalidReferenceError | None = None
    try:
        value = parse(text)
    except InvalidReferenceError as exc:
        error = exc
    if error is not None and error.problem == CREDENTIALS_PROBLEM:
        # What precedes the "@" may be a password: it is never quoted back.
        shown, _, rest = error.text.partition("***@")
        assert shown == "" or shown.endswith("://")
        assert rest in text
        return
    if error is not None:
        assert repr(text) in str(error)
        assert error.text == text
        return
    again = parse(str(value))
    assert again == value
    assert str(again) == str(value)


_FRAGMENTS = [
    *"abcxyzAZ09._-/:@[]%",
    "__",
    "--",
    "localhost",
    "docker.io",
    "index.docker.io",
    "registry-1.docker.io",
    "library/",
    "ghcr.io",
    ":5000",
    "[::1]",
    "[::1]:5000",
    "127.0.0.1",
    "sha256:",
    "sha512:",
    "0123456789abcdef" * 4,
    "0123456789abcdef" * 8,
    "https://",
    "/v2/",
    " ",
    "\n",
    "é",
    "K",  # KELVIN SIGN: lower() makes it ASCII 'k'
]
grammar_text = st.lists(st.sampled_from(_FRAGMENTS), max_size=12).map("".join)
any_text = st.text(max_size=80)
fuzz_text = st.one_of(any_text, grammar_text)


@FUZZ
@given(fuzz_text)
def test_fuzz_parse_reference(text: str) -> None:
    _total(parse_reference, text)


@FUZZ
@given(fuzz_text)
def test_fuzz_parse_reference_without_default_tag(text: str) -> None:
    _total(lambda t: parse_reference(t, default_tag=None), text)


@FUZZ
@given(fuzz_text)
def test_fuzz_parse_repository(text: str) -> None:
    _total(parse_repository, text)


@FUZZ
@given(fuzz_text)
def test_fuzz_registry_parse(text: str) -> None:
    _total(Registry.parse, text)


digest_text = st.tuples(
    st.sampled_from(["sha256", "sha512", "sha384", "md5", "SHA256", "sha256+b64", "a.b", ""]),
    st.sampled_from([":", "::", "", "-"]),
    st.one_of(
        st.text("0123456789abcdef", min_size=62, max_size=130),
        st.text("0123456789abcdefABCDEF=_-g: ", max_size=130),
    ),
).map("".join)


@FUZZ
@given(st.one_of(fuzz_text, digest_text))
def test_fuzz_digest_parse(text: str) -> None:
    _total(Digest.parse, text)


def test_long_hostile_inputs_are_rejected_quickly() -> None:
    for text in ["a" * 50_000 + "!", "a-" * 25_000 + "!", "a." * 25_000 + "/b", "[" * 10_000]:
        with pytest.raises(InvalidReferenceError):
            parse_reference(text)


# --- Generative: valid references built from the grammar always parse, components preserved -----

_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
_SEPARATORS = [".", "_", "__", "-", "--", "---"]


@st.composite
def components(draw: st.DrawFn) -> str:
    runs = draw(st.lists(st.text(_ALNUM, min_size=1, max_size=6), min_size=1, max_size=3))
    text = runs[0]
    for run in runs[1:]:
        text += draw(st.sampled_from(_SEPARATORS)) + run
    return text


paths = st.lists(components(), min_size=1, max_size=4).map("/".join)
labels = st.from_regex(r"[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?", fullmatch=True)
ports = st.integers(0, 65535).map(lambda p: f":{p}")
hosts = st.one_of(
    st.tuples(labels, st.lists(labels, min_size=1, max_size=3)).map(
        lambda t: ".".join([t[0], *t[1]])
    ),
    st.tuples(st.one_of(labels, st.just("localhost")), ports).map("".join),
    st.just("localhost"),
    st.tuples(st.ip_addresses(v=4).map(str), st.one_of(st.just(""), ports)).map("".join),
    st.tuples(st.ip_addresses(v=6).map(lambda a: f"[{a}]"), st.one_of(st.just(""), ports)).map(
        "".join
    ),
)
tags = st.from_regex(r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", fullmatch=True)
digests = st.one_of(
    st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}"),
    st.text("0123456789abcdef", min_size=128, max_size=128).map(lambda h: f"sha512:{h}"),
)
_HUB_ALIASES = {"docker.io", "index.docker.io", "registry-1.docker.io"}
hub_prefixes = st.sampled_from(["", *(f"{alias}/" for alias in sorted(_HUB_ALIASES))])


@GEN
@given(
    st.one_of(hosts, hub_prefixes),
    paths,
    st.one_of(st.none(), tags),
    st.one_of(st.none(), digests),
)
def test_valid_references_parse_with_components_preserved(
    host: str, path: str, tag: str | None, digest: str | None
) -> None:
    if host == "" or host.endswith("/"):
        first = path.partition("/")[0]
        # Without a prefix, a multi-part path whose first part looks like a host would be one.
        assume(host or "/" not in path or ("." not in first and first != "localhost"))
        text = host + path
        expected_host = DOCKER_HUB
        expected_path = path if "/" in path else f"library/{path}"
    else:
        text = f"{host}/{path}"
        expected_host = DOCKER_HUB if host.lower() in _HUB_ALIASES else host.lower()
        expected_path = path
    assume(len(expected_host) + 1 + len(expected_path) <= 255)
    if tag is not None:
        text += f":{tag}"
    if digest is not None:
        text += f"@{digest}"

    ref = parse_reference(text)

    expected_tag = "latest" if tag is None and digest is None else tag
    assert parts(ref) == (expected_host, expected_path, expected_tag, digest)
    assert parse_reference(str(ref)) == ref
    assert parse_repository(ref.repository.name) == ref.repository
    if tag is not None:
        assert ref.with_tag(tag).tag == tag
