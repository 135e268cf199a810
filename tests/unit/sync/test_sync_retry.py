"""Retry classification (reliability plan S2), Retry-After, and the backoff wait."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import tenacity

from sync.errors import (
    AuthenticationFailed,
    MappingError,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnavailable,
    SyncConflict,
)
from sync.retry import (
    Action,
    backoff,
    classify_exception,
    classify_status,
    parse_retry_after,
    retrying,
    wait_backoff,
)

NOW = datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def expected(status: int) -> Action:
    """The table of the reliability plan, written out independently of the code."""
    if 200 <= status <= 299 or status == 304:
        return Action.SUCCESS
    if status == 401:
        return Action.REFRESH_AUTH
    if status in (409, 412):
        return Action.CONFLICT
    if status in (408, 429) or status >= 500 or status < 200 or 300 <= status <= 399:
        return Action.RETRY
    return Action.REJECT


@pytest.mark.parametrize("status", range(100, 600))
def test_every_status_code_is_classified(status: int) -> None:
    assert classify_status(status) is expected(status)


@pytest.mark.parametrize(
    ("status", "action"),
    [
        (400, Action.REJECT), (403, Action.REJECT), (404, Action.REJECT), (405, Action.REJECT),
        (410, Action.REJECT), (422, Action.REJECT), (408, Action.RETRY), (429, Action.RETRY),
        (500, Action.RETRY), (502, Action.RETRY), (503, Action.RETRY), (504, Action.RETRY),
        (401, Action.REFRESH_AUTH), (409, Action.CONFLICT), (412, Action.CONFLICT), (201, Action.SUCCESS),
    ],
)  # fmt: skip
def test_the_named_codes_of_the_plan(status: int, action: Action) -> None:
    assert classify_status(status) is action


REQUEST = httpx.Request("GET", "https://platform.example/fhir/Patient")
NETWORK_ERRORS = [
    httpx.ConnectError("refused", request=REQUEST),
    httpx.ConnectTimeout("slow", request=REQUEST),
    httpx.ReadTimeout("slow", request=REQUEST),
    httpx.WriteTimeout("slow", request=REQUEST),
    httpx.PoolTimeout("busy"),
    httpx.ReadError("reset", request=REQUEST),
    httpx.WriteError("broken pipe", request=REQUEST),
    httpx.CloseError("closed", request=REQUEST),
    httpx.RemoteProtocolError("peer closed connection without sending complete message body", request=REQUEST),
    httpx.ProxyError("proxy down", request=REQUEST),
    httpx.DecodingError("truncated gzip", request=REQUEST),
    httpx.TooManyRedirects("loop", request=REQUEST),
    ConnectionResetError("reset"),
]


@pytest.mark.parametrize("error", NETWORK_ERRORS, ids=lambda e: type(e).__name__)
def test_network_errors_are_retried_as_instances_classes_and_names(error: Exception) -> None:
    assert classify_exception(error) is Action.RETRY
    assert classify_exception(type(error)) is Action.RETRY
    if hasattr(httpx, type(error).__name__):
        assert classify_exception(type(error).__name__) is Action.RETRY


@pytest.mark.parametrize(
    ("error", "action"),
    [
        (httpx.LocalProtocolError("bad header"), Action.REJECT),
        (httpx.UnsupportedProtocol("ftp://"), Action.REJECT),
        (httpx.InvalidURL("bad"), Action.REJECT),
        (PlatformUnavailable("down"), Action.RETRY),
        (PlatformProtocolError("truncated"), Action.RETRY),
        (AuthenticationFailed("401"), Action.REFRESH_AUTH),
        (SyncConflict("412"), Action.CONFLICT),
        (PlatformRejected("400"), Action.REJECT),
        (MappingError("bad record"), Action.REJECT),
        (ValueError("a bug"), Action.REJECT),
    ],
)
def test_other_errors(error: Exception, action: Action) -> None:
    assert classify_exception(error) is action


def test_status_errors_are_classified_by_their_status() -> None:
    response = httpx.Response(503, request=REQUEST)
    assert classify_exception(httpx.HTTPStatusError("x", request=REQUEST, response=response)) is Action.RETRY


def test_unknown_names_are_rejected_not_retried_forever() -> None:
    assert classify_exception("NoSuchError") is Action.REJECT
    assert classify_exception("Client") is Action.REJECT  # an httpx name that is not an exception


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("86400", 3600.0),  # capped at an hour
        ("Wed, 25 Nov 2026 12:01:30 GMT", 90.0),
        ("Wed, 25 Nov 2026 11:00:00 GMT", 0.0),  # in the past: go now
        ("Thu, 26 Nov 2026 12:00:00 GMT", 3600.0),
        ("-5", None),
        ("soon", None),
        ("1.5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds_or_as_a_date(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


def test_retry_after_cap_is_configurable() -> None:
    assert parse_retry_after("600", now=NOW, cap=60) == 60


def test_backoff_is_full_jitter_under_an_exponential_ceiling() -> None:
    assert [backoff(n, base=1, cap=300, rng=lambda: 1.0) for n in (1, 2, 3, 9, 10, 1000)] == [
        1,
        2,
        4,
        256,
        300,
        300,
    ]
    assert backoff(5, base=1, cap=300, rng=lambda: 0.0) == 0
    assert backoff(3, base=2, cap=300, rng=lambda: 0.5) == 4


def test_the_sync_loop_waits_at_least_half_the_ceiling() -> None:
    """Between runs (``least`` 0.5) a platform that is down is never probed again at once."""
    assert [backoff(n, base=5, cap=600, rng=lambda: 0.0, least=0.5) for n in (1, 2, 8, 31)] == [2.5, 5, 300, 300]
    assert [backoff(n, base=5, cap=600, rng=lambda: 1.0, least=0.5) for n in (1, 2, 8, 31)] == [5, 10, 600, 600]


def _state(attempt: int, error: BaseException | None) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(retry_object=tenacity.Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = attempt
    if error is not None:
        state.set_exception((type(error), error, None))
    return state


def test_wait_honours_retry_after_when_longer_than_the_backoff() -> None:
    wait = wait_backoff(base=1, cap=300, rng=lambda: 1.0)
    assert wait(_state(1, PlatformUnavailable("busy", retry_after=30))) == 30
    assert wait(_state(9, PlatformUnavailable("busy", retry_after=30))) == 256
    assert wait(_state(1, PlatformUnavailable("busy", retry_after=99999))) == 3600
    assert wait(_state(2, PlatformUnavailable("busy"))) == 2


def test_retrying_sleeps_through_the_injected_sleep_and_stops_on_a_rejection() -> None:
    slept: list[float] = []
    calls: list[int] = []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 4:
            raise PlatformUnavailable("down", retry_after=5 if len(calls) == 1 else None)
        return "sent"

    assert retrying(sleep=slept.append, rng=lambda: 1.0)(flaky) == "sent"
    assert slept == [5, 2, 4]

    def rejected() -> None:
        calls.append(1)
        raise PlatformRejected("400")

    calls.clear()
    with pytest.raises(PlatformRejected):
        retrying(sleep=slept.append)(rejected)
    assert len(calls) == 1


async def test_async_retrying_uses_the_injected_sleep() -> None:
    from sync.retry import async_retrying

    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    attempts = 0
    async for attempt in async_retrying(sleep=fake_sleep, rng=lambda: 0.5, stop=tenacity.stop_after_attempt(5)):
        with attempt:
            attempts += 1
            if attempts < 3:
                raise PlatformUnavailable("timeout")
    assert (attempts, slept) == (3, [0.5, 1.0])


def test_now_must_be_given_so_tests_control_time() -> None:
    later = NOW + timedelta(seconds=10)
    assert parse_retry_after("Wed, 25 Nov 2026 12:00:10 GMT", now=later) == 0.0
