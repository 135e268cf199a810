"""Device commands: decode a frame, feed one through the ingest path, manage devices, simulate one."""

from __future__ import annotations

import argparse
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from clinic_agent.cli import output
from clinic_agent.cli.commands import _command, backend, home_of, show
from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.fsutil import MIB, read_bounded

if TYPE_CHECKING:
    from clinic_agent.api.shapes import ReceiptJson

FRAME_FILE_LIMIT = MIB  # the largest message a link accepts (an HL7 MLLP or ASTM message: 1 MiB)

# The drivers and the device wiring are imported by the commands that use them, so that `--help`
# and the other commands start without loading every protocol decoder.

# The control characters the public vectors and a technician's --text name as <STX>, <CR> ...
CONTROL_CHARACTERS = {
    "NUL": 0,
    "SOH": 1,
    "STX": 2,
    "ETX": 3,
    "EOT": 4,
    "ENQ": 5,
    "ACK": 6,
    "LF": 10,
    "VT": 11,
    "CR": 13,
    "NAK": 21,
    "ETB": 23,
    "FS": 28,
}


def text_bytes(text: str) -> bytes:
    """Text as in the public vectors: <STX>, <CR> ... and \\r, \\n stand for control characters."""
    named = CONTROL_CHARACTERS
    replaced = re.sub(r"<([A-Z]{2,3})>", lambda m: chr(named[m[1]]) if m[1] in named else m[0], text)
    return replaced.replace("\\r", "\r").replace("\\n", "\n").encode("utf-8")


def add_commands(sub: Any, common: argparse.ArgumentParser) -> None:
    """Add the commands decode, ingest, simulate and devices (listed in ``clinic_agent.cli.COMMANDS``)."""
    p = _command(sub, common, "decode", "decode one device frame and print every field as JSON (no store needed)")
    p.add_argument("protocol", metavar="PROTOCOL", help="ble:2A35 (any BLE characteristic), astm, hl7, cms50, ...")
    p.add_argument("hex", nargs="?", metavar="HEX", help="the frame as hexadecimal bytes")
    p.add_argument("--text", help="the frame as text; <STX>, <CR> ... name control characters")
    p.add_argument("--file", type=Path, help="read the raw frame from a file")
    p.add_argument(
        "--record",
        action="store_true",
        help="astm: the input is bare record text (a line copied from a log), not frames",
    )
    p.set_defaults(handler=cmd_decode)

    p = _command(sub, common, "ingest", "feed one frame through the same path as a live device")
    p.add_argument("protocol", metavar="PROTOCOL")
    p.add_argument("hex", metavar="HEX")
    p.add_argument("--resident", help="give the reading to this resident (id, ID card or health-record number)")
    p.add_argument("--device", help="as if it came from this configured device")
    p.set_defaults(handler=cmd_ingest)

    devices = _command(sub, common, "devices", "health machines and their links")
    inner = devices.add_subparsers(dest="action", metavar="ACTION", required=True)
    _command(inner, common, "list", "configured devices and the state of their links").set_defaults(handler=cmd_list)
    p = _command(inner, common, "scan", "serial ports, and BLE devices advertising health services")
    p.add_argument("--seconds", type=float, default=5.0, help="how long to listen for BLE adverts")
    p.set_defaults(handler=cmd_scan)
    p = _command(inner, common, "add", "add a device to agent.toml (the running daemon picks it up)")
    p.add_argument("name")
    p.add_argument("--kind", required=True, choices=["serial", "tcp", "ble"])
    p.add_argument("--protocol", required=True, choices=["astm", "hl7", "cms50", "cms50-old", "ble"])
    p.add_argument("--port", help="serial: the device path, best /dev/serial/by-id/...")
    p.add_argument("--match", help="serial: VID:PID[:SERIAL] of the USB adapter instead of a path")
    p.add_argument("--baud", type=int)
    p.add_argument("--listen", help="tcp: HOST:PORT to listen on (127.0.0.1:2575)")
    p.add_argument("--connect", help="tcp: HOST:PORT of a device server to connect to")
    p.add_argument("--address", help="ble: the device's address (only this device is used)")
    p.add_argument(
        "--transport",
        help="ble: an HCI transport instead of the PC's Bluetooth, e.g. tcp-client:HOST:PORT "
        "to reach `clinic-agent simulate ... --ble`",
    )
    p.add_argument("--profile", help="plausibility profile (default: by protocol)")
    p.set_defaults(handler=cmd_add)
    p = _command(inner, common, "remove", "remove a device from agent.toml")
    p.add_argument("name")
    p.set_defaults(handler=cmd_remove)

    p = _command(sub, common, "simulate", "play a health machine for demos and tests")
    p.add_argument("device", choices=["hl7-monitor", "astm-analyser", "cms50", *BLE_KINDS])
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--serial", type=Path, metavar="PTY", help="appear as a serial port at this path")
    where.add_argument("--tcp", type=int, metavar="PORT", help="connect to the agent's listener on this port")
    where.add_argument(
        "--ble",
        metavar="HCI",
        nargs="?",
        const="tcp-server:127.0.0.1:9000",
        help="be a BLE peripheral (an HCI transport for the agent's bumble central)",
    )
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--interval", type=float, default=5.0, help="seconds between readings")
    p.add_argument("--count", type=int, help="stop after this many readings")
    p.add_argument("--seed", type=int)
    p.add_argument("--id-number", action="append", default=[], help="a resident the machine may name (repeat)")
    p.set_defaults(handler=cmd_simulate)


