"""Push benchmark: ocipush against skopeo and a raw curl upload, on a fresh local registry.

Each measurement starts its own ``LocalRegistry`` (temporary storage, removed afterwards), so
a "cold" push really finds nothing in the registry. Generated OCI layouts live in one
temporary directory that is removed at the end; generating them is not timed.

Run ``python benchmarks/push.py --help`` for the options; ``benchmarks/README.md`` explains
the rows and how peak RSS is measured. This is a benchmark, not a test: it prints PASS/MISS
against the targets and never fails on a MISS.
"""

from __future__ import annotations

import argparse
import collections
import hashlib
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from ocipush.testing import LocalRegistry

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

TAG = "bench"
LAYER_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
CONFIG_TYPE = "application/vnd.oci.image.config.v1+json"
MANIFEST_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
GEN_CHUNK = 4 * MiB
#: Concurrent blob pipelines for the curl baseline: ocipush's default --jobs.
CURL_JOBS = 4
TOOLS = ("ocipush", "skopeo", "curl")
TIME = "/usr/bin/time"
#: curl's limit on a file it reads into memory (MAX_FILE2MEMORY in the curl tool).
CURL_MAX_DATA_BINARY = 1 * GiB
STOP_TIMEOUT = 10.0
TARGET_RATIO = 1.10
TARGET_SMALL_RATIO = 0.5
TARGET_RSS = 60 * MiB
#: How long the access log may take to show a request that was already answered.
LOG_SETTLE_SECONDS = 1.0

# Benchmarks talk to 127.0.0.1 only: a proxy from the environment must never see the traffic.
_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY")
CHILD_ENV = {k: v for k, v in os.environ.items() if k not in _PROXY_VARIABLES} | {
    "NO_PROXY": "127.0.0.1",
    "no_proxy": "127.0.0.1",
}


class BenchError(Exception):
    """A tool failed or timed out: the benchmark cannot go on."""


# ---------------------------------------------------------------------------------------------
# generated layouts


@dataclass(frozen=True)
class BlobFile:
    path: Path
    digest: str
    size: int
    media_type: str


@dataclass(frozen=True)
class Layout:
    """An OCI layout holding one image tagged ``TAG``."""

    root: Path
    layers: tuple[BlobFile, ...]
    config: BlobFile
    manifest: BlobFile

    @property
    def blobs(self) -> tuple[BlobFile, ...]:
        return (*self.layers, self.config)

    @property
    def layer_bytes(self) -> int:
        return sum(b.size for b in self.layers)

    def size_of(self, digest: str) -> int:
        for blob in self.blobs:
            if blob.digest == digest:
                return blob.size
        return 0


def _store(root: Path, scratch: Path, digest: str, size: int, media_type: str) -> BlobFile:
    target = root / "blobs" / "sha256" / digest.split(":", 1)[1]
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(scratch, target)
    return BlobFile(target, digest, size, media_type)


def _write_layer(root: Path, index: int, size: int) -> tuple[BlobFile, str]:
    """Random bytes in a gzip stream of *stored* (level 0) deflate blocks.

    Random data is incompressible, as the brief asks; the gzip framing matters because
    skopeo recompresses anything that does not start with a gzip header when pushing to a
    registry, which would time its compressor instead of its upload.
    """
    scratch = root / f"layer-{index}.tmp"
    compressor = zlib.compressobj(0, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    plain, packed = hashlib.sha256(), hashlib.sha256()
    written = 0
    with scratch.open("wb") as out:
        remaining = size
        while remaining > 0:
            data = os.urandom(min(GEN_CHUNK, remaining))
            remaining -= len(data)
            plain.update(data)
            piece = compressor.compress(data)
            packed.update(piece)
            out.write(piece)
            written += len(piece)
        tail = compressor.flush()
        packed.update(tail)
        out.write(tail)
        written += len(tail)
    blob = _store(root, scratch, f"sha256:{packed.hexdigest()}", written, LAYER_TYPE)
    return blob, f"sha256:{plain.hexdigest()}"


def _write_json(root: Path, name: str, document: object, media_type: str) -> BlobFile:
    raw = json.dumps(document, separators=(",", ":")).encode()
    scratch = root / f"{name}.tmp"
    scratch.write_bytes(raw)
    return _store(root, scratch, f"sha256:{hashlib.sha256(raw).hexdigest()}", len(raw), media_type)


def _descriptor(blob: BlobFile) -> dict[str, object]:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}


