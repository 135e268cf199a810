"""Record Access Control Point 0x2A52: requests a collector writes, responses a server indicates.

Fetching stored glucose or spot-check records: enable indications on 0x2A52, write
``report_number_of_records()`` (answer: ``NumberOfRecords``), then ``report_records(Operator.GREATER_OR_EQUAL,
minimum=last_sequence + 1)`` or ``report_records()``; the records arrive on their own characteristic
and the procedure ends with a ``ResponseCode`` (SUCCESS or NO_RECORDS_FOUND).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from drivers._bits import pack_uint
from drivers.ble._wire import Reader
from drivers.errors import FrameError
from drivers.ieee11073 import DateTime, encode_date_time
from drivers.measurement import DecodedFrame

__all__ = [
    "FilterType",
    "NumberOfRecords",
    "OpCode",
    "Operator",
    "RacpRequest",
    "ResponseCode",
    "ResponseCodeValue",
    "abort_operation",
    "decode_racp",
    "delete_records",
    "encode_number_of_records",
    "encode_request",
    "encode_response_code",
    "parse_racp",
    "report_number_of_records",
    "report_records",
]


class OpCode(IntEnum):
    """RACP op codes; 0x05 and 0x06 are sent by the server."""

    REPORT_STORED_RECORDS = 0x01
    DELETE_STORED_RECORDS = 0x02
    ABORT_OPERATION = 0x03
    REPORT_NUMBER_OF_STORED_RECORDS = 0x04
    NUMBER_OF_STORED_RECORDS_RESPONSE = 0x05
    RESPONSE_CODE = 0x06


class Operator(IntEnum):
    """Which records a request is about."""

    NULL = 0x00
    ALL = 0x01
    LESS_OR_EQUAL = 0x02
    GREATER_OR_EQUAL = 0x03
    WITHIN_RANGE = 0x04
    FIRST = 0x05
    LAST = 0x06


class FilterType(IntEnum):
    """What a filtered request compares (Glucose Service)."""

    SEQUENCE_NUMBER = 0x01
    USER_FACING_TIME = 0x02


class ResponseCodeValue(IntEnum):
    """The outcome a server reports for a request."""

    SUCCESS = 0x01
    OP_CODE_NOT_SUPPORTED = 0x02
    INVALID_OPERATOR = 0x03
    OPERATOR_NOT_SUPPORTED = 0x04
    INVALID_OPERAND = 0x05
    NO_RECORDS_FOUND = 0x06
    ABORT_UNSUCCESSFUL = 0x07
    PROCEDURE_NOT_COMPLETED = 0x08
    OPERAND_NOT_SUPPORTED = 0x09


Bound = int | DateTime


@dataclass(frozen=True, slots=True, kw_only=True)
class RacpRequest:
    """A request: op code, operator and, for <=, >= and ranges, the bounds and their filter type.

    ``minimum`` is the lower bound (>=, range) and ``maximum`` the upper (<=, range); a bound is a
    sequence number (int) or a user-facing time (DateTime). ``operand`` keeps an operand this
    module cannot interpret (an unknown filter type).
    """

    op_code: int
    operator: int = Operator.ALL
    filter_type: int | None = None
    minimum: Bound | None = None
    maximum: Bound | None = None
    operand: bytes = b""


@dataclass(frozen=True, slots=True)
class NumberOfRecords:
    """The server's answer to "report number of stored records"."""

    count: int


@dataclass(frozen=True, slots=True)
class ResponseCode:
    """The server's outcome of a request (``request_op_code``)."""

    request_op_code: int
    response_code: int

    @property
    def success(self) -> bool:
        """Whether the request succeeded."""
        return self.response_code == ResponseCodeValue.SUCCESS


