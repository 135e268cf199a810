"""A clinic joining the regional platform: enrolment and the first pull of its catchment, against SEKMET.

    .venv/bin/python bench/bench_sync.py --onboarding --residents 3000 --readings 100000 [--rows FILE]

1. A SEKMET server is preloaded as the region's other writers would have filled it: the clinic's
   Organization, ``residents`` Patients it manages and ``readings`` Observations of theirs (the
   agent's own mapping, posted as plain transaction Bundles: the preload is not what is measured).
2. A new PC, the real agent in a process of its own, enrols and syncs once: time, pages, records/s
   and the process's peak RSS. Baselines from the same run: plain httpx walking the very same
   searches (the agent's scope, ``_lastUpdated`` walk, page size and types), and the agent's peak
   RSS enrolling on an empty platform (what the catchment adds).
3. A second new PC is killed (SIGKILL) halfway through the Observations and started again, as a
   daemon would be: it must go on from its last page and end with every resident and reading once
   (0 duplicates, counted by platform id and by record id) and nothing re-fetched but the page in flight.

The agent's side runs in ``worker`` mode: ``python bench/onboarding.py worker HOME URL`` prints one
JSON line per pulled page (the ``sync.progress`` event the daemon publishes) and one at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx

from clinic_agent.core.model import utcnow
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.home import initialise, resolve
from clinic_agent.runtime.syncing import AgentHost
from sync import enrolment, service
from sync.engine.mapping import PULLED, SUBJECT_PARAM
from sync.fhir import bundle, observation, organization, patient, wire
from sync.fhir.bundle import RequestEntry
from sync.fhir.codes import DEFAULT_NAMESPACE
from sync.fhir.common import reference
from sync.service import FETCH_SIZE
from tests.support import FAST_CONFIG, FAST_KDF, PASSPHRASE, reading, resident

CLINIC = "TR0001"


# -- the agent, in a process of its own ---------------------------------------------------------


class _PrintingHost(AgentHost):
    """The agent as sync's host, its progress events printed as JSON lines for the bench to read."""

    def publish(self, event: str, data: dict[str, Any]) -> None:
        """Print the event (and publish it as the daemon would)."""
        if event == "sync.progress":
            print(json.dumps({"event": event, **data}), flush=True)
        super().publish(event, data)


def worker(home_dir: str, url: str) -> None:
    """Enrol (unless enrolled: a restarted PC does not enrol again) and sync once; print what it holds."""
    agent = Agent.open(resolve(Path(home_dir)))
    agent.unlock(actor="bench", passphrase=PASSPHRASE)
    host = _PrintingHost(agent)
    started = time.perf_counter()
    if enrolment.enrolled(host) is None:
        asyncio.run(enrolment.enroll(host, url, actor="bench"))
    enrolled = time.perf_counter()
    report = asyncio.run(service.run_once(host))
    finished = time.perf_counter()
    counts = {}
    with agent.store.core.read() as conn:
        for table in ("residents", "readings"):
            rows, remote, distinct = conn.execute(
                f"SELECT COUNT(*), COUNT(remote_id), COUNT(DISTINCT remote_id) FROM {table}"
            ).fetchone()
            counts[table] = {"rows": rows, "remote": remote, "distinct_remote": distinct}
    agent.close()
    print(
        json.dumps(
            {
                "event": "done",
                "enrol_s": enrolled - started,
                "sync_s": finished - enrolled,
                "report": report.as_json(),
                "counts": counts,
            }
        ),
        flush=True,
    )


@dataclass
class Run:
    """What one agent process did, as the bench saw it."""

    seconds: float = 0.0
    peak_rss_kib: int = 0
    pages: dict[str, int] = field(default_factory=dict)  # per type, the last progress seen
    records: dict[str, int] = field(default_factory=dict)
    done: dict[str, Any] | None = None
    killed: bool = False

    @property
    def total_pages(self) -> int:
        """Pages pulled, all types."""
        return sum(self.pages.values())

    @property
    def total_records(self) -> int:
        """Records received, all types."""
        return sum(self.records.values())


