"""Properties: HL7 parsers raise only FrameError; escapes, ORU messages and MLLP round-trip."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from drivers.errors import FrameError
from drivers.hl7.ack import build_ack, parse_ack
from drivers.hl7.compose import Observation, blood_pressure, build_oru_r01
from drivers.hl7.message import escape, parse_datetime, parse_message, unescape
from drivers.hl7.mllp import FS, VT, MllpDecoder, frame
from drivers.hl7.pcd01 import decode_hl7, decode_hl7_readings

NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)
SAMPLE = build_oru_r01(
    control_id="S1",
    timestamp=NOW,
    observations=[
        *blood_pressure("120", "80", "93", "70", at=NOW),
        Observation(sub_id="2.0.0.1", code=("150456", "MDC_PULS_OXIM_SAT_O2", "MDC"), value="98"),
    ],
    patient_ids=[("11010519491231002X", "NI")],
    patient_name=("张", "三"),
)


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


edits = st.lists(st.tuples(st.integers(0, 2), st.integers(0, 10_000), st.integers(0, 255)), max_size=8)
inputs = st.one_of(st.binary(max_size=400), edits.map(lambda e: mutate(SAMPLE, e)))


@given(inputs)
def test_parse_message_raises_only_frame_error(data: bytes) -> None:
    try:
        parse_message(data)
    except FrameError:
        return


@given(inputs)
def test_decode_raises_only_frame_error_and_gives_json(data: bytes) -> None:
    try:
        json.dumps(decode_hl7(data).as_json())
        decode_hl7_readings(data)
    except FrameError:
        return


@given(inputs, st.sampled_from(["AA", "AE", "AR"]), st.text(max_size=30))
def test_an_ack_is_either_built_and_readable_or_refused_with_frame_error(data: bytes, code: str, reason: str) -> None:
    try:
        ack = build_ack(data, code, NOW, "ACK1", reason)  # type: ignore[arg-type]
    except FrameError:
        return
    assert parse_ack(ack).code == code


@given(st.text(max_size=40))
def test_parse_datetime_raises_only_frame_error(text: str) -> None:
    try:
        parse_datetime(text, "OBX-14")
    except FrameError:
        return


@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), max_size=60))
def test_escape_round_trips(text: str) -> None:
    assert unescape(escape(text)) == text


values = st.decimals(min_value=-1000, max_value=100_000, places=3, allow_nan=False, allow_infinity=False)
metrics = st.sampled_from(
    [
        ("150456", "MDC_PULS_OXIM_SAT_O2", "59408-5"),
        ("150364", "MDC_TEMP_BODY", "8310-5"),
        ("188736", "MDC_MASS_BODY_ACTUAL", "29463-7"),
        ("149530", "MDC_PULS_OXIM_PULS_RATE", "8867-4"),
    ]
)


@given(
    st.lists(st.tuples(metrics, values), min_size=1, max_size=6),
    st.text(alphabet="abcXYZ张王李^|~\\&-", min_size=1, max_size=12),
    st.integers(-12 * 60, 14 * 60),
)
def test_built_oru_messages_decode_to_what_was_built(
    rows: list[tuple[tuple[str, str, str], Decimal]], name: str, offset: int
) -> None:
    zone = timezone(timedelta(minutes=offset))
    when = datetime(2024, 6, 1, 8, 0, tzinfo=zone)
    observations = [
        Observation(sub_id=f"1.0.0.{i}", code=(code, refid, "MDC"), value=str(value), observed_at=when)
        for i, ((code, refid, _), value) in enumerate(rows, start=1)
    ]
    data = build_oru_r01(control_id="R|1", timestamp=when, observations=observations, patient_ids=[(name, "PI")])
    decoded = decode_hl7(frame(data))
    assert [(m.code, m.value, m.taken_at) for m in decoded.measurements] == [
        (loinc, value, when) for (_, _, loinc), value in rows
    ]
    assert decoded.sequence == "R|1"
    assert decoded.subject is not None
    assert decoded.subject.other_id == name


payloads = st.lists(
    st.binary(min_size=1, max_size=300).filter(lambda b: VT not in b and FS not in b), min_size=1, max_size=5
)


@given(payloads, st.lists(st.integers(1, 50), min_size=1, max_size=20), st.binary(max_size=20))
def test_mllp_round_trips_in_any_chunking(messages: list[bytes], sizes: list[int], junk: bytes) -> None:
    stream = junk.replace(bytes([VT]), b"") + b"".join(frame(m) for m in messages)
    decoder = MllpDecoder()
    got: list[bytes] = []
    position, turn = 0, 0
    while position < len(stream):
        size = sizes[turn % len(sizes)]
        got += decoder.feed(stream[position : position + size])
        position, turn = position + size, turn + 1
    assert got == messages


@given(st.lists(st.binary(max_size=200), max_size=30), st.integers(10, 500))
def test_mllp_decoder_never_raises_and_stays_bounded(chunks: list[bytes], limit: int) -> None:
    decoder = MllpDecoder(max_message=limit)
    for chunk in chunks:
        for message in decoder.feed(chunk):
            assert 0 < len(message) <= limit
        assert decoder.buffered <= limit
