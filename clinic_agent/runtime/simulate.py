"""`clinic-agent simulate`: run one simulated health machine against the agent."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import signal

from clinic_agent.core.errors import InvalidInput
from drivers.simulators import astm, cms50, hl7


async def run(args: argparse.Namespace) -> int:
    """Run the simulator the arguments name until --count readings or SIGINT/SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    ids = tuple(args.id_number)
    if args.device == "hl7-monitor":
        if args.tcp is None:
            raise InvalidInput("the HL7 health machine sends over TCP: give --tcp PORT (the agent's listener)")
        return await hl7.run(
            args.host, args.tcp, id_numbers=ids, interval=args.interval, count=args.count, seed=args.seed, stop=stop
        )
    if args.device == "astm-analyser":
        if args.serial is None:
            raise InvalidInput("the ASTM analyser is a serial device: give --serial PATH")
        return await astm.run(
            args.serial, id_numbers=ids, interval=args.interval, count=args.count, seed=args.seed, stop=stop
        )
    if args.device == "cms50":
        if args.serial is None:
            raise InvalidInput("the CMS50 oximeter is a serial device: give --serial PATH")
        return await cms50.run(args.serial, placements=args.count, seed=args.seed, stop=stop)
    if args.ble is None:
        raise InvalidInput(f"the {args.device} is a Bluetooth device: give --ble [HCI transport]")
    ble = importlib.import_module("drivers.simulators.ble")
    served: int = await ble.serve(
        args.device, args.ble, seed=args.seed, interval=args.interval, count=args.count, stop=stop
    )
    return served
