"""Every vector of tests/vectors/contec.json, asserted through ``decode_cms50`` and the encoders."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from drivers_vectors import Vector, load, matches, params

from drivers.contec.cms50 import Command, decode_cms50, encode_command, session_command


def _packet(key: str) -> Callable[[dict[str, Any]], Any]:
    return lambda packet: packet[key]


def _op_code_in_text(text: str) -> int:
    found = re.search(r"\(0x([0-9A-F]{2})\)", text)
    assert found is not None, text
    return int(found.group(1), 16)


# Expected key -> what in the first decoded packet it is compared with.
EXTRACTORS: dict[str, Callable[[dict[str, Any]], Any]] = {
    **{k: _packet(k) for k in ("signal_strength", "finger_out", "beep", "pulse_rate", "spo2", "packet_type", "date")},
    "command": _packet("op_code"),  # the expected text names the op code: "... (0xA1)"
    "session": lambda p: p["parameters"][1],
    "device_id": _packet("text"),
    "user_name": _packet("text"),
    "user_index": _packet("index"),
    "samples": lambda p: [{"spo2": s["spo2"], "pulse_rate": s["pulse_rate"]} for s in p["samples"]],
}


@pytest.mark.parametrize("vector", params("contec.json"))
def test_every_expected_field_of_the_vector_decodes(vector: Vector) -> None:
    packet = decode_cms50(vector.data).fields["packets"][0]
    assert set(vector.expected) <= set(EXTRACTORS), f"unchecked keys: {set(vector.expected) - set(EXTRACTORS)}"
    for key, expected in vector.expected.items():
        if key == "command":
            expected = _op_code_in_text(expected)
        actual = EXTRACTORS[key](packet)
        assert matches(actual, expected), f"{key}: {actual!r} != {expected!r}"


def test_the_command_vectors_are_what_our_encoders_send() -> None:
    by_id = {v.id: v.data for v in load("contec.json")}
    assert encode_command(Command.START_LIVE) == by_id["cms50-new-cmd-live"]
    assert session_command(Command.SESSION_DATA, session=1) == by_id["cms50-new-cmd-session-data"]


def test_the_vector_file_keeps_its_sources() -> None:
    vectors = load("contec.json")
    assert len(vectors) == 10
    assert all(vector.source for vector in vectors)
