"""A&D Medical BLE extras (UA-651BLE cuff, UC-352BLE scale, UT-201BLE thermometer).

The measurements themselves are standard BLS/WSS/HTS values (``drivers.ble``). Before enabling
0x2A35 indications, write ``SEND_ALL_DATA`` to the custom characteristic so the device sends its
unsent records, and set its clock with ``drivers.ble.current_time.set_date_time`` written to Date
Time 0x2A08 inside the measurement service. The device must be paired first.
"""

from __future__ import annotations

__all__ = ["CUSTOM_CHARACTERISTIC", "CUSTOM_SERVICE", "SEND_ALL_DATA"]

CUSTOM_SERVICE = "233bf000-5a34-1b6d-975c-000d5690abe4"
CUSTOM_CHARACTERISTIC = "233bf001-5a34-1b6d-975c-000d5690abe4"
SEND_ALL_DATA = b"\x02\x00\xe1"  # "send all (stored) data", per the A&D BLE spec as cited by obniz
