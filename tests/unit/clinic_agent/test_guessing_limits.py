"""Guessing PINs and passphrases is limited where it matters, and the limits survive a restart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clinic_agent.core.errors import AccessDenied, LockedOut, TooManyAttempts, WrongPassphrase
from clinic_agent.core.model import Role
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import Home
from clinic_agent.store.guard import PASSPHRASE_ANY, PIN_ALL_USERS, PIN_PER_USER
from tests.support import PASSPHRASE, new_home

RIGHT, WRONG = "246810", "135790"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def home(tmp_path: Path) -> Home:
    return new_home(tmp_path / "home")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _agent(home: Home, clock: Clock) -> Agent:
    agent = Agent.open(home, clock=clock)
    agent.unlock(actor="test", passphrase=PASSPHRASE)
    return agent


def _wrong_pins(agent: Agent, name: str, count: int, clock: Clock) -> None:
    for _ in range(count):
        clock.advance(PIN_PER_USER.longest)  # never too early: only the count grows
        with pytest.raises(AccessDenied) as caught:
            agent.store.users.sign_in(name, WRONG, peer="uid:1")
        assert type(caught.value) is AccessDenied


def test_after_three_wrong_pins_even_the_right_one_waits(home: Home, clock: Clock) -> None:
    agent = _agent(home, clock)
    agent.store.users.add("zhang", Role.DOCTOR, RIGHT, actor="t")
    _wrong_pins(agent, "zhang", 3, clock)
    with pytest.raises(TooManyAttempts) as caught:
        agent.store.users.sign_in("zhang", RIGHT, peer="uid:1")  # refused before the PIN is even checked
    assert caught.value.retry_after == PIN_PER_USER.wait(3) == 2
    clock.advance(1)
    with pytest.raises(TooManyAttempts):
        agent.store.users.sign_in("zhang", RIGHT, peer="uid:1")
    clock.advance(1)
    assert agent.store.users.sign_in("zhang", RIGHT, peer="uid:1").name == "zhang"
    agent.store.users.sign_in("zhang", RIGHT, peer="uid:1")  # a right PIN starts the count anew
    agent.close()


def test_ten_wrong_pins_lock_the_user_out_across_a_restart_until_cleared(home: Home, clock: Clock) -> None:
    agent = _agent(home, clock)
    agent.store.users.add("zhang", Role.DOCTOR, RIGHT, actor="t")
    _wrong_pins(agent, "zhang", 10, clock)
    agent.close()
    agent = _agent(home, clock)  # the daemon restarts
    clock.advance(86400)
    with pytest.raises(LockedOut, match="user unblock zhang"):
        agent.store.users.sign_in("zhang", RIGHT, peer="uid:1")
    assert agent.store.guard.clear_pin("zhang", agent.store.users.get("zhang").id, actor="cli:admin") == 10
    assert agent.store.users.sign_in("zhang", RIGHT, peer="uid:1").name == "zhang"
    actions = [e.action for e in agent.store.audit.entries()]
    assert actions.count("login_failed") == 10
    assert actions.count("user.locked_out") == 1
    assert actions.count("user.unblock") == 1


def test_guessing_many_names_at_once_is_slowed_too(home: Home, clock: Clock) -> None:
    agent = _agent(home, clock)
    agent.store.users.add("zhang", Role.DOCTOR, RIGHT, actor="t")
    for i in range(PIN_ALL_USERS.free):
        clock.advance(1)
        with pytest.raises(AccessDenied):
            agent.store.users.sign_in(f"guess{i}", WRONG, peer="uid:1")
    with pytest.raises(TooManyAttempts, match="on this PC"):
        agent.store.users.sign_in("zhang", RIGHT, peer="uid:1")
    clock.advance(PIN_ALL_USERS.window.total_seconds() if PIN_ALL_USERS.window else 0)
    assert agent.store.users.sign_in("zhang", RIGHT, peer="uid:1").name == "zhang"
    agent.close()


def test_passphrase_guesses_are_slowed_for_unlock_and_for_sign_in_with_the_passphrase(home: Home, clock: Clock) -> None:
    agent = Agent.open(home, clock=clock)
    for _ in range(PASSPHRASE_ANY.free):
        with pytest.raises(WrongPassphrase):
            agent.unlock(actor="thief", passphrase="not the passphrase")
    with pytest.raises(TooManyAttempts):
        agent.unlock(actor="doctor", passphrase=PASSPHRASE)
    with pytest.raises(TooManyAttempts):
        agent.verify_passphrase(PASSPHRASE, None, actor="doctor")  # auth.passphrase: the same count
    agent.close()
    agent = Agent.open(home, clock=clock)  # a restart forgets nothing
    with pytest.raises(TooManyAttempts):
        agent.unlock(actor="doctor", passphrase=PASSPHRASE)
    clock.advance(PASSPHRASE_ANY.wait(PASSPHRASE_ANY.free))
    agent.unlock(actor="doctor", passphrase=PASSPHRASE)
    with pytest.raises(WrongPassphrase):
        agent.verify_passphrase("still not it", None, actor="uid:1000")  # counted while unlocked too
    failed = [e.action for e in agent.store.audit.entries() if e.action in ("unlock_failed", "auth_failed")]
    assert failed == ["unlock_failed"] * PASSPHRASE_ANY.free + ["auth_failed"]
