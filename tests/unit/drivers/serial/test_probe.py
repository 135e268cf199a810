"""The serial probe's recognisers: what each protocol's decoder takes as that protocol, and what not."""

from __future__ import annotations

import random

from drivers.astm.framing import ENQ, EOT, Frame, encode_frame
from drivers.contec.cms50_new import LiveData, encode_live
from drivers.contec.cms50_old import OldLive, encode_old_live
from drivers.serial.probe import PROTOCOLS


def _recognised(data: bytes) -> list[str]:
    return [p.name for p in PROTOCOLS if p.recognise(data)]


def test_each_protocol_is_recognised_by_its_own_decoder_only() -> None:
    live = encode_live(LiveData(status=0, pleth=50, bar_graph=5, pulse_rate=72, spo2=97, reserved=b"\xff\xff"))
    old = encode_old_live(OldLive(signal_strength=5, pleth=40, bar_graph=4, pulse_rate=72, spo2=97))
    frame = encode_frame(Frame(1, b"H|\\^&|||analyser\r", final=True))
    assert _recognised(live * 5) == ["cms50"]
    assert _recognised(old * 5) == ["cms50-old"]
    assert _recognised(bytes([ENQ])) == ["astm"]
    assert _recognised(bytes([ENQ, EOT, ENQ])) == ["astm"]
    assert _recognised(bytes([ENQ]) + frame) == ["astm"]
    assert _recognised(b"\x0bMSH|^~\\&|MONITOR|||\r\x1c\r") == ["hl7"]


def test_noise_and_near_misses_are_not_a_protocol() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
        if set(noise) <= {ENQ, EOT} and ENQ in noise:
            continue  # the one thing an ASTM sender with results says
        assert _recognised(noise) == [], noise.hex()
    live = encode_live(LiveData(status=0, pleth=50, bar_graph=5, pulse_rate=72, spo2=97, reserved=b"\xff\xff"))
    assert _recognised(live * 4) == []  # a few packets may be chance: a stream is asked for
    assert _recognised(live * 5 + bytes(rng.randrange(256) for _ in range(200))) == []  # mostly noise
    assert _recognised(bytes([ENQ]) + b"hello") == []
    assert _recognised(b"") == []
