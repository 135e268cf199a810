"""Every vector of tests/vectors/vendor_serial.json (Omron, BCM-H10, A&D)."""

from __future__ import annotations

from functools import reduce

import pytest
from drivers_vectors import Vector, load, params

from drivers.vendor import and_medical, bcm_h10, omron

OMRON_ENCODERS = {
    "omron-start-transmission": omron.start_transmission,
    "omron-end-transmission": omron.end_transmission,
}
BCM_ENCODERS = {
    "bcmh10-0303363c": bcm_h10.weigh,
    "bcmh10-04033801": lambda: bcm_h10.read_indicator(0x01),
    "bcmh10-05033306": lambda: bcm_h10.calibrate_height(1685),
    "bcmh10-0901374d": lambda: bcm_h10.body_composition("M", 29, 1680, 623, bcm_h10.Mode.HANDS),
}
# What each BCM-H10 "meaning" says, as decoded fields.
BCM_MEANINGS = {
    "bcmh10-0303363c": {"function": 0x36, "function_name": "weigh"},
    "bcmh10-04033801": {"function": 0x38, "item": 0x01},
    "bcmh10-05033306": {"function": 0x33, "height_mm": 1685},
    "bcmh10-0901374d": {"function": 0x37, "device": 0x01, "mode_name": "hands", "sex": "M"},
}


def _check_omron(vector: Vector) -> None:
    fields = omron.decode_omron(vector.data).fields
    assert fields["length"] == vector.expected["length"]
    assert f"{fields['type']:04x} {fields['type_name']}" == vector.expected["command"]
    assert reduce(lambda a, b: a ^ b, vector.data) == vector.expected["xor_of_all_bytes"]
    assert OMRON_ENCODERS[vector.id]() == vector.data


def _check_bcm(vector: Vector) -> None:
    fields = bcm_h10.decode_bcm_h10(vector.data).fields
    assert fields["header"] == vector.expected["header"]
    assert fields["length"] == vector.expected["length"]
    assert fields["checksum_ok"] is vector.expected["checksum_ok"]
    assert {k: fields[k] for k in BCM_MEANINGS[vector.id]} == BCM_MEANINGS[vector.id]
    assert BCM_ENCODERS[vector.id]() == vector.data


def _check_and(vector: Vector) -> None:
    assert vector.data == and_medical.SEND_ALL_DATA
    assert vector.expected["service"].lower() == and_medical.CUSTOM_SERVICE
    assert vector.expected["characteristic"].lower() == and_medical.CUSTOM_CHARACTERISTIC
    assert vector.expected["meaning"] == "send all (stored) data"


@pytest.mark.parametrize("vector", params("vendor_serial.json"))
def test_every_vector_decodes_and_encodes(vector: Vector) -> None:
    checks = {"omron": _check_omron, "bcmh10": _check_bcm, "and": _check_and}
    checks[vector.id.split("-")[0]](vector)


def test_the_vector_file_keeps_its_sources() -> None:
    vectors = load("vendor_serial.json")
    assert len(vectors) == 7
    assert all(vector.source for vector in vectors)
