"""Hypothesis strategies for domain objects whose FHIR mapping must round-trip."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from hypothesis import strategies as st

from clinic_agent.core.idnumber import check_character
from clinic_agent.core.model import (
    Allergy,
    ClinicalStatus,
    Condition,
    DeviceInfo,
    FamilyHistory,
    KeyPopulation,
    Procedure,
    ProcedureCategory,
    Quantity,
    Reading,
    ReadingStatus,
    Relation,
    Resident,
    Sex,
)
from sync.fhir.organization import Clinic

HAN = "张王李赵刘陈杨黄周吴欧阳司马诸葛建国秀英丽娟伟芳娜敏静强磊军洋勇艳杰涛明超霞平刚桂兰坝盘村寨"
ids = st.uuids(version=4).map(str)
# FHIR strings: printable letters, digits, punctuation and plain spaces, trimmed, never empty.
texts = (
    st.text(st.characters(categories=("L", "N", "P"), include_characters=" "), min_size=1, max_size=24)
    .map(str.strip)
    .filter(bool)
)
han_names = st.text(st.sampled_from(HAN), min_size=2, max_size=4)
names = st.one_of(han_names, texts, st.builds(lambda a, b: f"{a}·{b}", han_names, han_names))
dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2030, 12, 31))
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5, minutes=-30))])
moments = st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=zones)
digits = st.text(st.sampled_from("0123456789"), min_size=1, max_size=1)


@st.composite
def id_numbers(draw: st.DrawFn) -> str:
    """A valid 18-character resident ID number with its check character."""
    region = draw(st.sampled_from(["520602", "110105", "440524", "522201", "520103"]))
    born = draw(st.dates(min_value=date(1900, 1, 1), max_value=date(2020, 12, 31)))
    order = draw(st.integers(0, 999))
    first17 = f"{region}{born:%Y%m%d}{order:03d}"
    return first17 + check_character(first17)


residents = st.builds(
    Resident,
    id=ids,
    id_number=id_numbers(),
    name=names,
    sex=st.sampled_from(Sex),
    birth_date=dates,
    health_record_number=st.none() | st.from_regex(r"52060[0-9]{12}", fullmatch=True),
    phone=st.none() | st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True),
    village=st.none() | texts,
    address=st.none() | texts,
    ethnicity=st.none() | st.from_regex(r"[0-9]{2}", fullmatch=True) | texts,
    key_populations=st.lists(st.sampled_from(KeyPopulation), max_size=4).map(tuple),
    id_number_override=st.none() | texts,
    version=st.integers(0, 1000),
    updated_at=st.none() | moments,
    deleted=st.booleans(),
)

UNITS = ["mm[Hg]", "/min", "%", "Cel", "kg", "cm", "kg/m2", "mmol/L", "mg/dL"]
CODES = [
    "8867-4",
    "59408-5",
    "8310-5",
    "29463-7",
    "8302-2",
    "39156-5",
    "14743-9",
    "41653-7",
    "2093-3",
    "4548-4",
]


@st.composite
def decimal_texts(draw: st.DrawFn) -> str:
    """A decimal as a device writes it, trailing zeros kept ("2.00", "120", "36.5")."""
    places = draw(st.integers(0, 3))
    value = draw(st.decimals(min_value=0, max_value=99999, places=places, allow_nan=False, allow_infinity=False))
    return str(value)


def quantities(code: st.SearchStrategy[str]) -> st.SearchStrategy[Quantity]:
    """Quantities of the given code."""
    return st.builds(
        Quantity, code=code, value=decimal_texts(), unit=st.sampled_from(UNITS), display=st.just("") | texts
    )


@st.composite
def blood_pressures(draw: st.DrawFn) -> tuple[Quantity, ...]:
    """Systolic, diastolic, and sometimes mean and pulse."""
    parts = [draw(quantities(st.just("8480-6"))), draw(quantities(st.just("8462-4")))]
    if draw(st.booleans()):
        parts.append(draw(quantities(st.just("8478-0"))))
    if draw(st.booleans()):
        parts.append(draw(quantities(st.just("8867-4"))))
    return tuple(parts)


@st.composite
def readings(draw: st.DrawFn) -> Reading:
    """A reading: a BP panel, one value of its own code, or a panel of other codes."""
    shape = draw(st.sampled_from(["bp", "single", "panel"]))
    if shape == "bp":
        code, components = "85354-9", draw(blood_pressures())
    elif shape == "single":
        code = draw(st.sampled_from(CODES))
        components = (draw(quantities(st.just(code))),)
    else:
        code = draw(st.sampled_from(CODES))
        components = tuple(draw(st.lists(quantities(st.sampled_from(CODES)), min_size=2, max_size=4)))
    return Reading(
        id=draw(ids),
        resident_id=draw(ids),
        code=code,
        components=components,
        taken_at=draw(moments),
        received_at=draw(moments),
        display=draw(st.just("") | texts),
        device_time=draw(st.none() | texts),
        device=draw(st.none() | devices),
        source=draw(st.sampled_from(["manual", "ble", "astm", "hl7", "serial"])),
        flags=tuple(draw(st.lists(texts, max_size=3))),
        extreme_reason=draw(st.none() | texts),
        status=draw(st.sampled_from(ReadingStatus)),
    )


devices = st.builds(
    DeviceInfo,
    id=st.one_of(ids, st.from_regex(r"ble:[0-9A-F]{2}(:[0-9A-F]{2}){5}", fullmatch=True)),
    model=st.just("") | texts,
    serial=st.just("") | texts,
    protocol=st.just("") | st.sampled_from(["ble-bps", "astm", "hl7-mllp", "contec"]),
)

entry_common = {
    "id": ids,
    "resident_id": ids,
    "version": st.integers(0, 100),
    "updated_at": st.none() | moments,
    "deleted": st.booleans(),
}
notes = st.just("") | texts

allergies = st.builds(
    Allergy,
    substance=texts,
    category=st.sampled_from(["food", "medication", "environment", "biologic"]),
    code=st.none() | st.sampled_from(["2", "3", "4", "5"]),
    reaction=st.just("") | texts,
    criticality=st.none() | st.sampled_from(["low", "high", "unable-to-assess"]),
    status=st.sampled_from(ClinicalStatus),
    recorded_on=st.none() | dates,
    note=notes,
    **entry_common,
)
conditions = st.builds(
    Condition,
    name=texts,
    code=st.none() | st.sampled_from([str(n) for n in range(1, 14)]),
    icd10=st.none() | st.from_regex(r"[A-Z][0-9]{2}(\.[0-9])?", fullmatch=True),
    diagnosed_on=st.none() | dates,
    status=st.sampled_from(ClinicalStatus),
    note=notes,
    **entry_common,
)
procedures = st.builds(
    Procedure,
    category=st.sampled_from(ProcedureCategory),
    name=texts,
    performed_on=st.none() | dates,
    note=notes,
    **entry_common,
)
family_histories = st.builds(
    FamilyHistory,
    relation=st.sampled_from(Relation),
    condition=texts,
    code=st.none() | st.sampled_from([str(n) for n in range(1, 13)]),
    note=notes,
    **entry_common,
)
clinics = st.builds(
    Clinic,
    code=st.from_regex(r"[0-9A-Z]{6,18}", fullmatch=True),
    name=texts,
    region_code=st.none() | st.sampled_from(["520602", "522201"]),
    phone=st.none() | st.from_regex(r"0856[0-9]{7}", fullmatch=True),
)
