"""`[[devices]]` in agent.toml: every mistake named with its device and key; editing keeps the rest."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clinic_agent.core.errors import ConfigError, InvalidInput
from clinic_agent.runtime.devices import add_device, parse, remove_device


def test_a_valid_list_with_protocol_defaults() -> None:
    devices = parse(
        [
            {"name": "oximeter", "kind": "serial", "protocol": "cms50-old", "match": "10c4:ea60"},
            {"name": "machine", "kind": "tcp", "protocol": "hl7", "listen": "127.0.0.1:2575", "users": {"1": "x"}},
            {"name": "cuff", "kind": "ble", "protocol": "ble", "address": "F1:F1:F1:F1:F1:F1"},
        ]
    )
    oximeter, machine, cuff = devices
    assert (oximeter.serial.baudrate, oximeter.serial.parity, oximeter.serial.xonxoff) == (19200, "odd", True)
    assert machine.listen == ("127.0.0.1", 2575)
    assert machine.users == {1: "x"}
    assert cuff.ref.address == "F1:F1:F1:F1:F1:F1"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"kind": "tcp", "protocol": "hl7", "listen": "127.0.0.1:1"}, "device #1: name"),
        ({"name": "a", "kind": "usb", "protocol": "hl7"}, "device 'a': kind must be one of"),
        ({"name": "a", "kind": "tcp", "protocol": "x"}, "device 'a': protocol must be one of"),
        ({"name": "a", "kind": "tcp", "protocol": "hl7"}, "needs exactly one of listen"),
        ({"name": "a", "kind": "tcp", "protocol": "hl7", "listen": "nowhere"}, "listen must be HOST:PORT"),
        ({"name": "a", "kind": "tcp", "protocol": "cms50", "listen": "127.0.0.1:1"}, "protocol must be hl7 or astm"),
        ({"name": "a", "kind": "serial", "protocol": "astm"}, "needs exactly one of port"),
        ({"name": "a", "kind": "serial", "protocol": "astm", "match": "cp210x"}, "match must look like"),
        ({"name": "a", "kind": "serial", "protocol": "astm", "port": "/x", "baud": "fast"}, "baud must be"),
        ({"name": "a", "kind": "serial", "protocol": "ble", "port": "/x"}, "protocol 'ble' goes with kind 'ble'"),
        ({"name": "a", "kind": "tcp", "protocol": "hl7", "listen": "h:1", "colour": "red"}, "unknown key 'colour'"),
        ({"name": "a", "kind": "tcp", "protocol": "hl7", "listen": "h:1", "profile": "x"}, "profile must be one of"),
        ({"name": "a", "kind": "tcp", "protocol": "hl7", "listen": "h:1", "users": {"one": "x"}}, "users keys"),
    ],
)
def test_every_mistake_names_the_device_and_the_key(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse([entry])


def test_names_and_listening_ports_are_unique() -> None:
    tcp = {"kind": "tcp", "protocol": "hl7", "listen": "127.0.0.1:2575"}
    with pytest.raises(ConfigError, match="two devices are named"):
        parse([{"name": "a", **tcp, "listen": "127.0.0.1:1"}, {"name": "a", **tcp}])
    with pytest.raises(ConfigError, match="same address and port"):
        parse([{"name": "a", **tcp}, {"name": "b", **tcp}])


def test_adding_and_removing_keeps_comments_and_other_devices(tmp_path: Path) -> None:
    path = tmp_path / "agent.toml"
    path.write_text('# the clinic\'s settings\n[clinic]\nname = "坝盘村卫生室"  # keep me\n', encoding="utf-8")
    add_device(path, {"name": "machine", "kind": "tcp", "protocol": "hl7", "listen": "127.0.0.1:2575"})
    add_device(path, {"name": "oximeter", "kind": "serial", "protocol": "cms50", "port": "/dev/ttyUSB0"})
    with pytest.raises(ConfigError, match="two devices are named"):
        add_device(path, {"name": "oximeter", "kind": "serial", "protocol": "cms50", "port": "/dev/ttyUSB1"})
    remove_device(path, "machine")
    text = path.read_text(encoding="utf-8")
    assert "# the clinic's settings" in text
    assert '"坝盘村卫生室"  # keep me' in text
    assert "oximeter" in text
    assert "machine" not in text
    with pytest.raises(InvalidInput, match="no device named"):
        remove_device(path, "machine")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a file to another user")
def test_root_adding_and_removing_a_device_keeps_the_files_owner_group_and_mode(tmp_path: Path) -> None:
    """`sudo clinic-agent devices add` on an installed PC: agent.toml stays root:clinic 0640, which the
    service reads through its group (the package test found it left root:root, and the service stopped)."""
    path = tmp_path / "agent.toml"
    path.write_text('[clinic]\ncode = "TR0001"\n', encoding="utf-8")
    nobody = 65534  # another user and group, as clinic is to root
    os.chown(path, 0, nobody)
    path.chmod(0o640)

    add_device(path, {"name": "cuff", "kind": "ble", "protocol": "ble", "address": "F1:F1:F1:F1:F1:01"})
    after_add = path.stat()
    remove_device(path, "cuff")
    after_remove = path.stat()

    for kept in (after_add, after_remove):
        assert (kept.st_uid, kept.st_gid, kept.st_mode & 0o777) == (0, nobody, 0o640)