def run_agent(home: Path, url: str, *, kill_after: int | None = None) -> Run:
    """Run the agent's worker to its end, or SIGKILL it once it has pulled ``kill_after`` Observations."""
    command = [sys.executable, str(Path(__file__).resolve()), "worker", str(home), url]
    run = Run()
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            event = json.loads(line)
            if event["event"] == "done":
                run.done = event
                continue
            run.pages[event["type"]] = event["pages"]
            run.records[event["type"]] = event["records"]
            if kill_after is not None and event["type"] == "Observation" and event["records"] >= kill_after:
                os.kill(proc.pid, signal.SIGKILL)
                run.killed = True
                break
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    run.seconds = time.perf_counter() - started
    run.peak_rss_kib = usage.ru_maxrss
    if not run.killed and proc.returncode != 0:
        raise SystemExit(f"the agent's worker failed with status {proc.returncode}")
    return run


# -- the platform, as the region filled it ------------------------------------------------------


def new_pc(root: Path) -> Path:
    """A new clinic PC's data directory (initialised, not enrolled)."""
    root.mkdir(parents=True)
    (root / "agent.toml").write_text(FAST_CONFIG + f'[clinic]\ncode = "{CLINIC}"\n', encoding="utf-8")
    initialise(resolve(root), passphrase=PASSPHRASE, user="admin", kdf=FAST_KDF)
    return root


def _post(client: httpx.Client, entries: list[RequestEntry]) -> list[str]:
    answer = client.post("", content=wire.dumps(bundle.transaction(entries)), headers=_HEADERS)
    answer.raise_for_status()
    return [bundle.parse_location(e["response"]["location"])[1] for e in answer.json()["entry"]]


_HEADERS = {"Content-Type": wire.FHIR_JSON, "Prefer": "return=minimal"}


