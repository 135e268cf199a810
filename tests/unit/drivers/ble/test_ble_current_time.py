"""Date Time 0x2A08, Current Time 0x2A2B (and 0x2A0A, 0x2A0C): reading and setting a device clock."""

from __future__ import annotations

from datetime import datetime

import pytest

from drivers.ble import decode_characteristic
from drivers.ble.current_time import set_current_time, set_date_time
from drivers.errors import FrameError

NOW = datetime(2025, 1, 15, 9, 41, 7, 250000)


def test_setting_the_clock_writes_local_wall_clock_time() -> None:
    assert set_current_time(NOW) == bytes.fromhex("E907010F092907034001")
    assert set_current_time(NOW, adjust_reason=0x02)[-1] == 0x02
    assert set_date_time(NOW) == bytes.fromhex("E907010F092907")


def test_what_we_write_reads_back_as_the_same_moment() -> None:
    frame = decode_characteristic(0x2A2B, set_current_time(NOW))
    assert frame.device_time == NOW.replace(microsecond=250000)
    assert frame.fields["adjust_reason"]["manual"] is True
    assert decode_characteristic(0x2A08, set_date_time(NOW)).device_time == NOW.replace(microsecond=0)


def test_day_date_time_and_exact_time() -> None:
    assert decode_characteristic(0x2A0A, bytes.fromhex("E907010F09290703")).fields["day_of_week"] == 3
    exact = decode_characteristic(0x2A0C, bytes.fromhex("E907010F0929070380"))
    assert exact.device_time == datetime(2025, 1, 15, 9, 41, 7, 500000)


def test_a_clock_without_a_date_has_fields_but_no_time() -> None:
    frame = decode_characteristic(0x2A2B, bytes.fromhex("00000000121A20000000"))
    assert frame.device_time is None
    assert frame.fields["hours"] == 18


@pytest.mark.parametrize(("uuid", "size"), [(0x2A08, 7), (0x2A0A, 8), (0x2A0C, 9), (0x2A2B, 10)])
def test_short_times_are_rejected(uuid: int, size: int) -> None:
    with pytest.raises(FrameError):
        decode_characteristic(uuid, bytes(size - 1))