_FILTERED_OPS = (
    OpCode.REPORT_STORED_RECORDS,
    OpCode.DELETE_STORED_RECORDS,
    OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
)
_NO_OPERAND = (Operator.NULL, Operator.ALL, Operator.FIRST, Operator.LAST)
_BOUNDS: dict[int, tuple[bool, bool]] = {
    Operator.LESS_OR_EQUAL: (False, True),
    Operator.GREATER_OR_EQUAL: (True, False),
    Operator.WITHIN_RANGE: (True, True),
}


def _bound_bytes(bound: Bound) -> tuple[int, bytes]:
    if isinstance(bound, DateTime):
        return FilterType.USER_FACING_TIME, encode_date_time(bound)
    return FilterType.SEQUENCE_NUMBER, pack_uint(bound, 2, "sequence number")


def _operand(operator: int, minimum: Bound | None, maximum: Bound | None) -> bytes:
    if operator in _NO_OPERAND:
        if minimum is not None or maximum is not None:
            raise FrameError(f"RACP operator {operator:#04x} takes no bounds")
        return b""
    wanted = _BOUNDS.get(operator)
    if wanted is None or wanted != (minimum is not None, maximum is not None):
        raise FrameError(f"RACP operator {operator:#04x} does not match the bounds given")
    bounds = [_bound_bytes(b) for b in (minimum, maximum) if b is not None]
    if len({kind for kind, _ in bounds}) != 1:
        raise FrameError("RACP range bounds must both be sequence numbers or both times")
    if operator == Operator.WITHIN_RANGE and _greater(minimum, maximum):
        raise FrameError("RACP range: minimum is above maximum")
    return bytes([bounds[0][0]]) + b"".join(raw for _, raw in bounds)


def _greater(low: Bound | None, high: Bound | None) -> bool:
    if isinstance(low, int) and isinstance(high, int):
        return low > high
    if isinstance(low, DateTime) and isinstance(high, DateTime):
        low_time, high_time = low.to_datetime(), high.to_datetime()
        return low_time is not None and high_time is not None and low_time > high_time
    return False


def encode_request(request: RacpRequest) -> bytes:
    """The bytes to write to 0x2A52 for ``request``; FrameError if operator and bounds disagree."""
    head = pack_uint(request.op_code, 1, "op code") + pack_uint(request.operator, 1, "operator")
    if request.operand:
        return head + request.operand
    return head + _operand(request.operator, request.minimum, request.maximum)


def report_records(
    operator: Operator = Operator.ALL, *, minimum: Bound | None = None, maximum: Bound | None = None
) -> bytes:
    """Report stored records: all, first, last, <= maximum, >= minimum, or minimum..maximum."""
    return encode_request(
        RacpRequest(op_code=OpCode.REPORT_STORED_RECORDS, operator=operator, minimum=minimum, maximum=maximum)
    )


def report_number_of_records(
    operator: Operator = Operator.ALL, *, minimum: Bound | None = None, maximum: Bound | None = None
) -> bytes:
    """Report the number of stored records matching the operator and bounds."""
    return encode_request(
        RacpRequest(
            op_code=OpCode.REPORT_NUMBER_OF_STORED_RECORDS,
            operator=operator,
            minimum=minimum,
            maximum=maximum,
        )
    )


def delete_records(
    operator: Operator = Operator.ALL, *, minimum: Bound | None = None, maximum: Bound | None = None
) -> bytes:
    """Delete stored records matching the operator and bounds."""
    return encode_request(
        RacpRequest(op_code=OpCode.DELETE_STORED_RECORDS, operator=operator, minimum=minimum, maximum=maximum)
    )


def abort_operation() -> bytes:
    """Abort the running procedure (op code 0x03, operator Null)."""
    return encode_request(RacpRequest(op_code=OpCode.ABORT_OPERATION, operator=Operator.NULL))


def encode_number_of_records(count: int) -> bytes:
    """The server's Number of Stored Records response (u16 count), e.g. for a simulator."""
    return bytes([OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE, Operator.NULL]) + pack_uint(count, 2, "count")


