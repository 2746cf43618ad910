"""Registry personalities: hosted registries' departures from the spec, imitated by the proxy.

Each function installs, on a :class:`support.proxy.Proxy` in front of a real registry (CNCF
distribution), the rules that make it answer as one hosted registry does; the registry
behind still stores everything, so a test checks its result there. Only what a real
distribution cannot be made to say is imitated, and each imitation cites the public report
it follows. :func:`serve_referrers` adds a referrers API, which distribution lacks.

The hosted registries themselves cannot be reached from tests (loopback only), so these are
fakes in the sense of the project's standards: they exist for answers a real registry
cannot produce.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Callable

from ocipush.oci import media_types as mt
from support.proxy import FakeRequest, Proxy, Relayed, Respond, Rewrite, Rule

__all__ = [
    "PERSONALITIES",
    "EcrPassword",
    "ReferrersApi",
    "artifactory",
    "docker_hub",
    "ecr",
    "ecr_basic",
    "gar",
    "ghcr",
    "gitlab",
    "harbor",
    "quay",
    "serve_referrers",
    "zot",
]

MIB = 1024 * 1024
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_UPLOAD = r"/blobs/uploads/"


def _errors(code: str, message: str) -> bytes:
    return json.dumps({"errors": [{"code": code, "message": message}]}).encode()


def _json_error(status: int, code: str, message: str, **headers: str) -> Respond:
    return Respond(status, {"Content-Type": "application/json", **headers}, _errors(code, message))


def _length(headers: http.client.HTTPMessage) -> int:
    value = headers.get("Content-Length") or "0"
    return int(value) if value.isdigit() else 0


def _refuse_mounts(proxy: Proxy, answer: Respond, path: str) -> None:
    """Answer every mount POST whose path+query matches ``path`` with ``answer``."""
    proxy.add_rule(Rule(answer, method="POST", path=path, times=None))


def _chunk_over(limit: int) -> Callable[[FakeRequest], bool]:
    """A PATCH that names its place with ``Content-Range`` (a chunk) and is over ``limit``."""
    return lambda request: "Content-Range" in request.headers and _length(request.headers) > limit


# -- GitHub Container Registry ------------------------------------------------------------------


def ghcr(proxy: Proxy) -> Proxy:
    """ghcr.io: chunks over 4 MiB refused with 416; cancelling an upload answered 405."""
    # oras-project/rust-oci-client#35 (and wasmCloud/wash-archive#268): a chunked PATCH over
    # 4 MiB gets exactly this answer; a monolithic PATCH of any size is accepted.
    proxy.add_rule(
        Rule(
            _json_error(
                416,
                "REQUESTED_RANGE_NOT_SATISFIABLE",
                "the request body is too large and exceeds the maximum permissible limit of "
                "4.00MiB",
            ),
            method="PATCH",
            path=_UPLOAD,
            when=_chunk_over(4 * MIB),
            times=None,
        )
    )
    # radius-project/radius#12623: DELETE of an upload session is not allowed.
    proxy.add_rule(
        Rule(
            _json_error(405, "UNSUPPORTED", "The operation is unsupported."),
            method="DELETE",
            path=_UPLOAD,
            times=None,
        )
    )
    return proxy


# -- Amazon ECR ---------------------------------------------------------------------------------


def _session(path: str) -> str:
    return path.split("?", 1)[0]


def _tag_exists(proxy: Proxy, request: FakeRequest) -> bool:
    """Whether the tag a manifest PUT names is already in the registry behind ``proxy``."""
    match = re.fullmatch(r"(/v2/.+/manifests/)([^/?]+)", _session(request.path))
    if match is None or ":" in match[2] or proxy.upstream_url is None:
        return False
    head = urllib.request.Request(
        proxy.upstream_url + request.path, method="HEAD", headers={"Accept": mt.MANIFEST_ACCEPT}
    )
    try:
        with _NO_PROXY.open(head, timeout=10):
            return True
    except urllib.error.HTTPError:
        return False


def ecr(proxy: Proxy, *, immutable: bool = False) -> Proxy:
    """ECR: PATCH answered 201 with a Range stuck at the first chunk's end; a manifest
    media type with parameters refused; with ``immutable``, a tag once written is never
    written again."""
    # aws/containers-roadmap#2306, #2783: `;version=` parameters get 405 UNSUPPORTED.
    proxy.add_rule(
        Rule(
            _json_error(405, "UNSUPPORTED", "Invalid JSON syntax"),
            method="PUT",
            path=r"/manifests/",
            when=lambda request: ";" in request.headers.get("Content-Type", ""),
            times=None,
        )
    )
    if immutable:
        # osscontainertools/kaniko#204, moby/buildkit#3776: an immutable repository refuses
        # any PUT of an existing tag, even of the manifest it already names.
        proxy.add_rule(
            Rule(
                Respond(
                    400,
                    {"Content-Type": "application/json"},
                    _errors(
                        "TAG_INVALID",
                        "The image tag already exists in the repository and cannot be "
                        "overwritten because the repository is immutable.",
                    ),
                ),
                method="PUT",
                path=r"/manifests/",
                when=lambda request: _tag_exists(proxy, request),
                times=None,
            )
        )
    first_range: dict[str, str | None] = {}

    # aws/containers-roadmap#2831: an accepted intermediate PATCH is answered 201 (not 202),
    # and its Range does not advance past the first chunk's end (regclient scheme/reg/blob.go
    # tracks the offset itself for this reason).
    def patch(request: FakeRequest, answer: Relayed) -> None:
        if answer.status == 202:
            answer.status = 201
        answer.set_header(
            "Range", first_range.setdefault(_session(request.path), answer.header("Range"))
        )

    proxy.add_rule(Rule(Rewrite(patch), method="PATCH", path=_UPLOAD, times=None))
    return proxy


class EcrPassword:
    """ECR's Basic challenge for the ``AWS`` user with a password that expires
    (regclient/regclient#709): after ``rotate_after`` accepted requests the password changes,
    and only the new one is accepted, as when a 12-hour password runs out mid-push."""

    challenge = 'Basic realm="https://ecr.example",service="ecr.amazonaws.com"'

    def __init__(self, *, rotate_after: int) -> None:
        self.generation = 1
        self.rotate_after = rotate_after
        self.accepted = 0
        self._lock = threading.Lock()

    @property
    def password(self) -> str:
        return f"ecr-password-{self.generation}"

    def refuses(self, request: FakeRequest) -> bool:
        expected = "Basic " + base64.b64encode(f"AWS:{self.password}".encode()).decode()
        with self._lock:
            if request.headers.get("Authorization") != expected:
                return True
            self.accepted += 1
            if self.accepted == self.rotate_after:
                self.generation += 1
            return False


def ecr_basic(proxy: Proxy, password: EcrPassword) -> Proxy:
    """ECR's Basic authentication in front of an open registry."""
    proxy.add_rule(
        Rule(
            _json_error(
                401,
                "UNAUTHORIZED",
                "authentication required",
                **{
                    "WWW-Authenticate": password.challenge,
                    "Docker-Distribution-API-Version": "registry/2.0",
                },
            ),
            when=password.refuses,
            times=None,
        )
    )
    return proxy


# -- Google Artifact Registry -------------------------------------------------------------------


def gar(proxy: Proxy) -> Proxy:
    """Artifact Registry: no chunked uploads; a 401 carries no challenge except on ``/v2/``."""
    # dotnet/sdk-container-builds#287 and kitops-ml/kitops#777 quote the documentation: "Artifact
    # Registry does not support Docker chunked uploads ... You must use monolithic uploads".
    proxy.add_rule(
        Rule(
            _json_error(400, "UNSUPPORTED", "chunked uploads are not supported"),
            method="PATCH",
            path=_UPLOAD,
            when=lambda request: "Content-Range" in request.headers,
            times=None,
        )
    )

    # containers/image docker_client.go and containerd remotes/docker/authorizer.go keep the
    # /v2/ challenge because GCR/GAR send 401s without WWW-Authenticate elsewhere.
    def drop_challenge(request: FakeRequest, answer: Relayed) -> None:
        if answer.status == 401 and _session(request.path) != "/v2/":
            answer.set_header("WWW-Authenticate", None)

    proxy.add_rule(Rule(Rewrite(drop_challenge), times=None))
    return proxy


# -- Docker Hub ---------------------------------------------------------------------------------


def docker_hub(proxy: Proxy, *, limit: int = 100, remaining: int = 99) -> Proxy:
    """Docker Hub: rate-limit headers on manifest GET/HEAD; foreign mounts refused with 401."""
    # google/go-containerregistry#1404, #1741: a mount whose `from` the token does not cover
    # (or that does not exist) is answered 401 UNAUTHORIZED.
    _refuse_mounts(
        proxy,
        _json_error(401, "UNAUTHORIZED", "authentication required"),
        r"/blobs/uploads/\?.*mount=.*from=",
    )

    # Docker Hub usage docs ("pulls"), docker/hub-feedback#1907: the headers come with every
    # manifest GET and HEAD; only a GET counts as a pull.
    def rate_headers(request: FakeRequest, answer: Relayed) -> None:
        answer.set_header("ratelimit-limit", f"{limit};w=21600")
        answer.set_header("ratelimit-remaining", f"{remaining};w=21600")
        answer.set_header("docker-ratelimit-source", "127.0.0.1")

    proxy.add_rule(Rule(Rewrite(rate_headers), path=r"/manifests/", times=None))
    return proxy


# -- Harbor -------------------------------------------------------------------------------------


def harbor(proxy: Proxy, *, challenge: str = "") -> Proxy:
    """Harbor: a blob HEAD in a missing repository and a mount from one answered 401."""

    # goharbor/harbor#22363, google/go-containerregistry#1609: HEAD of a blob in a repository
    # that does not exist yet is 401 even with a fresh push token (distribution says 404).
    def missing_is_unauthorized(request: FakeRequest, answer: Relayed) -> None:
        if answer.status == 404:
            answer.status = 401
            if challenge:
                answer.set_header("WWW-Authenticate", challenge)

    proxy.add_rule(
        Rule(Rewrite(missing_is_unauthorized), method="HEAD", path=r"/blobs/sha256:", times=None)
    )
    # goharbor/harbor#17097, google/go-containerregistry#1393: a mount from a project that
    # does not exist: 401 "project X not found".
    _refuse_mounts(
        proxy,
        _json_error(401, "UNAUTHORIZED", "project missing not found"),
        r"/blobs/uploads/\?.*mount=.*from=missing",
    )
    return proxy


# -- Artifactory, Quay, GitLab, Zot ------------------------------------------------------------


def artifactory(proxy: Proxy, *, virtual_of: tuple[str, ...] = ()) -> Proxy:
    """Artifactory: HEAD of a missing manifest answered 403; with ``virtual_of``, a blob
    HEAD says 200 for a blob any of those repositories holds, which GET then denies."""

    # google/go-containerregistry#1691: 403 where distribution says 404.
    def forbidden(request: FakeRequest, answer: Relayed) -> None:
        if answer.status == 404:
            answer.status = 403

    proxy.add_rule(Rule(Rewrite(forbidden), method="HEAD", path=r"/manifests/", times=None))

    # gardener/cc-utils#1752: HEAD 200, GET 404 for the same blob (a virtual repository
    # answering HEAD from another member repository).
    def lying_head(request: FakeRequest, answer: Relayed) -> None:
        digest = request.path.rsplit("/", 1)[1]
        if answer.status != 404 or proxy.upstream_url is None:
            return
        for repository in virtual_of:
            head = urllib.request.Request(
                f"{proxy.upstream_url}/v2/{repository}/blobs/{digest}", method="HEAD"
            )
            try:
                with _NO_PROXY.open(head, timeout=10) as found:
                    answer.status = 200
                    answer.set_header("Content-Length", found.headers["Content-Length"])
                    answer.set_header("Docker-Content-Digest", digest)
                    answer.set_header("Content-Type", "application/octet-stream")
                    return
            except urllib.error.HTTPError:
                continue

    if virtual_of:
        proxy.add_rule(Rule(Rewrite(lying_head), method="HEAD", path=r"/blobs/sha256:", times=None))
    return proxy


def quay(proxy: Proxy, *, artifact_types: frozenset[str] | None = None) -> Proxy:
    """Quay: a mount without ``from`` refused with 400 (quay/quay#899); with
    ``artifact_types``, manifests whose config media type is not an image config or one of
    them are refused with 415 (Quay's ALLOWED_OCI_ARTIFACT_TYPES, quay/quay#2659)."""
    if artifact_types is not None:
        allowed = {mt.OCI_CONFIG, mt.DOCKER_CONFIG, *artifact_types}

        def allow_list(request: FakeRequest) -> Respond | None:
            try:
                config = json.loads(request.body).get("config") or {}
            except (ValueError, AttributeError):
                return None
            if config.get("mediaType", mt.OCI_CONFIG) in allowed:
                return None
            return _json_error(415, "MANIFEST_INVALID", "manifest invalid")

        proxy.route("PUT", r"/v2/.+/manifests/[^/?]+", allow_list)
    _refuse_mounts(
        proxy,
        _json_error(400, "UNSUPPORTED", "mount requires a from parameter"),
        r"/blobs/uploads/\?(?!.*from=).*mount=",
    )
    return proxy


def _manifest_over(limit: int) -> Callable[[FakeRequest], bool]:
    return lambda request: _length(request.headers) > limit


def gitlab(proxy: Proxy) -> Proxy:
    """GitLab.com: manifests over 256 KB refused with 400 (GitLab runbooks,
    "manifest-invalid-request-body-too-large")."""
    proxy.add_rule(
        Rule(
            _json_error(400, "MANIFEST_INVALID", "manifest invalid: request body too large"),
            method="PUT",
            path=r"/manifests/",
            when=_manifest_over(256 * 1000),
            times=None,
        )
    )
    return proxy


def _zot_manifest_check(proxy: Proxy) -> Callable[[FakeRequest], Respond | None]:
    """415 for a manifest whose Content-Type is not its own ``mediaType``, 400 for an
    index naming a child the registry does not hold yet; else the PUT goes upstream."""

    def check(request: FakeRequest) -> Respond | None:
        try:
            document = json.loads(request.body)
        except ValueError:
            document = None
        declared = document.get("mediaType") if isinstance(document, dict) else None
        if declared is None or request.headers.get("Content-Type") != declared:
            return _json_error(415, "MANIFEST_INVALID", "Content-Type does not match")
        name = re.match(r"/v2/(.+)/manifests/", request.path)
        for child in document.get("manifests", []) if name else []:
            head = urllib.request.Request(
                f"{proxy.upstream_url}/v2/{name[1]}/manifests/{child['digest']}",
                method="HEAD",
                headers={"Accept": mt.MANIFEST_ACCEPT},
            )
            try:
                _NO_PROXY.open(head, timeout=10).close()
            except urllib.error.HTTPError:
                return _json_error(400, "MANIFEST_BLOB_UNKNOWN", "index child not found")
        return None

    return check


def zot(proxy: Proxy) -> Proxy:
    """Zot: manifests over 4 MiB refused with 413, a ``Content-Type`` other than the
    body's ``mediaType`` with 415, an index before its children with 400
    (project-zot/zot pkg/api/routes.go)."""
    proxy.route("PUT", r"/v2/.+/manifests/[^/?]+", _zot_manifest_check(proxy))
    proxy.add_rule(
        Rule(
            _json_error(413, "MANIFEST_INVALID", "manifest too large"),
            method="PUT",
            path=r"/manifests/",
            when=_manifest_over(4 * MIB),
            times=None,
        )
    )
    return proxy


# -- the referrers API --------------------------------------------------------------------------


class ReferrersApi:
    """A referrers API in front of distribution (which has none, registry-facts.md).

    Records the subject of every manifest PUT the registry accepted, answers
    ``GET /v2/<name>/referrers/<digest>`` with an OCI index of them, and sends
    ``OCI-Subject`` on those PUTs, as the OCI distribution spec 1.1 ("Listing Referrers",
    "Pushing Manifests with Subject") has registries do; ECR, ACR, Harbor 2.8+ and Zot
    serve it (soci-snapshotter docs/registry.md).
    """

    def __init__(self, *, subject_header: bool = True) -> None:
        self.subject_header = subject_header
        self._lock = threading.Lock()
        self.referrers: dict[tuple[str, str], list[dict[str, object]]] = {}

    def record(self, request: FakeRequest, answer: Relayed) -> None:
        if answer.status != 201:
            return
        try:
            document = json.loads(request.body)
        except ValueError:
            return
        subject = document.get("subject") if isinstance(document, dict) else None
        if not isinstance(subject, dict):
            return
        name = re.match(r"/v2/(.+)/manifests/", request.path)
        digest = answer.header("Docker-Content-Digest")
        if name is None or digest is None:
            return
        entry: dict[str, object] = {
            "mediaType": document.get("mediaType", mt.OCI_MANIFEST),
            "digest": digest,
            "size": len(request.body),
        }
        artifact_type = document.get("artifactType") or document.get("config", {}).get("mediaType")
        if artifact_type:
            entry["artifactType"] = artifact_type
        if document.get("annotations"):
            entry["annotations"] = document["annotations"]
        with self._lock:
            listed = self.referrers.setdefault((name[1], subject["digest"]), [])
            if all(existing["digest"] != digest for existing in listed):
                listed.append(entry)
        if self.subject_header:
            answer.set_header("OCI-Subject", subject["digest"])

    def answer(self, request: FakeRequest) -> Respond:
        match = re.fullmatch(r"/v2/(.+)/referrers/([^/?]+)(\?.*)?", request.path)
        assert match is not None
        with self._lock:
            listed = list(self.referrers.get((match[1], match[2]), []))
        index = {"schemaVersion": 2, "mediaType": mt.OCI_INDEX, "manifests": listed}
        return Respond(200, {"Content-Type": mt.OCI_INDEX}, json.dumps(index).encode())


def serve_referrers(proxy: Proxy, *, subject_header: bool = True) -> ReferrersApi:
    """Serve the referrers API on ``proxy``; ``subject_header=False`` as Harbor before 2.9,
    which listed referrers but sent no ``OCI-Subject`` (goharbor/harbor#18865)."""
    api = ReferrersApi(subject_header=subject_header)
    proxy.add_rule(
        Rule(Rewrite(api.record, keep_body=True), method="PUT", path=r"/manifests/", times=None)
    )
    proxy.route("GET", r"/v2/.+/referrers/[^/?]+(\?.*)?", api.answer)
    return api


#: Every personality by name, for tests that push the same thing through each.
PERSONALITIES: dict[str, Callable[[Proxy], object]] = {
    "docker-hub": docker_hub,
    "ghcr": ghcr,
    "ecr": ecr,
    "ecr-immutable": lambda proxy: ecr(proxy, immutable=True),
    "gar": gar,
    "harbor": harbor,
    "artifactory": artifactory,
    "quay": quay,
    "gitlab": gitlab,
    "zot": zot,
    "referrers": serve_referrers,
}
