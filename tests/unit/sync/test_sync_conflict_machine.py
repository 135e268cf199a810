"""Conflicts as a state machine (hypothesis): local edits, upstream edits, syncs, lost replies, crashes, resolutions.

Two properties hold after every step:

- no lost local update: a field the doctor edited keeps that value on this PC until the platform
  has it, or until the doctor chose the platform's value in the conflicts inbox;
- no silent overwrite upstream: whenever the agent changes a field on the platform, the value it
  replaces is one the agent had seen (merged into the local record, or shown to the doctor and
  decided on). The platform records every write, so this is checked on the writes themselves.

And at the end, once every conflict is resolved and the link is quiet, both sides hold the same record.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from clinic_agent.security.keys import KeyFile
from clinic_agent.store import Store
from sync.engine import EngineOptions, SyncEngine
from sync.fhir import codes
from sync.fhir.common import find_identifier, identifier_value
from tests.support import resident
from tests.unit.sync.fakeplatform import FakePlatform, Write

FIELDS = ("phone", "village", "address")
VALUES = {
    "phone": st.sampled_from(["13800000001", "13800000002", "13800000003"]),
    "village": st.sampled_from(["坝盘村", "寨英村", "云场坪"]),
    "address": st.sampled_from(["一组", "二组", "三组"]),
}
OPTIONS = EngineOptions(organization_id="org-1", attempts=2, backoff_base=0.0, backoff_cap=0.0)


async def _no_sleep(_seconds: float) -> None:
    return None


def fields_of(patient: dict[str, Any]) -> dict[str, Any]:
    telecom = patient.get("telecom") or [{}]
    address = (patient.get("address") or [{}])[0]
    village = next((e.get("valueString") for e in address.get("extension", [])), None)
    return {"phone": telecom[0].get("value"), "village": village, "address": address.get("text")}


class ConflictMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="sync-machine-"))
        keyfile, _, self.keyring = KeyFile.create(self.root / "keys.json", str(uuid.uuid4()))
        self.keyfile = keyfile
        self.store = Store.create(self.root / "clinic.db", keyfile)
        self.store.unlock(self.keyring, actor="test")
        self.platform = FakePlatform()
        self.platform.on_write = self._check_write
        self.violations: list[str] = []
        person = self.store.residents.add(
            resident(phone="13800000001", village="坝盘村", address="一组"), actor="doctor"
        )
        self.id = person.id
        self.local_pending: dict[str, Any] = {}
        self.seen: dict[str, set[Any]] = {f: {getattr(person, f)} for f in FIELDS}
        self._sync()

    def teardown(self) -> None:
        try:
            self.platform.lose_replies = 0
            for _ in range(3):  # a last sync may find a last conflict: the doctor resolves it, and again
                for conflict in self.store.sync.conflicts():
                    self._resolve(conflict, "local")
                self._sync()
            assert self.store.sync.conflicts() == []
            assert self._local() == self._remote(), "the two sides did not converge"
        finally:
            self.store.close()
            shutil.rmtree(self.root, ignore_errors=True)

    # -- rules ------------------------------------------------------------------------------------

    @rule(field=st.sampled_from(FIELDS), data=st.data())
    def local_edit(self, field: str, data: st.DataObject) -> None:
        value = data.draw(VALUES[field])
        current = self.store.residents.get(self.id)
        self.store.residents.update(dataclasses.replace(current, **{field: value}), actor="doctor")
        state = self.store.sync.load("residents", self.id)
        if state is not None and state.base is not None and state.base.get(field) == value:
            self.local_pending.pop(field, None)  # back to the agreed value: no change of ours to keep
        else:
            self.local_pending[field] = value

    @rule(field=st.sampled_from(FIELDS), data=st.data())
    def remote_edit(self, field: str, data: st.DataObject) -> None:
        value = data.draw(VALUES[field])
        patient = self._patient()
        if field == "phone":
            patient["telecom"] = [{"system": "phone", "value": value}]
        elif field == "village":
            patient["address"][0]["extension"] = [{"url": codes.DEFAULT_NAMESPACE.ext_village, "valueString": value}]
        else:
            patient["address"][0]["text"] = value
        self.platform.upstream_put(patient)

    @rule()
    def sync(self) -> None:
        self._sync()

    @rule()
    def lost_reply_then_crash(self) -> None:
        """The platform applies a Bundle, the reply is lost, the agent is killed and restarted."""
        self.platform.lose_replies = 1
        self._sync(dataclasses.replace(OPTIONS, attempts=1))
        self.platform.lose_replies = 0
        self.store.close()
        self.store = Store.open(self.root / "clinic.db", self.keyfile)
        self.store.unlock(self.keyring, actor="test")

    @precondition(lambda self: bool(self.store.sync.conflicts()))
    @rule(take=st.sampled_from(["local", "remote"]))
    def resolve(self, take: str) -> None:
        for conflict in self.store.sync.conflicts():
            self._resolve(conflict, take)

    # -- invariants ---------------------------------------------------------------------------------

    @invariant()
    def no_silent_overwrite_upstream(self) -> None:
        assert self.violations == []

    @invariant()
    def no_lost_local_update(self) -> None:
        local = self._local()
        for field, value in self.local_pending.items():
            assert local[field] == value, f"the doctor's {field} {value!r} was lost locally"

    # -- helpers ------------------------------------------------------------------------------------

    def _sync(self, options: EngineOptions = OPTIONS) -> None:
        asyncio.run(SyncEngine(self.store.sync, self.platform, options, sleep=_no_sleep).run())
        local, remote = self._local(), self._remote()
        for field in FIELDS:
            if local[field] == remote[field]:
                self.seen[field].add(remote[field])
                if self.local_pending.get(field) == remote[field]:
                    del self.local_pending[field]

    def _resolve(self, conflict: Any, take: str) -> None:
        choices = {f["name"]: take for f in conflict.fields}
        self.store.sync.resolve(conflict.id, choices, actor="doctor")
        for item in conflict.fields:
            self.seen[item["name"]].add(item["remote"])  # the doctor saw it and decided
            if take == "remote":
                self.local_pending.pop(item["name"], None)
            else:  # "local" keeps what is on this PC now (conflicts show it as it is, edits included)
                self.local_pending[item["name"]] = self._local()[item["name"]]

    def _check_write(self, write: Write) -> None:
        if write.by != "agent" or write.resource_type != "Patient" or write.before is None or write.after is None:
            return
        before, after = fields_of(write.before), fields_of(write.after)
        for field in FIELDS:
            if after[field] != before[field] and before[field] not in self.seen[field]:
                self.violations.append(f"{field}: the agent replaced {before[field]!r}, which it had never seen")

    def _patient(self) -> dict[str, Any]:
        ours = identifier_value(self.id)
        [found] = [p for p in self.platform.all("Patient") if find_identifier(p, codes.UUID_SYSTEM) == ours]
        return found

    def _remote(self) -> dict[str, Any]:
        return fields_of(self._patient())

    def _local(self) -> dict[str, Any]:
        current = self.store.residents.get(self.id)
        return {f: getattr(current, f) for f in FIELDS}


ConflictMachine.TestCase.settings = settings(
    max_examples=int(os.environ.get("CLINIC_AGENT_MACHINE_EXAMPLES", "60")),
    stateful_step_count=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestConflicts = ConflictMachine.TestCase
