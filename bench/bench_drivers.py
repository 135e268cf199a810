"""Device benchmark: decode throughput per protocol, and frame-to-durable-commit latency on a pty.

    decode  frames/s per protocol  vs  the same bytes merely copied and hashed (the floor of touching them)
    pty     an HL7 message written to a real pty until its ACK is read back, through the real serial
            link, session, ingest and encrypted store (p50, p99; target p99 < 20 ms)  vs  one raw SQLite
            commit of the same size in the same run

Run: .venv/bin/python bench/bench_drivers.py [--messages 500]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clinic_agent.agent import Agent
from clinic_agent.ingest import Ingest
from drivers.astm.compose import LabResult, build_result_message
from drivers.ble.blood_pressure import BloodPressure, encode_blood_pressure
from drivers.contec.cms50 import LiveData, encode_live
from drivers.decode import decode
from drivers.frames import DeviceRef
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame
from drivers.hl7.session import Hl7Session
from drivers.ieee11073 import DateTime, Mder
from drivers.serial.link import SerialLink
from drivers.simulators.pty import PtyDevice
from tests.support import new_home

AT = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def _samples() -> dict[str, bytes]:
    bp = BloodPressure(
        kpa=False,
        systolic=Mder.of(128),
        diastolic=Mder.of(84),
        mean_arterial_pressure=Mder.of(99),
        time_stamp=DateTime.from_datetime(datetime(2026, 11, 25, 8, 0)),
        pulse_rate=Mder.of(71),
    )
    lab = [
        LabResult(test_code=c, value=v, unit=u)
        for c, v, u in (("GLU", "6.1", "mmol/L"), ("HbA1c", "7.0", "%"), ("CHOL", "5.2", "mmol/L"))
    ]
    return {
        "ble:2A35": encode_blood_pressure(bp),
        "cms50": encode_live(LiveData(status=0, pleth=50, bar_graph=5, pulse_rate=72, spo2=97, reserved=b"\xff\xff")),
        "hl7": build_oru_r01(
            control_id="B1", timestamp=AT, observations=blood_pressure("128", "84", "99", "71", at=AT)
        ),
        "astm": build_result_message(results=lab, timestamp=datetime(2026, 11, 25, 8, 0)),
    }


def bench_decode(seconds: float = 1.0) -> dict[str, dict[str, float]]:
    """Frames decoded per second for each protocol, against copying and hashing the same bytes."""
    results = {}
    for protocol, data in _samples().items():
        decoded = floor = 0
        end = time.perf_counter() + seconds
        start = time.perf_counter()
        while time.perf_counter() < end:
            decode(protocol, data)
            decoded += 1
        rate = decoded / (time.perf_counter() - start)
        start, end = time.perf_counter(), time.perf_counter() + seconds / 4
        while time.perf_counter() < end:
            hashlib.sha256(bytes(data)).digest()
            floor += 1
        floor_rate = floor / (time.perf_counter() - start)
        results[protocol] = {
            "frames_s": rate,
            "bytes": len(data),
            "floor_frames_s": floor_rate,
            "ratio": rate / floor_rate,
        }
    return results


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
    for protocol, r in bench_decode().items():
        print(
            f"  decode {protocol:9s}: {r['frames_s']:9.0f} frames/s ({r['bytes']:4.0f} B)  vs copy+hash "
            f"{r['floor_frames_s']:9.0f}/s = {r['ratio']:.3f}x"
        )
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
