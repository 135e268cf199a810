"""A simulated meter's record memory behind its Record Access Control Point, sans I/O.

``RecordStore.request(value)`` takes what a collector wrote to 0x2A52 and says what the meter does:
which stored records to send, which to delete, and the answer to indicate — with the real error
responses (op code or operator not supported, invalid operator or operand, no records found).
A glucometer filters by sequence number; a pulse oximeter's spot-check memory supports only "all".
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from drivers.ble.racp import (
    FilterType,
    NumberOfRecords,
    OpCode,
    Operator,
    RacpRequest,
    ResponseCode,
    ResponseCodeValue,
    encode_number_of_records,
    encode_response_code,
    parse_racp,
)
from drivers.errors import FrameError

__all__ = ["ALL_OPERATORS", "ALL_OP_CODES", "Answer", "RecordStore", "StoredRecord"]

ALL_OPERATORS = frozenset(
    {
        Operator.ALL,
        Operator.LESS_OR_EQUAL,
        Operator.GREATER_OR_EQUAL,
        Operator.WITHIN_RANGE,
        Operator.FIRST,
        Operator.LAST,
    }
)
ALL_OP_CODES = frozenset(
    {
        OpCode.REPORT_STORED_RECORDS,
        OpCode.DELETE_STORED_RECORDS,
        OpCode.ABORT_OPERATION,
        OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
    }
)
_SEQUENCE_WRAP = 0x10000


@dataclass(frozen=True, slots=True)
class StoredRecord:
    """One record in the meter's memory: its sequence number and the values sent for it, in order."""

    sequence: int
    values: tuple[bytes, ...]  # e.g. a glucose measurement, then its context
    taken_at: datetime


@dataclass(frozen=True, slots=True)
class Answer:
    """What the meter does with one request: send ``records``, then indicate ``response``."""

    response: bytes
    records: tuple[StoredRecord, ...] = ()
    deleted: int = 0
    abort: bool = False


class RecordStore:
    """The records a meter holds, oldest first, and its answers to RACP requests."""

    def __init__(
        self,
        *,
        operators: Iterable[int] = ALL_OPERATORS,
        op_codes: Iterable[int] = ALL_OP_CODES,
        capacity: int = 500,
        first_sequence: int = 0,
    ) -> None:
        self.operators = frozenset(operators)
        self.op_codes = frozenset(op_codes)  # a meter that never deletes leaves out DELETE_STORED_RECORDS
        self.capacity = capacity
        self.records: list[StoredRecord] = []
        self.next_sequence = first_sequence

    def add(self, values: tuple[bytes, ...], taken_at: datetime) -> StoredRecord:
        """Store a new record (the oldest goes when the memory is full)."""
        record = StoredRecord(self.next_sequence, values, taken_at)
        self.next_sequence = (self.next_sequence + 1) % _SEQUENCE_WRAP
        self.records = [*self.records, record][-self.capacity :]
        return record

    def request(self, value: bytes) -> Answer:
        """The meter's answer to one value written to 0x2A52."""
        op_code = value[0] if value else 0
        try:
            request = parse_racp(value)
        except FrameError:
            return Answer(encode_response_code(op_code, ResponseCodeValue.INVALID_OPERAND))
        if isinstance(request, (NumberOfRecords, ResponseCode)):
            return Answer(encode_response_code(op_code, ResponseCodeValue.OP_CODE_NOT_SUPPORTED))
        if request.op_code not in self.op_codes:
            return Answer(encode_response_code(op_code, ResponseCodeValue.OP_CODE_NOT_SUPPORTED))
        if request.op_code == OpCode.ABORT_OPERATION:
            code = (
                ResponseCodeValue.SUCCESS if request.operator == Operator.NULL else ResponseCodeValue.INVALID_OPERATOR
            )
            return Answer(encode_response_code(op_code, code), abort=code == ResponseCodeValue.SUCCESS)
        if request.op_code not in (
            OpCode.REPORT_STORED_RECORDS,
            OpCode.DELETE_STORED_RECORDS,
            OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
        ):
            return Answer(encode_response_code(op_code, ResponseCodeValue.OP_CODE_NOT_SUPPORTED))
        problem = self._check(request)
        if problem is not None:
            return Answer(encode_response_code(op_code, problem))
        return self._answer(request, self._select(request))

    def _check(self, request: RacpRequest) -> ResponseCodeValue | None:
        if request.operator not in ALL_OPERATORS:
            return ResponseCodeValue.INVALID_OPERATOR
        if request.operator not in self.operators:
            return ResponseCodeValue.OPERATOR_NOT_SUPPORTED
        if request.filter_type is not None and request.filter_type != FilterType.SEQUENCE_NUMBER:
            return ResponseCodeValue.OPERAND_NOT_SUPPORTED
        low, high = request.minimum, request.maximum
        if isinstance(low, int) and isinstance(high, int) and low > high:
            return ResponseCodeValue.INVALID_OPERAND
        return None

    def _select(self, request: RacpRequest) -> list[StoredRecord]:
        records = self.records
        if request.operator == Operator.FIRST:
            return records[:1]
        if request.operator == Operator.LAST:
            return records[-1:]
        low = request.minimum if isinstance(request.minimum, int) else None
        high = request.maximum if isinstance(request.maximum, int) else None
        return [r for r in records if (low is None or r.sequence >= low) and (high is None or r.sequence <= high)]

    def _answer(self, request: RacpRequest, chosen: list[StoredRecord]) -> Answer:
        op_code = request.op_code
        if op_code == OpCode.REPORT_NUMBER_OF_STORED_RECORDS:
            return Answer(encode_number_of_records(len(chosen)))
        if not chosen:
            return Answer(encode_response_code(op_code, ResponseCodeValue.NO_RECORDS_FOUND))
        success = encode_response_code(op_code, ResponseCodeValue.SUCCESS)
        if op_code == OpCode.DELETE_STORED_RECORDS:
            gone = {id(r) for r in chosen}
            self.records = [r for r in self.records if id(r) not in gone]
            return Answer(success, deleted=len(chosen))
        return Answer(success, records=tuple(chosen))
