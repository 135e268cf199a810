"""Build E1394 result messages (H, P, O, R..., L) as an analyser sends them: for simulators and tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from drivers.astm.records import DEFAULT_DELIMITERS, Delimiters, FieldInput, encode_message


@dataclass(frozen=True, slots=True, kw_only=True)
class LabResult:
    """One result to put in an R record."""

    test_code: str
    value: str
    unit: str = ""
    test_name: str = ""
    reference_range: str = ""
    abnormal_flags: str = ""
    status: str = "F"
    completed_at: datetime | None = None


def astm_datetime(moment: datetime | None) -> str:
    """YYYYMMDDHHMMSS, the E1394 date-time, or "" for None."""
    return moment.strftime("%Y%m%d%H%M%S") if moment else ""


def build_result_message(
    *,
    results: Sequence[LabResult],
    timestamp: datetime,
    sender: Sequence[str] = ("ClinicAgentSim", "1.0"),
    patient_id: str = "",
    patient_name: Sequence[str] = (),
    specimen_id: str = "",
    specimen_descriptor: str = "",
    control_id: str = "",
    delimiters: Delimiters = DEFAULT_DELIMITERS,
    encoding: str = "utf-8",
) -> bytes:
    """A complete message text (records ended by CR), ready for AstmSender or split_text."""
    records: list[list[FieldInput]] = [
        [
            "H",
            "",
            control_id,
            "",
            list(sender),
            "",
            "",
            "",
            "",
            "",
            "",
            "P",
            "LIS2-A2",
            astm_datetime(timestamp),
        ],
        ["P", "1", patient_id, "", "", list(patient_name)],
        _order(results, specimen_id, specimen_descriptor),
        *(_result(i, r) for i, r in enumerate(results, start=1)),
        ["L", "1", "N"],
    ]
    return encode_message(records, delimiters, encoding)


def _order(results: Sequence[LabResult], specimen_id: str, descriptor: str) -> list[FieldInput]:
    tests = [["", "", "", r.test_code] for r in results]
    return ["O", "1", specimen_id, "", tests, "R", *[""] * 9, descriptor, *[""] * 9, "F"]


def _result(sequence: int, r: LabResult) -> list[FieldInput]:
    test_id = ["", "", "", r.test_code, r.test_name] if r.test_name else ["", "", "", r.test_code]
    return [
        "R", str(sequence), test_id, r.value, r.unit, r.reference_range, r.abnormal_flags, "", r.status,
        "", "", "", astm_datetime(r.completed_at),
    ]  # fmt: skip