BLE_KINDS = ["bp-cuff", "glucometer", "thermometer", "scale", "oximeter"]


def cmd_decode(args: argparse.Namespace) -> int:
    """Decode a frame and print it; a frame a receiver would refuse is printed too, then exits 2."""
    from clinic_agent.runtime.devices.methods import parse_hex
    from drivers.astm.inspect import inspect_astm
    from drivers.decode import decode_one
    from drivers.errors import FrameError

    sources = [x for x in (args.hex, args.text, args.file) if x is not None]
    if len(sources) != 1:
        raise InvalidInput("give the frame once: as HEX, --text TEXT or --file FILE")
    if args.text is not None:
        data = text_bytes(args.text)
    elif args.file is not None:
        data = read_bounded(args.file, FRAME_FILE_LIMIT, "--file")
    else:
        data = parse_hex(args.hex)
    if args.record and args.protocol.lower() != "astm":
        raise InvalidInput("--record is for astm only")
    try:
        decoded = inspect_astm(data, record=True) if args.record else decode_one(args.protocol, data)
    except FrameError as exc:
        raise InvalidInput(f"{args.protocol}: {exc}") from None
    output.emit_json(decoded.as_json())
    if decoded.fields.get("valid") is False:
        action = decoded.fields.get("receiver_action")
        reply = f" (a receiver answers {action})" if action else ""
        raise InvalidInput(f"{args.protocol}: {decoded.fields.get('reason', 'invalid')}{reply}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    """Feed a frame through the ingest path."""
    params = {"protocol": args.protocol, "hex": args.hex, "resident": args.resident, "device": args.device}
    with backend(args) as chosen:
        receipt = chosen.call("device.ingest", {k: v for k, v in params.items() if v is not None})
    show(args, receipt, _receipt_text)
    return 0 if receipt["failed"] is None else 1


def _receipt_text(r: ReceiptJson) -> str:
    lines = [f"Stored reading {i}." for i in r["stored"]]
    lines += [f"Already stored as reading {i} (nothing added)." for i in r["duplicates"]]
    if r["quarantined"]:
        lines.append(f"Quarantined: {r['quarantined']}")
    if r["failed"]:
        lines.append(f"NOT STORED: {r['failed']}")
    return "\n".join(lines) or "Archived; the frame holds no reading (a feature, context or control frame)."


def cmd_list(args: argparse.Namespace) -> int:
    """List devices."""
    with backend(args) as chosen:
        result = chosen.call("device.list")
    show(
        args,
        result["devices"],
        lambda ds: (
            output.table(
                [[d["name"], d["protocol"], d["where"], d["state"], d["detail"]] for d in ds],
                ["device", "protocol", "where", "state", "detail"],
            )
            if ds
            else "No devices configured (see devices add)."
        ),
    )
    return 0


def serial_ports() -> list[dict[str, Any]]:
    """The serial ports present now, with their USB ids."""
    from drivers.serial import ports

    return [
        {
            "device": p.device,
            "vid": f"{p.vid:04x}" if p.vid is not None else None,
            "pid": f"{p.pid:04x}" if p.pid is not None else None,
            "serial_number": p.serial_number,
            "description": p.description,
        }
        for p in ports.snapshot().values()
    ]


def cmd_scan(args: argparse.Namespace) -> int:
    """Scan serial ports and BLE."""
    serial = serial_ports()
    by_id = Path("/dev/serial/by-id")
    links = sorted(str(p) for p in by_id.iterdir()) if by_id.is_dir() else []
    ble, ble_error = _scan_ble(args.seconds)
    result = {"serial": serial, "serial_by_id": links, "ble": ble, "ble_error": ble_error}
    show(args, result, _scan_text)
    return 0


def _scan_ble(seconds: float) -> tuple[list[dict[str, Any]], str | None]:
    import asyncio

    try:
        from drivers.ble import link as ble_link

        found = asyncio.run(ble_link.scan(seconds))
        return [
            {"address": f.address, "name": f.name, "services": list(f.services), "rssi": f.rssi} for f in found
        ], None
    except Exception as exc:  # noqa: BLE001  (no adapter, no BlueZ, no permission: say so, list the rest)
        reason = str(getattr(exc, "reason", None) or exc).removeprefix("Bluetooth is not available: ")
        return [], f"Bluetooth is not available here: {reason}"


def _scan_text(r: dict[str, Any]) -> str:
    lines = ["Serial ports:"]
    lines += [
        f"  {s['device']}  {s['vid'] or '----'}:{s['pid'] or '----'}  {s['serial_number'] or ''}  {s['description']}"
        for s in r["serial"]
    ] or ["  (none)"]
    lines += [f"  {link}" for link in r["serial_by_id"]]
    lines.append("Bluetooth health devices:")
    if r["ble_error"]:
        lines.append(f"  {r['ble_error']}")
    lines += [f"  {d['address']}  {d['name'] or ''}  rssi {d['rssi']}  {', '.join(d['services'])}" for d in r["ble"]]
    if not r["ble"] and not r["ble_error"]:
        lines.append("  (none found)")
    return "\n".join(lines)


def cmd_add(args: argparse.Namespace) -> int:
    """Add a device."""
    from clinic_agent.runtime.devices import add_device

    home = home_of(args)
    entry = {
        "name": args.name,
        "kind": args.kind,
        "protocol": args.protocol,
        "port": args.port,
        "match": args.match,
        "baud": args.baud,
        "listen": args.listen,
        "connect": args.connect,
        "address": args.address,
        "transport": args.transport,
        "profile": args.profile,
    }
    config = add_device(home.config_path, {k: v for k, v in entry.items() if v is not None})
    reload_note = _reload(args)
    show(
        args,
        {"added": config.name, "where": config.describe(), "daemon": reload_note},
        lambda r: f"Added {r['added']} ({r['where']}). {r['daemon']}",
    )
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    """Remove a device."""
    from clinic_agent.runtime.devices import remove_device

    remove_device(home_of(args).config_path, args.name)
    note = _reload(args)
    show(args, {"removed": args.name, "daemon": note}, lambda r: f"Removed {r['removed']}. {r['daemon']}")
    return 0


def _reload(args: argparse.Namespace) -> str:
    with backend(args) as chosen:
        if not chosen.daemon:
            return "The daemon is not running; it will use the device when it starts."
        result = chosen.call("device.reload")
    return f"The daemon reloaded its devices (started: {', '.join(result['started']) or '-'})."


def cmd_simulate(args: argparse.Namespace) -> int:
    """Run a simulated device until Ctrl-C or --count readings."""
    import asyncio

    from clinic_agent.runtime import simulate

    logging.getLogger().setLevel(logging.INFO)
    try:
        done = asyncio.run(simulate.run(args))
    except KeyboardInterrupt:
        return 0
    print(f"Simulated {args.device}: {done} readings delivered.")
    return 0
