"""What to do after a request: classification by HTTP status and exception type, Retry-After, backoff.

Sans-I/O apart from naming httpx's exception classes: nothing here opens a connection, reads the
clock or sleeps on its own (``now``, the random source and ``sleep`` are passed in).

=============  ====================================================================================
RETRY          connect/read/write/pool timeouts and network errors, 408, 429, 5xx, 3xx (a captive
               portal or proxy redirect is a bad link, not a bad resource), a malformed answer
REFRESH_AUTH   401: refresh the token once, then retry
CONFLICT       409, 412: pull, merge, ask a person
REJECT         400, 403, 404, 405, 410, 422 and every other 4xx: park the resource with the reason
SUCCESS        2xx, and 304 (not modified)
=============  ====================================================================================
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any

import httpx
import tenacity
from tenacity.wait import wait_base

from sync.errors import (
    AuthenticationFailed,
    MappingError,
    PlatformProtocolError,
    PlatformRejected,
    PlatformUnavailable,
    SyncConflict,
)

RETRY_AFTER_CAP = 3600.0  # seconds: never sleep longer than an hour on a server's say-so
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0


class Action(StrEnum):
    """What the sync engine does next."""

    SUCCESS = "success"
    RETRY = "retry"
    REFRESH_AUTH = "refresh_auth"
    CONFLICT = "conflict"
    REJECT = "reject"


def classify_status(status: int) -> Action:
    """The action for an HTTP status code."""
    if 200 <= status < 300 or status == 304:
        return Action.SUCCESS
    if status == 401:
        return Action.REFRESH_AUTH
    if status in (409, 412):
        return Action.CONFLICT
    if status in (408, 429):
        return Action.RETRY
    if 400 <= status < 500:
        return Action.REJECT
    return Action.RETRY  # 5xx; 1xx and 3xx are a confused link (proxy, captive portal), not our data


# Most specific first: the first class an exception is an instance of decides.
_EXCEPTIONS: tuple[tuple[type[BaseException], Action], ...] = (
    (PlatformUnavailable, Action.RETRY),
    (PlatformProtocolError, Action.RETRY),
    (AuthenticationFailed, Action.REFRESH_AUTH),
    (SyncConflict, Action.CONFLICT),
    (PlatformRejected, Action.REJECT),
    (MappingError, Action.REJECT),
    (httpx.TimeoutException, Action.RETRY),  # connect, read, write, pool
    (httpx.NetworkError, Action.RETRY),  # connect (incl. TLS), read, write, close
    (httpx.RemoteProtocolError, Action.RETRY),  # the server or a middlebox broke HTTP
    (httpx.ProxyError, Action.RETRY),
    (httpx.DecodingError, Action.RETRY),  # a truncated or corrupt compressed body
    (httpx.TooManyRedirects, Action.RETRY),
    (httpx.LocalProtocolError, Action.REJECT),  # we built a request HTTP cannot carry
    (httpx.UnsupportedProtocol, Action.REJECT),
    (httpx.InvalidURL, Action.REJECT),
    (OSError, Action.RETRY),
)


def classify_exception(error: BaseException | type[BaseException] | str) -> Action:
    """The action for an exception, its class, or the name of an httpx or sync.errors class.

    An ``httpx.HTTPStatusError`` is classified by its status. Anything unknown is REJECT: a bug
    should surface as a parked resource with a reason, not as an endless retry.
    """
    if isinstance(error, str):
        found = getattr(httpx, error, None) or _SYNC_ERRORS.get(error)
        if not (isinstance(found, type) and issubclass(found, BaseException)):
            return Action.REJECT
        error = found
    if isinstance(error, httpx.HTTPStatusError):
        return classify_status(error.response.status_code)
    kind = error if isinstance(error, type) else type(error)
    for cls, action in _EXCEPTIONS:
        if issubclass(kind, cls):
            return action
    return Action.REJECT


_SYNC_ERRORS: dict[str, type[BaseException]] = {
    cls.__name__: cls
    for cls in (
        PlatformUnavailable,
        PlatformProtocolError,
        AuthenticationFailed,
        SyncConflict,
        PlatformRejected,
        MappingError,
    )
}


def parse_retry_after(value: str | None, *, now: datetime, cap: float = RETRY_AFTER_CAP) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), capped; None if absent or bad.

    A date in the past means "now" (0). ``now`` must be timezone-aware.
    """
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return min(float(int(text)), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT; "-0000" parses as naive
        when = when.replace(tzinfo=UTC)
    return min(max((when - now).total_seconds(), 0.0), cap)


def backoff(
    attempt: int, *, base: float, cap: float, rng: Callable[[], float] = random.random, least: float = 0.0
) -> float:
    """Exponential backoff with jitter: uniform in [least * c, c], where c = min(cap, base * 2**(attempt-1)).

    Full jitter (``least`` 0) for a request's retries; the sync loop's waits between runs keep at
    least half (``least`` 0.5), so a platform that is down is not probed again at once.
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))
    return ceiling * least + rng() * ceiling * (1.0 - least)


class wait_backoff(wait_base):
    """A tenacity wait: full-jitter exponential backoff, or the server's Retry-After if longer (capped)."""

    def __init__(
        self,
        *,
        base: float = BACKOFF_BASE,
        cap: float = BACKOFF_CAP,
        retry_after_cap: float = RETRY_AFTER_CAP,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base = base
        self.cap = cap
        self.retry_after_cap = retry_after_cap
        self.rng = rng

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        """Seconds to sleep before the next attempt."""
        delay = backoff(retry_state.attempt_number, base=self.base, cap=self.cap, rng=self.rng)
        outcome = retry_state.outcome
        error = outcome.exception() if outcome is not None and outcome.failed else None
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after >= 0:
            delay = max(delay, min(float(retry_after), self.retry_after_cap))
        return delay


def retrying(
    *,
    sleep: Callable[[float], None] = time.sleep,
    stop: Any = None,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: Callable[[], float] = random.random,
) -> tenacity.Retrying:
    """A tenacity Retrying that retries PlatformUnavailable (and protocol errors) with ``wait_backoff``.

    Without ``stop`` it never gives up: the outbox persists, and the caller decides when a run ends.
    """
    return tenacity.Retrying(
        retry=tenacity.retry_if_exception_type((PlatformUnavailable, PlatformProtocolError)),
        wait=wait_backoff(base=base, cap=cap, rng=rng),
        stop=stop or tenacity.stop_never,
        sleep=sleep,
        reraise=True,
    )


def async_retrying(
    *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    stop: Any = None,
    base: float = BACKOFF_BASE,
    cap: float = BACKOFF_CAP,
    rng: Callable[[], float] = random.random,
) -> tenacity.AsyncRetrying:
    """The asyncio form of ``retrying``."""
    return tenacity.AsyncRetrying(
        retry=tenacity.retry_if_exception_type((PlatformUnavailable, PlatformProtocolError)),
        wait=wait_backoff(base=base, cap=cap, rng=rng),
        stop=stop or tenacity.stop_never,
        sleep=sleep,
        reraise=True,
    )
