"""A chemistry analyser that sends results over ASTM E1381/E1394 on a serial line (a pty here).

It plays the instrument: ENQ, numbered frames with checksums, waiting for each ACK, resending
after a NAK, giving up a transfer after six tries and starting it again later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path

from drivers.astm.compose import LabResult, build_result_message
from drivers.astm.events import MessageFailed, MessageSent, Send
from drivers.astm.link import AstmLink
from drivers.simulators.pty import PtyDevice

_LOGGER = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8))


def next_message(rng: random.Random, number: int, id_numbers: Sequence[str], now: datetime) -> bytes:
    """One patient's chemistry results (glucose, HbA1c, cholesterol, triglycerides)."""
    at = now.astimezone(CHINA).replace(tzinfo=None)
    results = [
        LabResult(test_code="GLU", value=f"{rng.uniform(4.2, 13.5):.1f}", unit="mmol/L", completed_at=at),
        LabResult(test_code="HbA1c", value=f"{rng.uniform(5.2, 9.8):.1f}", unit="%", completed_at=at),
        LabResult(test_code="CHOL", value=f"{rng.uniform(3.4, 6.9):.2f}", unit="mmol/L", completed_at=at),
        LabResult(test_code="TG", value=f"{rng.uniform(0.6, 3.2):.2f}", unit="mmol/L", completed_at=at),
    ]
    patient = rng.choice(list(id_numbers)) if id_numbers and rng.random() < 0.85 else ""
    return build_result_message(
        results=results,
        timestamp=at,
        patient_id=patient,
        specimen_id=f"S{number:05d}",
        control_id=f"SIM{rng.getrandbits(24):06X}{number:05d}",
    )


async def run(
    link: Path,
    *,
    id_numbers: Sequence[str] = (),
    interval: float = 10.0,
    count: int | None = None,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Serve results on a pty at ``link`` until ``count`` were accepted (or ``stop``)."""
    rng, stop = random.Random(seed), stop or asyncio.Event()
    device = PtyDevice(link)
    # A line nobody listens on yet (or a port flushed when the agent opens it) loses our ENQ: try
    # again within a few seconds rather than E1381's 15 + 10, so a demo does not stall.
    line = AstmLink(role="instrument", reply_timeout=3.0, busy_delay=1.0)
    sent = 0
    try:
        line_events = line.send(next_message(rng, 0, id_numbers, datetime.now(CHINA)), time.monotonic())
        while not stop.is_set() and (count is None or sent < count):
            for event in line_events:
                if isinstance(event, Send):
                    await device.write(event.data)
                elif isinstance(event, MessageSent):
                    sent += 1
                    _LOGGER.info("result message %d accepted", sent)
                    if count is None or sent < count:
                        await _pause(stop, interval)
                        message = next_message(rng, sent, id_numbers, datetime.now(CHINA))
                        line_events = line.send(message, time.monotonic())
                        break
                elif isinstance(event, MessageFailed):
                    _LOGGER.warning("transfer failed (%s); trying again", event.reason)
                    await _pause(stop, 2.0)
                    line_events = line.send(event.text, time.monotonic())
                    break
            else:
                deadline = line.deadline
                wait = 0.5 if deadline is None else max(0.0, min(0.5, deadline - time.monotonic()))
                data = await device.read(wait)
                now = time.monotonic()
                line_events = line.feed(data, now) if data else line.poll(now)
    finally:
        device.close()
    return sent


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
