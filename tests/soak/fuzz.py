"""Soak 5: a seeded mutational fuzzer over every parser of the drivers; nothing but FrameError may escape.

The parsers are every protocol of ``drivers.decode`` (``decode_one``, and ``decode`` where a message
splits into several readings) and the stream decoders a link feeds byte by byte (MLLP, raw ASTM,
both CMS50 protocols, the BCM-H10 module). Each starts from the byte vectors of ``tests/vectors``
(its own, and a share of every other parser's) and from random bytes, and takes stacked mutations:
bit flips, interesting bytes (the protocols' framing and separator bytes among them), inserted,
deleted, repeated and truncated ranges, splices with another input, and numbers grown huge or
negative. An input a parser accepts joins its corpus. Each parser draws from its own generator,
seeded by the soak's seed and its name, so one parser's run replays alone.

A crash is any exception but ``drivers.errors.FrameError``; the line names the parser, the input
(hex) and the exception. Hypothesis (tests/unit/drivers) explores structure; this explores volume.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from drivers import decode
from drivers.astm.raw import RawAstmReceiver
from drivers.ble.body_composition import PAIR_PROTOCOL
from drivers.contec.cms50_new import NewDecoder
from drivers.contec.cms50_old import OldDecoder
from drivers.errors import FrameError
from drivers.hl7.mllp import MllpDecoder
from drivers.vendor.bcm_h10 import BcmReceiver
from tests.soak.common import Say, Tally, describe

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
DEFAULT_SIZE = 1_000_000  # inputs per parser (issue 13)
QUICK_SIZE = 20_000
MAX_CORPUS = 400
SLOW_S = 1.0  # an input slower than this (twice) is reported, not failed: the machine may be shared

INTERESTING = (
    b"\x00",
    b"\xff",
    b"\x7f",
    b"\x80",
    b"\x0b",  # MLLP start
    b"\x1c",  # MLLP end
    b"\r",
    b"\n",
    b"\x02",  # ASTM STX
    b"\x03",  # ETX
    b"\x04",  # EOT
    b"\x05",  # ENQ
    b"\x17",  # ETB
    b"|",
    b"^",
    b"~",
    b"\\",
    b"&",
    b"\xa5\x5a",  # BCM-H10 sync
)
NUMBERS = (b"0", b"-1", b"99999999999999999999", b"1e999", b"NaN", b"-0", b"4294967296", b"", b"\xe4\xb8\xad")

Parser = Callable[[bytes, random.Random], object]


def _one(protocol: str, data: bytes, rng: random.Random) -> object:
    return decode.decode_one(protocol, data)


def _many(protocol: str, data: bytes, rng: random.Random) -> object:
    return decode.decode(protocol, data)


def _chunks(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut at up to three random places, as bytes arrive from a port."""
    cuts = sorted(rng.randrange(len(data) + 1) for _ in range(rng.randint(0, 3)))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


def _stream(make: Callable[[], object], timed: bool, data: bytes, rng: random.Random) -> object:
    decoder = make()
    events: list[object] = []
    now = 0.0
    for chunk in _chunks(data, rng):
        now += rng.uniform(0.0, 2.0)
        events += decoder.feed(chunk, now) if timed else decoder.feed(chunk)  # type: ignore[attr-defined]
    return events


def parsers() -> dict[str, Parser]:
    """Every parser of the drivers, by name."""
    found: dict[str, Parser] = {p: partial(_one, p) for p in [*decode.protocols(), PAIR_PROTOCOL]}
    found["astm:many"] = partial(_many, "astm")
    found["hl7:many"] = partial(_many, "hl7")
    found["stream:mllp"] = partial(_stream, MllpDecoder, False)
    found["stream:astm-raw"] = partial(_stream, RawAstmReceiver, True)
    found["stream:cms50-new"] = partial(_stream, NewDecoder, False)
    found["stream:cms50-old"] = partial(_stream, OldDecoder, False)
    found["stream:bcm-h10"] = partial(_stream, BcmReceiver, False)
    return found


def _owners(file: str, item: dict[str, object]) -> list[str]:
    """The parsers a vector was written for."""
    if file == "astm.json":
        return ["astm", "astm:many", "stream:astm-raw"]
    if file == "hl7.json":
        return ["hl7", "hl7:many", "stream:mllp"]
    if file == "contec.json":
        return ["cms50", "stream:cms50-new", "stream:cms50-old"]
    if file == "vendor_serial.json":
        vendor = str(item["id"]).split("-")[0]
        return {"omron": ["omron"], "bcmh10": ["bcm-h10", "stream:bcm-h10"], "and": ["and"]}.get(vendor, [])
    characteristic = str(item.get("characteristic", ""))
    if characteristic.startswith("IEEE-11073 SFLOAT"):
        return ["sfloat"]
    if characteristic.startswith("IEEE-11073 FLOAT"):
        return ["float"]
    return [f"ble:{characteristic[2:6].upper()}"] if characteristic.startswith("0x") else []


