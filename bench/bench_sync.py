"""Sync benchmark against the real SEKMET server: every figure beside a baseline measured in the same run.

    push 10,000 readings (the engine: outbox, mapping, Bundles, confirmations)
        vs  a plain httpx client posting the very same Bundles to a fresh, warmed server  (aim >= 0.8x)
    pull 10,000 readings into a second clinic's store
        vs  a plain httpx client fetching the same pages
    a sync with nothing to do, over 100,000 stored records  vs  over 100        (aim ~1x: cost grows with
        changes, not with the store)
    bytes on the wire per reading (request body, and what gzip would make of it)

Issue 13 sets no goal for sync, so the runner (bench/run) shows these figures for information; the aims
above are this bench's own.

Run: .venv/bin/python bench/bench_sync.py [--readings 10000] [--idle-records 100000] [--quick] [--rows FILE]
SEKMET is installed into .cache/ on first use (see tests/integration/fhir/server.py). Absolute
numbers drift between runs on a shared 2-core VM; the ratios are what to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import importlib.util
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from clinic_agent.runtime import syncing
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import initialise, resolve
from clinic_agent.security.keys import KeyFile
from clinic_agent.store import Store
from sync.engine import EngineOptions, SyncEngine
from sync.fhir import bundle, wire
from sync.fhir.bundle import EntryResult, RequestEntry
from sync.platform import FhirPlatform
from tests.support import FAST_CONFIG, FAST_KDF, PASSPHRASE, reading, resident

sys.path.insert(0, str(Path(__file__).resolve().parent))
from report import Report

_SPEC = importlib.util.spec_from_file_location(
    "sekmet_server", Path(__file__).parents[1] / "tests/integration/fhir/server.py"
)
assert _SPEC is not None
assert _SPEC.loader is not None
sekmet = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(sekmet)


class Recording(FhirPlatform):
    """The real platform client, keeping every transaction's entries and request size."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.bundles: list[list[RequestEntry]] = []

    async def transaction(self, entries: Sequence[RequestEntry]) -> list[EntryResult]:
        self.bundles.append(list(entries))
        return await super().transaction(entries)


def clinic(root: Path, code: str) -> Agent:
    root.mkdir(parents=True)
    (root / "agent.toml").write_text(FAST_CONFIG + f'[clinic]\ncode = "{code}"\n', encoding="utf-8")
    home = resolve(root)
    initialise(home, passphrase=PASSPHRASE, user="admin", kdf=FAST_KDF)
    agent = Agent.open(home)
    agent.unlock(actor="bench", passphrase=PASSPHRASE)
    return agent


def fill(agent: Agent, readings: int, residents: int, rng: random.Random) -> None:
    people = agent.store.residents.add_many([resident(rng) for _ in range(residents)], actor="bench")
    batch = []
    for i in range(readings):
        batch.append(reading(people[i % residents].id, systolic=str(rng.randint(95, 175))))
        if len(batch) == 1000:
            agent.store.readings.add_many(batch, actor="bench")
            batch = []
    if batch:
        agent.store.readings.add_many(batch, actor="bench")


def options(agent: Agent, **extra: Any) -> EngineOptions:
    return EngineOptions(organization_id=agent.store.sync.settings()["organization_id"], **extra)


async def push(agent: Agent, base: str) -> tuple[float, Recording, int]:
    client = Recording(base, prefer_minimal=True)  # as the agent's own client (sync.enrolment.connect) asks
    engine = SyncEngine(agent.store.sync, client, options(agent, batch_size=100, max_batch=200, pull=False))
    start = time.perf_counter()
    report = await engine.run()
    elapsed = time.perf_counter() - start
    await client.aclose()
    assert report.errors == [], report.errors
    return elapsed, client, report.pushed


async def plain_push(base: str, bundles: list[list[RequestEntry]], *, minimal: bool = False) -> float:
    """The same Bundles, serialised beforehand: only the HTTP exchange and the server are timed."""
    bodies = [wire.dumps(bundle.transaction(entries)) for entries in bundles]
    headers = {"Content-Type": wire.FHIR_JSON} | ({"Prefer": "return=minimal"} if minimal else {})
    async with httpx.AsyncClient(timeout=60) as client:
        start = time.perf_counter()
        for body in bodies:
            answer = await client.post(base, content=body, headers=headers)
            answer.raise_for_status()
            answer.json()
        return time.perf_counter() - start


