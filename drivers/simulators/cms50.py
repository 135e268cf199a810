"""A Contec CMS50 fingertip oximeter on its USB cable (the new 115200-baud protocol), on a pty.

It waits for the host's "start live data" command, then streams live packets about 60 times a
second: a finger in the clip for a while (steady SpO2 and pulse with a little noise), then out,
then in again — the way a village doctor uses it, one resident after another.
"""

from __future__ import annotations

import asyncio
import logging
import random
from pathlib import Path

from drivers.contec.cms50_new import COMMAND_PREFIX, Command, LiveData, encode_live
from drivers.simulators.pty import PtyDevice

_LOGGER = logging.getLogger(__name__)
RATE = 60.0


def live_packet(rng: random.Random, spo2: int | None, pulse: int | None) -> bytes:
    """One live packet; None values mean the finger is out."""
    if spo2 is None or pulse is None:
        return encode_live(
            LiveData(status=0x20, pleth=0, bar_graph=0, pulse_rate=0xFF, spo2=0x7F, reserved=b"\xff\xff")
        )
    return encode_live(
        LiveData(
            status=0x00,
            pleth=rng.randint(20, 100),
            bar_graph=rng.randint(2, 9),
            pulse_rate=pulse,
            spo2=spo2,
            reserved=b"\xff\xff",
        )
    )


async def run(
    link: Path,
    *,
    placements: int | None = None,
    finger_in: float = 14.0,
    finger_out: float = 4.0,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Stream placements until ``placements`` were made (or ``stop``); return how many."""
    rng, stop = random.Random(seed), stop or asyncio.Event()
    device = PtyDevice(link)
    live, made = False, 0
    loop = asyncio.get_running_loop()
    try:
        while not stop.is_set() and (placements is None or made < placements):
            spo2, pulse = rng.randint(93, 99), rng.randint(58, 95)
            for phase, seconds in (("in", finger_in), ("out", finger_out)):
                end = loop.time() + seconds
                while loop.time() < end and not stop.is_set():
                    live = _commands(await device.read(1 / RATE), live)
                    if live:
                        if phase == "in":
                            packet = live_packet(rng, spo2 + rng.choice((0, 0, 0, -1)), pulse + rng.randint(-1, 1))
                        else:
                            packet = live_packet(rng, None, None)
                        await device.write(packet)
                if phase == "in" and live:
                    made += 1
    finally:
        device.close()
    return made


def _commands(data: bytes, live: bool) -> bool:
    """Whether live data is running after the host's commands in ``data``."""
    index = data.find(COMMAND_PREFIX)
    while index != -1 and index + 2 < len(data):
        op = data[index + 2]
        if op == Command.START_LIVE:
            live = True
        elif op in (Command.STOP_LIVE, Command.STOP_STORED):
            live = False
        index = data.find(COMMAND_PREFIX, index + 3)
    return live
