"""TUI benchmark: every figure beside a baseline measured in the same run, as a ratio.

    cold start to the first screen (fresh interpreter)  vs  a minimal Textual app (Header/Static/Footer)
    keypress to results, search over 50,000 residents (p95; target < 50 ms)  vs  the raw resident.lookup call
    opening a file with 5,000 readings (target < 200 ms)  vs  the raw resident.file call

and, for information, the raw resident.history (its audit-log lookup) and home.summary calls.

The daemon is real (its API server in-process, on a temp socket); the app is driven headless by
Textual's pilot, so "results on screen" means the table holds them after a refresh.

Run: .venv/bin/python bench/bench_tui.py [--residents 50000] [--readings 5000]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from clinic_agent.api.client import AsyncApiClient
from clinic_agent.api.server import ApiServer
from clinic_agent.core.model import Quantity, Role, new_id
from clinic_agent.runtime.agent import Agent
from clinic_agent.runtime.config import ApiConfig
from tests.support import FAST_CONFIG, PASSPHRASE, id_number, new_home, reading, resident

_SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁龙麻"
_GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红梅鑫波斌宇浩凯健俊帆帅旭宁龙林欢佳阳德胜光"
QUERIES = ["l", "lx", "lxy", "王", "王秀", "zh", "zhs", "5222", "522201", "陈", "ym", "杨光"]

MINIMAL = """
import time; t0 = time.perf_counter()
import asyncio
from textual.app import App
from textual.widgets import Footer, Header, Static
class Minimal(App):
    def compose(self):
        yield Header(); yield Static("hello"); yield Footer()
async def main():
    app = Minimal()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(time.perf_counter() - t0)
asyncio.run(main())
"""
OURS = """
import time; t0 = time.perf_counter()
import asyncio, sys
sys.path.insert(0, {root!r})
from tui.app import ClinicApp
from tests.tui.fake_api import FakeApi
async def main():
    app = ClinicApp(FakeApi())
    async with app.run_test(size=(80, 24)) as pilot:
        while type(app.screen).__name__ != "SignInScreen":
            await pilot.pause(0.001)
        await pilot.pause()
        print(time.perf_counter() - t0)
