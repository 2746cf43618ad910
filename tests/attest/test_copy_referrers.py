"""``ocipush copy`` carries referrers: to another real registry, to a layout and back."""

from __future__ import annotations

import json

import pytest

from attest.helpers import run
from support.tools import ToolError, skopeo_inspect_raw


def _listing(capsys, ref: str) -> set[tuple[str, str, str]]:
    code, out, err = run(capsys, "referrers", "--json", ref)
    assert code == 0, err
    return {(r["subject"], r["digest"], r["artifactType"]) for r in json.loads(out)}


def test_copy_to_another_registry_and_a_layout_keeps_every_referrer(
    release, local_registry_factory, tmp_path, capsys
):
    source = _listing(capsys, release.ref)
    assert len(source) == 7  # 3 attestations and 4 signatures
    other = local_registry_factory()
    destination = f"{other.host}/mirror/app:1.0.0"

    code, out, err = run(capsys, "copy", "--no-progress", release.ref, destination)

    assert code == 0, err
    assert out == f"{other.host}/mirror/app@{release.index_digest}\n"
    assert _listing(capsys, destination) == source
    # The fallback tags skopeo reads list the same manifests as the source's.
    for subject in {s for s, _, _ in source}:
        tag = subject.replace(":", "-")
        theirs = json.loads(skopeo_inspect_raw(f"{release.host}/{release.repository}:{tag}"))
        ours = json.loads(skopeo_inspect_raw(f"{other.host}/mirror/app:{tag}"))
        assert sorted(m["digest"] for m in ours["manifests"]) == sorted(
            m["digest"] for m in theirs["manifests"]
        )
    code, out, _ = run(capsys, "verify", destination, "--key", str(release.public_key))
    assert code == 0, out

    layout = f"oci:{tmp_path / 'layout'}:1.0.0"
    code, out, err = run(capsys, "copy", "--no-progress", destination, layout)
    assert code == 0, err
    assert _listing(capsys, layout) == source
    code, out, _ = run(capsys, "verify", layout, "--key", str(release.public_key))
    assert code == 0, out

    # And from the layout into a third repository: still all there.
    back = f"{other.host}/from-layout/app:1.0.0"
    code, _, err = run(capsys, "copy", "--no-progress", layout, back)
    assert code == 0, err
    assert _listing(capsys, back) == source


def test_no_referrers_copies_the_image_alone(release, registry, repo_name, capsys):
    destination = f"{registry.host}/{repo_name}:1.0.0"

    code, _, err = run(capsys, "copy", "--no-progress", "--no-referrers", release.ref, destination)

    assert code == 0, err
    assert _listing(capsys, destination) == set()
    with pytest.raises(ToolError, match="manifest unknown"):
        skopeo_inspect_raw(f"{registry.host}/{repo_name}:{release.index_digest.replace(':', '-')}")
    code, out, _ = run(capsys, "verify", destination, "--key", str(release.public_key))
    assert code == 1
    assert "carries no valid signature" in out