def _chunks(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def preload(base: str, residents: int, readings: int, rng: random.Random) -> str:
    """The clinic's Organization, its Patients and their Observations; returns the Organization's id."""
    ns = DEFAULT_NAMESPACE
    with httpx.Client(base_url=base, timeout=300) as client:
        org = organization.to_fhir(organization.Clinic(code=CLINIC, name="坝盘村卫生室"), ns=ns)
        [org_id] = _post(client, [RequestEntry(method="POST", url="Organization", resource=org)])
        managing = reference("Organization", org_id)
        people = [resident(rng) for _ in range(residents)]
        patient_ids: list[str] = []
        for chunk in _chunks(people, 250):
            entries = [bundle.create(patient.to_fhir(p, managing_organization=managing, ns=ns), p.id) for p in chunk]
            patient_ids += _post(client, [_plain(e) for e in entries])
        now = utcnow()
        for chunk in _chunks(list(range(readings)), 200):
            entries = []
            for i in chunk:
                owner = patient_ids[i % residents]
                taken = now - timedelta(minutes=rng.randint(0, 365 * 24 * 60))
                made = reading(None, systolic=str(rng.randint(95, 175)), taken_at=taken, received_at=taken, device=None)
                resource = observation.to_fhir(made, subject=reference("Patient", owner), ns=ns)
                entries.append(_plain(bundle.create(resource, made.id)))
            _post(client, entries)
    return org_id


def _plain(entry: RequestEntry) -> RequestEntry:
    """A plain POST (another system's write: no condition to evaluate, the fastest way to fill a server)."""
    return RequestEntry(method="POST", url=entry.url, resource=entry.resource, full_url=entry.full_url)


def plain_pull(base: str, organization_id: str) -> tuple[float, int, int]:
    """The agent's searches done by plain httpx: every pulled type, its scope, its walk by ``_lastUpdated``
    and its page size (FETCH_SIZE), nothing applied anywhere."""
    count = pages = 0
    with httpx.Client(base_url=base, timeout=600) as client:
        start = time.perf_counter()
        for kind in PULLED:
            scope = "organization" if kind == "Patient" else f"{SUBJECT_PARAM[kind]}:Patient.organization"
            cursor: str | None = None
            seen: set[str] = set()
            while True:
                params = [
                    ("_sort", "_lastUpdated"),
                    ("_count", str(FETCH_SIZE)),
                    (scope, f"Organization/{organization_id}"),
                ]
                if cursor:
                    params.insert(0, ("_lastUpdated", f"ge{cursor}"))
                answer = client.get(f"/{kind}", params=params)
                if answer.status_code >= 400:
                    break  # a type this server does not search (the agent skips it too)
                page = answer.json()
                pages += 1
                found = [
                    e["resource"] for e in page.get("entry", []) if e.get("resource", {}).get("resourceType") == kind
                ]
                fresh = [r for r in found if r["id"] not in seen]
                seen.update(r["id"] for r in found)
                count += len(fresh)
                more = any(link["relation"] == "next" for link in page.get("link", []))
                newest = max((r["meta"]["lastUpdated"] for r in found), default=None)
                if not more or not fresh or newest is None:
                    break
                cursor = newest
        return time.perf_counter() - start, count, pages


# -- the bench ----------------------------------------------------------------------------------


_FAST_WRITES = 'validation:\n  inbound: "off"\n'  # the preload only: the region's data is taken as written
_CACHE = Path(__file__).resolve().parent.parent / ".cache" / "bench-onboarding"


def platform_db(sekmet: Any, executable: Path, residents: int, readings: int, work: Path) -> tuple[Path, str]:
    """A SEKMET database holding the catchment, and the clinic's Organization id in it.

    Made once per size and kept in .cache/bench-onboarding/ (filling SEKMET with 100,000 Observations
    takes longer than the onboarding itself); each run works on a copy.
    """
    _CACHE.mkdir(parents=True, exist_ok=True)
    kept = _CACHE / f"catchment-{residents}-{readings}-v1.db"
    org_file = kept.with_suffix(".org")
    if not kept.exists() or not org_file.exists():
        (work / "preload").mkdir()
        filling = work / "preload" / "platform.db"
        started = time.perf_counter()
        with sekmet.SekmetServer(
            executable, work / "preload", extra_config=f"db_path: {filling}\n{_FAST_WRITES}"
        ) as base:
            org_id = preload(base, residents, readings, random.Random(2026))
        with sqlite3.connect(filling) as source, sqlite3.connect(kept.with_suffix(".tmp")) as target:
            source.backup(target)
        kept.with_suffix(".tmp").replace(kept)
        org_file.write_text(org_id, encoding="utf-8")
        print(
            f"platform filled: {residents:,} Patients, {readings:,} Observations in "
            f"{time.perf_counter() - started:.0f} s (kept in {kept})"
        )
    copy = work / "platform.db"
    shutil.copyfile(kept, copy)
    return copy, org_file.read_text(encoding="utf-8")


def main(residents: int, readings: int, rows: Path | None, sekmet: Any) -> None:
    """Preload, then the uninterrupted and the interrupted onboarding; print and report the figures."""
    report = _reporter(rows)
    executable = sekmet.install_sekmet()
    with tempfile.TemporaryDirectory(prefix="bench-onboard-") as tmp:
        root = Path(tmp)
        (root / "platform").mkdir()
        (root / "empty").mkdir()
        db, org_id = platform_db(sekmet, executable, residents, readings, root)
        with (
            sekmet.SekmetServer(executable, root / "platform", extra_config=f"db_path: {db}\n") as base,
            sekmet.SekmetServer(executable, root / "empty") as empty,
        ):
            idle = run_agent(new_pc(root / "idle"), empty)
            whole = run_agent(new_pc(root / "pc1"), base)
            plain_s, fetched, plain_pages = plain_pull(base, org_id)
            assert whole.done is not None
            total = residents + readings
            pulled = whole.done["report"]["pulled"]
            enrol_sync = whole.done["enrol_s"] + whole.done["sync_s"]
            print(
                f"enrol + first pull of {pulled:,} records ({residents:,} residents, {readings:,} readings): "
                f"{enrol_sync:.0f} s (enrol {whole.done['enrol_s']:.1f} s), {whole.total_pages:,} pages, "
                f"{pulled / enrol_sync:,.0f} records/s; plain httpx walking the same searches: "
                f"{fetched:,} in {plain_s:.0f} s ({plain_pages:,} pages) -> {enrol_sync / plain_s:.2f}x its time"
            )
            print(
                f"peak RSS of the agent's process: {whole.peak_rss_kib / 1024:.0f} MiB; "
                f"enrolling on an empty platform {idle.peak_rss_kib / 1024:.0f} MiB -> "
                f"{whole.peak_rss_kib / idle.peak_rss_kib:.2f}x"
            )
            _check(whole.done, residents, readings, "uninterrupted")

            home = new_pc(root / "pc2")
            cut = run_agent(home, base, kill_after=readings // 2)
            resumed = run_agent(home, base)
            assert resumed.done is not None
            refetched = cut.total_records + resumed.total_records - total
            print(
                f"killed (SIGKILL) after {cut.records.get('Observation', 0):,} of {readings:,} Observations "
                f"({cut.seconds:.0f} s), started again: finished in {resumed.seconds:.0f} s, "
                f"{resumed.records.get('Observation', 0):,} Observations pulled after the restart; "
                f"re-fetched {refetched:,} records; both legs {cut.seconds + resumed.seconds:.0f} s against "
                f"{whole.seconds:.0f} s uninterrupted -> {(cut.seconds + resumed.seconds) / whole.seconds:.2f}x"
            )
            duplicates = _check(resumed.done, residents, readings, "after the kill")
            print(f"duplicates after the kill and restart: {duplicates}")

            if report is not None:
                report.row(
                    "onboarding: enrol + first pull",
                    unit="s",
                    baseline=plain_s,
                    baseline_label="plain httpx walking the same searches",
                    agent=enrol_sync,
                    median=enrol_sync,
                    ratio=enrol_sync / plain_s,
                    note=f"{pulled:,} records, {whole.total_pages:,} pages, {pulled / enrol_sync:,.0f} records/s",
                )
                report.row(
                    "onboarding: peak RSS",
                    unit="MiB",
                    baseline=idle.peak_rss_kib / 1024,
                    baseline_label="the agent enrolling on an empty platform",
                    agent=whole.peak_rss_kib / 1024,
                    ratio=whole.peak_rss_kib / idle.peak_rss_kib,
                )
                report.row(
                    "onboarding: killed halfway, restarted",
                    unit="s",
                    baseline=whole.seconds,
                    baseline_label="the same onboarding uninterrupted",
                    agent=cut.seconds + resumed.seconds,
                    ratio=(cut.seconds + resumed.seconds) / whole.seconds,
                    goal="resumes, 0 duplicates",
                    met=duplicates == 0,
                    note=f"{refetched:,} records re-fetched, {duplicates} duplicates",
                )


def _check(done: dict[str, Any], residents: int, readings: int, what: str) -> int:
    """Every resident and reading once; the number of duplicates (and a line when something is missing)."""
    duplicates = 0
    for table, expected in (("residents", residents), ("readings", readings)):
        found = done["counts"][table]
        duplicates += found["rows"] - found["distinct_remote"]
        if found["distinct_remote"] != expected:
            print(f"{what}: {found['distinct_remote']:,} {table} here, {expected:,} on the platform")
    return duplicates


def _reporter(rows: Path | None) -> Any:
    if rows is None:
        return None
    from report import Report  # bench/report.py: bench/ is on sys.path when a bench runs

    return Report("sync", rows)


if __name__ == "__main__" and sys.argv[1:2] == ["worker"]:
    worker(sys.argv[2], sys.argv[3])
