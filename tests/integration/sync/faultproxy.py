"""A fault-injecting HTTP proxy on 127.0.0.1, between the agent and the FHIR server (reliability plan, App. B).

Each client connection carries one request; the proxy reads it whole, then draws one fault from a
seeded random source and acts it out:

    refuse      close the connection at once (the request never reaches the server)
    blackhole   keep the connection open and never answer (the client's read timeout fires)
    delay       wait, then relay
    lost_reply  relay to the server, read its whole answer, then close without replying:
                the server committed, the client never hears it (what makes naive POSTs duplicate)
    unavailable answer 503 without asking the server
    throttle    answer 429 with Retry-After
    truncated   relay, then send the status line, headers and half of the body, and close
    truncated_unframed  the same without Content-Length (a body ended by the close): only the JSON
                shows the cut
    html        answer 200 with an HTML page (a captive portal) without asking the server
    relay       relay as is

``faults`` maps each fault to its probability; what is left is ``relay``. ``heal()`` turns every
fault off. Counters say what happened, so a test can check that its faults did fire. ``rewrite``,
when given, sees each relayed request and the server's whole answer and returns the answer to send
(a server that answers 200 with something other than what it holds).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable

FAULTS = (
    "refuse",
    "blackhole",
    "delay",
    "lost_reply",
    "unavailable",
    "throttle",
    "truncated",
    "truncated_unframed",
    "html",
)


class FaultProxy:
    """An asyncio TCP proxy that injects HTTP faults."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int,
        faults: dict[str, float] | None = None,
        rewrite: Callable[[bytes, bytes], bytes] | None = None,
    ) -> None:
        self.upstream_port = upstream_port
        self.rewrite = rewrite
        self.rng = random.Random(seed)
        self.faults = dict(faults or {})
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._server: asyncio.Server | None = None
        self._held: set[asyncio.StreamWriter] = set()

    async def start(self) -> int:
        """Listen on a free 127.0.0.1 port; return it."""
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def stop(self) -> None:
        """Stop listening and drop every held connection."""
        for writer in list(self._held):
            writer.close()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def heal(self) -> None:
        """No more faults."""
        self.faults = {}

    def _draw(self) -> str:
        roll = self.rng.random()
        for fault, probability in self.faults.items():
            if roll < probability:
                return fault
            roll -= probability
        return "relay"

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            fault = self._draw()
            self.counts[fault] += 1
            await self._act(fault, request, writer)
        except (OSError, asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._held.discard(writer)
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()

    async def _act(self, fault: str, request: bytes, writer: asyncio.StreamWriter) -> None:
        if fault == "refuse":
            transport = writer.transport
            with contextlib.suppress(OSError):
                transport.abort()
            return
        if fault == "blackhole":
            self._held.add(writer)
            await asyncio.sleep(30)
            return
        if fault == "unavailable":
            writer.write(_response(503, b'{"resourceType":"OperationOutcome","issue":[]}', "application/fhir+json"))
        elif fault == "throttle":
            writer.write(_response(429, b"slow down", "text/plain", extra=b"Retry-After: 1\r\n"))
        elif fault == "html":
            writer.write(_response(200, b"<html><body>Welcome to the hotel wifi</body></html>", "text/html"))
        else:
            if fault == "delay":
                await asyncio.sleep(self.rng.uniform(0.05, 0.4))
            answer = _closing(await self._forward(request))
            if self.rewrite is not None:
                answer = self.rewrite(request, answer)
            if fault == "lost_reply":
                return
            if fault in ("truncated", "truncated_unframed"):
                head, _, body = answer.partition(b"\r\n\r\n")
                if fault == "truncated_unframed":
                    lines = head.split(b"\r\n")
                    head = b"\r\n".join(line for line in lines if not line.lower().startswith(b"content-length:"))
                writer.write(head + b"\r\n\r\n" + body[: len(body) // 2])
            else:
                writer.write(answer)
        await writer.drain()

    async def _forward(self, request: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        try:
            writer.write(request)
            await writer.drain()
            return await reader.read(-1)  # the request asked for Connection: close
        finally:
            writer.close()
            with contextlib.suppress(OSError, ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    length = 0
    lines = []
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() in (b"connection", b"keep-alive"):
            continue
        lines.append(line)
    body = await reader.readexactly(length) if length else b""
    # One request per connection, upstream and downstream: ask both ends to close after it.
    head = b"\r\n".join(line for line in lines if line) + b"\r\nConnection: close\r\n\r\n"
    return head + body


def _closing(answer: bytes) -> bytes:
    """The server's answer with ``Connection: close`` (the proxy closes after each request)."""
    head, _, body = answer.partition(b"\r\n\r\n")
    lines = [line for line in head.split(b"\r\n") if line.partition(b":")[0].strip().lower() != b"connection"]
    return b"\r\n".join([*lines, b"Connection: close"]) + b"\r\n\r\n" + body


def _response(status: int, body: bytes, content_type: str, *, extra: bytes = b"") -> bytes:
    reason = {200: b"OK", 429: b"Too Many Requests", 503: b"Service Unavailable"}[status]
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\nConnection: close\r\n%s\r\n"
        % (status, reason, content_type.encode(), len(body), extra)
        + body
    )
