"""Soak 3: seeds x readings through the fault proxy against the real FHIR server.

Each seed is one case of tests/integration/sync/test_sync_faults.py at a larger size: a fresh
SEKMET server and a fresh clinic enrolled with it; ``readings`` readings acknowledged in ten rounds,
each round followed by a sync through the fault-injecting proxy (refused, black-holed, delayed,
lost replies, 503, 429, truncated, captive-portal answers); another system writes for the clinic
midway; then the proxy heals and the clinic syncs until nothing is pending. The set check on the
platform: every acknowledged reading there exactly once and equal to what was stored, nothing
unexpected; what the pull must set aside set aside with its reason, the rest applied.

``plant="plain_post"`` is the test's negative control: creates without their condition, which a
lost reply turns into duplicates; ``plant="drop"`` deletes an acknowledged reading from the platform
before it is read again.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
from collections.abc import Iterator
from pathlib import Path

from clinic_agent.runtime.agent import Agent
from tests.integration.sync import test_sync_faults as faults
from tests.integration.sync.conftest import make_agent
from tests.soak.common import Say, Tally, describe
from tests.soak.platform import delete_one, enrol, open_agent, platform

DEFAULT_SIZE = 50  # seeds (issue 13)
DEFAULT_READINGS = 1000  # per seed


@contextlib.contextmanager
def readings_per_case(readings: int) -> Iterator[None]:
    """The test's case with ``readings`` readings (its module constants, restored afterwards)."""
    saved = faults.READINGS
    faults.READINGS = max(readings - readings % faults.ROUNDS, faults.ROUNDS)
    try:
        yield
    finally:
        faults.READINGS = saved


def run(
    seed: int,
    size: int = DEFAULT_SIZE,
    *,
    workdir: Path,
    plant: str | None = None,
    say: Say = print,
    readings: int = DEFAULT_READINGS,
) -> Tally:
    """``size`` cases of ``readings`` readings each, their seeds drawn from ``seed``."""
    tally = Tally("proxy", seed, size, options=f" --readings {readings}")
    rng = random.Random(seed)
    fired = acked = on_platform = 0
    # The proxy's black-holed connections are cancelled when a case's event loop closes; asyncio would
    # log each as an error with its traceback. They are the fault itself, not a finding.
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)
    with readings_per_case(readings):
        for case in range(size):
            case_seed = rng.randrange(1 << 30)
            where = workdir / f"case-{case:03d}"
            with platform(where / "platform") as base_url:
                root = where / "clinic"
                make_agent(root, code=f"SK{case:04d}").close()
                enrol(root, base_url)
                agent = open_agent(root)
                try:
                    try:
                        outcome = asyncio.run(faults.run(agent, base_url, case_seed, plain_post=plant == "plain_post"))
                    except Exception as exc:  # noqa: BLE001  (a crash of the engine is a finding)
                        tally.crashes += 1
                        tally.problem(f"case seed {case_seed}: {type(exc).__name__}: {exc}")
                        continue
                    if plant == "drop" and outcome.acked:
                        outcome = _drop_one(agent, base_url, outcome)
                    _check(tally, agent, outcome, case_seed)
                finally:
                    agent.close()
            tally.runs += 1
            fired += sum(n for fault, n in outcome.faults.items() if fault != "relay")
            acked += len(outcome.acked)
            on_platform += sum(outcome.present.values())
            say(
                f"proxy case {case + 1}/{size} seed {case_seed}: acked={len(outcome.acked)} "
                f"lost={len(outcome.lost)} duplicated={len(outcome.duplicated)} faults={dict(outcome.faults)}"
            )
    tally.figures.update(
        readings_per_case=faults.ROUNDS * max(readings // faults.ROUNDS, 1),
        acked=acked,
        on_platform=on_platform,
        faults_fired=fired,
    )
    if tally.problems:
        say(f"proxy problems {describe(tally.problems)}")
    return tally


def _check(tally: Tally, agent: Agent, outcome: faults.Outcome, case_seed: int) -> None:
    store = agent.store
    tally.lost += len(outcome.lost)
    tally.duplicated += len(outcome.duplicated)
    tally.corrupt += len(outcome.unexpected) + len(outcome.unequal)
    texts = [
        *(f"case seed {case_seed}: acked, not on the platform: {r}" for r in sorted(outcome.lost)),
        *(f"case seed {case_seed}: on the platform {n} times: {r}" for r, n in outcome.duplicated.items()),
        *(f"case seed {case_seed}: on the platform, never acked: {r}" for r in sorted(outcome.unexpected)),
        *(f"case seed {case_seed}: differs on the platform: {r}" for r in outcome.unequal),
    ]
    if outcome.upstream is None:
        texts.append(f"case seed {case_seed}: no resident was linked during the faults (the pull was not tried)")
    else:
        try:
            faults.check_pulled(store, outcome.upstream, residents=7, case=f"case seed {case_seed}")
        except AssertionError as exc:
            tally.corrupt += 1
            texts.append(f"case seed {case_seed}: the pull: {exc}")
    queue = store.sync.queue_counts()
    if queue["pending"] or queue["local_only"]:
        tally.lost += int(queue["pending"]) + int(queue["local_only"])
        texts.append(f"case seed {case_seed}: still waiting after the heal: {queue}")
    for text in texts:
        tally.problem(text)


def _drop_one(agent: Agent, base_url: str, outcome: faults.Outcome) -> faults.Outcome:
    """The planted fault: the platform loses one acknowledged reading; the platform is read again."""
    victim = sorted(outcome.acked)[0]
    delete_one(base_url, "Observation", victim)
    acked = {r: agent.store.readings.get(r) for r in outcome.acked}
    present, unequal = asyncio.run(faults.final_read(base_url, acked))
    return dataclasses.replace(outcome, present=present, unequal=unequal)
