"""The device commands end to end: decode (against the public vectors), ingest, devices add/list/remove."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from clinic_agent.cli import main
from drivers import decode
from drivers.errors import ProtocolViolation
from tests.integration.conftest import Cli, start_daemon

VECTORS = Path(__file__).resolve().parents[1] / "vectors"


def _numbers(value: Any) -> set[float]:
    if isinstance(value, bool):
        return set()
    if isinstance(value, int | float):
        return {round(float(value), 6)}
    if isinstance(value, dict):
        return set().union(*(_numbers(v) for k, v in value.items() if not str(k).startswith("_")))
    if isinstance(value, list):
        return set().union(*(_numbers(v) for v in value))
    return set()


def _ble_vectors() -> list[dict[str, Any]]:
    vectors = json.loads((VECTORS / "ble_gatt.json").read_text())
    return [v for v in vectors if v["characteristic"].startswith("0x2A")]


@pytest.mark.parametrize("vector", _ble_vectors(), ids=lambda v: v["id"])
def test_decode_prints_every_ble_vector(vector: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    protocol = "ble:" + vector["characteristic"][2:6].upper()
    assert main(["decode", protocol, vector["input_hex"]]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["protocol"] == protocol
    assert set(printed) == {"protocol", "measurements", "fields"}
    for m in printed["measurements"]:
        assert set(m) == {"code", "system", "display", "value", "value_text", "unit", "taken_at", "flags"}
    missing = _numbers(vector["expected"]) - _numbers(printed)
    assert not missing, f"expected values not printed: {missing}"


@pytest.mark.parametrize("name", ["astm.json", "hl7.json"])
def test_decode_prints_the_text_vectors(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    protocol = name.removesuffix(".json")
    decoded = 0
    for vector in json.loads((VECTORS / name).read_text()):
        text = vector["input_text"]
        status = main(["decode", protocol, "--text", text])
        out = capsys.readouterr().out
        whole = ("H|" in text and "L|" in text) if protocol == "astm" else "ORU" in text  # messages, not lone frames
        if vector["expected"].get("valid") is False or not whole:
            continue
        assert status == 0, vector["id"]
        assert json.loads(out)["protocol"] == protocol
        decoded += 1
    assert decoded >= 1


def test_decode_keeps_the_device_precision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["decode", "ble:2A1C", "06B00E00FEDC070C050B321B04"]) == 0
    [measurement] = json.loads(capsys.readouterr().out)["measurements"]
    assert (measurement["code"], measurement["value_text"], measurement["unit"]) == ("8310-5", "37.60", "Cel")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ble:2A35", "1E78"], "flags announce"),
        (["ble:2A35", "zz"], "not hexadecimal"),
        (["ble:FFFF", "00"], "not supported"),
        (["cms50", "0102"], "cms50"),
        (["hl7", "--text", "not a message"], "hl7"),
        (["astm"], "give the frame once"),
    ],
)
def test_invalid_input_exits_2_with_one_line(cli: Cli, args: list[str], message: str) -> None:
    result = cli("decode", *args)
    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ingest_feeds_the_same_path_as_a_live_device(initialised: Cli) -> None:
    cli = initialised
    cli("resident", "add", "--id-number", "11010519491231002X", "--name", "张秀英", check=True)
    bp = "1E 8A 00 5A 00 6E 00 EA 07 0B 19 08 00 00 48 00 01 00 00"
    stored = json.loads(cli("ingest", "ble:2A35", bp, "--resident", "11010519491231002X", "--json", check=True).stdout)
    assert len(stored["stored"]) == 1
    again = json.loads(cli("ingest", "ble:2A35", bp, "--json", check=True).stdout)
    assert again["duplicates"] == stored["stored"]
    garbage = json.loads(cli("ingest", "ble:2A35", "1E78", "--json", check=True).stdout)
    assert "unreadable" in garbage["quarantined"]
    shown = json.loads(cli("resident", "show", "11010519491231002X", "--json", check=True).stdout)
    assert [c["value"] for c in shown["readings"][0]["components"]][:2] == ["138", "90"]


def test_devices_add_list_remove_with_and_without_the_daemon(initialised: Cli) -> None:
    cli = initialised
    cli(
        "devices",
        "add",
        "oximeter",
        "--kind",
        "serial",
        "--protocol",
        "cms50",
        "--port",
        str(cli.home / "ttyNOTHING"),
        check=True,
    )
    bad = cli("devices", "add", "x", "--kind", "tcp", "--protocol", "hl7")
    assert bad.returncode == 1
    assert "needs exactly one of listen" in bad.stderr
    listed = json.loads(cli("devices", "list", "--json", check=True).stdout)
    assert [(d["name"], d["state"]) for d in listed] == [("oximeter", "not running")]
    daemon = start_daemon(cli)
    try:
        listed = json.loads(cli("devices", "list", "--json", CLINIC_AGENT_PASSPHRASE="", check=True).stdout)
        assert [(d["name"], d["state"]) for d in listed] == [("oximeter", "waiting")]  # not plugged in
        cli("devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", "127.0.0.1:0", check=True)
        listed = json.loads(cli("devices", "list", "--json", check=True).stdout)
        assert {d["name"] for d in listed} == {"oximeter", "machine"}
        cli("devices", "remove", "oximeter", check=True)
        listed = json.loads(cli("devices", "list", "--json", check=True).stdout)
        assert [d["name"] for d in listed] == ["machine"]
    finally:
        daemon.stop()
    assert "oximeter" not in (cli.home / "agent.toml").read_text()


def test_a_device_that_cannot_be_reached_is_one_line_in_the_status(initialised: Cli) -> None:
    """The driver's DeviceUnavailable (a port another program holds) reaches a person as one line, no traceback."""
    cli = initialised
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        cli("devices", "add", "machine", "--kind", "tcp", "--protocol", "hl7", "--listen", f"127.0.0.1:{port}")
        daemon = start_daemon(cli)
        try:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                [device] = json.loads(cli("devices", "list", "--json", check=True).stdout)
                if device["state"] == "unavailable":
                    break
                time.sleep(0.1)
            assert device["state"] == "unavailable"
            assert device["detail"].startswith(f"device machine is unavailable: cannot listen on 127.0.0.1:{port}")
            assert "\n" not in device["detail"]
            status = cli("status", check=True).stdout
            assert f"device machine       unavailable ({device['detail']})" in status
        finally:
            daemon.stop()
    log = daemon.log.read_text()
    assert "Traceback" not in log
    assert f"link of machine: device machine is unavailable: cannot listen on 127.0.0.1:{port}" in log


def test_a_driver_error_in_a_command_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A driver error escaping a device command is said in one line with exit status 1, never a traceback."""

    def broken(protocol: str, data: bytes) -> None:
        raise ProtocolViolation("frame number 5 where 2 was due")

    monkeypatch.setattr(decode, "decode_one", broken)
    assert main(["decode", "astm", "--text", "anything"]) == 1
    said = capsys.readouterr().err
    assert said.splitlines() == [
        "clinic-agent: the device broke its protocol: frame number 5 where 2 was due; "
        "check the device's protocol setting"
    ]
