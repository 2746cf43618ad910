"""A flaky registry: every third request of each kind fails, and every push still completes.

The faults are injected by :class:`support.proxy.Rotate` in front of a real registry with
token auth (and in front of its token server): in turn a 503, a 429 with ``Retry-After: 1``,
a 500 and a connection reset after the registry got the request. No kind of request fails
twice in a row, so a client that repeats each idempotent request (HEAD, GET, manifest PUT by
digest, blob commit PUT, token GET) gets through, and the blob-level retry covers the rest
(POST, PATCH). Before the request-level retry layer, 0 of 10 such pushes completed.
"""

from __future__ import annotations

import json
import logging
import re
from collections import defaultdict

import pytest

from ocipush.oci.digest import digest_of
from ocipush.oci.images import ImageIndex, manifest_of
from ocipush.oci.model import Platform
from ocipush.oci.reference import parse_reference
from ocipush.registry.retry import RetryPolicy
from ocipush.registry.writer import Writer
from support.images import make_image
from support.proxy import Proxy, ReplaceHeader, ResetRequest, Respond, Rotate, Rule
from support.tools import skopeo_inspect_raw

PUSHES = 10
_BUSY = json.dumps({"errors": [{"code": "UNAVAILABLE", "message": "injected"}]}).encode()
FAULTS = (
    Respond(503, {"Content-Type": "application/json"}, _BUSY),
    Respond(429, {"Content-Type": "application/json", "Retry-After": "1"}, _BUSY),
    Respond(500, {"Content-Type": "application/json"}, _BUSY),
    ResetRequest(after_bytes=10**9),  # the registry gets the request; its answer is lost
)
# Kind -> (method, path pattern, retried request by request).
KINDS = {
    "ping": ("GET", r"^/v2/$", True),
    "blob-head": ("HEAD", r"/blobs/sha256:", True),
    "blob-post": ("POST", r"/blobs/uploads/", False),
    "blob-patch": ("PATCH", r"/blobs/uploads/", False),
    "blob-commit": ("PUT", r"/blobs/uploads/.*digest=", True),
    "manifest-head": ("HEAD", r"/manifests/", True),
    "manifest-put-digest": ("PUT", r"/manifests/sha256:", True),
    "manifest-put-tag": ("PUT", r"/manifests/[^s]", False),
}
TOKEN_KIND = ("GET", r"^/token", True)
REQUEST_RETRY = RetryPolicy()  # the defaults users get: up to 4 retries of a request


def _item(kind: str, seed: str):
    if kind == "image":
        return make_image({f"{seed}.txt": f"content of {seed}\n".encode()})
    return ImageIndex(
        [
            make_image(
                {f"{arch}.txt": f"{seed} {arch}\n".encode()}, platform=Platform("linux", arch)
            )
            for arch in ("amd64", "arm64")
        ]
    )


def _failed(exchange) -> bool:
    return exchange.action in FAULTS


def _longest_failure_run(exchanges) -> int:
    """The most failures in a row of one request (same method and path)."""
    runs: dict[tuple[str, str], int] = defaultdict(int)
    longest = 0
    for exchange in exchanges:
        key = (exchange.method, exchange.path)
        runs[key] = runs[key] + 1 if _failed(exchange) else 0
        longest = max(longest, runs[key])
    return longest


@pytest.mark.parametrize("kind", ["image", "index"])
def test_every_push_completes_behind_a_registry_failing_every_third_request(
    kind, repo_name, token_registry_factory, caplog
):
    token_registry, tokens = token_registry_factory(grants={None: {"*": {"pull", "push"}}})
    token_proxy = Proxy(tokens.url).start()
    proxy = Proxy(token_registry.url).start()
    rules = {
        name: proxy.add_rule(Rotate(FAULTS, method=method, path=path))
        for name, (method, path, _) in KINDS.items()
    }
    rules["token"] = token_proxy.add_rule(Rotate(FAULTS, method="GET", path=TOKEN_KIND[1]))
    challenge = f'Bearer realm="{token_proxy.url}/token",service="{tokens.service}"'
    proxy.add_rule(Rule(ReplaceHeader("WWW-Authenticate", challenge), times=None))
    caplog.set_level(logging.INFO, logger="ocipush")
    completed = 0
    try:
        for number in range(PUSHES):
            item = _item(kind, f"{repo_name}-{number}")
            ref = parse_reference(f"{proxy.host}/{repo_name}-{number}:v1")
            # PATCH + PUT for every blob, so that every kind of request occurs; small
            # blobs' one PUT is covered by tests/integration/test_faults.py.
            descriptor = Writer(small_blob=0).publish([{ref: item}])[ref]
            raw = skopeo_inspect_raw(f"{token_registry.host}/{repo_name}-{number}:v1")
            assert raw == manifest_of(item).raw
            assert descriptor.digest == digest_of(raw) == manifest_of(item).digest
            if isinstance(item, ImageIndex):
                for child in item.children:
                    child_raw = manifest_of(child).raw
                    child_ref = f"{token_registry.host}/{repo_name}-{number}@{digest_of(child_raw)}"
                    assert skopeo_inspect_raw(child_ref) == child_raw
            completed += 1
    finally:
        proxy.stop()
        token_proxy.stop()

    assert completed == PUSHES
    # The scenario really happened: every third request of every kind failed (an image
    # push has no manifest HEAD; an index push checks its children with one).
    assert {name: rule.fired for name, rule in rules.items()} == {
        name: rule.matched // 3 for name, rule in rules.items()
    }
    occurring = {name for name, rule in rules.items() if rule.matched >= 3}
    assert occurring >= {*KINDS, "token"} - {"manifest-head"}
    # Each idempotent request was repeated at once, and at most its limit in a row.
    limit = REQUEST_RETRY.attempts - 1
    for server in (proxy, token_proxy):
        assert _longest_failure_run(server.exchanges) <= limit
    for name, (method, path, by_request) in [*KINDS.items(), ("token", TOKEN_KIND)]:
        server = token_proxy if name == "token" else proxy
        seen = [e for e in server.exchanges if e.method == method and re.search(path, e.path)]
        for position, exchange in enumerate(seen):
            if by_request and _failed(exchange):
                repeated = any(later.path == exchange.path for later in seen[position + 1 :])
                assert repeated, f"{name}: a failed {method} {exchange.path} was not repeated"
    retries = [
        tuple(map(int, m.groups()))
        for record in caplog.records
        if (m := re.search(r"retry (\d+) of (\d+)", record.getMessage()))
    ]
    assert retries
    assert all(number <= most == limit for number, most in retries)