def corpus() -> dict[str, list[bytes]]:
    """The vectors' bytes by the parser they were written for (``*`` holds all of them)."""
    seeds: dict[str, list[bytes]] = {"*": []}
    for path in sorted(VECTORS.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8")):
            inputs = []
            if "input_hex" in item:
                inputs.append(bytes.fromhex(item["input_hex"]))
            if "input_text" in item:
                text = str(item["input_text"]).encode()
                inputs += [text, text.replace(b"\n", b"\r")]
            for owner in _owners(path.name, item):
                if owner == "stream:mllp":
                    inputs += [b"\x0b" + data + b"\x1c\r" for data in inputs]
                seeds.setdefault(owner, []).extend(inputs)
            seeds["*"].extend(inputs)
    return seeds


def mutate(data: bytes, rng: random.Random, pool: list[bytes]) -> bytes:
    """One to four stacked mutations of ``data``."""
    out = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 4))):
        kind = rng.randrange(10)
        at = rng.randrange(len(out) + 1)
        if kind == 0 and out:  # flip a bit
            spot = rng.randrange(len(out))
            out[spot] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:  # a random byte
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 2:  # an interesting byte
            out[at:at] = rng.choice(INTERESTING)
        elif kind == 3:  # random bytes in
            out[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == 4 and out:  # a range out
            out[at : at + rng.randint(1, 16)] = b""
        elif kind == 5 and out:  # a range repeated
            piece = out[at : at + rng.randint(1, 32)]
            out[at:at] = piece * rng.randint(1, 8)
        elif kind == 6:  # cut short
            del out[at:]
        elif kind == 7 and pool:  # spliced with another input
            other = rng.choice(pool)
            cut = rng.randrange(len(other) + 1)
            out[at:] = other[cut:]
        elif kind == 8:  # a number grown huge, negative or not a number
            digits = [i for i, byte in enumerate(out) if 0x30 <= byte <= 0x39]
            if digits:
                start = rng.choice(digits)
                end = start
                while end < len(out) and 0x30 <= out[end] <= 0x39:
                    end += 1
                out[start:end] = rng.choice(NUMBERS)
        elif out:  # a byte set to an edge value
            out[rng.randrange(len(out))] = rng.choice((0x00, 0x01, 0x7F, 0x80, 0xFE, 0xFF))
    return bytes(out[:65536])


@dataclass
class ParserRun:
    """One parser's figures."""

    inputs: int = 0
    accepted: int = 0
    crashes: int = 0
    slowest: float = 0.0


def fuzz_parser(
    name: str, parse: Parser, seed: int, count: int, seeds: dict[str, list[bytes]], tally: Tally
) -> ParserRun:
    """Feed ``count`` mutated inputs to one parser; note every exception other than FrameError."""
    rng = random.Random(f"{seed}/{name}")
    everyone = seeds["*"]
    mine = list(seeds.get(name, [])) or [rng.randbytes(rng.randint(0, 24)) for _ in range(8)]
    figures = ParserRun()
    for index in range(count):
        roll = rng.random()
        if roll < 0.03:
            data = rng.randbytes(rng.randint(0, 64))
        else:
            base = rng.choice(everyone) if roll < 0.15 else rng.choice(mine)
            data = mutate(base, rng, everyone)
        began = time.perf_counter()
        try:
            parse(data, rng)
        except FrameError:
            pass
        except Exception as exc:  # noqa: BLE001  (the finding itself)
            figures.crashes += 1
            tally.problem(
                f"{name} input #{index} {data[:200].hex()}{'...' if len(data) > 200 else ''}: "
                f"{type(exc).__name__}: {str(exc)[:200]}"
            )
        else:
            figures.accepted += 1
            if len(mine) < MAX_CORPUS and rng.random() < 0.05:
                mine.append(data)
        took = time.perf_counter() - began
        if took > SLOW_S:  # timed again: a slow parser is slow twice, a busy machine seldom
            began = time.perf_counter()
            with contextlib.suppress(Exception):
                parse(data, random.Random(index))
            took = min(took, time.perf_counter() - began)
        figures.slowest = max(figures.slowest, took)
        figures.inputs += 1
    return figures


def _planted(data: bytes, rng: random.Random) -> object:
    """A parser with a planted bug: a foreign exception on any input holding 0xFF (the CI test's positive control)."""
    if b"\xff" in data:
        raise KeyError("planted")
    return decode.decode_one("sfloat", data[:2])


def run(
    seed: int,
    size: int = DEFAULT_SIZE,
    *,
    workdir: Path | None = None,
    plant: str | None = None,
    say: Say = print,
    only: list[str] | None = None,
) -> Tally:
    """Fuzz every parser (or those named in ``only``) with ``size`` inputs each.

    Each parser's generator is seeded by the soak's seed and its name, so a parser fuzzed alone sees
    the same inputs as in a run of all of them: a long run of the cheap parsers replays exactly.
    """
    tally = Tally("fuzz", seed, size, options=f" --parsers {','.join(only)}" if only else "")
    chosen = parsers()
    if only:
        chosen = {name: chosen[name] for name in only}
    if plant == "escape":
        chosen = {"planted": _planted}
    seeds = corpus()
    if plant == "escape":
        seeds["planted"] = [b"\x00\x00\x00"]
    total = accepted = 0
    slowest = (0.0, "")
    for name, parse in chosen.items():
        began = time.monotonic()
        figures = fuzz_parser(name, parse, seed, size, seeds, tally)
        total += figures.inputs
        accepted += figures.accepted
        tally.crashes += figures.crashes
        tally.runs += 1
        slowest = max(slowest, (figures.slowest, name))
        say(
            f"fuzz {name}: inputs={figures.inputs} accepted={figures.accepted} crashes={figures.crashes} "
            f"slowest={figures.slowest * 1000:.1f}ms time={time.monotonic() - began:.1f}s"
        )
    tally.figures.update(
        parsers=len(chosen),
        inputs=total,
        accepted=accepted,
        slowest_input=f"{slowest[0] * 1000:.1f}ms({slowest[1]})",
    )
    if slowest[0] > SLOW_S:
        tally.problem(f"an input took {slowest[0]:.1f} s in {slowest[1]}")
    if tally.problems:
        say(f"fuzz problems {describe(tally.problems)}")
    return tally
