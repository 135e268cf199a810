"""From a device's raw frame to stored readings: the sink every link awaits before acknowledging.

1. The raw bytes are decoded; a frame that cannot be read (or that a decoder fails on) is
   quarantined with the reason.
2. Each decoded reading is checked against its device profile; an implausible one is quarantined
   with its reasons — never stored as clinical data, never silently dropped.
3. A reading that names its resident (ID card or health-record number, or a device user slot
   mapped in agent.toml) is matched; otherwise it waits in the unassigned inbox.
4. ONE transaction commits the frame's encrypted archive, its quarantined parts and its readings
   (each with its outbox and audit entries): one fsync per frame, and never a reading without the
   frame it came from. A frame re-sent after a crash collapses to the reading already stored (the
   device's sequence number, its timestamp, or a content key).
Only then does the receipt go back, and only then does the link acknowledge the device; a crash
before the commit leaves nothing, and the device, unacknowledged, sends the frame again.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from clinic_agent.core.errors import ClinicAgentError, StoreError
from clinic_agent.core.idnumber import normalise_id_number
from clinic_agent.core.model import DeviceInfo, Quantity, QuarantinedFrame, Reading, new_id
from clinic_agent.runtime import crashpoints
from clinic_agent.runtime.agent import Agent
from drivers.errors import FrameError
from drivers.frames import RawFrame, Receipt
from drivers.measurement import DecodedFrame, Measurement, Subject
from drivers.profiles import PROFILES, DeviceProfile, profile_for

_LOGGER = logging.getLogger(__name__)
CONTENT_WINDOW = timedelta(minutes=10)
CLOCK_TOLERANCE = timedelta(minutes=5)  # a frame with no sequence and no time, re-sent within this, is one reading
_EARLIEST_PLAUSIBLE = datetime(2000, 1, 1, tzinfo=UTC)


def decode(protocol: str, data: bytes) -> list[DecodedFrame]:
    """``drivers.decode.decode``, loaded with the first frame: reading the device settings (every
    command that loads agent.toml) needs no decoder (issue 13: start-up)."""
    from drivers.decode import decode as decode_frame

    return decode_frame(protocol, data)


@dataclass(frozen=True, slots=True)
class DeviceSettings:
    """What the ingest path needs to know about a configured device."""

    profile: str = ""
    users: Mapping[int, str] = field(default_factory=dict)  # device user slot -> resident ID card number
    model: str = ""


class Ingest:
    """The FrameSink of every device link."""

    def __init__(self, agent: Agent, devices: Mapping[str, DeviceSettings] | None = None) -> None:
        self.agent = agent
        self.devices = dict(devices or {})

    async def __call__(self, frame: RawFrame) -> Receipt:
        return await self.agent.workers.ingest.run(self.submit, frame)

    def submit(self, frame: RawFrame, *, resident_id: str | None = None) -> Receipt:
        """Archive, decode, check, match and store one frame; the receipt says what became of it."""
        try:
            return self._submit(frame, resident_id)
        except StoreError as exc:
            _LOGGER.error("%s: frame not stored: %s", frame.device.id, exc)
            return Receipt(failed=exc.message)

    def _submit(self, frame: RawFrame, resident_id: str | None) -> Receipt:
        store = self.agent.store
        frame_id = new_id()
        readings: list[Reading] = []
        quarantined: list[QuarantinedFrame] = []
        reasons: list[str] = []
        try:
            decoded = decode(frame.protocol, frame.data)
        except FrameError as exc:
            reasons.append(f"unreadable {frame.protocol} frame: {exc}")
            quarantined.append(self._quarantined(frame, frame_id, reasons[-1]))
            decoded = []
        except Exception as exc:  # a decoder's own bug: the frame is still kept, with the reason
            _LOGGER.exception("%s: the %s decoder failed", frame.device.id, frame.protocol)
            reasons.append(f"the {frame.protocol} decoder failed on this frame ({type(exc).__name__})")
            quarantined.append(self._quarantined(frame, frame_id, reasons[-1]))
            decoded = []
        settings = self.devices.get(frame.device.id, DeviceSettings(profile=frame.device.profile))
        for part in decoded:
            problems, found = self._readings(frame, frame_id, part, settings, resident_id)
            if problems:
                quarantined.append(self._quarantined(frame, frame_id, "; ".join(problems), part))
                reasons += problems
            readings += found
        crashpoints.stalled("ingest.decoded")
        added = store.add_frame(
            frame_id,
            frame.device.id,
            frame.data,
            frame.received_at,
            readings=readings,
            quarantined=quarantined,
            actor=f"device:{frame.device.id}",
        )
        crashpoints.reached("ingest.committed")  # stored, but the device has not been told yet
        for item in quarantined:
            self.agent.publish("frame.quarantined", {"id": item.id, "device": frame.device.id})
            _LOGGER.info("%s: frame quarantined", frame.device.id)
        for reading, result in zip(readings, added, strict=True):
            if not result.duplicate:
                self.agent.publish(
                    "reading.received",
                    {
                        "id": result.id,
                        "resident_id": reading.resident_id,
                        "device": frame.device.id,
                        "sealed": result.sealed,
                    },
                )
        if not readings:
            return Receipt(quarantined="; ".join(reasons) or None)
        return Receipt(
            stored=tuple(a.id for a in added if not a.duplicate),
            duplicates=tuple(a.id for a in added if a.duplicate),
            quarantined="; ".join(reasons) or None,
        )

    # -- one decoded part ----------------------------------------------------------------------------

    def _readings(
        self, frame: RawFrame, frame_id: str, part: DecodedFrame, settings: DeviceSettings, resident_id: str | None
    ) -> tuple[list[str], list[Reading]]:
        if not part.final or not part.measurements:
            return [], []  # features, contexts, RACP answers, cuff pressure while inflating: archived only
        profile = self._profile(settings, frame.protocol)
        part = profile.apply(part)
        problems = profile.check(part)
        problems += [f"{m.display or 'a result'} has no LOINC mapping" for m in part.measurements if not m.code]
        if problems:
            return problems, []
        groups = [part.measurements] if part.panel else [(m,) for m in part.measurements]
        readings = []
        for index, group in enumerate(groups):
            reading = self._reading(frame, frame_id, part, group, index, settings, resident_id)
            if reading is None:
                return [f"{group[0].display or group[0].code}: the device sent no value"], []
            readings.append(reading)
        return [], readings

    def _profile(self, settings: DeviceSettings, protocol: str) -> DeviceProfile:
        if settings.profile and settings.profile != "default" and settings.profile in PROFILES:
            return PROFILES[settings.profile]
        return profile_for(protocol)

    def _reading(
        self,
        frame: RawFrame,
        frame_id: str,
        part: DecodedFrame,
        group: tuple[Measurement, ...],
        index: int,
        settings: DeviceSettings,
        resident_id: str | None,
    ) -> Reading | None:
        components = tuple(
            Quantity(code=m.code, value=m.value_text, unit=m.unit, display=m.display)
            for m in group
            if m.value is not None
        )
        if not components:
            return None
        flags = sorted(
            {flag for m in group for flag in m.flags}
            | {f"{m.code}:{f}" for m in group if m.value is None for f in m.flags}
        )
        taken_at, clock_flag = self._taken_at(part, group, frame.received_at)
        code = part.panel or group[0].code
        return Reading(
            id=new_id(),
            resident_id=resident_id or self._match(part.subject, settings),
            code=code,
            display=part.panel_display if part.panel else group[0].display,
            components=components,
            taken_at=taken_at,
            received_at=frame.received_at,
            device_time=part.device_time.isoformat() if part.device_time else None,
            device=DeviceInfo(
                id=frame.device.id,
                model=settings.model or frame.device.model,
                serial=frame.device.serial,
                protocol=frame.protocol,
            ),
            source=frame.protocol,
            flags=tuple(flags + clock_flag),
            dedupe_key=self._dedupe_key(frame, part, code, index, components),
            frame_id=frame_id,
            subject_hint=_hint(part.subject, settings),
        )

    def _taken_at(
        self, part: DecodedFrame, group: tuple[Measurement, ...], received: datetime
    ) -> tuple[datetime, list[str]]:
        moment = group[0].taken_at or part.device_time
        if moment is None:
            return received, []
        if moment.tzinfo is None:  # device clocks keep local wall time without a zone
            moment = moment.astimezone()
        # Nothing is measured in the future: a device clock ahead of the PC by more than a little
        # drift is wrong (an unset or drifting clock), and so is one before 2000 (a flat battery).
        if moment > received + CLOCK_TOLERANCE or moment < _EARLIEST_PLAUSIBLE:
            return received, ["device-clock-suspect"]
        return moment.astimezone(UTC), []

    def _dedupe_key(
        self, frame: RawFrame, part: DecodedFrame, code: str, index: int, components: tuple[Quantity, ...]
    ) -> str:
        """What makes a re-sent frame the same reading: the device's sequence number, else its stamp
        together with what was measured (a stuck clock or two quick measurements share a stamp, not
        their values), else the frame's bytes within a short window."""
        if part.sequence:
            return f"seq:{part.sequence}:{index}:{code}"
        if part.device_time is not None:
            measured = "\x1f".join(f"{q.code}={q.value} {q.unit}" for q in components)
            digest = hashlib.sha256(measured.encode()).hexdigest()[:16]
            return f"time:{part.device_time.isoformat()}:{code}:{digest}"
        digest = hashlib.sha256(frame.protocol.encode() + b"\0" + frame.data).hexdigest()[:24]
        bucket = int(frame.received_at.timestamp() // CONTENT_WINDOW.total_seconds())
        key = f"content:{digest}:{index}:{bucket}"
        previous = f"content:{digest}:{index}:{bucket - 1}"
        if not self.agent.store.locked and self.agent.store.readings.find_duplicate(frame.device.id, previous):
            return previous  # the same frame re-sent across a window boundary
        return key

    def _match(self, subject: Subject | None, settings: DeviceSettings) -> str | None:
        if subject is None or self.agent.store.locked:
            return None  # matched at unlock from the hint, or assigned by the doctor
        residents = self.agent.store.residents
        number = subject.id_number
        if number is None and subject.device_user is not None:
            number = settings.users.get(subject.device_user)
        try:
            if number:
                found = residents.by_id_number(normalise_id_number(number))
                if found:
                    return found.id
            if subject.health_record_number:
                found = residents.by_health_record_number(subject.health_record_number)
                if found:
                    return found.id
        except ClinicAgentError as exc:
            _LOGGER.warning("could not match a reading to a resident: %s", exc)
        return None

    def _quarantined(
        self, frame: RawFrame, frame_id: str, reason: str, part: DecodedFrame | None = None
    ) -> QuarantinedFrame:
        detail = {"frame_id": frame_id, "protocol": frame.protocol, "device": frame.device.id}
        if part is not None:
            detail["measurements"] = [m.as_json() for m in part.measurements]  # type: ignore[assignment]
        return QuarantinedFrame(
            id=new_id(),
            received_at=frame.received_at,
            source=frame.device.id,
            reason=reason,
            raw=frame.data,
            detail=detail,
        )


def _hint(subject: Subject | None, settings: DeviceSettings) -> str | None:
    """How the device named the resident, for matching at unlock or for the doctor's confirmation."""
    if subject is None:
        return None
    if subject.id_number is None and subject.device_user is not None and subject.device_user in settings.users:
        return f"id:{normalise_id_number(settings.users[subject.device_user])}"
    for prefix, value in (
        ("id", subject.id_number),
        ("hrn", subject.health_record_number),
        ("user", subject.device_user),
        ("other", subject.other_id),
        ("name", subject.name),
    ):
        if value is not None and value != "":
            return f"{prefix}:{value}"
    return None
