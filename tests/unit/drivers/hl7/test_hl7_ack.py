"""ACKs: swapped addresses, MSA with their MSH-10, ERR with the reason, AR even for broken bodies."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from drivers.errors import FrameError
from drivers.hl7.ack import build_ack, find_msh, parse_ack
from drivers.hl7.message import parse_message
from drivers.hl7.mllp import frame

NOW = datetime(2024, 6, 1, 8, 0, 5, tzinfo=timezone(timedelta(hours=8)))
ORU = (
    b"MSH|^~\\&|Dev^EUI^EUI-64|Ward 3|Agent|Clinic|20240601080000+0800||ORU^R01^ORU_R01|M-77|T|2.6\r"
    b"OBR|1||||||20240601075500+0800\r"
    b"OBX|1|NM|8867-4^HR^LN|1.0.0.1|70|/min"
)


def test_aa_swaps_sender_and_receiver_and_echoes_their_id() -> None:
    ack = build_ack(parse_message(ORU), "AA", NOW, "ACK-1")
    assert ack.split(b"\r") == [
        b"MSH|^~\\&|Agent|Clinic|Dev^EUI^EUI-64|Ward 3|20240601080005+0800||ACK^R01^ACK|ACK-1|T|2.6",
        b"MSA|AA|M-77",
        b"",
    ]


@pytest.mark.parametrize(("code", "error_code"), [("AE", "103"), ("AR", "207")])
def test_ae_and_ar_carry_the_reason_in_msa_3_and_err(code: str, error_code: str) -> None:
    ack = parse_message(build_ack(ORU, code, NOW, "ACK-2", "unknown code X|Y", error_code=error_code))  # type: ignore[arg-type]
    msa, err = ack.first("MSA"), ack.first("ERR")
    assert msa is not None
    assert err is not None
    assert (msa.text(1), msa.text(2), msa.text(3)) == (code, "M-77", "unknown code X|Y")
    assert err.components(3) == [error_code, err.component(3, 2), "HL70357"]
    assert (err.text(4), err.text(8)) == ("E", "unknown code X|Y")


def test_an_ar_can_be_built_for_a_message_whose_body_does_not_parse() -> None:
    broken = frame(ORU + b"\r\x00garbage")
    parsed = parse_ack(build_ack(broken, "AR", NOW, "ACK-3", "segment 4 is garbage"))
    assert (parsed.code, parsed.acknowledged_id, parsed.error) == ("AR", "M-77", "segment 4 is garbage")


def test_junk_before_the_msh_is_skipped_when_refusing() -> None:
    assert find_msh(b"\x00\x01junk" + ORU).field(10) == "M-77"


def test_a_stray_framing_byte_in_their_msh_never_reaches_our_ack() -> None:
    # Found by the property test: a VT inside MSH-3 was echoed into the ACK, which then could
    # neither be read back nor framed (it would end the MLLP block early at the device).
    stray = ORU.replace(b"|Dev^", b"|\x0bDev^")
    ack = build_ack(stray, "AR", NOW, "ACK-5", "framing byte inside the message")
    assert b"\x0b" not in ack
    assert b"\x1c" not in ack
    assert parse_ack(ack).acknowledged_id == "M-77"


@pytest.mark.parametrize("data", [b"", b"hello", b"MSH", b"MSH|^~\\"])
def test_without_a_readable_msh_there_is_no_one_to_answer(data: bytes) -> None:
    with pytest.raises(FrameError, match="cannot acknowledge"):
        build_ack(data, "AR", NOW, "ACK-4", "unreadable")


def test_the_ack_uses_their_delimiters_and_character_set() -> None:
    theirs = "MSH#*!/%#App#Fac#Agent#Cl#20240601##ORU*R01#X9#P#2.5######GB 18030-2000\rOBR#1".encode("gb18030")
    ack = build_ack(theirs, "AE", NOW, "A*1", "无法识别")
    message = parse_message(ack)
    assert message.charset == "gb18030"
    assert message.msh.field(3) == "Agent"
    assert message.control_id == "A*1"
    msa = message.first("MSA")
    assert msa is not None
    assert msa.text(3) == "无法识别"


def test_a_reason_with_line_breaks_stays_on_one_segment() -> None:
    ack = build_ack(ORU, "AR", NOW, "A5", "first line\r\nsecond line")
    assert len(parse_message(ack).segments) == 3
    assert parse_ack(ack).error == "first line second line"


def test_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="acknowledgement code"):
        build_ack(ORU, "CA", NOW, "A")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="error code"):
        build_ack(ORU, "AE", NOW, "A", "x", error_code="999")


def test_parse_ack_needs_an_msa() -> None:
    with pytest.raises(FrameError, match="no MSA"):
        parse_ack(ORU)


def test_refusing_a_broken_message_keeps_its_chinese_application_name() -> None:
    broken = "MSH|^~\\&|血压计|一楼|Agent|Clinic|20240601||ORU^R01|G1|P|2.5\rbad".encode("gb18030")
    ack = parse_message(build_ack(broken, "AR", NOW, "A6", "segment 2 is not a segment"))
    assert (ack.msh.field(5), ack.msh.field(6)) == ("血压计", "一楼")
