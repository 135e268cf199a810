"""The LOINC / UCUM / MDC table and its lookups."""

from __future__ import annotations

import pytest

from drivers.terminology import (
    CONCEPTS,
    concept,
    find_concept,
    loinc_for_mdc,
    mdc_reference_id,
    ucum_for_mdc_unit,
)


def test_the_vital_signs_of_the_fhir_value_set_are_there() -> None:
    for code in (
        "85353-1",
        "9279-1",
        "8867-4",
        "2708-6",
        "8310-5",
        "8302-2",
        "9843-4",
        "29463-7",
        "39156-5",
        "85354-9",
        "8480-6",
        "8462-4",
    ):
        assert concept(code).vital_sign, code


def test_concepts_carry_display_and_preferred_units() -> None:
    systolic = concept("8480-6")
    assert (systolic.display, systolic.unit, systolic.units) == (
        "Systolic blood pressure",
        "mm[Hg]",
        ("mm[Hg]", "kPa"),
    )
    assert concept("85354-9").unit is None
    assert concept("14743-9").display == "Glucose [Moles/volume] in Capillary blood by Glucometer"
    assert concept("8478-0").verified is False


def test_unknown_codes() -> None:
    assert find_concept("0000-0") is None
    with pytest.raises(KeyError):
        concept("0000-0")


@pytest.mark.parametrize(
    ("mdc", "unit", "loinc"),
    [
        (150021, None, "8480-6"),
        ("150022", None, "8462-4"),
        (149546, None, "8867-4"),
        (149530, None, "8867-4"),
        (150456, None, "59408-5"),
        (150364, None, "8310-5"),
        (188736, None, "29463-7"),
        (188740, None, "8302-2"),
        (188752, None, "39156-5"),
        (160184, "mg/dL", "41653-7"),
        (160184, "mmol/L", "14743-9"),
        (160368, "mmol/L", "14743-9"),
        (160184, None, "41653-7"),
        (150020, None, "85354-9"),
    ],
)
def test_mdc_codes_map_to_loinc(mdc: int | str, unit: str | None, loinc: str) -> None:
    found = loinc_for_mdc(mdc, unit)
    assert found is not None
    assert found.loinc == loinc


def test_unmapped_mdc_codes() -> None:
    assert loinc_for_mdc(999999) is None
    assert mdc_reference_id(150021) == "MDC_PRESS_BLD_NONINV_SYS"
    assert mdc_reference_id("266016") == "MDC_DIM_MMHG"
    assert mdc_reference_id(1) is None


@pytest.mark.parametrize(
    ("code", "ucum"),
    [
        (266016, "mm[Hg]"),
        (262688, "%"),
        (264864, "/min"),
        (268192, "Cel"),
        (263875, "kg"),
        (263441, "cm"),
        (264096, "kg/m2"),
        (264274, "mg/dL"),
        (266560, None),
    ],
)
def test_only_confirmed_mdc_units_are_mapped(code: int, ucum: str | None) -> None:
    assert ucum_for_mdc_unit(code) == ucum


def test_loinc_codes_are_unique() -> None:
    codes = [c.loinc for c in CONCEPTS]
    assert len(codes) == len(set(codes))
