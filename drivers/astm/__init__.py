"""ASTM E1381 (low-level link) and E1394 / LIS2-A2 (records) codecs, sans I/O."""

from drivers.astm.codes import DEFAULT_CODES, CodeTable, LabCode
from drivers.astm.compose import LabResult, build_result_message
from drivers.astm.events import (
    AstmEvent,
    FrameRejected,
    LineContention,
    MessageFailed,
    MessageReceived,
    MessageSent,
    Send,
    TransferAborted,
)
from drivers.astm.framing import Frame, decode_frame, encode_frame, split_text
from drivers.astm.link import AstmLink
from drivers.astm.raw import RawAstmReceiver, RawAstmSender
from drivers.astm.receiver import AstmReceiver
from drivers.astm.records import Delimiters, Record, encode_message, encode_record, parse_records
from drivers.astm.results import decode_astm, decode_astm_readings, message_text
from drivers.astm.sender import AstmSender

__all__ = [
    "DEFAULT_CODES",
    "AstmEvent",
    "AstmLink",
    "AstmReceiver",
    "AstmSender",
    "CodeTable",
    "Delimiters",
    "Frame",
    "FrameRejected",
    "LabCode",
    "LabResult",
    "LineContention",
    "MessageFailed",
    "MessageReceived",
    "MessageSent",
    "RawAstmReceiver",
    "RawAstmSender",
    "Record",
    "Send",
    "TransferAborted",
    "build_result_message",
    "decode_astm",
    "decode_astm_readings",
    "decode_frame",
    "encode_frame",
    "encode_message",
    "encode_record",
    "message_text",
    "parse_records",
    "split_text",
]