async def pull(agent: Agent, base: str) -> tuple[float, int]:
    async with FhirPlatform(base) as client:
        engine = SyncEngine(agent.store.sync, client, options(agent, page_size=500))
        start = time.perf_counter()
        report = await engine.run()
        elapsed = time.perf_counter() - start
    assert report.errors == [], report.errors
    return elapsed, report.pulled


async def plain_pull(base: str, organization_id: str) -> tuple[float, int]:
    count = 0
    async with httpx.AsyncClient(timeout=60) as client:
        start = time.perf_counter()
        for kind, scope in (("Patient", "organization"), ("Observation", "subject:Patient.organization")):
            url: str | None = f"{base}/{kind}"
            params: Any = {"_sort": "_lastUpdated", "_count": "500", scope: f"Organization/{organization_id}"}
            while url:
                page = (await client.get(url, params=params)).json()
                params = None
                count += len(page.get("entry", []))
                url = next((link["url"] for link in page.get("link", []) if link["relation"] == "next"), None)
        return time.perf_counter() - start, count


def synced_store(root: Path, records: int) -> Store:
    """A store of ``records`` readings, all already confirmed by the platform (no outbox rows)."""
    root.mkdir(parents=True)
    keyfile, _, keyring = KeyFile.create(root / "keys.json", str(uuid.uuid4()))
    store = Store.create(root / "clinic.db", keyfile)
    store.unlock(keyring, actor="bench")
    rng = random.Random(7)
    people = store.residents.add_many([resident(rng) for _ in range(max(1, records // 100))], actor="bench")
    for start in range(0, records, 5000):
        store.readings.add_many(
            [reading(people[i % len(people)].id) for i in range(start, min(records, start + 5000))], actor="bench"
        )
    with store.core.write() as conn:
        for table in ("residents", "readings"):
            conn.execute(f"UPDATE {table} SET remote_id = id, remote_version = '1'")
        conn.execute("DELETE FROM outbox")
    return store


async def idle(store: Store, base: str, rounds: int = 7) -> float:
    times = []
    async with FhirPlatform(base) as client:
        for _ in range(rounds):
            engine = SyncEngine(store.sync, client, EngineOptions(organization_id="none"))
            start = time.perf_counter()
            report = await engine.run()
            times.append(time.perf_counter() - start)
            assert report.pushed == report.pulled == 0, report
            assert report.errors == [], report
    return sorted(times)[len(times) // 2]


async def warm(*bases: str) -> None:
    """A fresh server's first answers are slow (imports, caches): warm a baseline's as the engine's is."""
    async with httpx.AsyncClient(timeout=60) as client:
        for base in bases:
            for _ in range(3):
                (await client.get(f"{base}/metadata")).raise_for_status()
                (await client.get(f"{base}/Patient", params={"_count": "1"})).raise_for_status()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=10_000)
    parser.add_argument("--residents", type=int, default=200)
    parser.add_argument("--idle-records", type=int, default=100_000)
    parser.add_argument(
        "--onboarding",
        action="store_true",
        help="only a clinic joining the platform: enrol and first pull of its catchment, killed and resumed "
        "(bench/onboarding.py; e.g. --onboarding --residents 3000 --readings 100000)",
    )
    parser.add_argument("--rows", type=Path, help="append the figures as JSON lines (bench/report.py)")
    parser.add_argument("--quick", action="store_true", help="short runs on small data, a smoke check")
    args = parser.parse_args()
    if args.onboarding:
        import onboarding  # bench/ is this script's directory, first on sys.path

        onboarding.main(args.residents, args.readings, args.rows, sekmet)
        return
    if args.quick:
        args.readings, args.residents, args.idle_records = 500, 50, 2000
    out = Report("sync", args.rows)
    rng = random.Random(2026)
    try:
        executable = sekmet.install_sekmet()
    except sekmet.SekmetUnavailable as exc:
        out.skip(f"the FHIR server (SEKMET) cannot be installed here: {exc}")
        return
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        root = Path(tmp)
        for name in ("a", "b", "b2", "c"):
            (root / name).mkdir()
        with (
            sekmet.SekmetServer(executable, root / "a") as base,
            sekmet.SekmetServer(executable, root / "b") as spare,
            sekmet.SekmetServer(executable, root / "b2") as spare2,
        ):
            first = clinic(root / "clinic1", "TR0001")
            asyncio.run(syncing.enroll(first, base, actor="bench"))
            fill(first, args.readings, args.residents, rng)

            engine_s, recorded, pushed = asyncio.run(push(first, base))
            asyncio.run(warm(spare, spare2))
            plain_s = asyncio.run(plain_push(spare, recorded.bundles))
            minimal_s = asyncio.run(plain_push(spare2, recorded.bundles, minimal=True))
            print(
                f"push {pushed} records in {len(recorded.bundles)} Bundles: engine {pushed / engine_s:,.0f}/s, "
                f"plain httpx {pushed / plain_s:,.0f}/s -> ratio {plain_s / engine_s:.2f}x (aim >= 0.8x); "
                f"plain httpx asking for minimal answers as the engine does {pushed / minimal_s:,.0f}/s "
                f"-> ratio {minimal_s / engine_s:.2f}x"
            )
            body = sum(len(wire.dumps(bundle.transaction(b))) for b in recorded.bundles)
            zipped = sum(len(gzip.compress(wire.dumps(bundle.transaction(b)))) for b in recorded.bundles)
            print(
                f"bytes on the wire per reading: {body / args.readings:,.0f} B request body "
                f"({zipped / args.readings:,.0f} B with gzip, {zipped / body:.2f}x)"
            )
            out.row(
                f"push {pushed:,} records",
                unit="records/s",
                baseline=pushed / plain_s,
                baseline_label="plain httpx, same Bundles",
                agent=pushed / engine_s,
                ratio=plain_s / engine_s,
                note="speed ratio; the bench's aim is >= 0.8x (no goal in issue 13)",
            )
            out.row(
                f"push {pushed:,} records, baseline asking minimal answers",
                unit="records/s",
                baseline=pushed / minimal_s,
                baseline_label="plain httpx, Prefer minimal",
                agent=pushed / engine_s,
                ratio=minimal_s / engine_s,
            )
            out.row(
                "request body per reading",
                unit="B",
                baseline=zipped / args.readings,
                baseline_label="the same gzipped",
                agent=body / args.readings,
                ratio=body / zipped,
            )

            second = clinic(root / "clinic2", "TR0001")
            asyncio.run(syncing.enroll(second, base, actor="bench"))
            pull_s, pulled = asyncio.run(pull(second, base))
            plain_pull_s, fetched = asyncio.run(plain_pull(base, second.store.sync.settings()["organization_id"]))
            print(
                f"pull {pulled} records: engine {pulled / pull_s:,.0f}/s, plain httpx {fetched / plain_pull_s:,.0f}/s "
                f"-> ratio {plain_pull_s / pull_s * pulled / max(fetched, 1):.2f}x"
            )
            out.row(
                f"pull {pulled:,} records into a new store",
                unit="records/s",
                baseline=fetched / plain_pull_s,
                baseline_label="plain httpx, same pages",
                agent=pulled / pull_s,
                ratio=plain_pull_s / pull_s * pulled / max(fetched, 1),
            )

        with sekmet.SekmetServer(executable, root / "c") as empty:
            small = synced_store(root / "small", 100)
            large = synced_store(root / "large", args.idle_records)
            small_s = asyncio.run(idle(small, empty))
            large_s = asyncio.run(idle(large, empty))
            print(
                f"sync with nothing to do: {small_s * 1000:.1f} ms over 100 records, "
                f"{large_s * 1000:.1f} ms over {args.idle_records:,} -> ratio {large_s / small_s:.2f}x (aim ~1x)"
            )
            out.row(
                f"sync with nothing to do, {args.idle_records:,} records",
                unit="ms",
                baseline=small_s * 1000,
                baseline_label="over 100 records",
                agent=large_s * 1000,
                ratio=large_s / small_s,
                note="the bench's aim is ~1x (no goal in issue 13)",
            )
            small.close()
            large.close()


if __name__ == "__main__":
    main()
