"""CMS50 live data: a pulse of 0 with the finger in is no reading, and the fields say why.

The CMS50 protocols (docs/devices.md) have no "no value" flag: the oximeter sends 0 (and 0xFF
in stored data) until it has found a pulse. A living patient has no pulse of 0, so it is not
a measurement; ``fields["absent"]`` names the reason, which differs from a finger that is out.
"""

from __future__ import annotations

from drivers.contec.cms50 import OldLive, decode_cms50, encode_old_live


def test_pulse_zero_with_a_finger_in_is_no_reading_and_says_so() -> None:
    frame = decode_cms50(bytes.fromhex("8500000062"))  # atbrask's live packet: SpO2 98, pulse 0
    assert [(m.code, m.value_text) for m in frame.measurements] == [("59408-5", "98")]
    assert frame.fields["absent"] == {"pulse_rate": "pulse rate 0 with the finger in: no pulse found yet"}


def test_a_finger_out_is_a_different_reason() -> None:
    frame = decode_cms50(bytes.fromhex("9000000000"))
    assert frame.measurements == ()
    assert frame.fields["absent"] == {"spo2": "finger out", "pulse_rate": "finger out"}


def test_a_searching_probe_is_named() -> None:
    frame = decode_cms50(encode_old_live(OldLive(signal_strength=3, searching=True, pulse_rate=72, spo2=97)))
    assert frame.measurements == ()
    assert frame.fields["absent"] == {"spo2": "searching for a pulse", "pulse_rate": "searching for a pulse"}


def test_a_real_pulse_is_a_reading_with_nothing_absent() -> None:
    # The control: the same packet with a pulse yields both readings and no reason.
    frame = decode_cms50(encode_old_live(OldLive(signal_strength=5, pulse_rate=72, spo2=98)))
    assert [m.code for m in frame.measurements] == ["59408-5", "8867-4"]
    assert frame.fields["absent"] == {}
