"""IEEE 11073-10101 (MDC) metric and unit codes to LOINC and UCUM, per docs/devices.md.

Only codes the note confirms are mapped by number. MDC unit codes that public sources disagree on
(kPa, mmol/L, degF, lb, inch) are mapped by their reference ID (``MDC_DIM_...``) only.
"""

from __future__ import annotations

from dataclasses import dataclass

from drivers.errors import FrameError
from drivers.terminology import MDC_UNITS

MDC_SYSTEM = "urn:iso:std:iso:11073:10101"
BP_PANEL = "85354-9"


@dataclass(frozen=True, slots=True)
class MdcMetric:
    """An MDC metric with its LOINC code; ``by_unit`` when the LOINC code depends on the unit."""

    code: str
    refid: str
    loinc: str
    display: str
    by_unit: tuple[tuple[str, str, str], ...] = ()

    def loinc_for(self, unit: str) -> tuple[str, str] | None:
        """LOINC code and display for a reading in this UCUM unit, or None."""
        if not self.by_unit:
            return self.loinc, self.display
        return next(((code, display) for u, code, display in self.by_unit if u == unit), None)


_GLUCOSE_METER = (
    ("mg/dL", "41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer"),
    ("mmol/L", "14743-9", "Glucose [Moles/volume] in Capillary blood by Glucometer"),
)

METRICS = {
    m.code: m
    for m in (
        MdcMetric("150020", "MDC_PRESS_BLD_NONINV", BP_PANEL, "Blood pressure panel with all children optional"),
        MdcMetric("150021", "MDC_PRESS_BLD_NONINV_SYS", "8480-6", "Systolic blood pressure"),
        MdcMetric("150022", "MDC_PRESS_BLD_NONINV_DIA", "8462-4", "Diastolic blood pressure"),
        # 8478-0 is unverified (docs/devices.md).
        MdcMetric("150023", "MDC_PRESS_BLD_NONINV_MEAN", "8478-0", "Mean blood pressure"),
        MdcMetric("149546", "MDC_PULS_RATE_NON_INV", "8867-4", "Heart rate"),
        MdcMetric("149530", "MDC_PULS_OXIM_PULS_RATE", "8867-4", "Heart rate"),
        MdcMetric(
            "150456",
            "MDC_PULS_OXIM_SAT_O2",
            "59408-5",
            "Oxygen saturation in Arterial blood by Pulse oximetry",
        ),
        MdcMetric("150364", "MDC_TEMP_BODY", "8310-5", "Body temperature"),
        MdcMetric("188736", "MDC_MASS_BODY_ACTUAL", "29463-7", "Body weight"),
        MdcMetric("188740", "MDC_LEN_BODY_ACTUAL", "8302-2", "Body height"),
        MdcMetric("188752", "MDC_RATIO_MASS_BODY_LEN_SQ", "39156-5", "Body mass index (BMI) [Ratio]"),
        MdcMetric("160184", "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD", "", "", _GLUCOSE_METER),
        MdcMetric("160368", "MDC_CONC_GLU_UNDETERMINED_PLASMA", "", "", _GLUCOSE_METER),
    )
}
METRICS_BY_REFID = {m.refid: m for m in METRICS.values()}

BP_COMPONENTS = frozenset({"8480-6", "8462-4", "8478-0"})
CUFF_PULSE = "149546"

UNITS = MDC_UNITS  # code -> (reference ID, UCUM): the confirmed unit codes, kept in one table
UNITS_BY_REFID = {
    **dict(UNITS.values()),
    "MDC_DIM_KILO_PASCAL": "kPa",
    "MDC_DIM_MILLI_MOLE_PER_L": "mmol/L",
    "MDC_DIM_FAHR": "[degF]",
    "MDC_DIM_LB": "[lb_av]",
    "MDC_DIM_INCH": "[in_i]",
}


def metric(code: str, refid: str) -> MdcMetric | None:
    """The metric for an MDC code, or for its reference ID when the code is not one we know."""
    return METRICS.get(code.strip()) or METRICS_BY_REFID.get(refid.strip().upper())


def unit_to_ucum(code: str, refid: str) -> str | None:
    """UCUM for an MDC unit; FrameError if the code and the reference ID name different units."""
    code, refid = code.strip(), refid.strip().upper()
    known = UNITS.get(code)
    if known and refid and refid != known[0]:
        raise FrameError(f"MDC unit {code} is {known[0]}, but the message calls it {refid}")
    return known[1] if known else UNITS_BY_REFID.get(refid)
