"""The BlueZ pairing agent confirms Just Works only for devices a link is serving (found on real BlueZ:
Linux has every LE Secure Connections Just Works pairing confirmed by an agent, and a service has none)."""

from __future__ import annotations

import asyncio

import pytest
from dbus_fast import DBusError

from drivers.ble import bluez_agent
from drivers.ble.bluez_agent import PairingAgent, address_of


def test_the_address_is_read_from_bluez_s_object_path() -> None:
    assert address_of("/org/bluez/hci0/dev_F1_F1_F1_F1_F1_c2") == "F1:F1:F1:F1:F1:C2"
    assert address_of("/org/bluez/hci0") is None
    assert address_of("/org/bluez/hci0/dev_F1_F1") is None


def test_only_served_devices_are_confirmed_and_never_with_a_pin_or_passkey() -> None:
    agent = PairingAgent()
    agent.allowed["F1:F1:F1:F1:F1:C2"] = 1
    served, other = "/org/bluez/hci0/dev_F1_F1_F1_F1_F1_C2", "/org/bluez/hci0/dev_11_22_33_44_55_66"

    assert agent.confirms(served)
    assert not agent.confirms(other)
    agent._confirm(served)
    with pytest.raises(DBusError, match="not a device this agent serves"):
        agent._confirm(other)


async def test_without_a_system_bus_the_link_carries_on_and_says_why(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DBUS_SYSTEM_BUS_ADDRESS", "unix:path=/nonexistent/system_bus_socket")
    async with bluez_agent.pairing_allowed("f1:f1:f1:f1:f1:c2") as agent:
        assert agent.confirms("/org/bluez/hci0/dev_F1_F1_F1_F1_F1_C2")
    assert agent.allowed == {}
    assert "no BlueZ pairing agent" in caplog.text
    await asyncio.sleep(0)
