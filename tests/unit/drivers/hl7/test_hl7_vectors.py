"""Every vector of tests/vectors/hl7.json, asserted against the message, ORU and ACK codecs."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from hl7_vectors import asserted, input_bytes, load

from drivers.errors import FrameError
from drivers.hl7.ack import build_ack, parse_ack
from drivers.hl7.message import parse_message
from drivers.hl7.pcd01 import decode_hl7, decode_hl7_readings

VECTORS = load()
TESTED = {"hl7-ihe-pcd01-bp", "hl7-ihe-pcd01-ack", "hl7-ipf-no-obr-invalid", "hl7-pythonhl7-oru-glucose"}
NOW = datetime(2024, 6, 1, 8, 0, tzinfo=UTC)


def test_every_vector_has_a_test() -> None:
    assert set(VECTORS) == TESTED
    assert all(v["source"] for v in VECTORS.values())


def _subset(actual: dict[str, object], expected: dict[str, object]) -> None:
    for key, value in expected.items():
        if key.startswith("_"):
            continue
        assert actual.get(key) == value, key


def test_pcd01_blood_pressure() -> None:
    vector = VECTORS["hl7-ihe-pcd01-bp"]
    expected = asserted(vector)
    assert expected["valid"] is True
    frame = decode_hl7(input_bytes(vector))
    fields = expected["fields"]
    _subset(frame.fields, {k: v for k, v in fields.items() if k != "observations"})
    assert len(frame.fields["observations"]) == len(fields["observations"])
    for actual, wanted in zip(frame.fields["observations"], fields["observations"], strict=True):
        _subset(actual, wanted)
    vitals = fields["_vitals"]  # an annotation, and exactly what the measurements must say
    assert frame.panel == "85354-9"
    assert [(m.code, m.value, m.unit) for m in frame.measurements] == [
        ("8480-6", Decimal(vitals["systolic_mmHg"]), "mm[Hg]"),
        ("8462-4", Decimal(vitals["diastolic_mmHg"]), "mm[Hg]"),
        ("8478-0", Decimal(vitals["mean_mmHg"]), "mm[Hg]"),
    ]
    assert frame.sequence == fields["msh_10"]
    # OBX-14 of the compound (1.0.1) times its metrics; OBR-7 holds the same time here.
    assert {m.taken_at for m in frame.measurements} == {datetime.fromisoformat("2009-08-13T09:57:15+05:00")}
    assert frame.subject is not None
    assert (frame.subject.other_id, frame.subject.name) == ("789567", "John Joseph Doe")
    assert [r.panel for r in decode_hl7_readings(input_bytes(vector))] == ["85354-9"]


def test_pcd01_acknowledgement() -> None:
    vector = VECTORS["hl7-ihe-pcd01-ack"]
    expected = asserted(vector)
    assert expected["valid"] is True
    frame = decode_hl7(input_bytes(vector))
    _subset(frame.fields, expected["fields"])
    assert frame.measurements == ()
    ack = parse_ack(input_bytes(vector))
    assert (ack.code, ack.acknowledged_id, ack.control_id, ack.error) == (
        "AA",
        "MSGID1234",
        "AMSGID1234",
        None,
    )
    # Our own ACK of the acknowledged message says the same things.
    ours = parse_ack(build_ack(input_bytes(VECTORS["hl7-ihe-pcd01-bp"]), "AA", NOW, "AMSGID1234"))
    assert (ours.code, ours.acknowledged_id) == (expected["fields"]["msa_1"], expected["fields"]["msa_2"])


def test_oru_without_obr_is_invalid() -> None:
    vector = VECTORS["hl7-ipf-no-obr-invalid"]
    assert asserted(vector)["valid"] is False
    with pytest.raises(FrameError, match="before any OBR"):
        decode_hl7(input_bytes(vector))
    # It can still be refused properly.
    ack = parse_ack(build_ack(input_bytes(vector), "AR", NOW, "R1", "OBR is required"))
    assert (ack.code, ack.acknowledged_id, ack.error) == ("AR", "MSGID1234", "OBR is required")


def test_python_hl7_glucose_sample() -> None:
    vector = VECTORS["hl7-pythonhl7-oru-glucose"]
    expected = asserted(vector)
    data = input_bytes(vector)
    message = parse_message(data)
    assert len(message.segments) == expected["segment_count"]
    assert message.msh.field(1) == expected["msh_1"]
    assert message.msh.field(2) == expected["msh_2"]
    assert [[c] for c in message.msh.components(9)] == expected["msh_9"]
    assert message.control_id == expected["msh_10"]
    frame = decode_hl7(data)
    _subset(frame.fields["observations"][0], expected["obx_1_transcribed"])
    glucose = frame.measurements[0]
    assert (glucose.value, glucose.unit, glucose.code) == (Decimal(182), "mg/dL", "1554-5")
    assert "abnormal:H" in glucose.flags
    assert "assumed-loinc" in glucose.flags  # LOINC code without the LN coding system


def test_python_hl7_ack() -> None:
    vector = VECTORS["hl7-pythonhl7-oru-glucose"]
    expected = asserted(vector)["ack"]
    control_id = "A" * expected["msh_10_len"]
    ack = parse_message(build_ack(input_bytes(vector), "AA", NOW, control_id))
    assert ack.msh.field(9) == expected["msh_9"]
    assert [ack.msh.field(n) for n in (3, 4, 5, 6)] == [expected[f"msh_{n}"] for n in (3, 4, 5, 6)]
    msa = ack.first("MSA")
    assert msa is not None
    assert (msa.field(1), msa.field(2)) == (expected["msa_1"], expected["msa_2"])
    assert len(ack.control_id) == expected["msh_10_len"]
    assert ack.msh.field(12) == "2.4"  # their version, so they can read it


def test_the_segment_count_and_every_segment_type_are_in_the_fields() -> None:
    fields = decode_hl7(input_bytes(VECTORS["hl7-ihe-pcd01-bp"])).fields
    assert fields["segments"] == ["MSH", "PID", "OBR", "OBX", "OBX", "OBX", "OBX", "OBX"]
    assert fields["segment_count"] == 8
    ack = decode_hl7(input_bytes(VECTORS["hl7-ihe-pcd01-ack"])).fields
    assert (ack["segments"], ack["segment_count"]) == (["MSH", "MSA"], 2)
