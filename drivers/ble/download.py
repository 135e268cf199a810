"""The collector's side of a stored-record download through the Record Access Control Point, sans I/O.

``RecordDownload.requests()`` yields the values to write to 0x2A52 one at a time; the link feeds
back each answer (``answered``) and every record value the sink took (``received``, with whether it
is durable). The plan: ask how many records there are; if any, report them all (or, for a meter
that would not delete last time, those after the last sequence number kept); then — only when the
report completed and every record is durable — delete what was committed: "≤ the last sequence
number" for glucose, "all" when the device supports nothing finer and every record it counted came.
A device that does not delete ("op code not supported") is tolerated.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from drivers.ble.glucose import parse_glucose
from drivers.ble.racp import (
    NumberOfRecords,
    OpCode,
    Operator,
    ResponseCode,
    ResponseCodeValue,
    delete_records,
    parse_racp,
    report_number_of_records,
    report_records,
)
from drivers.ble.uuids import Characteristic, Service
from drivers.errors import FrameError

__all__ = ["RECORDS", "RecordDownload"]

# Which characteristics carry a service's stored records; the first is the record itself.
RECORDS: dict[Service, tuple[Characteristic, ...]] = {
    Service.GLUCOSE: (Characteristic.GLUCOSE_MEASUREMENT, Characteristic.GLUCOSE_MEASUREMENT_CONTEXT),
    Service.PULSE_OXIMETER: (Characteristic.PLX_SPOT_CHECK_MEASUREMENT,),
}
_FINER_DELETE_REFUSED = (
    ResponseCodeValue.INVALID_OPERATOR,
    ResponseCodeValue.OPERATOR_NOT_SUPPORTED,
    ResponseCodeValue.INVALID_OPERAND,
    ResponseCodeValue.OPERAND_NOT_SUPPORTED,
)


class RecordDownload:
    """One download of a device's stored records, from "how many?" to the delete."""

    def __init__(self, service: Service, *, resume_after: int | None = None) -> None:
        self.service = service
        self.record_uuids = frozenset(int(c) for c in RECORDS.get(service, ()))
        self.record_uuid = int(RECORDS[service][0]) if service in RECORDS else None
        self.resume_after = resume_after  # the last sequence number kept by a device that would not delete
        self.count: int | None = None  # what the device said it holds (None: it would not say)
        self.records = 0  # record values received (contexts not counted)
        self.durable = True  # every value received so far is durable
        self.sequences: list[int] = []
        self.progress = 0  # every value received, to tell a slow report from a dead one
        self.outcome = "nothing to fetch"
        self.deleted = False
        self._answers: list[NumberOfRecords | ResponseCode | None] = []

    def requests(self) -> Iterator[bytes]:
        """The values to write, one at a time; call ``answered`` between them."""
        yield report_number_of_records()
        if self.count == 0:
            return
        if self.resume_after is not None:
            yield report_records(Operator.GREATER_OR_EQUAL, minimum=(self.resume_after + 1) % 0x10000)
        else:
            yield report_records()
        if not self._report_complete():
            return
        if self.sequences and self.service == Service.GLUCOSE:
            yield delete_records(Operator.LESS_OR_EQUAL, maximum=max(self.sequences))
            if self._last_code() not in _FINER_DELETE_REFUSED:
                self._after_delete()
                return
        if self.resume_after is None and self.count is not None and self.records == self.count:
            yield delete_records()
            self._after_delete()
            return
        self._kept()

    @staticmethod
    def is_report(request: bytes) -> bool:
        """Whether ``request`` asks for records (whatever arrives meanwhile is a stored record)."""
        return request[:1] == bytes([OpCode.REPORT_STORED_RECORDS])

    def answered(self, value: bytes) -> None:
        """The device's answer (a 0x2A52 indication) to the last request."""
        try:
            answer = parse_racp(value)
        except FrameError:
            self._answers.append(None)
            return
        if isinstance(answer, NumberOfRecords):
            self.count = answer.count
        self._answers.append(answer if isinstance(answer, (NumberOfRecords, ResponseCode)) else None)

    def received(self, uuid16: int, data: bytes, durable: bool) -> None:
        """A record value the sink took during the report; ``durable``: its receipt said so."""
        self.progress += 1
        self.durable = self.durable and durable
        if uuid16 != self.record_uuid:
            return
        self.records += 1
        if uuid16 == Characteristic.GLUCOSE_MEASUREMENT:
            with contextlib.suppress(FrameError):  # quarantined by the sink, so durable; its number is unknown
                self.sequences.append(parse_glucose(data).sequence_number)

    def _last_code(self) -> int | None:
        last = self._answers[-1] if self._answers else None
        return last.response_code if isinstance(last, ResponseCode) else None

    def _report_complete(self) -> bool:
        code = self._last_code()
        if code == ResponseCodeValue.NO_RECORDS_FOUND:
            self.outcome = "no new records"
            return False
        if code != ResponseCodeValue.SUCCESS:
            self.outcome = f"the report ended with response code {code}; nothing deleted"
            return False
        if not self.durable:
            self.outcome = f"{self.records} records fetched, not all stored; nothing deleted on the device"
            return False
        self.outcome = f"{self.records} records fetched and stored"
        return True

    def _after_delete(self) -> None:
        if self._last_code() in (ResponseCodeValue.SUCCESS, ResponseCodeValue.NO_RECORDS_FOUND):
            self.deleted = True
            self.outcome += ", deleted on the device"
            self.resume_after = None
        else:
            self._kept()

    def _kept(self) -> None:
        self.outcome += ", kept on the device (it would not delete them)"
        if self.sequences:  # next time ask only for newer ones
            self.resume_after = max(self.sequences)
