"""Retry-After parsing and the backoff policy."""

from __future__ import annotations

import email.utils
import threading

import pytest

from ocipush.errors import (
    PushInterruptedError,
    RegistryError,
    RegistryErrorDetail,
    TransportError,
)
from ocipush.registry.retry import RequestRetry, RetryPolicy, is_temporary, parse_retry_after

NOW = 1_700_000_000.0


def _registry_error(status: int, retry_after: float | None = None, codes=()) -> RegistryError:
    return RegistryError(
        method="PUT",
        url="http://r/v2/a/manifests/v1",
        status=status,
        details=[RegistryErrorDetail(code, "") for code in codes],
        retry_after=retry_after,
    )


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", 0.0),
        ("1", 1.0),
        ("120", 120.0),
        (" 7 ", 7.0),
        (email.utils.formatdate(NOW + 30, usegmt=True), 30.0),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # in the past: no wait
        (None, None),
        ("", None),
        ("soon", None),
        ("-5", None),
        ("1.5", None),
        ("Mon, 99 Foo 2015 07:28:00 GMT", None),
    ],
)
def test_parse_retry_after(value, expected):
    assert parse_retry_after(value, now=NOW) == expected


def test_is_temporary():
    assert is_temporary(_registry_error(429))
    assert is_temporary(_registry_error(503))
    assert is_temporary(_registry_error(404, codes=["BLOB_UPLOAD_INVALID"]))
    assert not is_temporary(_registry_error(400, codes=["MANIFEST_INVALID"]))
    assert not is_temporary(_registry_error(401))
    assert is_temporary(TransportError("reset"))
    assert not is_temporary(TransportError("bad certificate", temporary=False))
    assert not is_temporary(ValueError("x"))


def test_delay_backs_off_exponentially_with_jitter_and_a_cap():
    policy = RetryPolicy(initial_delay=0.5, max_delay=3.0)
    error = TransportError("reset")
    for failures, full in [(1, 0.5), (2, 1.0), (3, 2.0), (4, 3.0), (10, 3.0)]:
        for _ in range(20):
            assert full * 0.5 <= policy.delay(failures, error) <= full


def test_delay_follows_retry_after_up_to_its_cap():
    policy = RetryPolicy(initial_delay=0.5, retry_after_cap=60.0)
    assert policy.delay(1, _registry_error(429, retry_after=7.0)) == 7.0
    assert policy.delay(3, _registry_error(429, retry_after=3600.0)) == 60.0
    assert policy.delay(1, _registry_error(503, retry_after=0.0)) == 0.0


def test_call_retries_temporary_failures_until_success():
    policy = RetryPolicy(attempts=3, initial_delay=0.001)
    outcomes = [TransportError("reset"), _registry_error(500), "done"]
    calls = []

    def operation():
        calls.append(1)
        outcome = outcomes[len(calls) - 1]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert policy.call(operation, what="test") == "done"
    assert len(calls) == 3


def test_call_gives_up_after_the_last_attempt():
    policy = RetryPolicy(attempts=3, initial_delay=0.001)
    calls = []

    def operation():
        calls.append(1)
        raise _registry_error(503)

    with pytest.raises(RegistryError):
        policy.call(operation, what="test")
    assert len(calls) == 3


def test_call_raises_a_permanent_failure_at_once():
    policy = RetryPolicy(attempts=5, initial_delay=0.001)
    calls = []

    def operation():
        calls.append(1)
        raise _registry_error(400, codes=["MANIFEST_INVALID"])

    with pytest.raises(RegistryError):
        policy.call(operation, what="test")
    assert len(calls) == 1


def test_call_stops_waiting_when_cancelled():
    policy = RetryPolicy(attempts=5, initial_delay=30.0)
    cancelled = threading.Event()
    cancelled.set()

    def operation():
        raise TransportError("reset")

    with pytest.raises(PushInterruptedError, match="interrupted while waiting to retry"):
        policy.call(operation, what="test", cancelled=cancelled)


# -- the retry layer (one request) --------------------------------------------------------


def _layer(answers, *, attempts=3):
    """A retry layer over scripted answers: a status (int) or an exception to raise."""
    script = list(answers)
    sent, waits, released = [], [], []

    def send():
        answer = script.pop(0)
        sent.append(answer)
        if isinstance(answer, BaseException):
            raise answer
        return answer

    def busy(status):
        return (
            _registry_error(status, retry_after=1.0 if status == 429 else None)
            if status >= 429
            else None
        )

    layer = RequestRetry(
        RetryPolicy(attempts=attempts, initial_delay=0.25, max_delay=1.0),
        send=send,
        busy=busy,
        release=released.append,
        sleep=waits.append,
    )
    return layer, sent, waits, released


def test_request_retry_repeats_busy_answers_and_resets_until_one_is_final():
    layer, sent, waits, released = _layer([503, TransportError("reset"), 429, 200], attempts=4)

    assert layer("check blob") == 200
    assert sent[-1] == 200
    assert len(sent) == 4
    assert released == [503, 429]  # each unused answer gave its connection back
    assert len(waits) == 3
    assert waits[2] == 1.0
    assert all(0 < wait <= 1.0 for wait in waits)


def test_request_retry_returns_the_last_busy_answer_for_the_caller_to_word():
    layer, sent, waits, released = _layer([503, 503, 503, 200], attempts=3)

    assert layer("put manifest") == 503
    assert len(sent) == 3
    assert len(waits) == 2
    assert released == [503, 503]


@pytest.mark.parametrize(
    "error",
    [
        TransportError("bad certificate", temporary=False),
        TransportError("no answer within 0.5 s (read timeout)", timed_out=True),
    ],
)
def test_request_retry_does_not_repeat_a_final_error_or_a_timeout(error):
    layer, sent, waits, _ = _layer([error, 200])

    with pytest.raises(TransportError) as caught:
        layer("check blob")

    assert caught.value is error
    assert len(sent) == 1
    assert waits == []


def test_request_retry_raises_a_reset_on_the_last_attempt():
    layer, sent, _, _ = _layer(
        [TransportError("reset 1"), TransportError("reset 2"), 200], attempts=2
    )

    with pytest.raises(TransportError, match="reset 2"):
        layer("commit blob")
    assert len(sent) == 2
