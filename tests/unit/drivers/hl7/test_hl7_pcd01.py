"""ORU^R01 and IHE PCD-01: structure checks, MDC/LOINC/UCUM mapping, times, flags and readings."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from drivers.errors import FrameError
from drivers.hl7.compose import Observation, blood_pressure, build_oru_r01
from drivers.hl7.mllp import frame
from drivers.hl7.pcd01 import decode_hl7, decode_hl7_readings
from drivers.measurement import Measurement, Subject

CST = timezone(timedelta(hours=8))
PCD_MSH = (
    "MSH|^~\\&|Dev^0123456789ABCDEF^EUI-64||||20240601080000+0800||ORU^R01^ORU_R01|M1|P|2.6|||NE|AL|||||"
    "IHE PCD ORU-R01 2006^HL7^1.3.6.1.4.1.19376.1.6.1.1.1^ISO"
)
LAB_MSH = "MSH|^~\\&|Lab|F|LIS|F|20240601080000||ORU^R01|L1|P|2.3.1"
OBR = "OBR|1|||528391^MDC_DEV_SPEC_PROFILE_BP^MDC|||20240601075500+0800"


def decode(*segments: str, msh: str = PCD_MSH) -> list[Measurement]:
    return list(decode_hl7("\r".join([msh, *segments]).encode()).measurements)


def one(obx: str, msh: str = PCD_MSH) -> Measurement:
    return decode(OBR, obx, msh=msh)[0]


def test_pid_may_be_absent() -> None:
    frame = decode_hl7(f"{PCD_MSH}\r{OBR}\rOBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|97|262688^^MDC".encode())
    assert frame.subject is None
    assert [(m.code, m.value, m.unit) for m in frame.measurements] == [("59408-5", Decimal(97), "%")]


def test_pcd_requires_obx_4_and_a_plain_lab_message_does_not() -> None:
    obx = "OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC||97|262688^MDC_DIM_PERCENT^MDC"
    with pytest.raises(FrameError, match="OBX 1 has no OBX-4"):
        decode(OBR, obx)
    assert decode(OBR, obx, msh=LAB_MSH)[0].code == "59408-5"


@pytest.mark.parametrize(
    ("segments", "reason"),
    [
        (["PID|||1", "OBX|1|NM|8867-4^HR^LN|1|70|/min"], "OBX 1 comes before any OBR"),
        (["PID|||1"], "no OBR segment"),
    ],
)
def test_obr_is_required(segments: list[str], reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode(*segments)


def test_only_oru_r01_carries_results() -> None:
    with pytest.raises(FrameError, match="unsupported message type ADT\\^A01"):
        decode_hl7(b"MSH|^~\\&|A||||20240601||ADT^A01|X|P|2.5\rPID|||1")


@pytest.mark.parametrize(
    ("code", "unit", "loinc", "ucum", "mdc"),
    [
        ("150456^MDC_PULS_OXIM_SAT_O2^MDC", "262688^MDC_DIM_PERCENT^MDC", "59408-5", "%", "150456"),
        ("149530^MDC_PULS_OXIM_PULS_RATE^MDC", "264864^MDC_DIM_BEAT_PER_MIN^MDC", "8867-4", "/min", "149530"),
        ("150364^MDC_TEMP_BODY^MDC", "268192^MDC_DIM_DEGC^MDC", "8310-5", "Cel", "150364"),
        ("188736^MDC_MASS_BODY_ACTUAL^MDC", "263875^MDC_DIM_KILO_G^MDC", "29463-7", "kg", "188736"),
        ("188740^MDC_LEN_BODY_ACTUAL^MDC", "cm^cm^UCUM", "8302-2", "cm", "188740"),
        (
            "188752^MDC_RATIO_MASS_BODY_LEN_SQ^MDC",
            "264096^MDC_DIM_KG_PER_M_SQ^MDC",
            "39156-5",
            "kg/m2",
            "188752",
        ),
        ("^MDC_PRESS_BLD_NONINV_SYS^MDC", "^MDC_DIM_KILO_PASCAL^MDC", "8480-6", "kPa", "150021"),
        (
            "160184^MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD^MDC",
            "264274^MDC_DIM_MILLI_G_PER_DL^MDC",
            "41653-7",
            "mg/dL",
            "160184",
        ),
        (
            "160184^MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD^MDC",
            "^MDC_DIM_MILLI_MOLE_PER_L^MDC",
            "14743-9",
            "mmol/L",
            "160184",
        ),
        ("8867-4^Heart rate^LN", "/min^/min^UCUM", "8867-4", "/min", None),
        ("HR^Heart rate^L^8867-4^Heart rate^LN", "bpm", "8867-4", "/min", None),
    ],
)
def test_codes_and_units_map_to_loinc_and_ucum(code: str, unit: str, loinc: str, ucum: str, mdc: str | None) -> None:
    m = one(f"OBX|1|NM|{code}|1.0.0.1|12.5|{unit}|||||R")
    assert (m.code, m.unit, m.mdc_code, m.value) == (loinc, ucum, mdc, Decimal("12.5"))
    assert not [f for f in m.flags if f.startswith("unmapped")]


def test_an_unknown_code_is_kept_unmapped_with_its_mdc_code() -> None:
    m = one("OBX|1|NM|999999^MDC_SOMETHING_NEW^MDC|1.0.0.1|1|262688^^MDC")
    assert (m.code, m.system, m.mdc_code, m.display) == ("", "", "999999", "MDC_SOMETHING_NEW")
    assert "unmapped-code" in m.flags
    local = one("OBX|1|NM|XY^Local thing^99LOCAL|1.0.0.1|1|%")
    assert (local.code, local.display, local.flags) == ("", "Local thing", ("unmapped-code",))


def test_glucose_in_an_unexpected_unit_is_unmapped() -> None:
    m = one("OBX|1|NM|160184^MDC_CONC_GLU_CAPILLARY_WHOLEBLOOD^MDC|1.0.0.1|1|g/L")
    assert (m.code, m.unit) == ("", "g/L")
    assert "unmapped-unit" in m.flags


def test_an_mdc_unit_code_contradicting_its_name_refuses_the_message() -> None:
    with pytest.raises(FrameError, match="266016 is MDC_DIM_MMHG"):
        one("OBX|1|NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.0.0.1|16|266016^MDC_DIM_KILO_PASCAL^MDC")


def test_an_unknown_unit_is_kept_and_flagged() -> None:
    m = one("OBX|1|NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.0.0.1|97|999^MDC_DIM_WHATEVER^MDC")
    assert m.unit == "999"
    assert "unmapped-unit" in m.flags


def test_obx_14_overrides_the_compound_time_which_overrides_obr_7() -> None:
    observations = [
        *blood_pressure("120", "80", at=datetime(2024, 6, 1, 7, 58, tzinfo=CST)),
        Observation(sub_id="2.0.0.1", code=("150456", "MDC_PULS_OXIM_SAT_O2", "MDC"), value="97", unit=None),
        Observation(
            sub_id="2.0.0.2",
            code=("149530", "MDC_PULS_OXIM_PULS_RATE", "MDC"),
            value="71",
            observed_at=datetime(2024, 6, 1, 7, 59, tzinfo=CST),
        ),
    ]
    data = build_oru_r01(
        control_id="T1",
        timestamp=datetime(2024, 6, 1, 8, 0, tzinfo=CST),
        observations=observations,
        observed_at=datetime(2024, 6, 1, 7, 55, tzinfo=CST),
    )
    times = [m.taken_at.strftime("%H:%M") for m in decode_hl7(data).measurements if m.taken_at]
    assert times == ["07:58", "07:58", "07:55", "07:59"]


def test_a_malformed_observation_time_refuses_the_message() -> None:
    with pytest.raises(FrameError, match="OBX-14 of OBX 1"):
        one("OBX|1|NM|8867-4^HR^LN|1.0.0.1|70|/min|||||R|||2024-06-01")


@pytest.mark.parametrize(
    ("tail", "flags", "final"),
    [
        ("|H~A|||F", ("abnormal:H", "abnormal:A", "status:F"), True),
        ("||||R", ("status:R",), True),
        ("||||P", ("status:P", "not-final"), False),
        ("||||C", ("status:C", "corrected"), True),
        ("||||", (), True),
    ],
)
def test_abnormal_flags_and_status(tail: str, flags: tuple[str, ...], final: bool) -> None:
    data = f"{PCD_MSH}\r{OBR}\rOBX|1|NM|8867-4^HR^LN|1.0.0.1|70|/min|{tail}".encode()
    frame = decode_hl7(data)
    assert frame.measurements[0].flags == flags
    assert frame.final is final


@pytest.mark.parametrize(
    ("kind", "value", "text", "number", "flag"),
    [
        ("SN", "^182", "182", Decimal(182), None),
        ("SN", "=^5.5", "5.5", Decimal("5.5"), None),
        ("SN", "<^0.5", "<0.5", None, "comparator:<"),
        ("SN", "^1^:^2", "1:2", None, "structured"),
        ("NM", "abc", "abc", None, "non-numeric"),
        ("NM", "", "", None, "no-value"),
        ("CWE", "1^Sitting^L", "1^Sitting^L", None, "non-numeric"),
        ("NM", "70~71", "70", Decimal(70), "repeated-value"),
        ("ST", "7.25", "7.25", Decimal("7.25"), None),
    ],
)
def test_values(kind: str, value: str, text: str, number: Decimal | None, flag: str | None) -> None:
    m = one(f"OBX|1|{kind}|8867-4^HR^LN|1.0.0.1|{value}|/min")
    assert (m.value_text, m.value) == (text, number)
    if flag:
        assert flag in m.flags


def test_a_mixed_message_splits_into_a_bp_panel_and_the_other_readings() -> None:
    observations = [
        *blood_pressure("135", "85", "102", pulse="72", at=datetime(2024, 6, 1, 7, 58, tzinfo=CST)),
        Observation(sub_id="2.0.0.1", code=("150456", "MDC_PULS_OXIM_SAT_O2", "MDC"), value="97"),
        Observation(sub_id="3.0.0.1", code=("150364", "MDC_TEMP_BODY", "MDC"), value="36.6"),
    ]
    data = build_oru_r01(control_id="MIX", timestamp=datetime(2024, 6, 1, 8, 0, tzinfo=CST), observations=observations)
    whole = decode_hl7(data)
    assert whole.panel is None
    assert len(whole.measurements) == 6
    readings = decode_hl7_readings(data)
    assert [(r.panel, r.sequence, [m.code for m in r.measurements]) for r in readings] == [
        ("85354-9", "MIX#1", ["8480-6", "8462-4", "8478-0", "8867-4"]),
        (None, "MIX#2", ["59408-5", "8310-5"]),
    ]


def test_systolic_and_diastolic_in_one_obr_make_a_panel_without_containment() -> None:
    data = "\r".join(
        [
            LAB_MSH,
            "OBR|1||||||20240601075500",
            "OBX|1|NM|8480-6^Systolic^LN||128|mm[Hg]^mm[Hg]^UCUM|||||F",
            "OBX|2|NM|8462-4^Diastolic^LN||82|mmHg|||||F",
        ]
    ).encode()
    frame = decode_hl7(data)
    assert frame.panel == "85354-9"
    assert [m.unit for m in frame.measurements] == ["mm[Hg]", "mm[Hg]"]
    assert frame.sequence == "L1"


def test_two_patients_are_two_readings_and_the_message_has_no_single_subject() -> None:
    data = "\r".join(
        [
            LAB_MSH,
            "PID|||11010519491231002X^^^^NI~A1^^^H^PI||张^三",
            "OBR|1||||||20240601",
            "OBX|1|NM|2345-7^Glucose^LN||5.6|mmol/L|||||F",
            "PID|||37060219900101001^^^^HR",
            "OBR|1||||||20240601",
            "OBX|1|NM|2345-7^Glucose^LN||6.6|mmol/L|||||F",
        ]
    ).encode()
    assert decode_hl7(data).subject is None
    readings = decode_hl7_readings(data)
    assert [r.subject for r in readings] == [
        Subject(id_number="11010519491231002X", other_id="A1", name="张三"),
        Subject(health_record_number="37060219900101001"),
    ]
    assert [r.measurements[0].value for r in readings] == [Decimal("5.6"), Decimal("6.6")]


def test_fields_keep_every_segment() -> None:
    data = "\r".join(
        [PCD_MSH, "PID|||1", OBR, "NTE|1||note", "OBR|2", "OBX|1|NM|8867-4^HR^LN|1.0.0.1|70|/min"]
    ).encode()
    fields = decode_hl7(data).fields
    assert fields["segments"] == ["MSH", "PID", "OBR", "NTE", "OBR", "OBX"]
    assert fields["other_segments"] == ["NTE|1||note"]
    assert [o["obr_1"] for o in fields["orders"]] == ["1", "2"]
    assert fields["observations"][0]["order"] == 1
    assert fields["msh_21"].startswith("IHE PCD")


def test_mllp_framed_input_is_accepted() -> None:
    data = f"{PCD_MSH}\r{OBR}\rOBX|1|NM|8867-4^HR^LN|1.0.0.1|70|/min".encode()
    assert decode_hl7(frame(data)).as_json() == decode_hl7(data).as_json()
