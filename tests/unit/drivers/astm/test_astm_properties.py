"""Properties: parsers raise only FrameError, state machines never raise, encoders round-trip, and a
sender and receiver joined by a lossy, corrupting line never deliver a message twice or damaged."""

from __future__ import annotations

import heapq
import itertools
import json
import random
from dataclasses import dataclass, field
from datetime import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.astm.compose import LabResult, build_result_message
from drivers.astm.events import AstmEvent, MessageFailed, MessageReceived, MessageSent, Send
from drivers.astm.framing import RESTRICTED, Frame, decode_frame, encode_frame, join_frames, split_text
from drivers.astm.link import AstmLink
from drivers.astm.raw import RawAstmReceiver
from drivers.astm.receiver import AstmReceiver
from drivers.astm.records import Delimiters, encode_record, parse_record, parse_records
from drivers.astm.results import decode_astm, decode_astm_readings
from drivers.astm.sender import AstmSender
from drivers.errors import FrameError

ALLOWED = bytes(b for b in range(256) if b not in RESTRICTED and b != 0x0D)
text_bytes = st.binary(min_size=1, max_size=600).map(lambda b: bytes(ALLOWED[x % len(ALLOWED)] for x in b))
SAMPLE = build_result_message(
    results=[
        LabResult(test_code="GLU", value="5.6", unit="mmol/L", completed_at=datetime(2024, 1, 2, 3, 4, 5)),
        LabResult(test_code="HbA1c", value="6.1", unit="%", abnormal_flags="H"),
    ],
    timestamp=datetime(2024, 1, 2, 3, 4, 6),
    patient_id="11010519491231002X",
    patient_name=["张", "三"],
)
SAMPLE_FRAMED = b"".join(encode_frame(f) for f in split_text(SAMPLE, max_text=50))


def mutate(data: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    out = bytearray(data)
    for kind, position, value in edits:
        if not out:
            break
        i = position % len(out)
        if kind == 0:
            out[i] = value
        elif kind == 1:
            del out[i]
        else:
            out.insert(i, value)
    return bytes(out)


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), max_size=6)


@given(st.binary(max_size=400))
def test_decode_frame_raises_only_frame_error(data: bytes) -> None:
    try:
        frame = decode_frame(data)
    except FrameError:
        return
    assert 0 <= frame.number <= 7


@given(text_bytes, st.integers(0, 7), st.booleans(), st.integers(1, 10_000), st.integers(1, 255))
def test_any_single_byte_change_before_the_trailer_is_detected(
    text: bytes, number: int, final: bool, where: int, delta: int
) -> None:
    data = bytearray(encode_frame(Frame(number=number, text=text, final=final)))
    position = where % (len(data) - 2)  # STX through the checksum
    data[position] = (data[position] + delta) % 256
    try:
        decode_frame(bytes(data))
    except FrameError:
        return
    raise AssertionError("a corrupted frame was accepted")


@given(text_bytes, st.integers(0, 7), st.booleans())
def test_frames_round_trip(text: bytes, number: int, final: bool) -> None:
    frame = Frame(number=number, text=text, final=final)
    assert decode_frame(encode_frame(frame)) == frame


@given(text_bytes, st.integers(1, 300), st.integers(0, 7))
def test_split_then_join_round_trips(text: bytes, size: int, first: int) -> None:
    frames = split_text(text, first_number=first, max_text=size)
    assert all(len(f.text) <= size for f in frames)
    assert join_frames([decode_frame(encode_frame(f)) for f in frames]) == text


@given(st.one_of(st.binary(max_size=500), edits.map(lambda e: mutate(SAMPLE, e))))
def test_decode_astm_raises_only_frame_error_on_text(data: bytes) -> None:
    try:
        frame = decode_astm(data)
    except FrameError:
        return
    json.dumps(frame.as_json())


@given(edits.map(lambda e: mutate(SAMPLE_FRAMED, e)))
def test_decode_astm_raises_only_frame_error_on_frames(data: bytes) -> None:
    try:
        decode_astm_readings(data)
    except FrameError:
        return


