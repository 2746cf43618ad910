"""Soak: 50 pushes through the fault proxy with random faults (fixed seed), bounded in time.

Every push either completes or fails with an ocipush error (never anything else), and no tag
dangles: each tag that exists resolves to a manifest whose blobs are all in the registry.
"""

from __future__ import annotations

import json
import random
import time

from ocipush.errors import OcipushError
from ocipush.oci.images import Image
from ocipush.oci.reference import parse_reference
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.transport import ConnectionOptions, Timeouts, Transport
from ocipush.registry.writer import Writer
from support.images import make_config, make_tar_gz_layer
from support.proxy import ResetRequest, ResetResponse, Respond, Rule, Stall
from support.tools import ToolError, registry_blob_exists, registry_get_manifest

SEED = 20240607
PUSHES = 50
BUDGET = 90.0  # seconds for the whole soak; it normally takes a fraction of that
FAULT_RATE = 0.08
TARGETS = [
    ("HEAD", r"/blobs/"),
    ("POST", r"/blobs/uploads/"),
    ("PATCH", r"/blobs/uploads/"),
    ("PUT", r"digest="),
    ("PUT", r"/manifests/"),
    ("GET", r"/blobs/uploads/"),
]


def _faults(rng: random.Random):
    return [
        Respond(rng.choice([408, 429, 500, 502, 503, 504])),
        Respond(400, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED"}]}'),
        ResetRequest(after_bytes=rng.choice([0, 100, 10**9])),
        ResetResponse(after_bytes=0),
        Stall(0.6),  # past the read timeout below
    ]


def test_fifty_pushes_with_random_faults_end_cleanly_with_no_dangling_tag(
    registry, repo_name, proxy_factory
):
    rng = random.Random(SEED)
    proxy = proxy_factory(registry.url)
    rules = []
    for method, path in TARGETS:
        for _ in range(6):
            # Each rule fires once at a random matching request: faults spread over the run.
            action = rng.choice(_faults(rng))
            rules.append(proxy.add_rule(Rule(action, method, path, nth=rng.randint(1, 60))))
    retry = RetryPolicy(attempts=3, initial_delay=0.001, max_delay=0.01)
    writer = Writer(
        Transport(ConnectionOptions(timeouts=Timeouts(connect=2, read=0.4), retry=retry), jobs=3),
        jobs=3,
        retry=retry,
        chunk_threshold=2_000,
        chunk_size=1_500,
    )
    completed, failed, tags = 0, [], {}
    started = time.monotonic()
    for number in range(PUSHES):
        assert time.monotonic() - started < BUDGET, f"soak over budget after {number} pushes"
        layers = [
            make_tar_gz_layer({f"f{i}": rng.randbytes(rng.choice([10, 3_000]))})
            for i in range(rng.randint(1, 3))
        ]
        image = Image(layers=layers, config=make_config(layers))
        tag = f"t{number % 10}"  # tags are pushed over and over, as in real use
        try:
            writer.write(parse_reference(f"{proxy.host}/{repo_name}:{tag}"), image)
        except OcipushError as error:
            failed.append(f"{tag}: {error}")
        else:
            completed += 1
            tags[tag] = image
    elapsed = time.monotonic() - started
    fired = sum(rule.fired for rule in rules)
    for line in failed:
        print(f"soak failure: {line}")
    print(
        f"soak: {PUSHES} pushes, {completed} completed, {len(failed)} failed cleanly, "
        f"{fired} faults injected, {elapsed:.1f} s"
    )

    assert completed + len(failed) == PUSHES
    assert fired >= 10
    assert completed >= PUSHES // 2
    dangling = []
    for number in range(10):
        tag = f"t{number}"
        try:
            body, _ = registry_get_manifest(registry.host, repo_name, tag)
        except ToolError as error:
            absent = str(error)
        else:
            absent = ""
        if absent:
            assert ": 404 " in absent  # never pushed successfully: no tag at all
            continue
        manifest = json.loads(body)
        for descriptor in [manifest["config"], *manifest["layers"]]:
            if not registry_blob_exists(registry.host, repo_name, descriptor["digest"]):
                dangling.append(f"{tag} -> {descriptor['digest']}")
    assert dangling == []
    # The last successful push of a tag is what the tag shows, unless a later failed push's
    # tag PUT reached the registry without its answer reaching us (still complete, above).
