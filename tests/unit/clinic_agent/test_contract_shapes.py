"""Every method's parameters and reply are declared (clinic_agent/api/shapes.py), and what breaks them is caught.

The test run sets CLINIC_AGENT_CONTRACT=strict (tests/conftest.py), so every test that goes through
the registry or the daemon holds real replies against these shapes; here the checker itself, and
the daemon failing loudly when an operation answers a field the contract does not declare.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.api import contract, registry, server, shapes
from clinic_agent.api.client import AsyncApiClient
from clinic_agent.api.contract import ContractViolation, check_params, check_reply
from clinic_agent.api.server import ApiServer
from clinic_agent.core import model
from clinic_agent.core.errors import DaemonError
from clinic_agent.runtime.agent import Agent, Caller
from clinic_agent.runtime.config import ApiConfig
from tests.support import PASSPHRASE, new_home, resident

OWNER = Caller(actor="test", owner=True)


def _fields(cls: type) -> set[str]:
    return {f.name for f in dataclasses.fields(cls)}


def _keys(typed: type) -> set[str]:
    return set(typing.get_type_hints(typed))


def test_every_method_has_its_parameters_and_reply_declared_and_nothing_else() -> None:
    assert set(shapes.SHAPES) == contract.METHODS
    for method in contract.METHODS:
        declared = contract.shape(method)
        assert typing.is_typeddict(declared.params), method


@pytest.mark.parametrize(
    ("typed", "record"),
    [
        (shapes.ResidentJson, model.Resident),
        (shapes.QuantityJson, model.Quantity),
        (shapes.DeviceInfoJson, model.DeviceInfo),
        (shapes.UserJson, model.User),
        (shapes.MedicationJson, model.Medication),
        *((getattr(shapes, f"{cls.__name__}Json"), cls) for cls in model.ENTRY_TYPES.values()),
    ],
)
def test_a_record_is_declared_with_the_fields_of_its_dataclass(typed: type, record: type) -> None:
    """serde.to_json writes every field of a dataclass: a field added to the model must be added here."""
    assert _keys(typed) == _fields(record)


def test_a_reading_is_its_dataclass_and_its_alerts() -> None:
    assert _keys(shapes.ReadingJson) == _fields(model.Reading) | {"alerts"}


def test_a_file_holds_every_kind_of_entry() -> None:
    assert _keys(shapes.FileEntriesJson) == {kind.value for kind in model.EntryKind}


def _reading() -> dict[str, Any]:
    return {
        **dict.fromkeys(_keys(shapes.ReadingJson)),
        "components": [{"code": "8867-4", "value": "71", "unit": "/min", "display": "", "system": "http://loinc.org"}],
        "flags": [],
        "alerts": [],
    }


def _readings_reply() -> dict[str, Any]:
    return {"readings": [_reading()], "problems": []}


def test_a_reply_as_declared_passes() -> None:
    check_reply("reading.unassigned", _readings_reply())
    check_reply("ping", "pong")


def test_an_undeclared_reply_field_names_the_method_and_the_field() -> None:
    reply = _readings_reply()
    reply["readings"][0]["colour"] = "red"
    with pytest.raises(ContractViolation, match=r"reading\.unassigned: reply\.readings\[0\]\.colour is not declared"):
        check_reply("reading.unassigned", reply)


def test_a_missing_reply_field_names_the_method_and_the_field() -> None:
    reply = _readings_reply()
    del reply["readings"][0]["taken_at"]
    with pytest.raises(ContractViolation, match=r"reading\.unassigned: reply\.readings\[0\]\.taken_at is missing"):
        check_reply("reading.unassigned", reply)
    with pytest.raises(ContractViolation, match=r"reply\.readings is dict, not a list"):
        check_reply("reading.unassigned", {"readings": {}, "problems": []})


def test_an_undeclared_method_is_a_violation() -> None:
    with pytest.raises(ContractViolation, match=r"'reading\.delete' is not a method of the contract"):
        check_params("reading.delete", {"id": "x"})


def test_undeclared_parameters_are_a_violation_and_missing_ones_only_when_asked() -> None:
    with pytest.raises(ContractViolation, match=r"resident\.search: params\.query is not declared"):
        check_params("resident.search", {"text": "zxy", "query": "zxy"})
    with pytest.raises(ContractViolation, match=r"params\.text is missing"):
        check_params("resident.search", {"limit": 5})
    check_params("resident.search", {"limit": 5}, complete=False)  # the method itself says "text is required"


def test_an_entry_fits_its_own_kind() -> None:
    note = dict.fromkeys(_keys(shapes.NoteJson))
    check_reply("entry.add", note)
    with pytest.raises(ContractViolation, match="substance is not declared"):
        check_reply("entry.add", {**note, "substance": "青霉素"})


# -- the registry and the daemon under CLINIC_AGENT_CONTRACT=strict ------------------------------------------------


@pytest.fixture
def agent(tmp_path: Path) -> Iterator[Agent]:
    opened = Agent.open(new_home(tmp_path / "home"))
    opened.unlock(actor="test", passphrase=PASSPHRASE)
    opened.store.residents.add(resident(), actor="test")
    yield opened
    opened.close()


@pytest.fixture
def planted(monkeypatch: pytest.MonkeyPatch) -> None:
    """resident.list answers one field more than the contract declares."""
    entry = registry.operations()["resident.list"]

    def with_nickname(agent: Agent, caller: Caller, params: Any) -> Any:
        reply = entry.handler(agent, caller, params)
        reply["residents"][0]["nickname"] = "小张"
        return reply

    monkeypatch.setitem(registry.operations(), "resident.list", dataclasses.replace(entry, handler=with_nickname))


def test_the_tests_run_strict() -> None:
    assert contract.strict()


def test_the_registry_answers_as_declared(agent: Agent) -> None:
    assert len(registry.call(agent, OWNER, "resident.list", {})["residents"]) == 1


@pytest.mark.usefixtures("planted")
def test_a_planted_reply_field_fails_the_strict_registry(agent: Agent, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ContractViolation, match=r"resident\.list: reply\.residents\[0\]\.nickname is not declared"):
        registry.call(agent, OWNER, "resident.list", {})
    monkeypatch.delenv(contract.STRICT)
    assert registry.call(agent, OWNER, "resident.list", {})["residents"][0]["nickname"] == "小张"  # unchecked in use


def test_an_undeclared_parameter_fails_the_strict_registry(agent: Agent) -> None:
    with pytest.raises(ContractViolation, match=r"resident\.list: params\.village is not declared"):
        registry.call(agent, OWNER, "resident.list", {"village": "坝盘村"})


@pytest.fixture
async def socket_path(agent: Agent, tmp_path: Path) -> AsyncIterator[Path]:
    path = tmp_path / "run" / "api.sock"
    daemon = ApiServer(agent, ApiConfig(socket=path))
    await daemon.start()
    yield path
    await daemon.stop()


async def _whoami_with(extra: dict[str, Any], path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    original = server.SERVER_METHODS["whoami"]

    async def whoami(self: ApiServer, connection: Any, params: Any, token: str | None) -> Any:
        return {**await original(self, connection, params, token), **extra}

    monkeypatch.setitem(server.SERVER_METHODS, "whoami", whoami)
    client = AsyncApiClient(path)
    await client.connect()
    try:
        session = await client.call("auth.passphrase", {"passphrase": PASSPHRASE})
        client.session = session["session"]
        return await client.call("whoami")
    finally:
        await client.close()


async def test_the_strict_daemon_answers_a_declared_reply(socket_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert (await _whoami_with({}, socket_path, monkeypatch))["owner"] is True


async def test_the_strict_daemon_refuses_an_undeclared_reply_field_by_name(
    socket_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(DaemonError, match=r"outside the contract: whoami: reply\.seen_at is not declared"):
        await _whoami_with({"seen_at": "now"}, socket_path, monkeypatch)


@pytest.mark.usefixtures("planted")
async def test_the_strict_daemon_refuses_a_planted_operation_reply(socket_path: Path) -> None:
    client = AsyncApiClient(socket_path)
    await client.connect()
    try:
        client.session = (await client.call("auth.passphrase", {"passphrase": PASSPHRASE}))["session"]
        with pytest.raises(DaemonError, match=r"resident\.list: reply\.residents\[0\]\.nickname is not declared"):
            await client.call("resident.list")
    finally:
        await client.close()