@given(st.text(max_size=300))
def test_parse_records_raises_only_frame_error(text: str) -> None:
    try:
        parse_records(text)
    except FrameError:
        return


values = st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=12)


@given(st.lists(st.one_of(values, st.lists(values, min_size=2, max_size=4)), min_size=1, max_size=8))
def test_records_round_trip_through_escapes(fields: list[str | list[str]]) -> None:
    record = parse_record(encode_record(["R", *fields], Delimiters()))
    assert [record.value(n) for n in range(2, len(fields) + 2)] == fields


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["GLU", "HbA1c", "CHOL", "TG", "XYZ"]),
            st.decimals(min_value=0, max_value=10_000, places=2, allow_nan=False),
            st.sampled_from(["mmol/L", "mg/dL", "%", ""]),
        ),
        min_size=1,
        max_size=6,
    ),
    st.text(alphabet="0123456789ABCDEF张王李^|&\\", max_size=20),
)
def test_built_messages_decode_to_what_was_built(results: list[tuple[str, object, str]], patient: str) -> None:
    built = build_result_message(
        results=[LabResult(test_code=c, value=str(v), unit=u) for c, v, u in results],
        timestamp=datetime(2024, 1, 1, 8, 0),
        patient_id=patient,
    )
    frame = decode_astm(built)
    assert [(m.value_text, str(m.value)) for m in frame.measurements] == [(str(v), str(v)) for _, v, _ in results]
    assert [r["test_code"] for r in frame.fields["results"]] == [c for c, _, _ in results]
    assert frame.fields["patients"][0].get("practice_patient_id", "") == (patient if patient else "")


chunks = st.lists(st.tuples(st.binary(max_size=40), st.floats(0, 100)), max_size=30)


def _drive(machine: AstmReceiver | RawAstmReceiver | AstmSender | AstmLink, steps: list[tuple[bytes, float]]) -> None:
    now = 0.0
    for data, delay in steps:
        now += delay
        events = machine.feed(data, now) + machine.poll(now)
        if any(isinstance(e, MessageReceived) for e in events) and not isinstance(machine, AstmSender):
            if data[:1] == b"R":
                machine.reject(now)
            else:
                machine.accept(now)


@given(chunks)
def test_the_receiver_never_raises(steps: list[tuple[bytes, float]]) -> None:
    _drive(AstmReceiver(max_message=300), steps)


@given(
    st.lists(
        st.tuples(
            st.sampled_from([SAMPLE_FRAMED[i : i + 9] for i in range(0, 200, 9)] + [b"\x05", b"\x04"]),
            st.floats(0, 40),
        ),
        max_size=40,
    )
)
def test_the_receiver_never_raises_on_shuffled_real_frames(steps: list[tuple[bytes, float]]) -> None:
    _drive(AstmReceiver(), steps)


@given(chunks)
def test_the_raw_receiver_never_raises(steps: list[tuple[bytes, float]]) -> None:
    _drive(RawAstmReceiver(max_message=300), steps)


@given(chunks, st.sampled_from(["computer", "instrument"]))
def test_the_sender_never_raises(steps: list[tuple[bytes, float]], role: str) -> None:
    sender = AstmSender(role=role)  # type: ignore[arg-type]
    sender.send(SAMPLE, 0.0)
    _drive(sender, steps)


@given(chunks)
def test_the_link_never_raises(steps: list[tuple[bytes, float]]) -> None:
    link = AstmLink()
    link.send(SAMPLE, 0.0)
    _drive(link, steps)


