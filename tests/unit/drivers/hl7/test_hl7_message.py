"""HL7 v2 message parsing: delimiters, escapes, repetitions, line ends, character sets, dates."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drivers.errors import FrameError
from drivers.hl7.message import (
    Encoding,
    Repeated,
    encode_message,
    encode_segment,
    escape,
    format_datetime,
    parse_datetime,
    parse_message,
    unescape,
)

MSH = "MSH|^~\\&|App|Fac|Rcv|RFac|20240601080000||ORU^R01|C1|P|2.5"


def test_fields_components_and_repetitions() -> None:
    message = parse_message(f"{MSH}\rPID|||A1^^^H^PI~11010519491231002X^^^^NI||Doe^John".encode())
    pid = message.first("PID")
    assert pid is not None
    assert pid.repetitions(3) == ["A1^^^H^PI", "11010519491231002X^^^^NI"]
    assert pid.component(3, 5, repetition=2) == "NI"
    assert pid.components(5) == ["Doe", "John"]
    assert message.message_type == ("ORU", "R01")
    assert message.control_id == "C1"


def test_msh_1_and_2_are_the_delimiters() -> None:
    msh = parse_message(MSH.encode()).msh
    assert (msh.field(1), msh.field(2), msh.field(3)) == ("|", "^~\\&", "App")
    assert msh.components(2) == ["^~\\&"]


def test_other_delimiters_are_read_from_msh() -> None:
    message = parse_message(b"MSH#*!/%#App#F\rPID###A1*x!A2*y#")
    assert message.encoding == Encoding("#", "*", "!", "/", "%")
    pid = message.first("PID")
    assert pid is not None
    assert pid.repetitions(3) == ["A1*x", "A2*y"]
    assert pid.component(3, 2, repetition=2) == "y"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("a\\F\\b", "a|b"),
        ("a\\S\\b\\T\\c\\R\\d\\E\\e", "a^b&c~d\\e"),
        ("\\X48\\\\XE5BCA0\\", "H张"),
        ("\\XE9\\", "é"),  # not UTF-8: read as Latin-1, not lost
        ("\\H\\bold\\N\\", "bold"),
        ("line\\.br\\next", "line\nnext"),
        ("\\Z99\\", "\\Z99\\"),
        ("trailing\\", "trailing\\"),
    ],
)
def test_escapes(raw: str, text: str) -> None:
    assert unescape(raw, Encoding(), "utf-8") == text


def test_escaped_delimiters_stay_inside_their_component() -> None:
    message = parse_message(f"{MSH}\rOBX|1|ST|X^Y^L||a\\S\\b\\F\\c~d".encode())
    obx = message.first("OBX")
    assert obx is not None
    assert obx.components(5) == ["a^b|c"]
    assert obx.repetitions(5) == ["a\\S\\b\\F\\c", "d"]


def test_escape_round_trips() -> None:
    value = "a|b^c~d\\e&f\rg\nh"
    assert unescape(escape(value)) == value


@pytest.mark.parametrize("ending", [b"\r", b"\n", b"\r\n"])
def test_any_line_ending_separates_segments(ending: bytes) -> None:
    data = ending.join([MSH.encode(), b"PID|1", b"", b"OBR|1"]) + ending
    assert [s.name for s in parse_message(data).segments] == ["MSH", "PID", "OBR"]


def test_declared_character_set_is_used() -> None:
    msh = MSH + "||||||GB 18030-2000"
    data = f"{msh}\rPID|||1||王^小明".encode("gb18030")
    message = parse_message(data)
    assert message.charset == "gb18030"
    pid = message.first("PID")
    assert pid is not None
    assert pid.component(5) == "王"


def test_undeclared_or_wrongly_declared_text_falls_back() -> None:
    ascii_msh = MSH + "||||||ASCII"
    assert parse_message(f"{ascii_msh}\rPID|||1||张".encode()).charset == "utf-8"
    assert parse_message(f"{MSH}\rPID|||1||张".encode("gb18030")).charset == "gb18030"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"PID|1\rMSH|^~\\&", "does not start with an MSH"),
        (b"MSH", "does not start with an MSH"),
        (b"MSH|^~\\", "unusable delimiters"),
        (b"MSH|^^\\&|", "unusable delimiters"),
        (b"MSH|^~\\&|\rpid|1", "segment 2 does not start with a segment ID"),
        (b"MSH|^~\\&|\rPIDX|1", "segment 2"),
        (b"MSH|^~\\&|\rMSH|^~\\&|\r", None),
    ],
)
def test_malformed_messages_are_refused(data: bytes, reason: str | None) -> None:
    if reason is None:
        assert len(parse_message(data).segments) == 2
        return
    with pytest.raises(FrameError, match=reason):
        parse_message(data)


@pytest.mark.parametrize(
    ("text", "moment"),
    [
        ("20090813095715+0500", datetime(2009, 8, 13, 9, 57, 15, tzinfo=timezone(timedelta(hours=5)))),
        ("20240601", datetime(2024, 6, 1)),
        ("202406010830", datetime(2024, 6, 1, 8, 30)),
        ("20240601083015.25-0330", datetime(2024, 6, 1, 8, 30, 15, 250000, timezone(-timedelta(hours=3.5)))),
        ("", None),
    ],
)
def test_dates(text: str, moment: datetime | None) -> None:
    assert parse_datetime(text, "OBX-14") == moment


@pytest.mark.parametrize("bad", ["2024", "202413010000", "20240601+05", "2024-06-01", "20240601250000"])
def test_bad_dates_name_their_field(bad: str) -> None:
    with pytest.raises(FrameError, match="OBR-7"):
        parse_datetime(bad, "OBR-7")


def test_format_datetime_keeps_the_offset() -> None:
    assert format_datetime(datetime(2024, 6, 1, 8, 0, tzinfo=timezone(timedelta(hours=8)))) == "20240601080000+0800"
    assert format_datetime(datetime(2024, 6, 1, 8, 0)) == "20240601080000"


def test_encoder_round_trips_through_the_parser() -> None:
    msh = encode_segment("MSH", ["App", "", "", "", "20240601", "", ["ORU", "R01"], "C|1"])
    pid = encode_segment("PID", ["", "", Repeated([["A1", "", "", "", "PI"], "B2"]), "", ["张", "三"]])
    message = parse_message(encode_message([msh, pid]))
    assert message.control_id == "C|1"
    parsed = message.first("PID")
    assert parsed is not None
    assert parsed.repetitions(3) == ["A1^^^^PI", "B2"]
    assert parsed.components(5) == ["张", "三"]
    with pytest.raises(ValueError):  # a caller mistake, not peer input
        encode_segment("pid", [])
