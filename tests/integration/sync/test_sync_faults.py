"""Sync through a fault-injecting proxy, then heal: a Jepsen-style set check on what reached the platform.

Every reading the store acknowledged (COMMIT returned) must be on the platform exactly once with
the same content: 0 lost, 0 duplicated, 0 unexpected. The same run with plain POSTs (creates
without a condition) must show duplicates: the check can fail. Each case is named by its seed
(``[seed-N]``, also in every failure message); CLINIC_AGENT_FAULT_SEED=N replays it.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest

from clinic_agent.agent import Agent
from sync.engine import EngineOptions, SyncEngine
from sync.engine.mapping import comparable
from sync.fhir import codes, observation
from sync.fhir.common import find_identifier
from sync.platform import FhirPlatform
from tests.integration.sync.faultproxy import FaultProxy
from tests.integration.sync.seeds import ENV, replay, seed_params
from tests.support import reading, resident

FAULTS = {
    "refuse": 0.08,
    "blackhole": 0.03,
    "delay": 0.1,
    "lost_reply": 0.15,
    "unavailable": 0.05,
    "throttle": 0.04,
    "truncated": 0.05,
    "html": 0.03,
}
READINGS = 150
ROUNDS = 10


@dataclass
class Outcome:
    acked: set[str]
    present: Counter[str]
    unequal: list[str]
    faults: Counter[str]

    @property
    def lost(self) -> set[str]:
        return self.acked - set(self.present)

    @property
    def duplicated(self) -> dict[str, int]:
        return {k: n for k, n in self.present.items() if n > 1}

    @property
    def unexpected(self) -> set[str]:
        return set(self.present) - self.acked


async def fast_sleep(seconds: float) -> None:
    await asyncio.sleep(min(seconds, 1.0) * 0.05)


async def run(agent: Agent, base: str, seed: int, *, plain_post: bool) -> Outcome:
    rng = random.Random(seed)
    server_port = urlsplit(base).port or 80
    proxy = FaultProxy(server_port, seed=seed)
    port = await proxy.start()
    url = base.replace(f":{server_port}/", f":{port}/")
    settings = agent.store.sync.settings()
    options = EngineOptions(
        organization_id=settings["organization_id"],
        batch_size=4,
        max_batch=16,
        attempts=4,
        backoff_base=0.01,
        backoff_cap=0.05,
        plain_post=plain_post,
    )
    store = agent.store
    people = [store.residents.add(resident(rng), actor="test") for _ in range(6)]
    acked: dict[str, Any] = {}
    proxy.faults = dict(FAULTS)
    try:
        for round_ in range(ROUNDS):
            for _ in range(READINGS // ROUNDS):
                person = rng.choice(people)
                systolic = str(rng.randint(100, 200))
                added = store.readings.add(reading(person.id, systolic=systolic), actor="device")
                acked[added.id] = store.readings.get(added.id)
            async with FhirPlatform(url, read_timeout=1.0, connect_timeout=1.0, prefer_minimal=True) as client:
                await SyncEngine(store.sync, client, options, sleep=fast_sleep, rng=rng.random).run()
            del round_
        proxy.heal()
        for _ in range(30):
            async with FhirPlatform(url, read_timeout=5.0, prefer_minimal=True) as client:
                report = await SyncEngine(store.sync, client, options, sleep=fast_sleep).run()
            if not store.sync.queue_counts()["pending"] and not report.errors:
                break
        present, unequal = await final_read(base, acked)
    finally:
        await proxy.stop()
    return Outcome(set(acked), present, unequal, proxy.counts)


async def final_read(base: str, acked: dict[str, Any]) -> tuple[Counter[str], list[str]]:
    present: Counter[str] = Counter()
    unequal: list[str] = []
    async with FhirPlatform(base) as client:
        page: Any = await client.search("Observation", [("_count", "1000")])
        while page is not None:
            for resource in page.resources:
                value = find_identifier(resource, codes.UUID_SYSTEM) or ""
                record_id = value.removeprefix("urn:uuid:")
                present[record_id] += 1
                local = acked.get(record_id)
                if local is not None:
                    back = observation.from_fhir(resource, resident_id=local.resident_id)
                    if comparable(back) != comparable(local):
                        unequal.append(record_id)
            page = await client.next_page(page)
    return present, unequal


@pytest.mark.parametrize("seed", seed_params(2))
def test_faults_then_heal_nothing_lost_nothing_duplicated(
    seed: int, fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    print(f"fault seed {seed} ({replay(seed)})")
    agent = clinic_factory(fresh_fhir_server)
    outcome = asyncio.run(run(agent, fresh_fhir_server, seed, plain_post=False))
    print(
        f"faults: {dict(outcome.faults)}; acked {len(outcome.acked)}, on the platform {sum(outcome.present.values())}"
    )
    case = replay(seed)
    assert outcome.faults["lost_reply"] > 0, case
    assert outcome.faults["refuse"] > 0, case
    assert outcome.lost == set(), case
    assert outcome.duplicated == {}, case
    assert outcome.unexpected == set(), case
    assert outcome.unequal == [], case
    queue = agent.store.sync.queue_counts()
    assert queue == {"pending": 0, "parked": 0, "local_only": 0, "conflicts": 0}, case


@pytest.mark.parametrize("seed", seed_params(1))
def test_the_check_fails_with_plain_posts(
    seed: int, fresh_fhir_server: str, clinic_factory: Callable[..., Agent]
) -> None:
    print(f"fault seed {seed} ({replay(seed)})")
    agent = clinic_factory(fresh_fhir_server)
    outcome = asyncio.run(run(agent, fresh_fhir_server, seed, plain_post=True))
    print(f"negative control: {len(outcome.duplicated)} readings duplicated; faults {dict(outcome.faults)}")
    assert outcome.lost == set(), replay(seed)
    assert len(outcome.duplicated) > 0, f"plain POSTs duplicated nothing: the check is blind? {replay(seed)}"


def test_a_case_is_named_by_its_seed_and_replayed_by_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "17")
    [chosen] = seed_params(2)
    assert (chosen.values, chosen.id) == ((17,), "seed-17")
    assert "CLINIC_AGENT_FAULT_SEED=17" in replay(17)
    monkeypatch.delenv(ENV)
    drawn = seed_params(2)
    assert len(drawn) == 2
    assert [case.id for case in drawn] == [f"seed-{case.values[0]}" for case in drawn]
