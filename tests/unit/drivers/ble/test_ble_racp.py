"""Record Access Control Point 0x2A52: requests, responses and their refusals."""

from __future__ import annotations

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.racp import (
    NumberOfRecords,
    OpCode,
    Operator,
    RacpRequest,
    ResponseCode,
    ResponseCodeValue,
    abort_operation,
    delete_records,
    encode_number_of_records,
    encode_request,
    encode_response_code,
    parse_racp,
    report_number_of_records,
    report_records,
)
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime

JAN = DateTime(year=2024, month=1, day=1)
FEB = DateTime(year=2024, month=2, day=1)


@pytest.mark.parametrize(
    ("wire", "hex_"),
    [
        (report_records(), "0101"),
        (report_records(Operator.FIRST), "0105"),
        (report_records(Operator.LAST), "0106"),
        (report_records(Operator.LESS_OR_EQUAL, maximum=300), "0102012C01"),
        (report_records(Operator.GREATER_OR_EQUAL, minimum=12), "0103010C00"),
        (report_records(Operator.WITHIN_RANGE, minimum=5, maximum=9), "01040105000900"),
        (report_records(Operator.GREATER_OR_EQUAL, minimum=JAN), "010302E8070101000000"),
        (
            report_records(Operator.WITHIN_RANGE, minimum=JAN, maximum=FEB),
            "010402E8070101000000E8070201000000",
        ),
        (report_number_of_records(), "0401"),
        (report_number_of_records(Operator.GREATER_OR_EQUAL, minimum=7), "0403010700"),
        (delete_records(), "0201"),
        (delete_records(Operator.LESS_OR_EQUAL, maximum=FEB), "020202E8070201000000"),
        (abort_operation(), "0300"),
        (encode_number_of_records(258), "05000201"),
        (encode_response_code(OpCode.REPORT_STORED_RECORDS, ResponseCodeValue.NO_RECORDS_FOUND), "06000106"),
    ],
)
def test_requests_and_responses_encode_per_the_tables(wire: bytes, hex_: str) -> None:
    assert wire == bytes.fromhex(hex_)


@pytest.mark.parametrize(
    ("operator", "bounds"),
    [
        (Operator.ALL, {"minimum": 1}),
        (Operator.LESS_OR_EQUAL, {"minimum": 1}),
        (Operator.GREATER_OR_EQUAL, {}),
        (Operator.WITHIN_RANGE, {"minimum": 1}),
        (Operator.WITHIN_RANGE, {"minimum": 9, "maximum": 5}),
        (Operator.WITHIN_RANGE, {"minimum": FEB, "maximum": JAN}),
        (Operator.WITHIN_RANGE, {"minimum": 1, "maximum": FEB}),
        (Operator.GREATER_OR_EQUAL, {"minimum": 70000}),
    ],
)
def test_operators_and_bounds_that_disagree_are_refused(operator: Operator, bounds: dict[str, object]) -> None:
    with pytest.raises(FrameError):
        report_records(operator, **bounds)  # type: ignore[arg-type]


def test_requests_parse_back_with_their_filter() -> None:
    assert parse_racp(bytes.fromhex("0104010500090A")) == RacpRequest(
        op_code=1, operator=4, filter_type=1, minimum=5, maximum=0x0A09
    )
    parsed = parse_racp(report_records(Operator.LESS_OR_EQUAL, maximum=FEB))
    assert isinstance(parsed, RacpRequest)
    assert (parsed.minimum, parsed.maximum) == (None, FEB)
    unknown_filter = parse_racp(bytes.fromhex("010303AABB"))
    assert isinstance(unknown_filter, RacpRequest)
    assert (unknown_filter.filter_type, unknown_filter.operand) == (3, bytes.fromhex("03AABB"))
    assert encode_request(unknown_filter) == bytes.fromhex("010303AABB")


@pytest.mark.parametrize(("hex_", "count"), [("050007", 7), ("05000201", 258), ("050004030201", 0x01020304)])
def test_the_record_count_is_u16_but_u8_and_u32_are_tolerated(hex_: str, count: int) -> None:
    assert parse_racp(bytes.fromhex(hex_)) == NumberOfRecords(count)
    assert decode_characteristic(0x2A52, bytes.fromhex(hex_)).fields["number_of_records"] == count


@pytest.mark.parametrize("hex_", ["05", "0500", "0500010203", "05000102030405"])
def test_odd_record_counts_are_rejected(hex_: str) -> None:
    with pytest.raises(FrameError):
        parse_racp(bytes.fromhex(hex_))


@pytest.mark.parametrize(
    ("code", "name"),
    [
        (1, "success"),
        (2, "op_code_not_supported"),
        (3, "invalid_operator"),
        (4, "operator_not_supported"),
        (5, "invalid_operand"),
        (6, "no_records_found"),
        (7, "abort_unsuccessful"),
        (8, "procedure_not_completed"),
        (9, "operand_not_supported"),
        (0x0A, "reserved"),
    ],
)
def test_every_response_code_has_its_name(code: int, name: str) -> None:
    wire = bytes([6, 0, 1, code])
    response = parse_racp(wire)
    assert response == ResponseCode(1, code)
    assert isinstance(response, ResponseCode)
    assert response.success is (code == 1)
    assert decode_characteristic(0x2A52, wire).fields["response_code_name"] == name


@pytest.mark.parametrize(
    "hex_", ["", "01", "0600", "060001", "010201", "0102010C", "010302E807", "01040105000900"[:-2]]
)
def test_truncated_values_are_rejected(hex_: str) -> None:
    with pytest.raises(FrameError):
        parse_racp(bytes.fromhex(hex_))


def test_trailing_bytes_after_an_operand_free_request_are_ignored() -> None:
    assert parse_racp(bytes.fromhex("0101FFFF")) == RacpRequest(op_code=1, operator=1)
    fields = decode_characteristic(0x2A52, bytes.fromhex("0101")).fields
    assert (fields["op_code_name"], fields["operator_name"], fields["minimum"]) == (
        "report_stored_records",
        "all",
        None,
    )