def encode_response_code(request_op_code: int, response_code: int) -> bytes:
    """The server's Response Code indication, e.g. ``06 00 01 01`` for success."""
    operand = pack_uint(request_op_code, 1, "request op code") + pack_uint(response_code, 1, "response code")
    return bytes([OpCode.RESPONSE_CODE, Operator.NULL]) + operand


def _parse_bounds(op_code: int, operator: int, reader: Reader, rest: bytes) -> RacpRequest:
    filter_type = reader.uint(1)
    wants_min, wants_max = _BOUNDS[operator]
    count = int(wants_min) + int(wants_max)
    if filter_type == FilterType.SEQUENCE_NUMBER:
        values: list[Bound] = [reader.uint(2) for _ in range(count)]
    elif filter_type == FilterType.USER_FACING_TIME:
        values = [reader.date_time() for _ in range(count)]
    else:  # a filter this module does not know: keep its bytes
        return RacpRequest(op_code=op_code, operator=operator, filter_type=filter_type, operand=rest)
    minimum = values[0] if wants_min else None
    maximum = values[-1] if wants_max else None
    return RacpRequest(op_code=op_code, operator=operator, filter_type=filter_type, minimum=minimum, maximum=maximum)


def parse_racp(data: bytes) -> RacpRequest | NumberOfRecords | ResponseCode:
    """The typed content of a 0x2A52 value, request or response; FrameError if truncated."""
    reader = Reader(data, "record access control point")
    reader.require(2)
    op_code, operator = reader.uint(1), reader.uint(1)
    rest = bytes(data[2:])
    if op_code == OpCode.NUMBER_OF_STORED_RECORDS_RESPONSE:
        # u16 by GLS/PLXS; Nordic also accepts u8 and u32 counts from other services.
        if len(rest) not in (1, 2, 4):
            raise FrameError(f"RACP number of records: {len(rest)} operand bytes, expected 1, 2 or 4")
        return NumberOfRecords(int.from_bytes(rest, "little"))
    if op_code == OpCode.RESPONSE_CODE:
        return ResponseCode(reader.uint(1), reader.uint(1))
    if op_code in _FILTERED_OPS and operator in _BOUNDS:
        return _parse_bounds(op_code, operator, reader, rest)
    if op_code in _FILTERED_OPS and operator in _NO_OPERAND:
        return RacpRequest(op_code=op_code, operator=operator)  # trailing bytes are ignored
    return RacpRequest(op_code=op_code, operator=operator, operand=rest)


def _name(enum: type[IntEnum], value: int | None) -> str | None:
    if value is None:
        return None
    try:
        return enum(value).name.lower()
    except ValueError:
        return "reserved"


def _bound_json(bound: Bound | None) -> Any:
    return bound.as_json() if isinstance(bound, DateTime) else bound


def _fields(message: RacpRequest | NumberOfRecords | ResponseCode, data: bytes) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "op_code": data[0],
        "op_code_name": _name(OpCode, data[0]),
        "operator": data[1],
        "operator_name": _name(Operator, data[1]),
    }
    if isinstance(message, NumberOfRecords):
        fields["number_of_records"] = message.count
    elif isinstance(message, ResponseCode):
        fields.update(
            request_op_code=message.request_op_code,
            response_code=message.response_code,
            response_code_name=_name(ResponseCodeValue, message.response_code),
        )
    else:
        fields.update(
            filter_type=message.filter_type,
            filter_type_name=_name(FilterType, message.filter_type),
            minimum=_bound_json(message.minimum),
            maximum=_bound_json(message.maximum),
            operand_hex=message.operand.hex().upper() or None,
        )
    return fields


def decode_racp(data: bytes) -> DecodedFrame:
    """Decode a 0x2A52 value (either direction) into a frame with no measurements."""
    message = parse_racp(data)
    return DecodedFrame(protocol="ble:2A52", measurements=(), fields=_fields(message, data))
