"""A multi-parameter health machine that sends its readings as HL7 v2 ORU^R01 (IHE PCD-01) over MLLP.

It connects to the agent's HL7 listener, sends one message per measurement, and waits for the
ACK: AA or AE moves on; AR, silence or a broken connection means the same message (same MSH-10)
is sent again — which the agent must store only once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta, timezone

from drivers.errors import FrameError
from drivers.hl7.ack import parse_ack
from drivers.hl7.compose import Observation, blood_pressure, build_oru_r01
from drivers.hl7.mllp import MllpDecoder, frame

_LOGGER = logging.getLogger(__name__)
CHINA = timezone(timedelta(hours=8))
_PERCENT = ("262688", "MDC_DIM_PERCENT", "MDC")
_BPM = ("264864", "MDC_DIM_BEAT_PER_MIN", "MDC")
_CELSIUS = ("268192", "MDC_DIM_DEGC", "MDC")


def _oximeter(rng: random.Random, at: datetime) -> list[Observation]:
    return [
        Observation(sub_id="1", code=("528388", "MDC_DEV_SPEC_PROFILE_PULS_OXIM", "MDC"), value_type=""),
        Observation(
            sub_id="1.0.0.1",
            code=("150456", "MDC_PULS_OXIM_SAT_O2", "MDC"),
            value=str(rng.randint(92, 99)),
            unit=_PERCENT,
            observed_at=at,
        ),
        Observation(
            sub_id="1.0.0.2",
            code=("149530", "MDC_PULS_OXIM_PULS_RATE", "MDC"),
            value=str(rng.randint(58, 96)),
            unit=_BPM,
            observed_at=at,
        ),
    ]


def _thermometer(rng: random.Random, at: datetime) -> list[Observation]:
    return [
        Observation(sub_id="1", code=("528392", "MDC_DEV_SPEC_PROFILE_TEMP", "MDC"), value_type=""),
        Observation(
            sub_id="1.0.0.1",
            code=("150364", "MDC_TEMP_BODY", "MDC"),
            value=f"{rng.uniform(36.1, 37.9):.1f}",
            unit=_CELSIUS,
            observed_at=at,
        ),
    ]


def _cuff(rng: random.Random, at: datetime) -> list[Observation]:
    systolic = rng.randint(150, 188) if rng.random() < 0.25 else rng.randint(108, 145)
    if rng.random() < 0.04:
        systolic = 330  # a cuff slipping off the arm: implausible, the agent must quarantine it
    diastolic = min(systolic - 25, rng.randint(62, 104))
    return blood_pressure(str(systolic), str(diastolic), None, str(rng.randint(56, 98)), at=at)


MEASUREMENTS: Sequence[Callable[[random.Random, datetime], list[Observation]]] = (_cuff, _cuff, _oximeter, _thermometer)


def next_message(rng: random.Random, number: int, id_numbers: Sequence[str], now: datetime) -> bytes:
    """One ORU^R01 for one measurement; most name a resident, some are left for the doctor to assign."""
    at = now.astimezone(CHINA)
    observations = rng.choice(MEASUREMENTS)(rng, at)
    patients: list[tuple[str, str]] = []
    if id_numbers and rng.random() < 0.8:
        patients = [(rng.choice(list(id_numbers)), "NI")]
    return build_oru_r01(
        control_id=f"SIM{rng.getrandbits(32):08X}{number:06d}",
        timestamp=at,
        observations=observations,
        patient_ids=patients,
    )


async def run(
    host: str,
    port: int,
    *,
    id_numbers: Sequence[str] = (),
    interval: float = 5.0,
    count: int | None = None,
    seed: int | None = None,
    stop: asyncio.Event | None = None,
    ack_timeout: float = 10.0,
) -> int:
    """Send readings until ``count`` are acknowledged (or ``stop``); return how many were."""
    rng, stop = random.Random(seed), stop or asyncio.Event()
    acknowledged, pending = 0, None
    while not stop.is_set() and (count is None or acknowledged < count):
        try:
            reader, writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            _LOGGER.warning("cannot reach the agent at %s:%d (%s); retrying", host, port, exc.strerror)
            await _pause(stop, 2.0)
            continue
        try:
            while not stop.is_set() and (count is None or acknowledged < count):
                pending = pending or next_message(rng, acknowledged, id_numbers, datetime.now(CHINA))
                writer.write(frame(pending))
                await writer.drain()
                code = await _ack(reader, ack_timeout)
                if code in ("AA", "AE"):
                    acknowledged += 1
                    pending = None
                    _LOGGER.info("message %d acknowledged %s", acknowledged, code)
                    await _pause(stop, interval)
                else:
                    _LOGGER.warning("no usable acknowledgement (%s); sending the same message again", code)
                    await _pause(stop, min(interval, 2.0))
                    if code is None:
                        break  # reconnect
        except (ConnectionError, OSError):
            await _pause(stop, 1.0)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
    return acknowledged


async def _ack(reader: asyncio.StreamReader, within: float) -> str | None:
    decoder = MllpDecoder()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while (left := deadline - loop.time()) > 0:
        try:
            data = await asyncio.wait_for(reader.read(65536), left)
        except TimeoutError:
            return None
        if not data:
            return None
        for message in decoder.feed(data):
            with contextlib.suppress(FrameError):
                return parse_ack(message).code
    return None


async def _pause(stop: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
