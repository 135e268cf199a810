"""The technician's view of ASTM bytes: lone frames, several frames, whole transfers, bare records."""

from __future__ import annotations

import json

import pytest

from clinic_agent.cli import main
from drivers.astm.framing import Frame, encode_frame, split_text
from drivers.astm.inspect import inspect_astm
from drivers.astm.records import encode_message
from drivers.errors import FrameError

RESULT = b"R|1|^^^TP|10.00|g/dL|0^0||||F|||20131203141051\r"
MESSAGE = b"H|\\^&|||Meril^3.6\rP|1\rR|1|^^^GLU|5.6|mmol/L||||F\rL|1|N\r"


def _with_checksum(frame: bytes, checksum: bytes) -> bytes:
    return frame[:-4] + checksum + b"\r\n"


@pytest.mark.parametrize("number", range(8))
def test_a_lone_intermediate_frame_of_any_number_shows_its_partial_record(number: int) -> None:
    data = encode_frame(Frame(number=number, text=b"P|1\rO|1||12^34", final=False))
    fields = inspect_astm(data).fields
    [frame] = fields["frames"]
    assert (frame["frame_number"], frame["terminator"], frame["checksum_ok"]) == (number, "ETB", True)
    assert frame["checksum"] == data[-4:-2].decode()
    assert [r["record_type"] for r in fields["records"]] == ["P"]
    assert fields["partial_record"] == "O|1||12^34"
    assert (fields["valid"], fields["receiver_action"], fields["message_complete"]) == (True, "ACK", False)


def test_a_lone_result_frame_yields_its_measurement_with_the_loinc_code() -> None:
    decoded = inspect_astm(encode_frame(Frame(number=3, text=RESULT, final=True)))
    [measurement] = decoded.measurements
    assert (measurement.code, str(measurement.value), measurement.unit) == ("2885-2", "10.00", "g/dL")
    assert decoded.fields["records"][0]["test_code"] == "TP"


def test_a_wrong_checksum_is_shown_with_the_right_one_and_the_nak() -> None:
    good = encode_frame(Frame(number=1, text=RESULT, final=True))
    wrong = b"00" if good[-4:-2] != b"00" else b"01"
    fields = inspect_astm(_with_checksum(good, wrong)).fields
    [frame] = fields["frames"]
    assert (frame["checksum"], frame["checksum_ok"]) == (wrong.decode(), False)
    assert frame["checksum_expected"] == good[-4:-2].decode()
    assert (fields["valid"], fields["receiver_action"]) == (False, "NAK")
    assert "does not match" in fields["reason"]
    assert fields["records"][0]["value"] == "10.00"  # still read, for the technician


def test_the_command_prints_a_refused_frame_and_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    good = encode_frame(Frame(number=5, text=b"L|1|N", final=True))
    assert main(["decode", "astm", _with_checksum(good, b"06").hex()]) == 2
    captured = capsys.readouterr()
    printed = json.loads(captured.out)["fields"]
    assert (printed["frames"][0]["checksum_ok"], printed["frames"][0]["checksum_expected"]) == (False, "FB")
    assert captured.err.strip().splitlines() == [
        "clinic-agent: astm: checksum 06 does not match FB (a receiver answers NAK)"
    ]
    # The same frame, right, exits 0: the status follows the checksum.
    assert main(["decode", "astm", good.hex()]) == 0


def test_a_header_frame_without_its_terminator_is_shown_not_refused() -> None:
    data = encode_frame(Frame(number=1, text=b"H|\\^&|||Meril^3.6^11052213|||||||||20131203141051\r", final=True))
    fields = inspect_astm(data).fields
    [header] = fields["records"]
    assert (header["sender_name"], header["message_datetime_iso"]) == ("Meril", "2013-12-03T14:10:51")
    assert fields["message_complete"] is False


def test_frames_of_a_whole_transfer_decode_as_the_message() -> None:
    data = b"\x05" + b"".join(encode_frame(f) for f in split_text(MESSAGE, max_text=20)) + b"\x04"
    decoded = inspect_astm(data)
    assert len(decoded.fields["frames"]) == 3
    assert decoded.fields["message_complete"] is True
    assert decoded.fields["header"]["sender_name"] == "Meril"
    assert [(m.code, m.unit) for m in decoded.measurements] == [("14749-6", "mmol/L")]


def test_frames_out_of_sequence_are_refused_as_a_receiver_would() -> None:
    frames = split_text(MESSAGE, max_text=20)
    data = encode_frame(frames[0]) + encode_frame(frames[2])
    fields = inspect_astm(data).fields
    assert fields["valid"] is False
    assert "frame number 3 follows 1" in fields["reason"]


@pytest.mark.parametrize("line_end", [b"\r", b"\n", b"\r\n", b""])
def test_a_bare_record_from_a_log_is_read_with_or_without_the_flag(line_end: bytes) -> None:
    text = b"R|1|^^^NA^Sodium|140|mmol/l" + line_end
    for decoded in (inspect_astm(text), inspect_astm(text, record=True)):
        assert decoded.fields["input"] == "records"
        assert [(m.code, str(m.value)) for m in decoded.measurements] == [("2951-2", "140")]


def test_the_record_flag_reads_text_that_would_look_like_a_frame(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "astm", "--record", "--text", "C|1|I|see <ETX> note|G"]) == 2  # a control byte
    assert "control byte 0x03 in record text" in capsys.readouterr().err
    assert main(["decode", "astm", "--record", "--text", "C|1|I|note|G"]) == 0
    assert json.loads(capsys.readouterr().out)["fields"]["records"][0]["comment_text"] == "note"
    assert main(["decode", "hl7", "--record", "--text", "x"]) == 2


def test_bytes_that_are_no_frame_at_all_are_bad_input() -> None:
    with pytest.raises(FrameError, match="no <ETX> or <ETB>"):
        inspect_astm(b"\x021H|\\^&")


def test_a_whole_message_in_bare_records_matches_the_ingest_decoder() -> None:
    from drivers.astm.results import decode_astm

    text = encode_message([["H"], ["P", "1"], ["R", "1", ["", "", "", "GLU"], "5.6", "mmol/L"], ["L", "1", "N"]])
    inspected, ingested = inspect_astm(text), decode_astm(text)
    assert inspected.measurements == ingested.measurements
    assert inspected.fields["results"] == ingested.fields["results"]
