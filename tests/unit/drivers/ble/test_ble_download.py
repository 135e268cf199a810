"""A stored-record download (collector side) against a simulated meter memory, with no I/O at all:
what is asked, what is deleted, and what is kept when a record is not durable or the meter refuses."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import pytest

from drivers.ble.download import RECORDS, RecordDownload
from drivers.ble.racp import (
    OpCode,
    Operator,
    ResponseCodeValue,
    abort_operation,
    delete_records,
    encode_number_of_records,
    encode_response_code,
    report_number_of_records,
    report_records,
)
from drivers.ble.uuids import Service
from drivers.ieee11073 import DateTime
from drivers.simulators.ble.records import ALL_OP_CODES, RecordStore

AT = datetime(2025, 3, 14, 9, 30)


def _store(count: int, *, first: int = 100, **options: object) -> RecordStore:
    store = RecordStore(first_sequence=first, **options)  # type: ignore[arg-type]
    for n in range(count):
        head = bytes([0x00]) + store.next_sequence.to_bytes(2, "little") + bytes(7)  # a minimal 0x2A18 value
        store.add((head,) if n % 2 else (head, b"\x00" + head[1:3]), AT)
    return store


def _converse(
    download: RecordDownload, store: RecordStore, durable: Callable[[int], bool] = lambda _seq: True
) -> list[bytes]:
    """Run the whole conversation; each record value goes to ``received`` before the report's answer."""
    asked = []
    for request in download.requests():
        asked.append(request)
        answer = store.request(request)
        for record in answer.records:
            for uuid, value in zip(RECORDS[download.service], record.values, strict=False):
                download.received(uuid, value, durable(record.sequence))
        download.answered(answer.response)
    return asked


def test_everything_durable_is_deleted_up_to_the_last_sequence_number() -> None:
    store = _store(5)
    download = RecordDownload(Service.GLUCOSE)

    asked = _converse(download, store)

    assert asked == [report_number_of_records(), report_records(), delete_records(Operator.LESS_OR_EQUAL, maximum=104)]
    assert store.records == []
    assert (download.count, download.records, download.sequences) == (5, 5, [100, 101, 102, 103, 104])
    assert download.deleted
    assert download.resume_after is None


def test_one_record_not_durable_means_nothing_is_deleted() -> None:
    store = _store(5)
    download = RecordDownload(Service.GLUCOSE)

    asked = _converse(download, store, durable=lambda seq: seq != 103)

    assert asked == [report_number_of_records(), report_records()]
    assert len(store.records) == 5
    assert not download.deleted
    assert "nothing deleted" in download.outcome


def test_an_empty_memory_is_only_asked_how_many() -> None:
    download = RecordDownload(Service.GLUCOSE)
    assert _converse(download, _store(0)) == [report_number_of_records()]


def test_a_meter_that_never_deletes_is_asked_for_newer_records_next_time() -> None:
    store = _store(3, op_codes=ALL_OP_CODES - {OpCode.DELETE_STORED_RECORDS})
    first = RecordDownload(Service.GLUCOSE)
    _converse(first, store)
    assert (first.deleted, first.resume_after) == (False, 102)

    store.add((bytes([0x00]) + store.next_sequence.to_bytes(2, "little") + bytes(7),), AT)
    second = RecordDownload(Service.GLUCOSE, resume_after=first.resume_after)
    asked = _converse(second, store)

    assert asked[1] == report_records(Operator.GREATER_OR_EQUAL, minimum=103)
    assert second.sequences == [103]
    assert second.resume_after == 103


def test_a_meter_deleting_only_all_gets_all_when_every_counted_record_came() -> None:
    store = _store(4, operators=(Operator.ALL,))
    download = RecordDownload(Service.GLUCOSE)

    asked = _converse(download, store)

    assert asked[2:] == [delete_records(Operator.LESS_OR_EQUAL, maximum=103), delete_records()]
    assert store.records == []
    assert download.deleted


def test_spot_checks_have_no_sequence_numbers_so_all_are_deleted_when_all_came() -> None:
    store = RecordStore(operators=(Operator.ALL,))
    for _ in range(3):
        store.add((b"\x00\x61\x00\x48\x00",), AT)
    download = RecordDownload(Service.PULSE_OXIMETER)

    asked = _converse(download, store)

    assert asked == [report_number_of_records(), report_records(), delete_records()]
    assert store.records == []


