"""Port snapshots and diffs: USB-serial adapters coming, going and swapping, as pure data."""

from __future__ import annotations

from types import SimpleNamespace

from drivers.serial.ports import PortInfo, diff, find, snapshot


def _port(device: str, vid: int | None = 0x10C4, pid: int | None = 0xEA60, serial: str | None = "A1") -> object:
    return SimpleNamespace(device=device, vid=vid, pid=pid, serial_number=serial, description="CP2102")


def test_an_adapter_plugged_in_unplugged_and_swapped() -> None:
    empty = snapshot([])
    one = snapshot([_port("/dev/ttyUSB0")])
    assert diff(empty, one)[0] == [PortInfo("/dev/ttyUSB0", 0x10C4, 0xEA60, "A1", "CP2102")]
    assert diff(one, empty)[1][0].device == "/dev/ttyUSB0"
    swapped = snapshot([_port("/dev/ttyUSB0", serial="B2")])  # another oximeter on the same path
    added, removed = diff(one, swapped)
    assert ([p.serial_number for p in added], [p.serial_number for p in removed]) == (["B2"], ["A1"])


def test_a_device_is_found_by_vid_pid_and_serial() -> None:
    present = snapshot([_port("/dev/ttyUSB0"), _port("/dev/ttyUSB1", serial="B2"), _port("/dev/ttyS0", None, None)])
    assert find(None, "10c4:ea60:b2", present) == "/dev/ttyUSB1"
    assert find(None, "10C4:EA60", present) in ("/dev/ttyUSB0", "/dev/ttyUSB1")
    assert find(None, "0403:6001", present) is None
    assert find(None, "not-a-match", present) is None


def test_a_path_is_found_only_while_it_exists(tmp_path: object) -> None:
    assert find("/dev/null", None) == "/dev/null"
    assert find("/dev/definitely-not-here", None) is None
