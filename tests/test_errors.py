"""The error hierarchy: what a user reads, and which failures are worth retrying."""

from __future__ import annotations

import pytest

from ocipush.errors import (
    AuthError,
    BlobError,
    ConfigError,
    ConfigProblem,
    DigestMismatchError,
    InvalidReferenceError,
    LayoutError,
    OcipushError,
    PushInterruptedError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)

URL = "https://ghcr.io/v2/acme/app/blobs/uploads/"


def registry_error(status: int, *codes: str, **kwargs: str) -> RegistryError:
    details = [RegistryErrorDetail(code, "") for code in codes]
    return RegistryError(method="POST", url=URL, status=status, details=details, **kwargs)


@pytest.mark.parametrize(
    "cls",
    [
        AuthError,
        BlobError,
        ConfigError,
        DigestMismatchError,
        InvalidReferenceError,
        LayoutError,
        PushInterruptedError,
        RegistryError,
        TransportError,
    ],
)
def test_every_error_is_an_ocipush_error(cls: type[Exception]) -> None:
    assert issubclass(cls, OcipushError)


def test_invalid_reference_error() -> None:
    exc = InvalidReferenceError("Foo/Bar", "repository names must be lowercase")
    assert str(exc) == "invalid reference 'Foo/Bar': repository names must be lowercase"
    assert (exc.text, exc.problem) == ("Foo/Bar", "repository names must be lowercase")
    assert isinstance(exc, ValueError)
    # The input is quoted with repr, so control characters stay visible.
    assert str(InvalidReferenceError("a\nb", "x")) == "invalid reference 'a\\nb': x"


def test_digest_mismatch_error() -> None:
    exc = DigestMismatchError("layer 1", "sha256:aa", "sha256:bb")
    assert str(exc) == (
        "layer 1: content has digest sha256:bb but sha256:aa was declared; "
        "the source changed or is corrupt, so it was not pushed"
    )


def test_transport_error_is_temporary_unless_told() -> None:
    assert TransportError("connection reset").temporary is True
    exc = TransportError("certificate verify failed", temporary=False)
    assert (str(exc), exc.temporary) == ("certificate verify failed", False)


def test_hint_defaults_to_none() -> None:
    assert OcipushError("x").hint is None
    assert AuthError("denied").hint is None


# --- RegistryError rendering ------------------------------------------------------------------


def test_registry_error_with_details() -> None:
    exc = RegistryError(
        method="PUT",
        url="https://ghcr.io/v2/acme/app/manifests/v1",
        status=400,
        details=[
            RegistryErrorDetail("MANIFEST_INVALID", "manifest invalid"),
            RegistryErrorDetail("MANIFEST_BLOB_UNKNOWN", ""),
        ],
        body_excerpt="ignored when there are details",
    )
    assert str(exc) == (
        "PUT https://ghcr.io/v2/acme/app/manifests/v1: 400 "
        "MANIFEST_INVALID: manifest invalid; MANIFEST_BLOB_UNKNOWN"
    )
    assert exc.codes == ("MANIFEST_INVALID", "MANIFEST_BLOB_UNKNOWN")
    assert (exc.method, exc.status) == ("PUT", 400)


def test_registry_error_with_body_excerpt_and_context() -> None:
    exc = RegistryError(
        method="HEAD",
        url="https://r.example/v2/a/manifests/v1",
        status=404,
        body_excerpt="404 page not found",
        context="checking tag v1",
    )
    assert str(exc) == (
        "checking tag v1: HEAD https://r.example/v2/a/manifests/v1: 404 404 page not found"
    )
    assert exc.codes == ()
    assert exc.details == ()


def test_registry_error_bare() -> None:
    exc = RegistryError(method="GET", url="https://r.example/v2/", status=418)
    assert str(exc) == "GET https://r.example/v2/: 418"


def test_registry_error_details_are_frozen_to_a_tuple() -> None:
    details = [RegistryErrorDetail("DENIED", "no")]
    exc = RegistryError(method="GET", url=URL, status=403, details=details)
    details.append(RegistryErrorDetail("UNAUTHORIZED", ""))
    assert exc.details == (RegistryErrorDetail("DENIED", "no"),)


# --- RegistryError.temporary --------------------------------------------------------------------


@pytest.mark.parametrize("status", [408, 429, 499, 500, 502, 503, 504, 522])
def test_retryable_statuses_are_temporary(status: int) -> None:
    assert registry_error(status).temporary is True


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 409, 413, 416, 501, 505])
def test_other_statuses_are_not_temporary(status: int) -> None:
    assert registry_error(status).temporary is False


@pytest.mark.parametrize("code", ["BLOB_UPLOAD_INVALID", "TOOMANYREQUESTS", "UNAVAILABLE"])
def test_retryable_codes_are_temporary_whatever_the_status(code: str) -> None:
    assert registry_error(404, code).temporary is True
    assert registry_error(400, "DENIED", code).temporary is True


@pytest.mark.parametrize(
    "code", ["DIGEST_INVALID", "MANIFEST_INVALID", "NAME_UNKNOWN", "DENIED", "UNAUTHORIZED"]
)
def test_other_codes_are_not_temporary(code: str) -> None:
    assert registry_error(400, code).temporary is False


# --- ConfigError ----------------------------------------------------------------------------


def test_config_error_one_problem() -> None:
    exc = ConfigError([ConfigProblem("tool.ocipush.repository", "is required")])
    assert str(exc) == (
        "pyproject.toml: 1 configuration problem:\n  tool.ocipush.repository: is required"
    )
    assert exc.source == "pyproject.toml"


def test_config_error_lists_every_problem() -> None:
    problems = [
        ConfigProblem("tool.ocipush.repository", "'Acme/App' is not a valid repository"),
        ConfigProblem("tool.ocipush.tags[1]", "must be a string"),
    ]
    exc = ConfigError(problems, source="ocipush.toml")
    assert str(exc) == (
        "ocipush.toml: 2 configuration problems:\n"
        "  tool.ocipush.repository: 'Acme/App' is not a valid repository\n"
        "  tool.ocipush.tags[1]: must be a string"
    )
    assert exc.problems == tuple(problems)
    assert str(problems[1]) == "tool.ocipush.tags[1]: must be a string"
