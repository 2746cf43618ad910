"""Believe no registry blindly, and move no tag before everything naming it is accepted.

The real registry is the session's ``docker-registry``; what landed is read back with
skopeo. Two small local servers stand in for what a real registry never does:

* a web server answering ``200`` with an HTML page to everything (a captive portal or a
  login page behind a proxy), built from :class:`support.proxy.Proxy` with no upstream;
* the recording proxy in front of the real registry, scripted to lie about a blob or to
  refuse one manifest with ``403`` (a registry policy, quota or scanner rejecting an
  artifact), which distribution itself cannot be made to do for one manifest only.
"""

from __future__ import annotations

import json

import pytest

from ocipush.cli import main
from ocipush.errors import RegistryError
from ocipush.oci.reference import parse_reference
from ocipush.registry.writer import Writer
from support.images import make_image
from support.proxy import Proxy, Respond, Rule
from support.tools import ToolError, skopeo_inspect_raw

HTML = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Wi-Fi</body></html>"
HTML_HEADERS = {"Content-Type": "text/html; charset=utf-8"}
ARTIFACT_TYPE = "application/vnd.acme.release.v1"


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--no-progress"])
    out, err = capsys.readouterr()
    return code, out, err


def _project(tmp_path, ref: str, page: str):
    tmp_path.mkdir(exist_ok=True)
    (tmp_path / "pyproject.toml").write_text(
        f"""\
[project]
name = "trust-app"
version = "2.0.0"

[[tool.ocipush.targets]]
ref = "{ref}"

[[tool.ocipush.layers]]
source = "static"
dest = "/srv/www"

[[tool.ocipush.artifacts]]
files = ["notes/*.txt"]
artifact-type = "{ARTIFACT_TYPE}"
subject = "image"
"""
    )
    (tmp_path / "static").mkdir(exist_ok=True)
    (tmp_path / "static" / "index.html").write_text(page)
    (tmp_path / "notes").mkdir(exist_ok=True)
    (tmp_path / "notes" / "release.txt").write_text(f"notes for {page}")
    return tmp_path


def _html_server(*, registry_like_v2: bool = False) -> Proxy:
    """Answers every request, whatever the method, with 200 and a login page; with
    ``registry_like_v2`` its ``/v2/`` answer copies a registry's."""
    server = Proxy().start()
    if registry_like_v2:
        api = {"Docker-Distribution-API-Version": "registry/2.0"}
        server.route("GET", "/v2/", lambda request: Respond(200, api))
    server.route(None, r".*", lambda request: Respond(200, HTML_HEADERS, HTML))
    return server


# -- 5. answers that are not the registry API ----------------------------------------------------


def test_a_web_page_on_v2_is_not_a_registry(tmp_path, capsys):
    with _html_server() as server:
        host = server.host
        project = _project(tmp_path, f"{host}/acme/app:2.0.0", "<p>v2</p>")

        code, out, err = _run(capsys, "push", "--project", str(project))

        requests = [(e.method, e.path) for e in server.exchanges]
    assert (code, out) == (1, "")
    assert err.startswith(
        f"error: {host} is not a container registry: GET /v2/ answered 200 "
        "(text/html; charset=utf-8): <!DOCTYPE html><html><head><title>Sign in</title>"
    )
    assert "without a Docker-Distribution-API-Version header" in err
    assert "already present" not in err
    assert requests == [("GET", "/v2/")]


def test_an_html_answer_behind_a_registry_like_v2_is_an_error_not_a_blob(tmp_path, capsys):
    """A portal that copied the registry's /v2/ answer still serves HTML for the rest: the
    first check (does the tag already name the image?) finds it, before any blob."""
    with _html_server(registry_like_v2=True) as server:
        host = server.host
        project = _project(tmp_path, f"{host}/acme/app:2.0.0", "<p>v2</p>")

        code, out, err = _run(capsys, "push", "--project", str(project))

        puts = server.find("PUT", "/manifests/")
    assert (code, out) == (1, "")
    assert "an HTML page came back instead of the registry API (200 (text/html" in err
    assert f"HEAD http://{host}/v2/acme/app/manifests/2.0.0: 200" in err
    assert puts == []


