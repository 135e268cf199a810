"""E1394 messages to measurements: codes, units, status, times, patients and the content key."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import pytest

from drivers.astm.codes import DEFAULT_CODES
from drivers.astm.compose import LabResult, build_result_message
from drivers.astm.framing import encode_frame, split_text
from drivers.astm.results import decode_astm, decode_astm_readings
from drivers.errors import FrameError
from drivers.measurement import Subject

WHEN = datetime(2024, 6, 1, 9, 30, 0)


def message(*results: str, patient: str = "P|1|PID7", order: str = "O|1|S1", header_time: str = "") -> bytes:
    header = "H|\\^&|||Analyser^1.0^SN1|||||||P|LIS2-A2|" + header_time
    return "\r".join([header, patient, order, *results, "L|1|N"]).encode() + b"\r"


def one(result: str, **kwargs: str) -> tuple[str, Decimal | None, str, tuple[str, ...]]:
    m = decode_astm(message(result, **kwargs)).measurements[0]
    return m.code, m.value, m.unit, m.flags


@pytest.mark.parametrize(
    ("code", "unit", "loinc", "ucum"),
    [
        ("GLU", "mg/dl", "2345-7", "mg/dL"),
        ("Glucose", "mmol/l", "14749-6", "mmol/L"),
        ("HbA1c", "%", "4548-4", "%"),
        ("HBA1C", "mmol/mol", "59261-8", "mmol/mol"),
        ("CHOL", "mmol/L", "14647-2", "mmol/L"),
        ("TC", "mg/dL", "2093-3", "mg/dL"),
        ("TG", "mmol/L", "14927-8", "mmol/L"),
        ("HDL-C", "mmol/L", "14646-4", "mmol/L"),
        ("LDL-C", "mmol/L", "22748-8", "mmol/L"),
        ("UA", "µmol/L", "14933-6", "umol/L"),
        ("CREA", "umol/L", "14682-9", "umol/L"),
        ("UREA", "mmol/L", "22664-7", "mmol/L"),
        ("BUN", "mg/dL", "3094-0", "mg/dL"),
        ("ALT", "U/L", "1742-6", "U/L"),
        ("AST", "IU/L", "1920-8", "[IU]/L"),
        ("TBIL", "umol/L", "14631-6", "umol/L"),
        ("TP", "g/dL", "2885-2", "g/dL"),
    ],
)
def test_local_codes_map_to_loinc_by_unit(code: str, unit: str, loinc: str, ucum: str) -> None:
    mapped, value, mapped_unit, flags = one(f"R|1|^^^{code}|5.6|{unit}||N||F")
    assert (mapped, value, mapped_unit) == (loinc, Decimal("5.6"), ucum)
    assert "unmapped-code" not in flags


def test_specimen_descriptor_chooses_whole_blood_and_urine_codes() -> None:
    blood = "O|1|S1||^^^GLU|R||||||||||Whole blood"
    assert one("R|1|^^^GLU|5.6|mmol/L||||F", order=blood)[0] == "15074-8"
    urine = "O|1|S1||^^^CREA|R||||||||||尿液"
    assert one("R|1|^^^CREA|8.1|mmol/L||||F", order=urine)[0] == "14683-7"


def test_a_urine_albumin_result_makes_its_creatinine_a_urine_creatinine() -> None:
    frame = decode_astm(message("R|1|^^^Alb|63.7|mg/L||||F", "R|2|^^^Crt|230.8|mg/dL||||F"))
    assert [m.code for m in frame.measurements] == ["14957-5", "2161-8"]
    assert one("R|1|^^^Crt|0.9|mg/dL||||F")[0] == "2160-0"


def test_an_unknown_code_is_kept_unmapped_with_its_local_code() -> None:
    frame = decode_astm(message("R|1|^^^XYZ^Mystery|1.0|mg/dL||||F"))
    m = frame.measurements[0]
    assert (m.code, m.system, m.display, m.unit) == ("", "", "Mystery", "mg/dL")
    assert "unmapped-code" in m.flags
    assert frame.fields["results"][0]["test_code"] == "XYZ"


def test_a_known_code_in_an_unknown_unit_is_unmapped_and_keeps_its_unit() -> None:
    code, _, unit, flags = one("R|1|^^^GLU|1.0|g/L||||F")
    assert (code, unit) == ("", "g/L")
    assert "unmapped-unit" in flags
    assert one("R|1|^^^GLU|1.0|furlongs||||F")[2] == "furlongs"


def test_a_vendor_alias_can_be_added() -> None:
    codes = DEFAULT_CODES.with_aliases({"Ratio": "albumin_creatinine_ratio"})
    frame = decode_astm(message("R|1|^^^Ratio|27.6|mg/g||||F"), codes=codes)
    assert frame.measurements[0].code == "9318-7"
    with pytest.raises(ValueError, match="unknown analytes"):
        DEFAULT_CODES.with_aliases({"X": "unobtainium"})


@pytest.mark.parametrize(
    ("status", "final", "flags"),
    [
        ("F", True, ("status:F",)),
        ("C", True, ("status:C", "corrected")),
        ("P", False, ("status:P", "not-final")),
        ("", False, ("not-final",)),
    ],
)
def test_only_f_and_c_are_final(status: str, final: bool, flags: tuple[str, ...]) -> None:
    frame = decode_astm(message(f"R|1|^^^GLU|5.6|mmol/L||||{status}"))
    assert frame.final is final
    assert frame.measurements[0].flags == flags


def test_abnormal_flags_are_all_kept() -> None:
    assert one("R|1|^^^GLU|15.6|mmol/L|3.9-6.1|HH\\A||F")[3] == ("abnormal:HH", "abnormal:A", "status:F")


@pytest.mark.parametrize(
    ("value", "number", "flag"),
    [
        ("<0.5", None, "comparator:<"),
        (">= 33.3", None, "comparator:>="),
        ("HI", None, "non-numeric"),
        ("", None, "no-value"),
        ("-1.25", Decimal("-1.25"), None),
    ],
)
def test_values_that_are_not_plain_numbers_are_kept_as_text(value: str, number: Decimal | None, flag: str) -> None:
    m = decode_astm(message(f"R|1|^^^GLU|{value}|mmol/L||||F")).measurements[0]
    assert (m.value, m.value_text) == (number, value)
    if flag:
        assert flag in m.flags


@pytest.mark.parametrize(
    ("result", "order", "header_time", "taken"),
    [
        ("R|1|^^^GLU|5|mmol/L||||F|||202406010800|20240601081500", "O|1|S1", "20240601093000", (8, 15)),
        ("R|1|^^^GLU|5|mmol/L||||F|||202406010800", "O|1|S1", "20240601093000", (8, 0)),
        ("R|1|^^^GLU|5|mmol/L||||F", "O|1|S1|||||202406010700", "20240601093000", (7, 0)),
        ("R|1|^^^GLU|5|mmol/L||||F", "O|1|S1", "20240601093000", (9, 30)),
    ],
)
def test_time_is_r13_then_r12_then_o8_then_h14(
    result: str, order: str, header_time: str, taken: tuple[int, int]
) -> None:
    frame = decode_astm(message(result, order=order, header_time=header_time))
    assert frame.measurements[0].taken_at == datetime(2024, 6, 1, *taken)
    assert frame.device_time == WHEN


@pytest.mark.parametrize("bad", ["2024-06-01", "20241301", "2024060112345", "abcdefgh"])
def test_a_malformed_time_refuses_the_message(bad: str) -> None:
    with pytest.raises(FrameError, match=r"R\.13"):
        decode_astm(message(f"R|1|^^^GLU|5|mmol/L||||F||||{bad}"))


@pytest.mark.parametrize(
    ("patient", "subject"),
    [
        ("P|1|11010519491231002X|||张^三", Subject(id_number="11010519491231002X", name="张三")),
        ("P|1|11010519491231002x", Subject(id_number="11010519491231002X")),
        ("P|1||11010519491231003X", Subject(other_id="11010519491231003X")),  # wrong check character
        ("P|1|LAB9|37060219900101001", Subject(health_record_number="37060219900101001", other_id="LAB9")),
        ("P|1||||Doe^John^Q", Subject(name="John Q Doe")),
        ("P|1", None),
    ],
)
def test_patient_identifiers_are_sorted_into_the_subject(patient: str, subject: Subject | None) -> None:
    assert decode_astm(message("R|1|^^^GLU|5|mmol/L||||F", patient=patient)).subject == subject


def test_results_of_two_patients_never_share_a_subject() -> None:
    text = "\r".join(
        [
            "H|\\^&",
            "R|1|^^^GLU|4.0|mmol/L||||F",
            "P|1|A1",
            "O|1|S1",
            "R|1|^^^GLU|5.0|mmol/L||||F",
            "P|2|B2",
            "O|1|S2",
            "R|1|^^^GLU|6.0|mmol/L||||F",
            "R|2|^^^TG|1.1|mmol/L||||F",
            "L|1|N",
        ]
    ).encode()
    whole = decode_astm(text)
    assert whole.subject is None
    assert len(whole.measurements) == 4
    readings = decode_astm_readings(text)
    assert [(r.subject.other_id if r.subject else None, len(r.measurements)) for r in readings] == [
        (None, 1),
        ("A1", 1),
        ("B2", 2),
    ]
    assert readings[2].fields["orders"][0]["specimen_id"] == "S2"
    assert readings[2].fields["results"][1]["order"] == 0
    assert len({r.sequence for r in readings}) == 3


def test_the_content_key_ignores_the_message_time_but_not_the_result() -> None:
    base = decode_astm(message("R|1|^^^GLU|5.6|mmol/L||||F||||20240601081500", header_time="20240601093000"))
    resent = decode_astm(message("R|1|^^^GLU|5.6|mmol/L||||F||||20240601081500", header_time="20240602100000"))
    corrected = decode_astm(message("R|1|^^^GLU|5.9|mmol/L||||C||||20240601081500", header_time="20240601093000"))
    assert base.sequence == resent.sequence
    assert base.sequence != corrected.sequence
    assert base.sequence is not None
    assert base.sequence.startswith("sha256:")


def test_framed_and_plain_inputs_decode_alike() -> None:
    text = build_result_message(
        results=[LabResult(test_code="GLU", value="5.6", unit="mmol/L", completed_at=WHEN)], timestamp=WHEN
    )
    framed = b"\x05" + b"".join(encode_frame(f) for f in split_text(text, max_text=30)) + b"\x04"
    plain = text.replace(b"\r", b"\r\n")
    assert decode_astm(framed).as_json() == decode_astm(plain).as_json() == decode_astm(text).as_json()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"P|1\rL|1|N\r", "outside a message"),
        (b"H|\\^&\rP|1\r", "no L"),
        (b"", "no records"),
        (b"H|\\^&\rL|1|N\rH|\\^&\rL|1|N\r", "2 messages"),
        (b"H|\\^&\rL|1|N\rR|1\r", "outside a message"),
        (b"H|\\^&\rP|1\rH|\\^&\rL|1|N\r", "new H record before the L"),
        (b"H|\\^&\x00\rL|1|N\r", "control byte 0x00"),
        (b"\x021H|\\^&\r\x1700\r\n", "checksum"),
    ],
)
def test_broken_input_is_refused_whole(data: bytes, reason: str) -> None:
    with pytest.raises(FrameError, match=reason):
        decode_astm(data)


def test_readings_split_several_messages() -> None:
    twice = message("R|1|^^^GLU|5|mmol/L||||F") * 2
    assert len(decode_astm_readings(twice)) == 2


def test_comments_follow_their_record_and_unknown_records_are_kept() -> None:
    frame = decode_astm(message("R|1|^^^GLU|5|mmol/L||||F", "C|1|I|hemolysed|G", "M|1|curve|1^2"))
    assert frame.fields["results"][0]["comments"][0]["comment_text"] == "hemolysed"
    assert frame.fields["other_records"] == [{"record_type": "M", "raw": "M|1|curve|1^2"}]


def test_text_encoding_is_detected_or_given() -> None:
    gb = message("R|1|^^^GLU|5|mmol/L||||F", patient="P|1||||王^小明").decode().encode("gb18030")
    frame = decode_astm(gb)
    assert frame.fields["encoding"] == "gb18030"
    assert frame.subject == Subject(name="王小明")
    with pytest.raises(FrameError, match="not valid utf-8"):
        decode_astm(gb, encoding="utf-8")


def test_fields_are_json_serialisable() -> None:
    import json

    text = message("R|1|^^^GLU^Glucose|5|mmol/L|3.9-6.1|N\\A||F", "C|1|I|x^y|G")
    assert json.loads(json.dumps(decode_astm(text).as_json()))["fields"]["results"][0]["test_name"] == "Glucose"