def generate_layout(root: Path, count: int, size: int) -> Layout:
    """Write an OCI layout of one image with ``count`` random layers of ``size`` bytes."""
    root.mkdir(parents=True)
    (root / "oci-layout").write_text(json.dumps({"imageLayoutVersion": "1.0.0"}))
    layers, diff_ids = [], []
    for index in range(count):
        layer, diff_id = _write_layer(root, index, size)
        layers.append(layer)
        diff_ids.append(diff_id)
    config = _write_json(
        root,
        "config",
        {
            "architecture": "amd64",
            "os": "linux",
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        },
        CONFIG_TYPE,
    )
    manifest = _write_json(
        root,
        "manifest",
        {
            "schemaVersion": 2,
            "mediaType": MANIFEST_TYPE,
            "config": _descriptor(config),
            "layers": [_descriptor(layer) for layer in layers],
        },
        MANIFEST_TYPE,
    )
    entry = _descriptor(manifest) | {"annotations": {"org.opencontainers.image.ref.name": TAG}}
    index = {"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [entry]}
    (root / "index.json").write_text(json.dumps(index))
    return Layout(root, tuple(layers), config, manifest)


# ---------------------------------------------------------------------------------------------
# running processes with their own resource usage


@dataclass(frozen=True)
class Finished:
    seconds: float
    peak_rss: int
    output: str


def run_measured(argv: Sequence[str], timeout: float) -> Finished:
    """Run ``argv`` and return its wall time, its peak RSS and its merged output.

    Peak RSS comes from GNU time (``%M``), not from this process's ``wait4``/
    ``RUSAGE_CHILDREN``: Linux folds the RSS a child had *before* ``exec`` (a fork of this
    ~50 MiB interpreter) into its ``ru_maxrss``, so every tool would read at least 50 MiB.
    time's own fork is ~2 MiB. The whole process group is killed after ``timeout`` seconds.
    """
    handle, rss_name = tempfile.mkstemp(prefix="rss-", suffix=".txt")
    os.close(handle)
    rss_file = Path(rss_name)
    try:
        start = time.perf_counter()
        process = subprocess.Popen(
            [TIME, "-f", "%M", "-o", rss_name, *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=CHILD_ENV,
            start_new_session=True,  # so that a timeout kills the tool, not only time
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=STOP_TIMEOUT)
            raise BenchError(f"{argv[0]} timed out after {timeout:.0f} s") from None
        seconds = time.perf_counter() - start
        report = rss_file.read_text().split()
    finally:
        rss_file.unlink(missing_ok=True)
    text = output.decode(errors="replace")
    if process.returncode != 0:
        tail = "\n".join(text.splitlines()[-15:])
        raise BenchError(f"{' '.join(argv[:3])}... exited with {process.returncode}:\n{tail}")
    # time writes "Command exited with non-zero status" lines before %M on failure only;
    # %M is in KiB (GNU time >= 1.8).
    return Finished(seconds, int(report[-1]) * KiB, text)


# ---------------------------------------------------------------------------------------------
# the raw curl baseline


class Curl:
    """Blob pipelines of plain curl processes: the floor ocipush and skopeo are compared to."""

    def __init__(self, registry: LocalRegistry, timeout: float, upload: str) -> None:
        self.base = registry.url
        self.timeout = timeout
        self.upload = upload
        self.lock = threading.Lock()
        self.peak_rss = 0

    def _curl(self, *args: str) -> str:
        argv = ["curl", "-sS", "--max-time", str(int(self.timeout)), *args]
        finished = run_measured(argv, self.timeout + 10)
        with self.lock:
            self.peak_rss = max(self.peak_rss, finished.peak_rss)
        return finished.output.strip()

    def _blob_url(self, repo: str, suffix: str) -> str:
        return f"{self.base}/v2/{repo}/blobs/{suffix}"

    def push_blob(self, repo: str, blob: BlobFile) -> None:
        """POST a session, PATCH the whole file, PUT ?digest=: the minimum the protocol needs."""
        location = self._curl(
            "-f", "-X", "POST", "-o", "/dev/null", "-w", "%header{location}",
            self._blob_url(repo, "uploads/"),
        )  # fmt: skip
        # curl refuses to load a file over 1 GiB for --data-binary ("out of memory"), so the
        # big blobs stream with -T even when --data-binary was asked for.
        in_memory = self.upload == "data-binary" and blob.size < CURL_MAX_DATA_BINARY
        body = ["--data-binary", f"@{blob.path}"] if in_memory else ["-T", str(blob.path)]
        location = self._curl(
            "-f", "-X", "PATCH", "-H", "Content-Type: application/octet-stream", *body,
            "-o", "/dev/null", "-w", "%header{location}", location,
        )  # fmt: skip
        separator = "&" if "?" in location else "?"
        self._curl(
            "-f", "-X", "PUT", "-o", "/dev/null", f"{location}{separator}digest={blob.digest}"
        )

    def push_blob_if_missing(self, repo: str, blob: BlobFile) -> None:
        status = self._curl(
            "-I", "-o", "/dev/null", "-w", "%{http_code}", self._blob_url(repo, blob.digest)
        )
        if status != "200":
            self.push_blob(repo, blob)

    def mount_blob(self, repo: str, source: str, blob: BlobFile) -> None:
        query = urllib.parse.urlencode({"mount": blob.digest, "from": source})
        status = self._curl(
            "-f", "-X", "POST", "-o", "/dev/null", "-w", "%{http_code}",
            self._blob_url(repo, f"uploads/?{query}"),
        )  # fmt: skip
        if status != "201":
            raise BenchError(f"curl mount of {blob.digest} answered {status}, not 201")

    def put_manifest(self, repo: str, manifest: Path) -> None:
        self._curl(
            "-f", "-X", "PUT", "-H", f"Content-Type: {MANIFEST_TYPE}",
            "--data-binary", f"@{manifest}", "-o", "/dev/null",
            f"{self.base}/v2/{repo}/manifests/{TAG}",
        )  # fmt: skip

    def get_manifest(self, repo: str, into: Path) -> None:
        self._curl(
            "-f", "-H", f"Accept: {MANIFEST_TYPE}", "-o", str(into),
            f"{self.base}/v2/{repo}/manifests/{TAG}",
        )  # fmt: skip

    def each_blob(self, blobs: Iterable[BlobFile], action: Callable[[BlobFile], None]) -> None:
        """``action`` on every blob, ``CURL_JOBS`` at a time, failing on the first error."""
        with ThreadPoolExecutor(CURL_JOBS) as pool:
            for future in [pool.submit(action, blob) for blob in blobs]:
                future.result()

    def push(self, repo: str, layout: Layout, *, check_first: bool = False) -> None:
        action = self.push_blob_if_missing if check_first else self.push_blob
        self.each_blob(layout.blobs, lambda blob: action(repo, blob))
        self.put_manifest(repo, layout.manifest.path)

    def copy(self, source: str, repo: str, layout: Layout, scratch: Path) -> None:
        manifest = scratch / "copied-manifest.json"
        self.get_manifest(source, manifest)
        self.each_blob(layout.blobs, lambda blob: self.mount_blob(repo, source, blob))
        self.put_manifest(repo, manifest)


# ---------------------------------------------------------------------------------------------
# workloads and measurements


@dataclass(frozen=True)
class Workload:
    name: str
    image: str  # key of the generated layout it pushes
    kind: str  # "cold", "warm" (pushed again) or "copy" (repo to repo on one registry)


WORKLOADS = (
    Workload("layers4", "layers4", "cold"),
    Workload("big", "big", "cold"),
    Workload("small", "small", "cold"),
    Workload("warm", "layers4", "warm"),
    Workload("warm-small", "small", "warm"),
    Workload("copy", "layers4", "copy"),
)
#: warm-small: ocipush's time against skopeo's (the same re-push, no uploads either way).
TARGET_WARM_SMALL_VS_SKOPEO = 0.10
#: (layer count, layer size) per layout, full and --quick.
SIZES = {
    False: {"layers4": (4, 256 * MiB), "big": (1, 2 * GiB), "small": (200, 16 * KiB)},
    True: {"layers4": (4, 32 * MiB), "big": (1, 256 * MiB), "small": (50, 16 * KiB)},
}


@dataclass
class Measurement:
    seconds: float
    peak_rss: int
    requests: collections.Counter[str]
    moved: int  # layer bytes uploaded or downloaded (PUT-committed or GET blobs)


@dataclass
class Row:
    workload: Workload
    title: str
    runs: dict[str, list[Measurement]] = field(default_factory=dict)

    def median(self, tool: str) -> float | None:
        runs = self.runs.get(tool)
        return statistics.median(r.seconds for r in runs) if runs else None

    def rss(self, tool: str) -> int | None:
        # The peak over repetitions: a target on peak memory is about the worst run.
        runs = self.runs.get(tool)
        return max(r.peak_rss for r in runs) if runs else None


def _settled_requests(registry: LocalRegistry) -> list[tuple[str, str, int]]:
    """The access log once it stops growing: lines land just after responses are sent."""
    deadline = time.monotonic() + LOG_SETTLE_SECONDS
    entries = registry.requests()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        again = registry.requests()
        if len(again) == len(entries):
            break
        entries = again
    return [(e.method, e.path, e.status) for e in entries]


def _traffic(
    entries: Sequence[tuple[str, str, int]], layout: Layout
) -> tuple[collections.Counter[str], int]:
    """Request counts by method, and layer bytes that crossed the wire.

    Bytes are counted by digest: every blob committed by ``PUT .../uploads/...?digest=``
    was uploaded whole, and every ``GET .../blobs/<digest>`` answered 200 was downloaded.
    """
    counts: collections.Counter[str] = collections.Counter()
    moved = 0
    for method, path, status in entries:
        counts[method] += 1
        url = urllib.parse.urlsplit(path)
        if method == "PUT" and "/blobs/uploads/" in url.path:
            for digest in urllib.parse.parse_qs(url.query).get("digest", []):
                moved += layout.size_of(digest)
        elif method == "GET" and "/blobs/sha256:" in url.path and status == 200:
            moved += layout.size_of(url.path.rsplit("/", 1)[1])
    return counts, moved


class Bench:
    def __init__(self, args: argparse.Namespace, layouts: dict[str, Layout], scratch: Path):
        self.args = args
        self.layouts = layouts
        self.scratch = scratch
        self.timeout: float = args.timeout

    def measure(self, workload: Workload, tool: str) -> Measurement:
        layout = self.layouts[workload.image]
        with LocalRegistry(log_level="warn") as registry:
            curl = Curl(registry, self.timeout, self.args.curl_upload)
            repo = f"bench/{tool}"
            source = "bench/source"
            if workload.kind == "warm":
                curl.push(repo, layout)  # the image is already there, tag and all
            elif workload.kind == "copy":
                curl.push(source, layout)
            # Flush the dirty pages of earlier cells (registry storage, the seed push) now:
            # their writeback would otherwise land inside this cell's timing.
            os.sync()
            mark = len(_settled_requests(registry))
            curl.peak_rss = 0
            seconds, rss = self._run(tool, workload, layout, registry, curl, repo, source)
            counts, moved = _traffic(_settled_requests(registry)[mark:], layout)
        return Measurement(seconds, rss, counts, moved)

    def _run(
        self,
        tool: str,
        workload: Workload,
        layout: Layout,
        registry: LocalRegistry,
        curl: Curl,
        repo: str,
        source: str,
    ) -> tuple[float, int]:
        host = registry.host
        if workload.kind == "copy":
            src_ref, dst_ref = f"{host}/{source}:{TAG}", f"{host}/{repo}:{TAG}"
            skopeo_src = f"docker://{src_ref}"
        else:
            src_ref, dst_ref = f"oci:{layout.root}:{TAG}", f"{host}/{repo}:{TAG}"
            skopeo_src = src_ref
        if tool == "ocipush":
            argv = [sys.executable, "-m", "ocipush.cli", "copy", "--no-progress", src_ref, dst_ref]
            finished = run_measured(argv, self.timeout)
            return finished.seconds, finished.peak_rss
        if tool == "skopeo":
            argv = [
                "skopeo", "copy", "--quiet", "--src-tls-verify=false", "--dest-tls-verify=false",
                skopeo_src, f"docker://{dst_ref}",
            ]  # fmt: skip
            if workload.kind != "copy":
                argv.remove("--src-tls-verify=false")  # only for docker:// sources
            finished = run_measured(argv, self.timeout)
            return finished.seconds, finished.peak_rss
        start = time.perf_counter()
        if workload.kind == "copy":
            curl.copy(source, repo, layout, self.scratch)
        else:
            curl.push(repo, layout, check_first=workload.kind == "warm")
        return time.perf_counter() - start, curl.peak_rss


# ---------------------------------------------------------------------------------------------
# presentation


def _size(count: float) -> str:
    for unit, scale in (("GiB", GiB), ("MiB", MiB), ("KiB", KiB)):
        if count >= scale:
            return f"{count / scale:.{0 if count % scale == 0 else 1}f} {unit}"
    return f"{count:.0f} B"


def _title(workload: Workload, quick: bool) -> str:
    count, size = SIZES[quick][workload.image]
    shape = f"{count}x{_size(size).replace(' ', '')}"
    return {
        "cold": f"{shape} cold",
        "warm": f"{shape} warm re-push",
        "copy": f"{shape} same-registry copy",
    }[workload.kind]


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _ratio(value: float | None, base: float | None) -> str:
    return "—" if value is None or not base else f"{value / base:.2f}x"


def _mib(value: int | None) -> str:
    return "—" if value is None else f"{value / MiB:.0f}"


def _verdict(row: Row) -> tuple[str, str]:
    """The target of ``row`` and whether ocipush met it (in every repetition)."""
    kind, name = row.workload.kind, row.workload.name
    ours, curl = row.median("ocipush"), row.median("curl")
    runs = row.runs.get("ocipush", [])
    if not runs:
        return "—", "—"
    if kind == "cold" and name in ("layers4", "big"):
        checks = []
        target = f"≤ {TARGET_RATIO:.2f}x curl"
        if curl:
            checks.append(ours is not None and ours / curl <= TARGET_RATIO)
        if name == "big":
            target += f"; RSS ≤ {TARGET_RSS // MiB} MiB"
            checks.append((row.rss("ocipush") or 0) <= TARGET_RSS)
        if not checks:
            return target, "—"
        return target, "PASS" if all(checks) else "MISS"
    if kind == "warm":
        uploads = max(r.requests["POST"] + r.requests["PATCH"] for r in runs)
        # Every tag already names the right digest: not even the manifest goes up again.
        puts = max(r.requests["PUT"] for r in runs)
        checks = [uploads == 0, puts == 0]
        target = "no POST/PATCH/PUT"
        details = f"{uploads} POST/PATCH, {puts} PUT"
        skopeo = row.median("skopeo")
        if name == "warm-small" and skopeo:
            target += f"; ≤ {TARGET_WARM_SMALL_VS_SKOPEO:.2f}x skopeo"
            ratio = (ours or 0) / skopeo
            checks.append(ratio <= TARGET_WARM_SMALL_VS_SKOPEO)
            details += f", {ratio:.2f}x skopeo"
        return target, f"{'PASS' if all(checks) else 'MISS'} ({details})"
    if kind == "copy":
        moved = max(r.moved for r in runs)
        patches = max(r.requests["PATCH"] for r in runs)
        result = "PASS" if moved == 0 and patches == 0 else "MISS"
        return "0 layer bytes moved", f"{result} ({_size(moved)}, {patches} PATCH)"
    if kind == "cold" and name == "small" and curl and ours is not None:
        # Per-request overhead: the fewest round trips per small blob the registry accepts.
        target = f"≤ {TARGET_SMALL_RATIO:.2f}x curl"
        return target, "PASS" if ours / curl <= TARGET_SMALL_RATIO else "MISS"
    return "—", "—"


def render(rows: Sequence[Row]) -> str:
    lines = [
        "| workload | ocipush s | skopeo s | curl s | ocipush/curl | skopeo/curl "
        "| peak RSS MiB (ocipush, skopeo) | target | result |",
        "|---|---:|---:|---:|---:|---:|---|---|---|",
    ]
    for row in rows:
        ours, skopeo, curl = (row.median(t) for t in TOOLS)
        target, result = _verdict(row)
        lines.append(
            f"| {row.title} | {_seconds(ours)} | {_seconds(skopeo)} | {_seconds(curl)} "
            f"| {_ratio(ours, curl)} | {_ratio(skopeo, curl)} "
            f"| {_mib(row.rss('ocipush'))}, {_mib(row.rss('skopeo'))} | {target} | {result} |"
        )
    return "\n".join(lines)


def render_requests(rows: Sequence[Row]) -> str:
    """Per tool and row: requests by method and layer bytes moved, from the access log."""
    lines = ["| workload | tool | requests (last run) | layer bytes moved | peak RSS MiB |"]
    lines.append("|---|---|---|---:|---:|")
    for row in rows:
        for tool in TOOLS:
            runs = row.runs.get(tool)
            if not runs:
                continue
            last = runs[-1]
            methods = ", ".join(f"{m} {n}" for m, n in sorted(last.requests.items()))
            lines.append(
                f"| {row.title} | {tool} | {methods} | {_size(last.moved)} "
                f"| {_mib(row.rss(tool))} |"
            )
    return "\n".join(lines)


def _versions() -> str:
    def first_line(argv: Sequence[str]) -> str:
        try:
            return run_measured(argv, 30).output.splitlines()[0].strip()
        except (BenchError, IndexError, OSError):
            return f"{argv[0]}: unknown"

    startup = run_measured([sys.executable, "-m", "ocipush.cli", "--version"], 60)
    return (
        f"{platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}; "
        f"{first_line(['skopeo', '--version'])}; {first_line(['curl', '--version'])[:11]}; "
        f"{first_line(['docker-registry', '--version'])}. "
        f"`python -m ocipush.cli --version` alone takes {startup.seconds:.2f} s and "
        f"{startup.peak_rss / MiB:.0f} MiB (interpreter start + imports, included in every "
        "ocipush time)."
    )


# ---------------------------------------------------------------------------------------------
# main


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help="smaller sizes (4x32 MiB, 1x256 MiB, 50x16 KiB) for a fast check",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, metavar="N", help="runs per cell; the median is shown"
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=[w.name for w in WORKLOADS],
        metavar="WORKLOAD",
        help=f"run only this workload (repeatable): {', '.join(w.name for w in WORKLOADS)}",
    )
    parser.add_argument(
        "--tool",
        action="append",
        choices=TOOLS,
        help="run only this tool (repeatable); ratios need curl",
    )
    parser.add_argument(
        "--curl-upload",
        choices=("data-binary", "upload-file"),
        default="data-binary",
        help="how curl sends a blob: --data-binary @FILE (reads it into memory first, the "
        "default; blobs of 1 GiB or more always use -T) or -T FILE (streams it)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds any one process may take (default: 300, or 60 with --quick)",
    )
    args = parser.parse_args(argv)
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    if args.timeout is None:
        args.timeout = 60.0 if args.quick else 300.0
    return args


def _note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    for tool in ("docker-registry", "skopeo", "curl", TIME):
        if shutil.which(tool) is None:
            _note(f"error: {tool} not found on PATH; run `make system-deps`")
            return 2
    workloads = [w for w in WORKLOADS if not args.only or w.name in args.only]
    tools = [t for t in TOOLS if not args.tool or t in args.tool]
    scratch = Path(tempfile.mkdtemp(prefix="ocipush-bench-"))
    try:
        layouts: dict[str, Layout] = {}
        for image in dict.fromkeys(w.image for w in workloads):
            count, size = SIZES[args.quick][image]
            started = time.perf_counter()
            layouts[image] = generate_layout(scratch / image, count, size)
            _note(
                f"generated {image}: {count}x{_size(size)} in "
                f"{time.perf_counter() - started:.1f} s (not timed)"
            )
        bench = Bench(args, layouts, scratch)
        rows = [Row(w, _title(w, args.quick)) for w in workloads]
        for row in rows:
            for repetition in range(args.repeat):
                # Tools take turns within a repetition, so drift (page cache, thermal) is shared.
                for tool in tools:
                    measurement = bench.measure(row.workload, tool)
                    row.runs.setdefault(tool, []).append(measurement)
                    _note(
                        f"{row.title} [{repetition + 1}/{args.repeat}] {tool}: "
                        f"{measurement.seconds:.2f} s, {measurement.peak_rss / MiB:.0f} MiB"
                    )
        mode = "--quick" if args.quick else "full"
        print(f"## ocipush push benchmark ({mode}, median of {args.repeat})\n")
        print(_versions() + "\n")
        print(render(rows))
        print("\n### Requests seen by the registry\n")
        print(render_requests(rows))
    except BenchError as error:
        _note(f"error: {error}")
        return 1
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
