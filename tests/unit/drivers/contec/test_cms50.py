"""Contec CMS50: old and new wire formats, stream resynchronisation, commands and measurements."""

from __future__ import annotations

import contextlib
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.contec.cms50 import (
    START_RECORDED,
    STOP_RECORDED,
    Command,
    DeviceText,
    LiveData,
    NewDecoder,
    OldDecoder,
    OldLive,
    Packet,
    RecordedSample,
    RecordingHeader,
    SessionCount,
    SessionDate,
    SessionDuration,
    SessionTime,
    StoredSample,
    StoredSamples,
    decode_cms50,
    encode_command,
    encode_live,
    encode_old_live,
    encode_packet,
    encode_recorded_sample,
    encode_recording_header,
    frame_from_events,
    live_measurements,
    live_status,
    sample_measurements,
    session_command,
    set_date_command,
    set_time_command,
)
from drivers.contec.cms50_new import PACKET_LENGTHS, interpret, restore_msb
from drivers.errors import FrameError

NOW = datetime(2025, 3, 4, 5, 6, 7)

old_lives = st.builds(
    OldLive,
    signal_strength=st.integers(0, 15),
    finger_out=st.booleans(),
    dropping_spo2=st.booleans(),
    beep=st.booleans(),
    pleth=st.integers(0, 127),
    bar_graph=st.integers(0, 15),
    probe_error=st.booleans(),
    searching=st.booleans(),
    pulse_rate=st.integers(0, 255),
    spo2=st.integers(0, 127),
)
recorded = st.builds(RecordedSample, st.integers(0, 255), st.integers(0, 127))
headers = st.integers(1, 1 << 21).map(RecordingHeader)
new_lives = st.builds(
    LiveData,
    status=st.integers(0, 255),
    pleth=st.integers(0, 255),
    bar_graph=st.integers(0, 255),
    pulse_rate=st.integers(0, 255),
    spo2=st.integers(0, 255),
    reserved=st.binary(min_size=2, max_size=2),
)


def _old_bytes(event: OldLive | RecordedSample | RecordingHeader) -> bytes:
    if isinstance(event, OldLive):
        return encode_old_live(event)
    if isinstance(event, RecordedSample):
        return encode_recorded_sample(event)
    return encode_recording_header(event.length)


def _feed_in_chunks(decoder: OldDecoder | NewDecoder, stream: bytes, cuts: list[int]) -> list[object]:
    events: list[object] = []
    start = 0
    for cut in [*sorted(c % (len(stream) + 1) for c in cuts), len(stream)]:
        events += decoder.feed(stream[start:cut])
        start = max(start, cut)
    return events


# --- old protocol ----------------------------------------------------------------------------


def test_old_live_packet_fields() -> None:
    packet = OldDecoder().feed(bytes.fromhex("F5 1A 6C 64 5F".replace(" ", "")))
    assert packet == [
        OldLive(
            signal_strength=5,
            finger_out=True,
            dropping_spo2=True,
            beep=True,
            pleth=0x1A,
            bar_graph=0x0C,
            probe_error=False,
            searching=True,
            pulse_rate=0xE4,
            spo2=0x5F,
        )
    ]


@given(st.lists(st.one_of(old_lives, recorded, headers), max_size=8))
@settings(max_examples=150)
def test_old_packets_round_trip(events: list[OldLive | RecordedSample | RecordingHeader]) -> None:
    decoder = OldDecoder()
    assert decoder.feed(b"".join(map(_old_bytes, events))) == events
    assert (decoder.discarded, decoder.pending) == (0, b"")


def test_the_recording_header_announces_bytes_of_samples() -> None:
    wire = encode_recording_header(3 * 3600)
    assert wire[:9] == bytes.fromhex("F28000F28000F28000")
    (header,) = OldDecoder().feed(wire)
    assert isinstance(header, RecordingHeader)
    assert (header.length, header.samples) == (10800, 3600)
    assert (START_RECORDED, STOP_RECORDED) == (b"\xf5\xf5", b"\xf6\xf6\xf6")


# Garbage that cannot take part in any old-format packet: bit 7 set, and not a sample/preamble start.
OLD_GARBAGE = st.lists(st.sampled_from([b for b in range(0x80, 0x100) if b not in (0xF0, 0xF1, 0xF2)]), max_size=6).map(
    bytes
)


