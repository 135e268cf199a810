"""Bluetooth SIG health characteristics: sans-I/O parsers and encoders, one module per family.

``decode_characteristic(uuid16, data)`` decodes any supported value into a ``DecodedFrame``;
``SUPPORTED_UUIDS`` lists them. Each family module also has typed ``parse_*`` / ``encode_*``
functions for links and simulators.
"""

from drivers.ble.characteristics import SUPPORTED_UUIDS, decode_characteristic

__all__ = ["SUPPORTED_UUIDS", "decode_characteristic"]
