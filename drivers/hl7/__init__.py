"""HL7 v2 codecs, sans I/O: messages, ORU^R01 / IHE PCD-01 results, ACKs and MLLP framing."""

from drivers.hl7.ack import Ack, AckCode, build_ack, find_msh, parse_ack
from drivers.hl7.compose import Observation, blood_pressure, build_oru_r01
from drivers.hl7.message import Encoding, Message, Segment, parse_message
from drivers.hl7.mllp import MllpDecoder, frame, unwrap
from drivers.hl7.pcd01 import decode_hl7, decode_hl7_readings, message_fields, subject_from_pid

__all__ = [
    "Ack",
    "AckCode",
    "Encoding",
    "Message",
    "MllpDecoder",
    "Observation",
    "Segment",
    "blood_pressure",
    "build_ack",
    "build_oru_r01",
    "decode_hl7",
    "decode_hl7_readings",
    "find_msh",
    "frame",
    "message_fields",
    "parse_ack",
    "parse_message",
    "subject_from_pid",
    "unwrap",
]
