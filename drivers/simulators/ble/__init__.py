"""Emulated Bluetooth LE health devices on bumble: a BP cuff, a glucometer, a thermometer, a scale
and a pulse oximeter, each speaking its SIG service with our own encoders and a seeded RNG.

In a test they sit on a bumble ``LocalLink`` beside the agent's central (``await cuff.attach(link)``,
then ``central_kwargs(link)``). Beside a real daemon, ``serve(kind, "tcp-server:127.0.0.1:9000")``
runs one in this process and offers the agent a virtual controller over HCI on TCP; the agent's
device entry names the simulator's address and ``transport = "tcp-client:127.0.0.1:9000"``.

Like real devices they measure on their own schedule: a cuff or thermometer keeps results it could
not deliver and sends them, oldest first, once a collector subscribes; a glucometer (and the
oximeter's spot-check memory) keeps records until the collector deletes them through the Record
Access Control Point. The glucometer wants an encrypted link (pair first), as real meters do.

Both ends are bumble hosts, which connect from the address they scan with, so bumble's own
``LocalLink`` routes every packet; the ``AddressFaithfulLink`` fix (docs/devices.md) is
needed only when BlueZ drives one of the controllers (the VM path), which is not done here.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import cast

from bumble.controller import Controller
from bumble.link import LocalLink
from bumble.transport.common import StreamPacketSink, StreamPacketSource

from drivers.simulators.ble.devices import KINDS, make
from drivers.simulators.ble.peripheral import ADDRESSES, Peripheral, RecordKeeper, Step

__all__ = ["ADDRESSES", "DEFAULT_TRANSPORT", "KINDS", "Peripheral", "Step", "make", "serve"]

_LOGGER = logging.getLogger(__name__)
DEFAULT_TRANSPORT = "tcp-server:127.0.0.1:9000"


class _AgentController(StreamPacketSource):
    """One agent connected over HCI/TCP: a virtual controller of its own on the simulator's link."""

    def __init__(self, link: LocalLink, gone: Callable[[Controller], None]) -> None:
        super().__init__()
        self.link, self.gone = link, gone
        self.controller: Controller | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        sink = StreamPacketSink(cast(asyncio.WriteTransport, transport))
        self.controller = Controller("agent", host_source=self, host_sink=sink, link=self.link)

    def connection_lost(self, exc: Exception | None) -> None:
        self.on_transport_lost()
        if self.controller is not None:
            self.gone(self.controller)


def _tcp_server(transport: str) -> tuple[str, int]:
    kind, _, where = transport.partition(":")
    host, _, port = where.rpartition(":")
    if kind != "tcp-server" or not port.isdigit():
        raise ValueError(f"a simulated BLE device serves HCI on 'tcp-server:HOST:PORT', not {transport!r}")
    return host or "127.0.0.1", int(port)


async def serve(
    kind: str,
    transport: str = DEFAULT_TRANSPORT,
    *,
    seed: int | None = None,
    interval: float = 5.0,
    count: int | None = None,
    stop: asyncio.Event | None = None,
) -> int:
    """Run one emulated device until ``stop`` or ``count`` acknowledged results; return how many.

    The agent reaches it with a device entry ``address = ADDRESSES[kind]`` and
    ``transport = "tcp-client:HOST:PORT"`` (the same host and port).
    """
    host, port = _tcp_server(transport)
    stop = stop or asyncio.Event()
    link = LocalLink()  # type: ignore[no-untyped-call]
    peripheral = make(kind, seed=seed, interval=interval, advertising_interval=100.0)
    if isinstance(peripheral, RecordKeeper):
        peripheral.idle_disconnect = 3.0  # a meter hangs up after its upload, and is reached again later

    def gone(controller: Controller) -> None:
        async def leave() -> None:
            await peripheral.drop(controller.random_address)  # the agent vanished: free the device
            link.remove_controller(controller)

        peripheral.spawn(leave())

    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _AgentController(link, gone), host, port)
    await peripheral.attach(link)
    _LOGGER.info(
        "%s %s advertising; the agent connects with address = %r, transport = 'tcp-client:%s:%d'",
        kind,
        peripheral.local_name,
        peripheral.address,
        host,
        port,
    )
    try:
        served = await peripheral.run(stop, count)
        await peripheral.settle()
        return served
    finally:
        server.close()
        await peripheral.close()
