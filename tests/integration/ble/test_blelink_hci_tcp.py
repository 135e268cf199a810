"""The simulator in another process, serving HCI on TCP, and the link in this one — as
``clinic-agent simulate bp-cuff --ble`` runs beside a daemon whose device says ``transport = "tcp-client:..."``."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
from collections.abc import AsyncIterator

from drivers.ble.blood_pressure import parse_blood_pressure
from drivers.ble.bumble_backend import central_kwargs
from drivers.ble.link import BleLink, scan
from drivers.frames import DeviceRef
from drivers.simulators.ble import ADDRESSES, make
from tests.integration.ble.blelink_support import FakeSink, no_wait, until

SEED, COUNT = 51, 3
_SERVE = """
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stderr)
from drivers.simulators.ble import serve
print(asyncio.run(serve("bp-cuff", sys.argv[1], seed=int(sys.argv[2]), interval=0.05, count=int(sys.argv[3]) or None)))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.asynccontextmanager
async def simulator(count: int) -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    """A BP cuff serving HCI on TCP in its own process, once it advertises."""
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        _SERVE,
        f"tcp-server:127.0.0.1:{port}",
        str(SEED),
        str(count),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    while b"advertising" not in (line := await asyncio.wait_for(process.stderr.readline(), 20)):
        assert line, "the simulator ended before it advertised"
    try:
        yield port, process
    finally:
        if process.returncode is None:
            process.kill()
        await process.communicate()


async def test_a_cuff_in_another_process_over_hci_tcp() -> None:
    async with simulator(COUNT) as (port, process):
        stdout = await _served(port, process)
    assert stdout.strip() == str(COUNT).encode(), "the simulator saw every result confirmed"


async def _served(port: int, process: asyncio.subprocess.Process) -> bytes:
    options = central_kwargs(f"tcp-client:127.0.0.1:{port}")
    found = await scan(0.3, **options["scanner_kwargs"])
    assert [f.address for f in found] == [ADDRESSES["bp-cuff"]]

    sink = FakeSink()
    stop = asyncio.Event()
    link = BleLink(DeviceRef(id="cuff", protocol="ble", address=ADDRESSES["bp-cuff"]), sink, **options)
    task = asyncio.create_task(link.run(stop))
    await until(lambda: len(sink.stored("ble:2A35")) >= COUNT, within=20)
    stdout, _ = await asyncio.wait_for(process.communicate(), 20)
    stop.set()
    await asyncio.wait_for(task, 5)

    twin = make("bp-cuff", seed=SEED)  # the same seed measures the same values (only the clock differs)
    expected = [parse_blood_pressure(twin.reading()[-1][1]) for _ in range(COUNT)]
    got = [parse_blood_pressure(f.data) for f in sink.received("ble:2A35")]
    assert [(r.systolic, r.diastolic, r.pulse_rate, r.measurement_status) for r in got] == [
        (r.systolic, r.diastolic, r.pulse_rate, r.measurement_status) for r in expected
    ]
    return stdout


async def test_a_simulator_killed_mid_connection_is_noticed_and_searched_for_again() -> None:
    states: list[str] = []
    sink, stop = FakeSink(), asyncio.Event()
    async with simulator(0) as (port, process):
        options = central_kwargs(f"tcp-client:127.0.0.1:{port}")
        device = DeviceRef(id="cuff", protocol="ble", address=ADDRESSES["bp-cuff"])
        link = BleLink(device, sink, on_state=lambda _d, state, _r: states.append(state), sleep=no_wait, **options)
        task = asyncio.create_task(link.run(stop))
        await until(lambda: sink.stored("ble:2A35"), within=20)
        process.kill()  # no goodbye: the HCI connection just ends
        await process.wait()
        await until(lambda: states[-1] != "connected", within=5)
    await until(lambda: states.count("searching") >= 3, within=5)
    stop.set()
    await asyncio.wait_for(task, 5)

    assert states[:2] == ["searching", "connected"]
    assert states[2] == "disconnected"
