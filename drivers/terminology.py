"""The LOINC / UCUM / IEEE 11073 MDC table of docs/devices.md, as data, with two lookups.

``concept("8480-6")`` gives the LOINC display and preferred UCUM units of a quantity;
``loinc_for_mdc(150021)`` maps an MDC observation code (decimal, as in HL7 OBX-3 or PHD-IG) to the
LOINC concept, choosing between mass and molar glucose by the unit when one MDC code serves both.
``ucum_for_mdc_unit`` covers only the MDC unit codes every public source agrees on; send UCUM otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "CONCEPTS",
    "LOINC_SYSTEM",
    "MDC_SYSTEM",
    "MDC_UNITS",
    "Concept",
    "concept",
    "find_concept",
    "loinc_for_mdc",
    "mdc_reference_id",
    "ucum_for_mdc_unit",
]

LOINC_SYSTEM = "http://loinc.org"
MDC_SYSTEM = "urn:iso:std:iso:11073:10101"


@dataclass(frozen=True, slots=True)
class Concept:
    """One quantity: LOINC code, English display, preferred UCUM units (first = default), MDC codes.

    ``verified`` is False for the LOINC codes docs/devices.md lists as unverified.
    """

    loinc: str
    display: str
    units: tuple[str, ...] = ()
    mdc: tuple[str, ...] = ()
    verified: bool = True
    vital_sign: bool = False

    @property
    def unit(self) -> str | None:
        """The default UCUM unit, or None for a panel."""
        return self.units[0] if self.units else None


CONCEPTS: tuple[Concept, ...] = (
    Concept(
        "85353-1",
        "Vital signs, weight, height, head circumference, oxygen saturation and BMI panel",
        vital_sign=True,
    ),
    Concept("85354-9", "Blood pressure panel with all children optional", (), ("150020",), vital_sign=True),
    Concept("8480-6", "Systolic blood pressure", ("mm[Hg]", "kPa"), ("150021",), vital_sign=True),
    Concept("8462-4", "Diastolic blood pressure", ("mm[Hg]", "kPa"), ("150022",), vital_sign=True),
    # Not a FHIR vital-sign component; the code is unverified (docs/devices.md).
    Concept("8478-0", "Mean blood pressure", ("mm[Hg]", "kPa"), ("150023",), verified=False),
    # Many MDC codes to one LOINC code: pulse from a cuff and from an oximeter.
    Concept("8867-4", "Heart rate", ("/min",), ("149546", "149530"), vital_sign=True),
    Concept("9279-1", "Respiratory rate", ("/min",), vital_sign=True),
    Concept(
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        ("%",),
        ("150456",),
        vital_sign=True,
    ),
    Concept("2708-6", "Oxygen saturation in Arterial blood", ("%",), vital_sign=True),
    Concept("8310-5", "Body temperature", ("Cel", "[degF]"), ("150364",), vital_sign=True),
    Concept("29463-7", "Body weight", ("kg", "[lb_av]", "g"), ("188736",), vital_sign=True),
    Concept("8302-2", "Body height", ("cm", "m", "[in_i]"), ("188740",), vital_sign=True),
    Concept("9843-4", "Head Occipital-frontal circumference", ("cm", "[in_i]"), vital_sign=True),
    Concept("39156-5", "Body mass index (BMI) [Ratio]", ("kg/m2",), ("188752",), vital_sign=True),
    # One MDC code per sample type covers both the mass and the molar LOINC codes (unit decides).
    Concept("41653-7", "Glucose [Mass/volume] in Capillary blood by Glucometer", ("mg/dL",), ("160184", "160368")),
    Concept(
        "14743-9",
        "Glucose [Moles/volume] in Capillary blood by Glucometer",
        ("mmol/L",),
        ("160184", "160368"),
    ),
    Concept("2345-7", "Glucose [Mass/volume] in Serum or Plasma", ("mg/dL",)),
    Concept("14749-6", "Glucose [Moles/volume] in Serum or Plasma", ("mmol/L",)),
    Concept("2339-0", "Glucose [Mass/volume] in Blood", ("mg/dL",)),
    Concept("15074-8", "Glucose [Moles/volume] in Blood", ("mmol/L",)),
    Concept("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", ("mg/dL",)),
    Concept("14647-2", "Cholesterol [Moles/volume] in Serum or Plasma", ("mmol/L",)),
    Concept("3084-1", "Urate [Mass/volume] in Serum or Plasma", ("mg/dL",), verified=False),
    Concept("14933-6", "Urate [Moles/volume] in Serum or Plasma", ("umol/L",), verified=False),
    Concept("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", ("%",), verified=False),
    Concept("59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol", ("mmol/mol",), verified=False),
    Concept("41982-0", "Percentage of body fat Measured", ("%",), verified=False),
)

_BY_LOINC = {c.loinc: c for c in CONCEPTS}

# MDC observation codes of the terminology table (docs/devices.md), for logs and the decode command.
_MDC_REFERENCE_IDS = {
    "150020": "MDC_PRESS_BLD_NONINV",
    "150021": "MDC_PRESS_BLD_NONINV_SYS",
    "150022": "MDC_PRESS_BLD_NONINV_DIA",
    "150023": "MDC_PRESS_BLD_NONINV_MEAN",
    "149546": "MDC_PULS_RATE_NON_INV",
    "149530": "MDC_PULS_OXIM_PULS_RATE",
    "150456": "MDC_PULS_OXIM_SAT_O2",
    "150364": "MDC_TEMP_BODY",
    "188736": "MDC_MASS_BODY_ACTUAL",
    "188740": "MDC_LEN_BODY_ACTUAL",
    "188752": "MDC_RATIO_MASS_BODY_LEN_SQ",
    "160184": "MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD",
    "160368": "MDC_CONC_GLU_UNDETERMINED_PLASMA",
}

# MDC unit codes every public source agrees on; others (kPa, mmol/L, degF, lb, inch) disagree between
# public sources and are deliberately absent.
MDC_UNITS: dict[str, tuple[str, str]] = {
    "266016": ("MDC_DIM_MMHG", "mm[Hg]"),
    "262688": ("MDC_DIM_PERCENT", "%"),
    "264864": ("MDC_DIM_BEAT_PER_MIN", "/min"),
    "268192": ("MDC_DIM_DEGC", "Cel"),
    "263875": ("MDC_DIM_KILO_G", "kg"),
    "263441": ("MDC_DIM_CENTI_M", "cm"),
    "264096": ("MDC_DIM_KG_PER_M_SQ", "kg/m2"),
    "264274": ("MDC_DIM_MILLI_G_PER_DL", "mg/dL"),
}


def find_concept(loinc: str) -> Concept | None:
    """The concept of a LOINC code, or None if the table does not have it."""
    return _BY_LOINC.get(loinc)


def concept(loinc: str) -> Concept:
    """The concept of a LOINC code in the table; KeyError for a code it does not have."""
    found = _BY_LOINC.get(loinc)
    if found is None:
        raise KeyError(f"LOINC {loinc} is not in the terminology table")
    return found


def loinc_for_mdc(code: str | int, unit: str | None = None) -> Concept | None:
    """The LOINC concept of an MDC observation code; ``unit`` (UCUM) picks mass vs molar glucose."""
    key = str(code).strip()
    candidates = [c for c in CONCEPTS if key in c.mdc]
    if unit is not None:
        candidates = [c for c in candidates if unit in c.units] or candidates
    return candidates[0] if candidates else None


def mdc_reference_id(code: str | int) -> str | None:
    """The reference id ("MDC_PRESS_BLD_NONINV_SYS") of an MDC observation or unit code we know."""
    key = str(code).strip()
    if key in MDC_UNITS:
        return MDC_UNITS[key][0]
    return _MDC_REFERENCE_IDS.get(key)


def ucum_for_mdc_unit(code: str | int) -> str | None:
    """The UCUM unit of an MDC unit code every public source agrees on (266016 -> "mm[Hg]")."""
    found = MDC_UNITS.get(str(code).strip())
    return None if found is None else found[1]
