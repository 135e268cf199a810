"""The TUI tests' fake daemon holds every call to the contract, its subclasses' answers too."""

from __future__ import annotations

from typing import Any

import pytest

from clinic_agent.api.contract import ContractViolation
from tests.tui.fake_api import FakeApi


class ExtraFieldApi(FakeApi):
    """A test's fake that answers a field the daemon never sends."""

    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        if method == "resident.lookup":
            return {"matches": [{"id": "r-1", "name": "龙秀英", "nickname": "秀"}]}
        return await super().call(method, params)


async def test_a_screen_calling_an_undeclared_method_fails() -> None:
    with pytest.raises(ContractViolation, match=r"'resident\.merge' is not a method of the contract"):
        await FakeApi().call("resident.merge", {"id": "r-1"})


async def test_an_undeclared_or_missing_parameter_fails() -> None:
    with pytest.raises(ContractViolation, match=r"resident\.file: params\.person is not declared"):
        await FakeApi().call("resident.file", {"resident": "r-1", "person": "r-1"})
    with pytest.raises(ContractViolation, match=r"resident\.file: params\.resident is missing"):
        await FakeApi().call("resident.file", {})


async def test_a_fake_answer_with_a_field_the_daemon_never_sends_fails() -> None:
    with pytest.raises(ContractViolation, match=r"resident\.lookup: reply\.matches\[0\]\.nickname is not declared"):
        await ExtraFieldApi().call("resident.lookup", {"text": "lxy"})


async def test_the_fakes_own_answers_fit_the_contract() -> None:
    api = FakeApi()
    for method, params in [
        ("status", None),
        ("home.summary", {"limit": 100}),
        ("resident.file", {"resident": "r-1"}),
        ("resident.history", {"resident": "r-1"}),
        ("resident.lookup", {"text": "lxy", "limit": 20}),
        ("followup.prefill", {"resident": "r-1", "programme": "hypertension"}),
        ("reading.get", {"id": "rd-92"}),
        ("reading.acknowledge", {"id": "rd-92"}),
    ]:
        await api.call(method, params)
