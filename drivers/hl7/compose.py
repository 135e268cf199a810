"""Build ORU^R01 messages the way an IHE PCD-01 device does: for simulators and round-trip tests."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from drivers.hl7.message import (
    DEFAULT_ENCODING,
    Encoding,
    FieldInput,
    Repeated,
    encode_segment,
    format_datetime,
)

PCD_PROFILE_FIELD = ("IHE PCD ORU-R01 2006", "HL7", "1.3.6.1.4.1.19376.1.6.1.1.1", "ISO")
MMHG = ("266016", "MDC_DIM_MMHG", "MDC")
BPM = ("264864", "MDC_DIM_BEAT_PER_MIN", "MDC")


@dataclass(frozen=True, slots=True, kw_only=True)
class Observation:
    """One OBX: a container when ``value_type`` and ``value`` are empty, else a metric."""

    sub_id: str
    code: tuple[str, str, str]
    value: str = ""
    value_type: str = "NM"
    unit: tuple[str, str, str] | None = None
    observed_at: datetime | None = None
    status: str = "R"
    abnormal_flags: Sequence[str] = ()
    reference_range: str = ""
    equipment: tuple[str, str] | None = None


def blood_pressure(
    systolic: str, diastolic: str, mean: str | None = None, pulse: str | None = None, *, at: datetime
) -> list[Observation]:
    """The PCD-01 containment of one cuff reading: device, compound 150020, its metrics, the pulse."""
    observations = [
        Observation(sub_id="1", code=("528391", "MDC_DEV_SPEC_PROFILE_BP", "MDC"), value_type=""),
        Observation(sub_id="1.0.1", code=("150020", "MDC_PRESS_BLD_NONINV", "MDC"), value_type="", observed_at=at),
        Observation(sub_id="1.0.1.1", code=("150021", "MDC_PRESS_BLD_NONINV_SYS", "MDC"), value=systolic, unit=MMHG),
        Observation(sub_id="1.0.1.2", code=("150022", "MDC_PRESS_BLD_NONINV_DIA", "MDC"), value=diastolic, unit=MMHG),
    ]
    if mean is not None:
        observations.append(
            Observation(sub_id="1.0.1.3", code=("150023", "MDC_PRESS_BLD_NONINV_MEAN", "MDC"), value=mean, unit=MMHG)
        )
    if pulse is not None:
        code = ("149546", "MDC_PULS_RATE_NON_INV", "MDC")
        observations.append(Observation(sub_id="1.0.0.1", code=code, value=pulse, unit=BPM, observed_at=at))
    return observations


def build_oru_r01(
    *,
    control_id: str,
    timestamp: datetime,
    observations: Sequence[Observation],
    sending_application: Sequence[str] = ("ClinicAgentSim", "0123456789ABCDEF", "EUI-64"),
    patient_ids: Sequence[tuple[str, str]] = (),
    patient_name: tuple[str, str] | None = None,
    observed_at: datetime | None = None,
    order_code: tuple[str, str, str] = ("528391", "MDC_DEV_SPEC_PROFILE_BP", "MDC"),
    version: str = "2.6",
    pcd: bool = True,
    charset: str = "UNICODE UTF-8",
    encoding: Encoding = DEFAULT_ENCODING,
) -> bytes:
    """A complete ORU^R01 (segments ended by CR, UTF-8), unframed; ``patient_ids`` are (id, type) pairs."""
    msh: list[FieldInput] = [
        list(sending_application), "", "", "", format_datetime(timestamp), "", ["ORU", "R01", "ORU_R01"],
        control_id, "P", version, "", "", "NE" if pcd else "", "AL" if pcd else "", "", charset, "", "",
        list(PCD_PROFILE_FIELD) if pcd else "",
    ]  # fmt: skip
    segments = [encode_segment("MSH", msh, encoding)]
    if patient_ids or patient_name:
        ids = Repeated([identifier, "", "", "", kind] for identifier, kind in patient_ids)
        segments.append(encode_segment("PID", ["", "", ids, "", list(patient_name or ())], encoding))
    obr_time = format_datetime(observed_at or timestamp)
    segments.append(encode_segment("OBR", ["1", control_id, "", list(order_code), "", "", obr_time], encoding))
    segments += [encode_segment("OBX", _obx(i, o), encoding) for i, o in enumerate(observations, start=1)]
    return "".join(s + "\r" for s in segments).encode("utf-8")


def _obx(set_id: int, o: Observation) -> list[FieldInput]:
    equipment = list(o.equipment) if o.equipment else ""
    return [
        str(set_id), o.value_type, list(o.code), o.sub_id, o.value,
        list(o.unit) if o.unit else "", o.reference_range, Repeated(o.abnormal_flags), "", "", o.status,
        "", "", format_datetime(o.observed_at) if o.observed_at else "", "", "", "", equipment,
    ]  # fmt: skip