def test_a_head_that_describes_another_blob_is_not_believed(registry, repo_name, proxy_factory):
    proxy = proxy_factory(registry.url)
    proxy.add_rule(
        Rule(Respond(200, {"Content-Length": "3"}), method="HEAD", path="/blobs/", times=None)
    )
    image = make_image({"a.txt": b"some content\n"})
    ref = parse_reference(f"{proxy.host}/{repo_name}:v1")

    with pytest.raises(RegistryError) as caught:
        Writer().write(ref, image)

    message = str(caught.value)
    assert "the registry says it has the blob but answered Content-Length 3 (the blob has" in (
        message
    )
    assert f"HEAD /v2/{repo_name}/blobs/sha256:" in message
    assert proxy.count("PUT", "/manifests/") == 0
    with pytest.raises(ToolError):
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:v1")


def test_a_head_naming_another_digest_is_not_believed(registry, repo_name, proxy_factory):
    proxy = proxy_factory(registry.url)
    image = make_image({"b.txt": b"other content\n"})
    layer = image.layers[0]
    other = "sha256:" + "0" * 64
    proxy.add_rule(
        Rule(
            Respond(200, {"Content-Length": str(layer.size), "Docker-Content-Digest": other}),
            method="HEAD",
            path=f"/blobs/{layer.digest}",
        )
    )

    with pytest.raises(RegistryError, match=f"answered Docker-Content-Digest {other}"):
        Writer().write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)


def test_a_200_to_an_upload_post_is_an_error_naming_the_url(registry, repo_name, proxy_factory):
    proxy = proxy_factory(registry.url)
    proxy.add_rule(Rule(Respond(200), method="POST", path="/blobs/uploads/", times=None))
    image = make_image({"c.txt": b"posted\n"})

    with pytest.raises(RegistryError) as caught:
        Writer().write(parse_reference(f"{proxy.host}/{repo_name}:v1"), image)

    assert f"POST http://{proxy.host}/v2/{repo_name}/blobs/uploads/: 200" in str(caught.value)
    assert proxy.count("PUT") == 0


# -- 4. tags move last -------------------------------------------------------------------------


def test_a_refused_artifact_leaves_the_image_tag_where_it_was(
    tmp_path, capsys, registry, repo_name, proxy_factory
):
    ref = f"{registry.host}/{repo_name}:2.0.0"
    first = _project(tmp_path / "first", ref, "<p>first</p>")
    assert _run(capsys, "push", "--project", str(first))[0] == 0
    before = skopeo_inspect_raw(ref)

    proxy = proxy_factory(registry.url)
    proxy_ref = f"{proxy.host}/{repo_name}:2.0.0"
    second = _project(tmp_path / "second", proxy_ref, "<p>second</p>")
    # The image goes up by digest first (PUT 1); the artifact's manifest is PUT 2.
    refusal = proxy.add_rule(
        Rule(
            Respond(403, {"Content-Type": "application/json"}, b'{"errors":[{"code":"DENIED"}]}'),
            method="PUT",
            path="/manifests/sha256:",
            nth=2,
        )
    )

    code, out, err = _run(capsys, "push", "--project", str(second))

    assert (code, out) == (1, "")
    assert refusal.fired == 1
    assert f"note: tags left unchanged: {proxy_ref}\n" in err
    assert skopeo_inspect_raw(ref) == before
    assert [e.path for e in proxy.find("PUT", "/manifests/2.0.0")] == []
    assert json.loads(before)["layers"][0]["digest"] != _layer_of(second, "static")


def _layer_of(project, _: str) -> str:
    (layer,) = (project / "build" / "ocipush" / "layers").glob("sha256-*.tar.gz")
    return "sha256:" + layer.name.removeprefix("sha256-").removesuffix(".tar.gz")


def test_tags_go_up_after_the_artifacts_naming_them(
    tmp_path, capsys, registry, repo_name, proxy_factory
):
    proxy = proxy_factory(registry.url)
    project = _project(tmp_path, f"{proxy.host}/{repo_name}:2.0.0", "<p>order</p>")

    assert _run(capsys, "push", "--project", str(project))[0] == 0

    puts = [e.path.rsplit("/", 1)[1] for e in proxy.find("PUT", "/manifests/")]
    assert puts[-1] == "2.0.0"
    assert all(p.startswith("sha256") for p in puts[:-1])
    # image by digest, artifact by digest, the referrers fallback tag, then the tag
    assert len(puts) == 4
