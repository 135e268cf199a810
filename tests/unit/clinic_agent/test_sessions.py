"""Sign-in sessions expire when idle and belong to the peer that opened them."""

from __future__ import annotations

import pytest

from clinic_agent.api.sessions import Sessions
from clinic_agent.core.errors import SessionExpired
from clinic_agent.runtime.agent import Caller


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_activity_keeps_a_session_alive_and_idleness_ends_it() -> None:
    clock = Clock()
    sessions = Sessions(600, clock)
    token = sessions.open(Caller(actor="user:li", role="doctor"), peer_uid=1000).token
    for _ in range(5):
        clock.now += 500
        assert sessions.touch(token, 1000).caller.actor == "user:li"
    clock.now += 601
    with pytest.raises(SessionExpired, match="idle"):
        sessions.touch(token, 1000)
    with pytest.raises(SessionExpired):  # and it stays gone
        sessions.touch(token, 1000)


def test_a_token_is_useless_to_another_peer_or_after_logout() -> None:
    sessions = Sessions(600, Clock())
    token = sessions.open(Caller(actor="user:li"), peer_uid=1000).token
    with pytest.raises(SessionExpired):
        sessions.touch(token, 1001)
    sessions.close(token)
    with pytest.raises(SessionExpired):
        sessions.touch(token, 1000)
    with pytest.raises(SessionExpired):
        sessions.touch(None, 1000)


def test_the_sweep_drops_only_idle_sessions() -> None:
    clock = Clock()
    sessions = Sessions(60, clock)
    old = sessions.open(Caller(actor="a"), 1).token
    clock.now += 50
    fresh = sessions.open(Caller(actor="b"), 1).token
    clock.now += 20
    assert [s.token for s in sessions.expire_idle()] == [old]
    assert sessions.touch(fresh, 1).caller.actor == "b"
