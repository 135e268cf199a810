"""Device benchmark: decode throughput per protocol, and frame-to-durable-commit latency on a pty.

    decode  frames/s per protocol  vs  a tight decoder of the same protocol (bench_decode.py)
    pty     an HL7 message written to a real pty until its ACK is read back, through the real serial
            link, session, ingest and encrypted store (p50, p99; target p99 < 20 ms)  vs  one raw SQLite
            commit of the same size in the same run

Run: .venv/bin/python bench/bench_drivers.py [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_decode import bench as bench_decode
from bench_decode import print_table

from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.ingest import Ingest
from drivers.frames import DeviceRef
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from drivers.hl7.session import Hl7Session
from drivers.serial.link import SerialLink
from drivers.simulators.pty import PtyDevice
from tests.support import new_home

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


async def _pty_latency(work: Path, messages: int) -> list[float]:
    agent = Agent.open(new_home(work / "home", machine_key=True))
    agent.unlock(actor="bench")
    device = DeviceRef(id="machine", protocol="hl7")
    sink = Ingest(agent)
    path = work / "ttyBENCH"
    pty = PtyDevice(path)
    stop = asyncio.Event()
    link = SerialLink(device, lambda: Hl7Session(device, sink), port=str(path), poll_interval=0.1)
    task = asyncio.create_task(link.run(stop))
    await asyncio.sleep(0.3)
    latencies = []
    try:
        for i in range(messages):
            message = build_oru_r01(
                control_id=f"L{i:06d}",
                timestamp=AT,
                observations=blood_pressure(str(100 + i % 80), "80", None, "70", at=AT),
            )
            decoder = MllpDecoder()
            start = time.perf_counter()
            await pty.write(frame(message))
            acks: list[bytes] = []
            while not acks:
                acks = decoder.feed(await pty.read(5))
            latencies.append(time.perf_counter() - start)
            assert parse_ack(acks[0]).code == "AA"
    finally:
        stop.set()
        await task
        pty.close()
        agent.close()
    return latencies


def _raw_commits(work: Path, count: int, size: int) -> list[float]:
    conn = sqlite3.connect(work / "raw.db", isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body BLOB)")
    times = []
    for _ in range(count):
        start = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO t(body) VALUES (?)", (b"x" * size,))
        conn.execute("COMMIT")
        times.append(time.perf_counter() - start)
    conn.close()
    return times


def _p(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--messages", type=int, default=500)
    args = parser.parse_args()
    print("Device benchmark")
    print_table(bench_decode())
    with tempfile.TemporaryDirectory(prefix="clinic-bench-") as tmp:
        work = Path(tmp)
        latencies = asyncio.run(_pty_latency(work, args.messages))
        raw = _raw_commits(work, args.messages, 600)
    print(
        f"  pty HL7 frame -> durable commit -> ACK: p50 {_p(latencies, 0.5):.2f} ms, p99 {_p(latencies, 0.99):.2f} ms"
        f" (target p99 < 20 ms)  vs raw SQLite commit p50 {_p(raw, 0.5):.2f} ms, p99 {_p(raw, 0.99):.2f} ms"
        f" = {statistics.median(latencies) / statistics.median(raw):.1f}x at p50"
    )


if __name__ == "__main__":
    main()