asyncio.run(main())
"""


def _percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _cold(script: str, runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times)


def _build(root: Path, residents: int, readings: int) -> tuple[Agent, str]:
    home = new_home(root)
    (root / "agent.toml").write_text(FAST_CONFIG, encoding="utf-8")
    agent = Agent.open(home)
    agent.unlock(actor="bench", passphrase=PASSPHRASE)
    agent.store.users.add("doctor", Role.DOCTOR, "246810", actor="bench")
    rng = random.Random(7)
    numbers: set[str] = set()
    while len(numbers) < residents:
        numbers.add(id_number(rng))
    people = [
        resident(rng, id_number=number, name=rng.choice(_SURNAMES) + "".join(rng.choices(_GIVEN, k=2)))
        for number in sorted(numbers)
    ]
    for start in range(0, len(people), 5000):
        agent.store.residents.add_many(people[start : start + 5000], actor="bench")
    heavy = people[0]
    batch = []
    for i in range(readings):
        r = reading(heavy.id, systolic=str(110 + i % 60), diastolic=str(70 + i % 30))
        batch.append(dataclasses.replace(r, id=new_id(), taken_at=r.taken_at - timedelta(hours=6 * (i + 1))))
    for start in range(0, len(batch), 1000):
        agent.store.readings.add_many(batch[start : start + 1000], actor="bench")
    weight = Quantity(code="29463-7", value="61.5", unit="kg")
    agent.store.readings.add(dataclasses.replace(reading(heavy.id), components=(weight,)), actor="bench")
    agent.refresh_index()
    return agent, heavy.name


async def _until(condition: Any, what: str, within: float = 20.0) -> None:
    deadline = time.perf_counter() + within
    while not condition():
        if time.perf_counter() > deadline:
            raise SystemExit(f"bench: {what} did not show within {within:.0f} s")
        await asyncio.sleep(0)


async def _raw(socket: Path, name: str) -> tuple[list[float], list[float]]:
    client = AsyncApiClient(socket)
    await client.connect()
    client.session = (await client.call("login", {"user": "doctor", "pin": "246810"}))["session"]
    lookups, files = [], []
    for _ in range(3):
        for text in QUERIES:
            start = time.perf_counter()
            await client.call("resident.lookup", {"text": text, "limit": 20})  # what the home screen asks
            lookups.append(time.perf_counter() - start)
    match = (await client.call("resident.lookup", {"text": name}))["matches"][0]
    for _ in range(5):
        start = time.perf_counter()
        await client.call("resident.file", {"resident": match["id"], "readings": 60})  # what the screen asks first
        files.append(time.perf_counter() - start)
    start = time.perf_counter()
    await client.call("resident.file", {"resident": match["id"]})
    print(
        f"(raw resident.file with every reading: {(time.perf_counter() - start) * 1000:.0f} ms; the screen reads "
        "those after its first paint)"
    )
    for method, params in (("resident.history", {"resident": match["id"]}), ("home.summary", {})):
        took = []
        for _ in range(5):
            start = time.perf_counter()
            await client.call(method, params)
            took.append(time.perf_counter() - start)
        print(f"(raw {method}: median {statistics.median(took) * 1000:.1f} ms)")
    await client.close()
    return lookups, files


async def _through_the_ui(socket: Path, name: str) -> tuple[list[float], list[float]]:
    from textual.widgets import Input

    from tui.app import ClinicApp
    from tui.client import DaemonApi

    api = DaemonApi(socket)
    app = ClinicApp(api)
    keypress, opening = [], []
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        while type(app.screen).__name__ != "HomeScreen":
            await pilot.pause(0.005)
        home: Any = app.screen
        search = home.query_one("#search", Input)
        for _ in range(3):
            for text in QUERIES:
                search.value = ""
                await pilot.pause()
                # What one keypress does: the box changes, the search goes out, the table is filled.
                start = time.perf_counter()
                search.value = text
                await _until(lambda text=text: home.matched_text == text, f"results for {text!r}")
                keypress.append(time.perf_counter() - start)
        for _ in range(5):
            search.value = ""
            await pilot.press(*name)
            while home.matched_text != name:
                await pilot.pause(0.0005)
            start = time.perf_counter()
            await home.open_resident(home.matches[0]["id"])
            await _until(lambda: type(app.screen).__name__ == "ResidentScreen" and bool(app.screen.file), "the file")
            opening.append(time.perf_counter() - start)
            await pilot.press("escape")
            while app.screen is not home:
                await pilot.pause(0.005)
    await api.close()
    return keypress, opening


async def _measure(agent: Agent, root: Path, name: str) -> dict[str, Any]:
    socket = root / "api.sock"
    server = ApiServer(agent, ApiConfig(socket=socket, session_idle_minutes=10))
    agent.publish = server.publish
    await server.start()
    try:
        raw_lookup, raw_file = await _raw(socket, name)
        ui_lookup, ui_file = await _through_the_ui(socket, name)
    finally:
        await server.stop()
    return {"raw_lookup": raw_lookup, "raw_file": raw_file, "ui_lookup": ui_lookup, "ui_file": ui_file}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--residents", type=int, default=50_000)
    parser.add_argument("--readings", type=int, default=5_000)
    args = parser.parse_args()
    root_dir = Path(__file__).resolve().parent.parent
    minimal = _cold(MINIMAL)
    ours = _cold(OURS.format(root=str(root_dir)))
    print(
        f"cold start to the first screen   {ours * 1000:7.0f} ms   minimal Textual app {minimal * 1000:5.0f} ms"
        f"   ratio {ours / minimal:4.2f}x"
    )
    with tempfile.TemporaryDirectory(prefix="bench-tui-", dir="/tmp") as scratch:
        root = Path(scratch)
        start = time.perf_counter()
        agent, name = _build(root / "home", args.residents, args.readings)
        print(
            f"(store of {args.residents:,} residents, {args.readings:,} readings on one, built in "
            f"{time.perf_counter() - start:.0f} s)"
        )
        try:
            m = asyncio.run(_measure(agent, root, name))
        finally:
            agent.close()
    ui95, raw95 = _percentile(m["ui_lookup"], 0.95), _percentile(m["raw_lookup"], 0.95)
    print(
        f"keypress to results (p95)        {ui95 * 1000:7.1f} ms   raw resident.lookup p95 {raw95 * 1000:5.1f} ms"
        f"   ratio {ui95 / raw95:4.1f}x   target < 50 ms: {'met' if ui95 < 0.050 else 'MISSED'}"
    )
    print(f"  (p50 {statistics.median(m['ui_lookup']) * 1000:.1f} ms, {len(m['ui_lookup'])} keypresses)")
    ui_file, raw_file = statistics.median(m["ui_file"]), statistics.median(m["raw_file"])
    print(
        f"open a file with {args.readings:,} readings      {ui_file * 1000:7.0f} ms   raw resident.file "
        f"{raw_file * 1000:5.0f} ms   ratio {ui_file / raw_file:4.1f}x   target < 200 ms: "
        f"{'met' if ui_file < 0.200 else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
