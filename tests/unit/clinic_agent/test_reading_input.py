"""Readings typed by a person or a script: absurd numbers refused, one plausibility rule with devices."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api import registry
from clinic_agent.core import validation
from clinic_agent.core.errors import ImplausibleValue, InvalidInput
from clinic_agent.runtime import home as home_module
from clinic_agent.runtime.agent import Agent, Caller
from tests.support import PASSPHRASE, new_home

DOCTOR = Caller(actor="user:doctor", role="doctor")


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    opened = Agent.open(home_module.resolve(new_home(tmp_path / "home").root))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    yield opened
    opened.close()


def add(agent: Agent, **params: Any) -> dict[str, Any]:
    base = {"code": "8480-6", "unit": "mm[Hg]"}
    return dict(registry.call(agent, DOCTOR, "reading.add", {**base, **params}))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("1e999", "too large"),
        ("1e12", "too large"),
        ("-1e12", "too large"),
        ("1000000000000", "too large"),
        ("1e-999", "decimal places"),
        ("0.0000000000001", "decimal places"),
        ("nan", "not a finite number"),
        ("inf", "not a finite number"),
        ("-inf", "not a finite number"),
        ("lots", "not a number"),
    ],
)
def test_absurd_numbers_are_not_measurements(text: str, problem: str) -> None:
    with pytest.raises(InvalidInput, match=problem):
        validation.measured_value(text)


@pytest.mark.parametrize("text", ["120", "2.00", "-3.5", "0.000000000001", "999999999999", "1.5E+3"])
def test_ordinary_numbers_are_measurements(text: str) -> None:
    assert validation.measured_value(text) == Decimal(text)


@pytest.mark.parametrize("value", ["1e999", "1e12", "NaN", "-Infinity"])
def test_the_api_refuses_absurd_values_whoever_enters_them(agent: Agent, value: str) -> None:
    with pytest.raises(InvalidInput):
        add(agent, value=value)
    with pytest.raises(InvalidInput):  # a panel's components too
        add(agent, code="85354-9", components=[{"code": "8480-6", "value": value, "unit": "mm[Hg]"}])
    assert agent.store.readings.unassigned()[0] == []


def test_a_hand_entered_value_outside_the_device_range_is_refused_naming_the_range(agent: Agent) -> None:
    with pytest.raises(ImplausibleValue, match="330 mm\\[Hg\\] is outside the plausible range 40-300"):
        add(agent, value="330")
    with pytest.raises(ImplausibleValue, match="outside the plausible range 30-45"):
        add(agent, code="8310-5", value="52", unit="Cel")
    assert agent.store.readings.unassigned()[0] == []


def test_a_confirmed_extreme_value_is_kept_with_the_doctors_reason(agent: Agent) -> None:
    added = add(agent, value="330", confirm_extreme="  re-measured twice, cuff checked ")
    assert added["alerts"]
    stored = agent.store.readings.get(added["id"])
    assert stored.extreme_reason == "re-measured twice, cuff checked"
    assert registry.call(agent, DOCTOR, "reading.get", {"id": added["id"]})["extreme_reason"] == stored.extreme_reason
    plain = add(agent, value="150", confirm_extreme="not needed")
    assert agent.store.readings.get(plain["id"]).extreme_reason is None  # a plausible value needs no reason
    with pytest.raises(InvalidInput, match="too large"):  # a reason never excuses an absurd number
        add(agent, value="1e12", confirm_extreme="really")


def test_a_unit_devices_are_never_allowed_is_refused_even_with_a_reason(agent: Agent) -> None:
    with pytest.raises(InvalidInput, match=r"unit 'mmHg'.*mm\[Hg\]"):
        add(agent, value="330", unit="mmHg", confirm_extreme="really")


def test_a_panel_is_checked_like_a_device_panel(agent: Agent) -> None:
    panel = [
        {"code": "8480-6", "value": "80", "unit": "mm[Hg]"},
        {"code": "8462-4", "value": "120", "unit": "mm[Hg]"},
    ]
    with pytest.raises(ImplausibleValue, match="diastolic 120 is not below systolic 80"):
        add(agent, code="85354-9", components=panel)


def test_codes_without_a_range_are_entered_as_before(agent: Agent) -> None:
    added = add(agent, code="9279-1", value="18", unit="/min")  # respiratory rate: no device sends it
    assert agent.store.readings.get(added["id"]).extreme_reason is None
