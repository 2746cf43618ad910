"""Fuzzing what ocipush reads from outside: registry error bodies and manifests (parsing
functions and a fake server), ``[tool.ocipush]`` tables and OCI layout directories.

Anything may be rejected, but only with an ocipush error carrying a message: never another
exception. References and WWW-Authenticate challenges are fuzzed in test_reference.py and
test_auth.py. Each test prints how many cases it ran (``pytest -s``).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ocipush.errors import OcipushError, RegistryErrorDetail
from ocipush.oci import media_types as mt
from ocipush.oci.blobs import BytesBlob
from ocipush.oci.layout import read_layout, write_layout
from ocipush.oci.model import parse_manifest
from ocipush.oci.reference import parse_reference, parse_repository
from ocipush.registry.remote import Remote
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import Transport
from ocipush.registry.writer import Writer
from ocipush.release.configure import read_configuration
from ocipush.release.manager import PluginManager
from support.images import make_image
from support.proxy import Proxy, Respond

NO_RETRY = RetryPolicy(attempts=1)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=12,
)
# Shapes close to real documents, so parsers get past their first check.
DESCRIPTOR_KEYS = st.sampled_from(
    ["mediaType", "digest", "size", "urls", "annotations", "platform"]
)
descriptor = st.dictionaries(DESCRIPTOR_KEYS, json_values | st.just("sha256:" + "a" * 64))
manifest_like = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.just(2) | json_values,
        "mediaType": st.sampled_from([*mt.MANIFEST_TYPES, "text/plain"]) | json_values,
        "config": descriptor | json_values,
        "layers": st.lists(descriptor, max_size=3) | json_values,
        "manifests": st.lists(descriptor, max_size=3) | json_values,
        "subject": descriptor,
        "annotations": json_values,
    },
)
raw_documents = st.binary(max_size=200) | manifest_like.map(lambda d: json.dumps(d).encode())
media_types = st.none() | st.sampled_from([*mt.MANIFEST_TYPES, "", "application/json"])


def _clean(action) -> None:
    """Run ``action``: success, or an ocipush error with a message; anything else escapes."""
    message = "ok"
    try:
        action()
    except OcipushError as error:
        message = str(error)
    assert message


def _report(target: str, cases: list[int]) -> None:
    print(f"fuzz cases: {target}: {len(cases)}")


def test_error_bodies_parse_to_details_or_nothing():
    cases: list[int] = []

    @settings(max_examples=300, deadline=None)
    @given(st.binary(max_size=200) | json_values.map(lambda v: json.dumps(v).encode()))
    def check(body: bytes) -> None:
        cases.append(1)
        details = RegistryErrorDetail.parse_body(body)
        assert all(isinstance(d.code, str) and isinstance(d.message, str) for d in details)

    check()
    _report("registry error bodies (parser)", cases)


def test_manifests_parse_or_raise_an_ocipush_error():
    cases: list[int] = []

    @settings(max_examples=400, deadline=None)
    @given(raw_documents, media_types)
    def check(raw: bytes, media_type: str | None) -> None:
        cases.append(1)
        _clean(lambda: parse_manifest(raw, media_type, where="fuzz"))

    check()
    _report("manifest/index JSON (parse_manifest)", cases)


def test_registry_answers_from_a_fake_server_raise_only_ocipush_errors():
    """Error bodies with any status on a blob check, and any manifest body on a GET."""
    cases: list[int] = []
    answer: dict[str, Respond] = {}
    with Proxy() as fake:
        fake.route("GET", "/v2/", lambda request: Respond(200))
        fake.route(None, r"/v2/fuzz/.*", lambda request: answer["now"])
        writer = Writer(Transport(), retry=NO_RETRY)
        remote = Remote(writer.transport)
        repository = parse_repository(f"{fake.host}/fuzz")
        blob = BytesBlob(b"fuzz", mt.OCI_LAYER)

        @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
        @given(
            st.sampled_from([400, 401, 403, 404, 405, 409, 500, 503, 200, 202]),
            raw_documents,
            media_types,
        )
        def check(status: int, body: bytes, media_type: str | None) -> None:
            cases.append(1)
            headers = {"Content-Type": media_type} if media_type else {}
            answer["now"] = Respond(status, headers, body)
            _clean(lambda: remote.manifest(parse_reference(f"{fake.host}/fuzz:v1")))
            _clean(lambda: writer.write_layer(repository, blob))

        check()
    _report("registry answers via a fake server (Remote.manifest, blob upload)", cases)


def test_tool_ocipush_tables_validate_or_raise_a_config_error():
    cases: list[int] = []
    keys = st.sampled_from(
        ["backend", "plugins", "jobs", "targets", "layers", "artifacts", "outputs", "x", "image"]
    )
    manager = PluginManager(entry_points=False)

    def read(table: dict) -> None:
        # The core's keys and every built-in plugin's table, through the one reader.
        read_configuration(table, manager, root=Path("."))[1].raise_problems()

    # Each table is validated in full (templates, references): ~80 ms a case.
    @settings(max_examples=60, deadline=None)
    @given(st.dictionaries(keys, json_values | st.lists(st.dictionaries(keys, json_values))))
    def check(table: dict) -> None:
        cases.append(1)
        _clean(lambda: read(table))

    check()
    _report("[tool.ocipush] tables (read_configuration)", cases)


def test_damaged_layouts_are_rejected_and_corrupt_blobs_never_committed(registry):
    """Layouts with a blob removed, index.json replaced or a blob's bytes changed, pushed to
    the real registry through a recording proxy: a blob that does not match its digest never
    gets a ``PUT ?digest=``."""
    cases: list[int] = []
    base = Path(tempfile.mkdtemp(prefix="ocipush-fuzz-"))
    image = make_image({"fuzz.txt": b"fuzzed layout\n"})
    write_layout(base / "pristine", image, "v1")
    blobs = sorted((base / "pristine" / "blobs" / "sha256").iterdir())
    writer = Writer(retry=NO_RETRY, jobs=1)
    damage = st.one_of(
        st.tuples(st.just("remove"), st.sampled_from(blobs), st.just(b"")),
        st.tuples(st.just("index"), st.just(None), raw_documents),
        st.tuples(st.just("corrupt"), st.sampled_from(blobs), st.binary(min_size=1, max_size=64)),
    )
    try:
        with Proxy(registry.url) as proxy:

            @settings(max_examples=30, deadline=None)
            @given(damage, st.integers(0, 10**6))
            def check(change, number: int) -> None:
                kind, target, data = change
                cases.append(1)
                layout = base / f"case-{len(cases)}"
                shutil.copytree(base / "pristine", layout)
                corrupted = None
                if kind == "remove":
                    (layout / "blobs" / "sha256" / target.name).unlink()
                elif kind == "index":
                    (layout / "index.json").write_bytes(data)
                else:
                    file = layout / "blobs" / "sha256" / target.name
                    content = bytearray(file.read_bytes())
                    content[number % len(content)] ^= data[0] | 1  # always a change
                    file.write_bytes(bytes(content))
                    corrupted = target.name
                proxy.clear()
                ref = parse_reference(f"{proxy.host}/fuzz-layout-{number}:v1")
                _clean(lambda: writer.write(ref, read_layout(layout, "v1")))
                if corrupted is not None:
                    commits = [e.path for e in proxy.find("PUT", r"digest=")]
                    assert not any(corrupted in c for c in commits)
                shutil.rmtree(layout)

            check()
    finally:
        shutil.rmtree(base, ignore_errors=True)
    _report("OCI layout directories (read_layout + push)", cases)