@dataclass
class Line:
    """Two links joined by a line that loses and corrupts what is written on it (seeded)."""

    rng: random.Random
    p_drop: float
    p_corrupt: float
    p_reject: float
    now: float = 0.0
    stored: list[bytes] = field(default_factory=list)
    sent: list[bytes] = field(default_factory=list)
    failed: list[bytes] = field(default_factory=list)
    _queue: list[tuple[float, int, str, bytes]] = field(default_factory=list)
    _order: itertools.count[int] = field(default_factory=itertools.count)

    def __post_init__(self) -> None:
        self.links = {"instrument": AstmLink(role="instrument"), "computer": AstmLink(role="computer")}

    def handle(self, side: str, events: list[AstmEvent]) -> None:
        for event in events:
            if isinstance(event, Send):
                self._write(side, event.data)
            elif isinstance(event, MessageReceived):
                computer = self.links["computer"]
                if self.rng.random() < self.p_reject:
                    self.handle(side, computer.reject(self.now))
                else:
                    self.stored.append(event.text)
                    self.handle(side, computer.accept(self.now))
            elif isinstance(event, MessageSent):
                self.sent.append(event.text)
            elif isinstance(event, MessageFailed):
                self.failed.append(event.text)

    def _write(self, side: str, data: bytes) -> None:
        if self.rng.random() < self.p_drop:
            return
        if self.rng.random() < self.p_corrupt:
            data = self._corrupt(side, data)
        other = "computer" if side == "instrument" else "instrument"
        heapq.heappush(self._queue, (self.now + 0.05, next(self._order), other, data))

    def _corrupt(self, side: str, data: bytes) -> bytes:
        # One byte per write. A reply byte garbled into another reply that means "received"
        # (ACK, or EOT, which is ACK plus an interrupt) cannot be detected by E1381 at all.
        forbidden = {data[0], 0x06, 0x04} if side == "computer" and len(data) == 1 else set()
        i = self.rng.randrange(len(data))
        choices = [b for b in range(256) if b != data[i] and b not in forbidden]
        return data[:i] + bytes([self.rng.choice(choices)]) + data[i + 1 :]

    def run(self, until: float) -> None:
        for _ in range(100_000):  # a machine whose deadline never moves would spin here
            if self.now >= until:
                return
            deadlines = [t for t in (link.deadline for link in self.links.values()) if t is not None]
            next_delivery = self._queue[0][0] if self._queue else None
            candidates = deadlines + ([next_delivery] if next_delivery is not None else [])
            if not candidates:
                return
            self.now = max(self.now, min(candidates))
            if self.now >= until:
                return
            while self._queue and self._queue[0][0] <= self.now:
                _, _, side, data = heapq.heappop(self._queue)
                self.handle(side, self.links[side].feed(data, self.now))
            for side, link in self.links.items():
                self.handle(side, link.poll(self.now))
        raise AssertionError(f"no progress at t={self.now}")


messages = st.lists(
    st.binary(min_size=0, max_size=700).map(
        lambda b: b"H|\\^&\rR|1|" + bytes(ALLOWED[x % 90 + 8] for x in b) + b"\rL|1|N\r"
    ),
    min_size=1,
    max_size=4,
    unique=True,
)


@settings(max_examples=60, deadline=None)
@given(
    messages,
    st.integers(0, 2**32),
    st.floats(0, 0.2),
    st.floats(0, 0.3),
    st.floats(0, 0.3),
)
def test_a_lossy_line_delivers_each_message_at_most_once_and_never_damaged(
    texts: list[bytes], seed: int, p_drop: float, p_corrupt: float, p_reject: float
) -> None:
    line = Line(random.Random(seed), p_drop, p_corrupt, p_reject)
    for text in texts:
        line.handle("instrument", line.links["instrument"].send(text, 0.0))
    line.run(until=20_000.0)
    assert set(line.stored) <= set(texts), "a damaged message was stored"
    assert len(line.stored) == len(set(line.stored)), "a message was stored twice"
    assert set(line.sent) <= set(line.stored), "a message reported sent was never stored"
    assert set(line.sent) | set(line.failed) == set(texts), "a message was neither sent nor reported failed"


@settings(max_examples=20, deadline=None)
@given(messages, st.integers(0, 2**32))
def test_a_clean_line_delivers_every_message_exactly_once(texts: list[bytes], seed: int) -> None:
    line = Line(random.Random(seed), 0.0, 0.0, 0.0)
    for text in texts:
        line.handle("instrument", line.links["instrument"].send(text, 0.0))
    line.run(until=1_000.0)
    assert line.stored == texts == line.sent
    assert line.failed == []