@given(
    st.lists(st.tuples(OLD_GARBAGE, st.one_of(old_lives, recorded, headers)), max_size=8),
    OLD_GARBAGE,
    st.lists(st.integers(0, 200), max_size=6),
)
@settings(max_examples=100)
def test_old_stream_recovers_every_packet_between_garbage(
    pairs: list[tuple[bytes, OldLive | RecordedSample | RecordingHeader]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(junk + _old_bytes(event) for junk, event in pairs) + tail
    decoder = OldDecoder()
    assert _feed_in_chunks(decoder, stream, cuts) == [event for _, event in pairs]
    assert decoder.discarded == sum(len(junk) for junk, _ in pairs) + len(tail) - len(decoder.pending)


def test_old_stream_resyncs_after_a_packet_cut_short() -> None:
    good = encode_old_live(OldLive(spo2=97, pulse_rate=71))
    decoder = OldDecoder()
    assert decoder.feed(good[:3] + good + good) == [OldLive(spo2=97, pulse_rate=71)] * 2
    assert decoder.discarded == 3


# --- new protocol ----------------------------------------------------------------------------


def test_the_carrier_byte_holds_bit_7_of_each_following_byte() -> None:
    wire = encode_live(LiveData(status=0, pleth=0x33, bar_graph=0x16, pulse_rate=200, spo2=98))
    assert wire == bytes.fromhex("01E880B396C8E2FFFF")
    (live,) = NewDecoder().feed(wire)
    assert live == LiveData(status=0, pleth=0x33, bar_graph=0x16, pulse_rate=200, spo2=98)


def test_a_captured_live_stream() -> None:
    events = NewDecoder().feed(bytes.fromhex("01E085B396C1E1FFFF01E085B096C1E1FFFF"))
    assert [(e.pulse_rate, e.spo2) for e in events if isinstance(e, LiveData)] == [(65, 97), (65, 97)]


@pytest.mark.parametrize(
    ("wire", "event"),
    [
        ("028080C3CDD3B5B0C4", DeviceText(0x02, "CMS50D", 0)),
        ("0380C3CFCED4C5C3A0", DeviceText(0x03, "CONTEC ", None)),
        ("0A808083", SessionCount(0, 3)),
        ("08808080A4818080", SessionDuration(0x0124)),
        ("1280808082A69280", SessionTime(2, 38, 18)),
        ("0780808080808080", SessionDate(0, 0, 0, 0)),
        ("0980E1C4CE82", StoredSamples(0x09, (StoredSample(0x61, 0x44, 0x024E),))),
        (
            "0FA2DEFFDEC280FF",
            StoredSamples(0x0F, (StoredSample(94, 0xFF), StoredSample(94, 66), StoredSample(0, 0xFF))),
        ),
        ("0C80", Packet(0x0C, b"")),
        ("11808181808080808080", Packet(0x11, bytes([1, 1, 0, 0, 0, 0, 0]))),
    ],
)
def test_new_responses_decode_by_type(wire: str, event: object) -> None:
    assert NewDecoder().feed(bytes.fromhex(wire)) == [event]


def test_session_values() -> None:
    assert SessionDuration(7200).seconds() == 3600
    assert SessionDuration(7200).seconds(divisor=4) == 1800
    assert SessionDate(20, 24, 2, 29).date == date(2024, 2, 29)
    assert SessionDate(0, 0, 0, 0).date is None
    assert SessionDate(20, 23, 2, 29).date is None
    samples = StoredSamples(0x0F, (StoredSample(94, 0xFF), StoredSample(94, 66)))
    assert [s.valid for s in samples.samples] == [False, True]
    assert StoredSample(0, 66, 10).valid is False


@given(st.sampled_from(sorted(PACKET_LENGTHS)), st.data())
@settings(max_examples=200)
def test_any_payload_survives_the_carrier_encoding(packet_type: int, data: st.DataObject) -> None:
    payload = data.draw(st.binary(min_size=PACKET_LENGTHS[packet_type] - 2, max_size=PACKET_LENGTHS[packet_type] - 2))
    wire = encode_packet(packet_type, payload)
    assert wire[0] == packet_type
    assert all(b & 0x80 for b in wire[1:])
    assert NewDecoder().feed(wire) == [interpret(packet_type, payload)]


@given(new_lives)
@settings(max_examples=150)
def test_new_live_packets_round_trip(live: LiveData) -> None:
    assert NewDecoder().feed(encode_live(live)) == [live]


# Garbage that cannot start a new-format packet: bit 7 set, or a type byte this protocol lacks.
NEW_GARBAGE = st.lists(
    st.one_of(st.integers(0x80, 0xFF), st.integers(0x15, 0x7F), st.just(0x00), st.just(0x0D)), max_size=6
).map(bytes)
new_packets = st.one_of(
    new_lives.map(lambda live: (encode_live(live), live)),
    st.sampled_from(sorted(PACKET_LENGTHS)).flatmap(
        lambda t: st.binary(min_size=PACKET_LENGTHS[t] - 2, max_size=PACKET_LENGTHS[t] - 2).map(
            lambda p: (encode_packet(t, p), interpret(t, p))
        )
    ),
)


@given(
    st.lists(st.tuples(NEW_GARBAGE, new_packets), max_size=8),
    NEW_GARBAGE,
    st.lists(st.integers(0, 200), max_size=6),
)
@settings(max_examples=100)
def test_new_stream_recovers_every_packet_between_garbage(
    pairs: list[tuple[bytes, tuple[bytes, object]]], tail: bytes, cuts: list[int]
) -> None:
    stream = b"".join(junk + wire for junk, (wire, _) in pairs) + tail
    decoder = NewDecoder()
    assert _feed_in_chunks(decoder, stream, cuts) == [event for _, (_, event) in pairs]
    assert decoder.discarded == sum(len(junk) for junk, _ in pairs) + len(tail) - len(decoder.pending)


def test_new_stream_drops_a_packet_cut_short_by_the_next_one() -> None:
    good = encode_live(LiveData(spo2=96, pulse_rate=60))
    decoder = NewDecoder()
    assert decoder.feed(good[:5] + good) == [LiveData(spo2=96, pulse_rate=60)]
    assert decoder.discarded == 5


@given(st.binary(max_size=200), st.lists(st.integers(0, 200), max_size=6))
@settings(max_examples=200)
def test_random_bytes_never_raise_from_the_stream_decoders(stream: bytes, cuts: list[int]) -> None:
    for decoder in (OldDecoder(), NewDecoder()):
        _feed_in_chunks(decoder, stream, cuts)
        assert decoder.discarded + len(decoder.pending) <= len(stream)


# --- commands ---------------------------------------------------------------------------------


@pytest.mark.parametrize("op", list(Command))
def test_every_command_is_nine_bytes(op: Command) -> None:
    wire = encode_command(op)
    assert wire == bytes([0x7D, 0x81, op]) + b"\x80" * 6
    assert decode_cms50(wire).fields["packets"][0]["command"] == op.name.lower()


def test_clock_and_session_commands() -> None:
    assert set_time_command(time(13, 4, 5)) == bytes.fromhex("7D81B18D8485808080")
    # 2024-05-05 was a Sunday: weekday 0.
    assert set_date_command(date(2024, 5, 5)) == bytes.fromhex("7D81B2949885858080")
    assert set_date_command(date(2024, 5, 6))[7] == 0x81
    assert session_command(Command.ERASE_SESSION, session=2, user=1) == bytes.fromhex("7D81AE818280808080")


@pytest.mark.parametrize(("op", "params"), [(0x21, ()), (0xA1, (128,)), (0xA1, (1, 2, 3, 4, 5, 6, 7)), (0xA1, (-1,))])
def test_bad_commands_are_refused(op: int, params: tuple[int, ...]) -> None:
    with pytest.raises(FrameError):
        encode_command(op, *params)


# --- measurements and decode_cms50 ------------------------------------------------------------


@pytest.mark.parametrize(
    ("packet", "status"),
    [
        (OldLive(finger_out=True, spo2=97, pulse_rate=70), ("finger-out",)),
        (OldLive(searching=True, spo2=97, pulse_rate=70), ("searching",)),
        (OldLive(probe_error=True, spo2=97, pulse_rate=70), ("probe-error",)),
    ],
)
def test_no_reading_while_the_finger_is_out_or_the_probe_searches(packet: OldLive, status: tuple[str, ...]) -> None:
    assert live_measurements(packet, NOW) == ()
    assert live_status(packet) == status
    frame = decode_cms50(encode_old_live(packet))
    assert frame.measurements == ()
    assert frame.fields["status"] == list(status)


def test_a_good_live_packet_gives_spo2_and_pulse() -> None:
    spo2, pulse = live_measurements(OldLive(spo2=97, pulse_rate=130, dropping_spo2=True), NOW)
    assert (spo2.code, spo2.value, spo2.unit, spo2.flags, spo2.taken_at) == (
        "59408-5",
        Decimal(97),
        "%",
        ("spo2-dropping",),
        NOW,
    )
    assert (pulse.code, pulse.value, pulse.unit, pulse.mdc_code) == ("8867-4", Decimal(130), "/min", "149530")


@pytest.mark.parametrize(
    ("spo2", "pulse", "codes"),
    [
        (127, 70, ["8867-4"]),
        (0, 70, ["8867-4"]),
        (97, 0, ["59408-5"]),
        (97, 255, ["59408-5"]),
        (127, 255, []),
    ],
)
def test_no_value_markers_give_no_measurement(spo2: int, pulse: int, codes: list[str]) -> None:
    assert [m.code for m in live_measurements(OldLive(spo2=spo2, pulse_rate=pulse))] == codes
    new_spo2 = 0xFF if spo2 == 127 else spo2
    assert [m.code for m in live_measurements(LiveData(spo2=new_spo2, pulse_rate=pulse))] == codes


def test_implausible_values_are_kept_for_the_profile_to_judge() -> None:
    (spo2, _) = live_measurements(LiveData(spo2=120, pulse_rate=60))
    assert spo2.value == Decimal(120)


def test_stored_samples_become_measurements_only_when_valid() -> None:
    assert [m.code for m in sample_measurements(StoredSample(94, 66), NOW)] == ["59408-5", "8867-4"]
    assert sample_measurements(StoredSample(94, 0xFF), NOW) == ()
    assert [m.value for m in sample_measurements(RecordedSample(200, 97), NOW)] == [Decimal(97), Decimal(200)]


def test_decode_a_short_run_reports_every_packet_and_measures_the_last() -> None:
    run = encode_old_live(OldLive(spo2=95, pulse_rate=80)) + encode_old_live(OldLive(spo2=96, pulse_rate=81))
    frame = decode_cms50(run)
    assert frame.protocol == "cms50:old"
    assert len(frame.fields["packets"]) == 2
    assert [m.value for m in frame.measurements] == [Decimal(96), Decimal(81)]
    new = decode_cms50(encode_live(LiveData(spo2=98, pulse_rate=61)) + bytes.fromhex("0C80"))
    assert new.protocol == "cms50:new"
    assert [p["kind"] for p in new.fields["packets"]] == ["live", "packet"]
    assert decode_cms50(START_RECORDED).fields["packets"][0]["command"] == "start_recorded"


@pytest.mark.parametrize(
    "hex_",
    [
        "",
        "85000000",
        "850000006285",
        "00",
        "01E085B396",
        "7D81A1",
        "7D81A1808080808000",
        "7D81A1808080808080FF",
        "F5",
    ],
)
def test_decode_rejects_anything_but_whole_packets(hex_: str) -> None:
    with pytest.raises(FrameError):
        decode_cms50(bytes.fromhex(hex_))


@given(st.binary(max_size=60))
@settings(max_examples=300)
def test_decode_raises_nothing_but_frame_error(data: bytes) -> None:
    with contextlib.suppress(FrameError):
        decode_cms50(data)


@given(st.binary(min_size=2, max_size=12))
def test_restore_msb_puts_each_carried_bit_back(raw: bytes) -> None:
    carrier = raw[1]
    by_byte = bytes((b & 0x7F) | (0x80 if carrier >> i & 1 else 0) for i, b in enumerate(raw[2:]))
    assert restore_msb(raw) == by_byte


@given(st.binary(min_size=8, max_size=8).map(lambda rest: bytes([0x01, *(0x80 | b for b in rest)])))
def test_a_lone_live_packet_decodes_as_the_stream_decoder_reads_it(packet: bytes) -> None:
    (event,) = NewDecoder().feed(packet)
    assert decode_cms50(packet) == frame_from_events([event], "cms50:new")
