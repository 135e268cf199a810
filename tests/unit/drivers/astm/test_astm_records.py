"""E1394 records: declared delimiters, escapes, field names, unknown record types, the encoder."""

from __future__ import annotations

import pytest

from drivers.astm.records import (
    Delimiters,
    Record,
    encode_message,
    encode_record,
    escape,
    parse_record,
    parse_records,
    unescape,
)
from drivers.errors import FrameError


def test_delimiters_come_from_the_header() -> None:
    records = parse_records("H!`^~!!!Meril\rR!1!^^^GLU`^^^TG!5.6\rL!1!N\r")
    assert records[0].delimiters == Delimiters(field="!", repeat="`", component="^", escape="~")
    result = records[1]
    assert result.repeats(3) == [["", "", "", "GLU"], ["", "", "", "TG"]]
    assert result.value(3) == {"repeats": [["", "", "", "GLU"], ["", "", "", "TG"]]}
    assert result.field(4) == "5.6"


@pytest.mark.parametrize(
    ("header", "reason"),
    [
        ("H|\\^", "does not declare four delimiters"),
        ("H|\\^&X|", "does not declare four delimiters"),
        ("H|\\^^|", "unusable delimiters"),
        ("H|a^&|", "unusable delimiters"),
    ],
)
def test_a_header_with_unusable_delimiters_is_refused(header: str, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        parse_records(header + "\rL|1\r")


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("a&F&b", "a|b"),
        ("a&S&b&R&c&E&d", "a^b\\c&d"),
        ("&X41&&X4243&", "ABC"),
        ("H&E", "H&E"),  # an unescaped & in free text stays as it is
        ("&Z&", "&Z&"),
        ("&X4&", "&X4&"),
        ("end&", "end&"),
    ],
)
def test_escapes(raw: str, text: str) -> None:
    assert unescape(raw, Delimiters()) == text


def test_escaped_delimiters_do_not_split_fields() -> None:
    record = parse_record("C|1|I|low&S&high&F&x|G")
    assert record.component(4) == "low^high|x"
    assert record.value(5) == "G"


def test_escape_round_trips() -> None:
    value = "a|b^c\\d&e\rf"
    assert unescape(escape(value), Delimiters()) == value


def test_fields_are_named_after_e1394() -> None:
    record = parse_record("R|1|^^^GLU^Glucose|5.6|mmol/L|3.9-6.1|N||F||op|20240101|20240102")
    data = record.as_json()
    assert data["universal_test_id"] == ["", "", "", "GLU", "Glucose"]
    assert data["value"] == "5.6"
    assert data["result_status"] == "F"
    assert data["test_completed_datetime"] == "20240102"
    assert "instrument_id" not in data  # not sent, not invented


def test_extra_fields_get_numbers_and_unknown_records_are_kept_raw() -> None:
    assert parse_record("L|1|N|extra").as_json()["field_4"] == "extra"
    manufacturer = parse_record("M|1|curve|1^2^3")
    assert manufacturer.as_json() == {"record_type": "M", "raw": "M|1|curve|1^2^3"}


def test_header_delimiter_definition_is_kept_literally() -> None:
    header = parse_record("H|\\^&|||Sender")
    assert header.value(2) == "\\^&"
    assert header.component(5) == "Sender"


def test_records_split_on_cr_and_skip_blank_lines() -> None:
    records = parse_records("H|\\^&\r\rP|1\rL|1|N")
    assert [r.type for r in records] == ["H", "P", "L"]


def test_record_accessors_out_of_range_are_empty() -> None:
    record = Record(fields=("R", "1"))
    assert record.field(0) == record.field(9) == record.component(2, 5) == ""


def test_encoder_writes_the_header_definition_and_escapes_values() -> None:
    d = Delimiters()
    header = encode_record(["H", "ignored", "42", "", ["Sim", "1.0"]], d)
    assert header == "H|\\^&|42||Sim^1.0"
    result = encode_record(["R", "1", ["", "", "", "GLU"], "a|b", "", "", [["H"], ["A"]]], d)
    assert result == "R|1|^^^GLU|a&F&b|||H\\A"
    assert parse_record(result).value(4) == "a|b"
    assert encode_message([["H"], ["L", "1", "N"]]) == b"H|\\^&\rL|1|N\r"


def test_encoder_refuses_a_record_without_a_type() -> None:
    with pytest.raises(ValueError):  # a caller mistake, not peer input
        encode_record([""])
