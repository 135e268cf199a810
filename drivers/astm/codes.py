"""Local analyser test codes to LOINC, by analyte, specimen and UCUM unit.

The unit decides between the mass and the molar LOINC code (glucose in mg/dL is 2345-7, in mmol/L
14749-6); the specimen (O.16) decides between serum/plasma, whole blood and urine. A code we do not
know, or a known code in a unit we do not expect, maps to nothing: the caller marks the measurement
unmapped rather than guess. Codes marked † come from the sources docs/devices.md names;
the others are standard LOINC chemistry codes written down from the LOINC table as we know it
and not re-checked against a LOINC release in this offline build — review before relying on them.
A device profile can add its vendor's aliases with ``CodeTable.with_aliases``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

Specimen = Literal["serum", "blood", "urine"]
"""Serum or plasma (the default for chemistry), whole blood, or urine."""


@dataclass(frozen=True, slots=True)
class LabCode:
    """A LOINC code with its display name and the UCUM unit it is reported in."""

    loinc: str
    display: str
    unit: str


def _codes(*rows: tuple[str, str, str]) -> dict[str, LabCode]:
    return {unit: LabCode(code, display, unit) for unit, code, display in rows}


SSP = "in Serum or Plasma"
ENZYME = "Enzymatic activity/volume"
# analyte -> specimen ("any" when the analyte is measured in one specimen only) -> unit -> code
ANALYTES: dict[str, dict[str, dict[str, LabCode]]] = {
    "glucose": {
        "serum": _codes(
            ("mg/dL", "2345-7", f"Glucose [Mass/volume] {SSP}"),  # †
            ("mmol/L", "14749-6", f"Glucose [Moles/volume] {SSP}"),  # †
        ),
        "blood": _codes(
            ("mg/dL", "2339-0", "Glucose [Mass/volume] in Blood"),  # †
            ("mmol/L", "15074-8", "Glucose [Moles/volume] in Blood"),  # †
        ),
    },
    "hba1c": {
        "any": _codes(
            ("%", "4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood"),  # †
            # † unverified (docs/devices.md)
            ("mmol/mol", "59261-8", "Hemoglobin A1c/Hemoglobin.total in Blood by IFCC protocol"),
        )
    },
    "cholesterol": {
        "serum": _codes(
            ("mg/dL", "2093-3", f"Cholesterol [Mass/volume] {SSP}"),  # †
            ("mmol/L", "14647-2", f"Cholesterol [Moles/volume] {SSP}"),  # †
        )
    },
    "triglyceride": {
        "serum": _codes(
            ("mg/dL", "2571-8", f"Triglyceride [Mass/volume] {SSP}"),
            ("mmol/L", "14927-8", f"Triglyceride [Moles/volume] {SSP}"),  # †
        )
    },
    "hdl": {
        "serum": _codes(
            ("mg/dL", "2085-9", f"Cholesterol in HDL [Mass/volume] {SSP}"),
            ("mmol/L", "14646-4", f"Cholesterol in HDL [Moles/volume] {SSP}"),  # †
        )
    },
    "ldl": {
        "serum": _codes(
            ("mg/dL", "2089-1", f"Cholesterol in LDL [Mass/volume] {SSP}"),
            ("mmol/L", "22748-8", f"Cholesterol in LDL [Moles/volume] {SSP}"),  # †
        )
    },
    "urate": {
        "serum": _codes(
            ("mg/dL", "3084-1", f"Urate [Mass/volume] {SSP}"),  # †
            ("umol/L", "14933-6", f"Urate [Moles/volume] {SSP}"),  # † unverified
        )
    },
    "creatinine": {
        "serum": _codes(
            ("mg/dL", "2160-0", f"Creatinine [Mass/volume] {SSP}"),
            ("umol/L", "14682-9", f"Creatinine [Moles/volume] {SSP}"),  # †
        ),
        "urine": _codes(
            ("mg/dL", "2161-8", "Creatinine [Mass/volume] in Urine"),
            ("mmol/L", "14683-7", "Creatinine [Moles/volume] in Urine"),
            ("umol/L", "14683-7", "Creatinine [Moles/volume] in Urine"),
        ),
    },
    "urea": {
        "serum": _codes(
            ("mmol/L", "22664-7", f"Urea [Moles/volume] {SSP}"),
            ("mg/dL", "3091-6", f"Urea [Mass/volume] {SSP}"),
        )
    },
    "urea_nitrogen": {
        "serum": _codes(
            ("mg/dL", "3094-0", f"Urea nitrogen [Mass/volume] {SSP}"),
            ("mmol/L", "14937-7", f"Urea nitrogen [Moles/volume] {SSP}"),
        )
    },
    "alt": {
        "serum": _codes(
            ("U/L", "1742-6", f"Alanine aminotransferase [{ENZYME}] {SSP}"),  # †
            ("[IU]/L", "1742-6", f"Alanine aminotransferase [{ENZYME}] {SSP}"),  # †
        )
    },
    "ast": {
        "serum": _codes(
            ("U/L", "1920-8", f"Aspartate aminotransferase [{ENZYME}] {SSP}"),  # †
            ("[IU]/L", "1920-8", f"Aspartate aminotransferase [{ENZYME}] {SSP}"),  # †
        )
    },
    "ggt": {"serum": _codes(("U/L", "2324-2", f"Gamma glutamyl transferase [{ENZYME}] {SSP}"))},
    "alp": {"serum": _codes(("U/L", "6768-6", f"Alkaline phosphatase [{ENZYME}] {SSP}"))},
    "bilirubin": {
        "serum": _codes(
            ("mg/dL", "1975-2", f"Bilirubin.total [Mass/volume] {SSP}"),
            ("umol/L", "14631-6", f"Bilirubin.total [Moles/volume] {SSP}"),  # †
        )
    },
    "protein": {
        "serum": _codes(
            ("g/dL", "2885-2", f"Protein [Mass/volume] {SSP}"),
            ("g/L", "2885-2", f"Protein [Mass/volume] {SSP}"),
        )
    },
    "albumin": {
        "serum": _codes(
            ("g/dL", "1751-7", f"Albumin [Mass/volume] {SSP}"),
            ("g/L", "1751-7", f"Albumin [Mass/volume] {SSP}"),
        ),
        # Albumin in mg/L is always the urine (micro)albumin test: serum albumin is g/L.
        "any": _codes(("mg/L", "14957-5", "Microalbumin [Mass/volume] in Urine")),
    },
    "albumin_creatinine_ratio": {
        "any": _codes(("mg/g", "9318-7", "Albumin/Creatinine [Mass Ratio] in Urine")),
    },
    "sodium": {"serum": _codes(("mmol/L", "2951-2", f"Sodium [Moles/volume] {SSP}"))},
    "potassium": {"serum": _codes(("mmol/L", "2823-3", f"Potassium [Moles/volume] {SSP}"))},
    "chloride": {"serum": _codes(("mmol/L", "2075-0", f"Chloride [Moles/volume] {SSP}"))},
    "hemoglobin": {
        "any": _codes(
            ("g/dL", "718-7", "Hemoglobin [Mass/volume] in Blood"),
            ("g/L", "718-7", "Hemoglobin [Mass/volume] in Blood"),
        )
    },
}

# Local test codes (R.3 component 4) as analysers print them, upper-cased.
ALIASES: dict[str, str] = {
    **dict.fromkeys(("GLU", "GLUC", "GLUCOSE", "GLU-G"), "glucose"),
    **dict.fromkeys(("HBA1C", "A1C", "HB A1C", "HBA1C%"), "hba1c"),
    **dict.fromkeys(("CHOL", "TC", "TCHO", "T-CHO", "CHO"), "cholesterol"),
    **dict.fromkeys(("TG", "TRIG", "TRIGL"), "triglyceride"),
    **dict.fromkeys(("HDL", "HDL-C", "HDLC"), "hdl"),
    **dict.fromkeys(("LDL", "LDL-C", "LDLC"), "ldl"),
    **dict.fromkeys(("UA", "URIC", "URCA", "URIC ACID"), "urate"),
    **dict.fromkeys(("CREA", "CRE", "CREAT", "CR", "CRT", "SCR"), "creatinine"),
    "UREA": "urea",
    "BUN": "urea_nitrogen",
    **dict.fromkeys(("ALT", "GPT", "ALAT", "ALT/GPT"), "alt"),
    **dict.fromkeys(("AST", "GOT", "ASAT", "AST/GOT"), "ast"),
    **dict.fromkeys(("GGT", "GAMMA-GT", "Γ-GT"), "ggt"),
    "ALP": "alp",
    **dict.fromkeys(("TBIL", "T-BIL", "TBILI", "BIL-T"), "bilirubin"),
    "TP": "protein",
    "ALB": "albumin",
    **dict.fromkeys(("ACR", "ALB/CRE", "ALB/CREA"), "albumin_creatinine_ratio"),
    # The Siemens DCA Vantage's name; the analyte has only mg/g, so another "Ratio" stays unmapped.
    "RATIO": "albumin_creatinine_ratio",
    "NA": "sodium",
    "K": "potassium",
    "CL": "chloride",
    **dict.fromkeys(("HB", "HGB"), "hemoglobin"),
}

# Analytes measured only in urine: a message reporting one is a urine panel, which is how a
# creatinine without a specimen descriptor (Siemens DCA Vantage: Alb, Crt, Ratio) is read as urine.
URINE_MARKERS = {("albumin", "mg/L"), ("albumin_creatinine_ratio", "mg/g")}


_KEPT_LOOKUPS = 1024


class CodeTable:
    """Looks up a local test code, a UCUM unit and a specimen; a device profile may extend it."""

    def __init__(self, aliases: Mapping[str, str], analytes: Mapping[str, Mapping[str, Mapping[str, LabCode]]]) -> None:
        self._aliases = dict(aliases)
        self._analytes = analytes
        # An analyser sends the same few codes, units and specimens in every message: each answer
        # is kept (a bounded number, so that garbage input cannot grow it without end).
        self._found: dict[tuple[str, str | None, Specimen], LabCode | None] = {}
        self._urine: dict[tuple[str, str | None], bool] = {}

    def analyte(self, test_code: str) -> str | None:
        """The analyte a local test code names, or None."""
        return self._aliases.get(test_code.strip().upper())

    def lookup(self, test_code: str, unit: str | None, specimen: Specimen = "serum") -> LabCode | None:
        """The LOINC code for this test, unit and specimen, or None."""
        key = (test_code, unit, specimen)
        try:
            return self._found[key]
        except KeyError:
            pass
        if len(self._found) >= _KEPT_LOOKUPS:
            self._found.clear()
        found = self._found[key] = self._lookup(test_code, unit, specimen)
        return found

    def _lookup(self, test_code: str, unit: str | None, specimen: Specimen) -> LabCode | None:
        analyte = self.analyte(test_code)
        if analyte is None or unit is None:
            return None
        by_specimen = self._analytes.get(analyte, {})
        return by_specimen.get(specimen, {}).get(unit) or by_specimen.get("any", {}).get(unit)

    def marks_urine(self, test_code: str, unit: str | None) -> bool:
        """True if this result can only come from urine."""
        key = (test_code, unit)
        try:
            return self._urine[key]
        except KeyError:
            pass
        if len(self._urine) >= _KEPT_LOOKUPS:
            self._urine.clear()
        found = self._urine[key] = (self.analyte(test_code), unit) in URINE_MARKERS
        return found

    def with_aliases(self, extra: Mapping[str, str]) -> CodeTable:
        """A copy that also knows these local codes (code -> analyte name)."""
        unknown = set(extra.values()) - set(self._analytes)
        if unknown:
            raise ValueError(f"unknown analytes: {sorted(unknown)}")
        merged = {**self._aliases, **{k.strip().upper(): v for k, v in extra.items()}}
        return CodeTable(merged, self._analytes)


DEFAULT_CODES = CodeTable(ALIASES, ANALYTES)