def test_a_record_stored_after_the_count_is_not_deleted_unseen() -> None:
    store = RecordStore(operators=(Operator.ALL,))
    store.add((b"\x00\x61\x00\x48\x00",), AT)
    download = RecordDownload(Service.PULSE_OXIMETER)
    plan = download.requests()
    download.answered(store.request(next(plan)).response)
    store.add((b"\x00\x62\x00\x49\x00",), AT)  # a new spot check between "how many" and the report
    report = store.request(next(plan))
    for record in report.records:
        download.received(0x2A5E, record.values[0], True)
    download.answered(report.response)

    assert list(plan) == []
    assert len(store.records) == 2
    assert not download.deleted


@pytest.mark.parametrize("answer", [b"", b"\x06\x00\x01", encode_response_code(OpCode.REPORT_STORED_RECORDS, 0x08)])
def test_a_report_that_does_not_end_in_success_deletes_nothing(answer: bytes) -> None:
    download = RecordDownload(Service.GLUCOSE)
    plan = download.requests()
    next(plan)
    download.answered(encode_number_of_records(2))
    next(plan)
    download.answered(answer)
    assert list(plan) == []


def test_a_meter_that_will_not_count_is_still_asked_for_its_records() -> None:
    store = _store(2, op_codes=ALL_OP_CODES - {OpCode.REPORT_NUMBER_OF_STORED_RECORDS})
    download = RecordDownload(Service.GLUCOSE)

    asked = _converse(download, store)

    assert asked[1] == report_records()
    assert download.count is None
    assert store.records == []


# -- the simulated meter's answers ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "code"),
    [
        (bytes([OpCode.REPORT_STORED_RECORDS, Operator.NULL]), ResponseCodeValue.INVALID_OPERATOR),
        (bytes([OpCode.REPORT_STORED_RECORDS, 0x07]), ResponseCodeValue.INVALID_OPERATOR),
        (bytes([OpCode.REPORT_STORED_RECORDS, Operator.GREATER_OR_EQUAL]), ResponseCodeValue.INVALID_OPERAND),
        (report_records(Operator.GREATER_OR_EQUAL, minimum=DateTime(year=2025, month=1, day=1)), 0x09),
        (
            bytes([OpCode.REPORT_STORED_RECORDS, Operator.WITHIN_RANGE, 0x01, 9, 0, 2, 0]),
            ResponseCodeValue.INVALID_OPERAND,
        ),
        (bytes([OpCode.ABORT_OPERATION, Operator.ALL]), ResponseCodeValue.INVALID_OPERATOR),
        (bytes([OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, 0x00, 1, 0]), ResponseCodeValue.OP_CODE_NOT_SUPPORTED),
        (bytes([0x42, 0x01]), ResponseCodeValue.OP_CODE_NOT_SUPPORTED),
        (
            bytes([OpCode.REPORT_STORED_RECORDS, Operator.GREATER_OR_EQUAL, 0x01, 150]),
            ResponseCodeValue.INVALID_OPERAND,
        ),
        (report_records(Operator.GREATER_OR_EQUAL, minimum=999), ResponseCodeValue.NO_RECORDS_FOUND),
    ],
)
def test_the_meter_answers_bad_requests_with_the_real_response_codes(request_: bytes, code: int) -> None:
    store = _store(3)
    answer = store.request(request_)
    assert answer.response == encode_response_code(request_[0], code)
    assert answer.records == ()
    assert len(store.records) == 3


def test_the_meter_selects_first_last_and_ranges_by_sequence_number() -> None:
    store = _store(5)
    pick = {
        Operator.FIRST: report_records(Operator.FIRST),
        Operator.LAST: report_records(Operator.LAST),
        Operator.WITHIN_RANGE: report_records(Operator.WITHIN_RANGE, minimum=101, maximum=103),
        Operator.LESS_OR_EQUAL: report_records(Operator.LESS_OR_EQUAL, maximum=101),
    }
    chosen = {op: [r.sequence for r in store.request(value).records] for op, value in pick.items()}
    assert chosen == {
        Operator.FIRST: [100],
        Operator.LAST: [104],
        Operator.WITHIN_RANGE: [101, 102, 103],
        Operator.LESS_OR_EQUAL: [100, 101],
    }
    assert store.request(abort_operation()).abort


def test_sequence_numbers_wrap_and_a_full_memory_drops_the_oldest() -> None:
    store = _store(4, first=0xFFFE, capacity=3)
    assert [r.sequence for r in store.records] == [0xFFFF, 0, 1]
