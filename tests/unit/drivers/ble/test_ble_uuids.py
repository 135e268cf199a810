"""SIG UUIDs and the subscription table a BLE link follows."""

from __future__ import annotations

import pytest

from drivers.ble import SUPPORTED_UUIDS
from drivers.ble.uuids import READ_ONCE, SUBSCRIPTIONS, Characteristic, Service, uuid16, uuid128


def test_short_uuids_expand_onto_the_sig_base() -> None:
    assert uuid128(0x2A35) == "00002a35-0000-1000-8000-00805f9b34fb"
    assert uuid128(Service.BLOOD_PRESSURE) == "00001810-0000-1000-8000-00805f9b34fb"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2A35", 0x2A35),
        ("0x2a35", 0x2A35),
        ("00002A35-0000-1000-8000-00805F9B34FB", 0x2A35),
        ("ecbe3980-c9a2-11e1-b1bd-0002a5d5c51b", None),
        ("zz35", None),
        ("", None),
    ],
)
def test_uuids_shorten_only_on_the_sig_base(text: str, value: int | None) -> None:
    assert uuid16(text) == value


def test_every_subscribed_or_read_characteristic_can_be_decoded() -> None:
    used = {c for pairs in SUBSCRIPTIONS.values() for c, _ in pairs} | {c for cs in READ_ONCE.values() for c in cs}
    assert used <= set(SUPPORTED_UUIDS)
    assert set(Characteristic) <= set(SUPPORTED_UUIDS)


def test_measurements_that_must_be_confirmed_are_indicated() -> None:
    delivery = {c: how for pairs in SUBSCRIPTIONS.values() for c, how in pairs}
    assert delivery[Characteristic.BLOOD_PRESSURE_MEASUREMENT] == "indicate"
    assert delivery[Characteristic.GLUCOSE_MEASUREMENT] == "notify"
    assert delivery[Characteristic.RECORD_ACCESS_CONTROL_POINT] == "indicate"
    assert delivery[Characteristic.PLX_CONTINUOUS_MEASUREMENT] == "notify"
