"""HL7 v2 acknowledgements: build the ACK for a received message, and read an ACK (for simulators).

The ACK swaps the sender and receiver (MSH-3/4 <-> MSH-5/6), uses the sender's delimiters,
version and processing ID, and names the acknowledged MSH-10 in MSA-2. AE and AR carry the reason
in MSA-3 (read by older systems) and in an ERR segment (ERR-3 code from HL7 table 0357, ERR-4
severity, ERR-8 text). A message whose body does not parse can still be refused, as long as its
MSH segment can be read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from drivers.errors import FrameError
from drivers.hl7.message import (
    Message,
    Segment,
    encode_segment,
    escape,
    format_datetime,
    parse_message,
    parse_msh,
)
from drivers.hl7.mllp import unwrap
from drivers.lab_common import decode_text

AckCode = Literal["AA", "AE", "AR"]

# HL7 table 0357, message error condition codes.
ERROR_CODES = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}


@dataclass(frozen=True, slots=True)
class Ack:
    """What an ACK says: the code, which message it acknowledges, its own id and any error text."""

    code: str
    acknowledged_id: str
    control_id: str
    error: str | None


def build_ack(
    message: Message | bytes,
    code: AckCode,
    now: datetime,
    control_id: str,
    error: str | None = None,
    *,
    error_code: str = "207",
) -> bytes:
    """The ACK for ``message`` (parsed, or raw bytes, MLLP framing allowed), unframed.

    Raises FrameError when not even the MSH segment of raw bytes can be read: such a message
    cannot be addressed, and the caller should log it and close or resync the connection.
    """
    if code not in ("AA", "AE", "AR"):
        raise ValueError(f"unknown acknowledgement code {code!r}")
    if error_code not in ERROR_CODES:
        raise ValueError(f"unknown HL7 error code {error_code!r}")
    msh = message.msh if isinstance(message, Message) else find_msh(message)
    enc = msh.encoding
    text = " ".join((error or "").split())
    msa: list[str] = [code, msh.text(10)] + ([text] if code != "AA" and text else [])
    segments = [_ack_msh(msh, now, control_id), encode_segment("MSA", msa, enc)]
    if code != "AA":
        err_code = [error_code, ERROR_CODES[error_code], "HL70357"]
        segments.append(encode_segment("ERR", ["", "", err_code, "E", "", "", "", text], enc))
    # Their character set, so their parser reads our text; what it cannot hold becomes "?".
    return "".join(s + "\r" for s in segments).encode(msh.charset, errors="replace")


CONTROL_ID_HEX_BYTES = 8
"""The agent's ACKs carry a fresh MSH-10 of this many random bytes, as hex (16 characters)."""


def ack_preview(message: Message) -> dict[str, Any]:
    """The ACK (AA) the agent answers once the message is stored, without its time and control id.

    For the ``decode`` command; the live session answers AE when it keeps the readings for
    review and AR when it cannot store them.
    """
    ack = parse_message(build_ack(message, "AA", datetime(2000, 1, 1), "0" * 2 * CONTROL_ID_HEX_BYTES))
    msa = ack.first("MSA")
    return {
        **{f"msh_{n}": ack.msh.field(n) for n in (3, 4, 5, 6, 9, 11, 12)},
        "msh_10_len": len(ack.control_id),
        "msa_1": msa.field(1) if msa else "",
        "msa_2": msa.field(2) if msa else "",
    }


def _ack_msh(msh: Segment, now: datetime, control_id: str) -> str:
    """Their MSH-3..6, -11, -12 and -18 are copied raw: they are already escaped for these delimiters."""
    e = msh.encoding
    trigger = msh.component(9, 2)
    kind = e.component.join(["ACK", escape(trigger, e), "ACK"]) if trigger else "ACK"
    fields = [
        "MSH", e.characters, msh.field(5), msh.field(6), msh.field(3), msh.field(4),
        format_datetime(now), "", kind, escape(control_id, e), msh.field(11) or "P", msh.field(12) or "2.6",
    ]  # fmt: skip
    if msh.field(18):
        fields += ["", "", "", "", "", msh.field(18)]
    return e.field.join(fields)


def find_msh(data: bytes) -> Segment:
    """The MSH segment of raw message bytes, even when the rest does not parse."""
    try:
        return parse_message(unwrap(data)).msh
    except FrameError as whole:
        start = data.find(b"MSH")
        if start == -1:
            raise FrameError(f"cannot acknowledge: no MSH segment ({whole})") from None
        line = data[start:].split(b"\r", 1)[0].split(b"\n", 1)[0].split(b"\x1c", 1)[0]
        line = line.replace(b"\x0b", b"")  # a stray block-start byte echoed into our ACK would break its framing
        try:
            return parse_msh(*decode_text(line, None))
        except FrameError as exc:
            raise FrameError(f"cannot acknowledge: the MSH segment does not parse ({exc})") from None


def parse_ack(data: bytes) -> Ack:
    """Read an ACK (bare or MLLP-framed): MSA-1, MSA-2, MSH-10 and the error text if any."""
    message = parse_message(unwrap(data))
    msa = message.first("MSA")
    if msa is None:
        raise FrameError("acknowledgement has no MSA segment")
    err = message.first("ERR")
    error = (err.text(8) if err else "") or msa.text(3)
    return Ack(code=msa.text(1), acknowledged_id=msa.text(2), control_id=message.control_id, error=error or None)
