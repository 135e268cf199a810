"""A fake of the daemon's API with fixed data, for snapshots (they must not change with the date or a random id).

Every call is held against the contract (clinic_agent/api/shapes.py): a screen calling a method the
contract does not declare, leaving out a required parameter or sending an undeclared one fails the
test, and so does an answer here (or in a test's subclass) with a field the daemon never sends. An
answer may hold less than the daemon's: the screens are tested on what they need.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from clinic_agent.api import contract
from clinic_agent.core.errors import ClinicAgentError, UnknownMethod
from tui.client import SignedIn

Call = Callable[[Any, str, "dict[str, Any] | None"], Awaitable[Any]]


def checked(call: Call) -> Call:
    """A fake's ``call``, held against the contract's shapes."""

    @functools.wraps(call)
    async def held(self: Any, method: str, params: dict[str, Any] | None = None) -> Any:
        contract.check_params(method, params)
        reply = await call(self, method, params)
        contract.check_reply(method, reply, complete=False)
        return reply

    return held


TODAY = "2026-05-20"
RESIDENT = {
    "id": "r-1",
    "id_number": "522229195103080024",
    "name": "龙秀英",
    "sex": "2",
    "birth_date": "1951-03-08",
    "health_record_number": "52222910200100017",
    "phone": "13815988000",
    "village": "松桃县 盘信镇 大塘村",
    "address": None,
    "ethnicity": "06",
    "key_populations": ["hypertension", "elderly"],
    "version": 3,
}

# resident.lookup answers what tells two people of the same name apart, not the whole resident
LOOKUP_MATCH = {
    **{k: RESIDENT[k] for k in ("id", "name", "sex", "birth_date", "village", "id_number", "health_record_number")},
    "key_populations": RESIDENT["key_populations"],
    "matched_by": "initials",
}


def _bp(i: int, sbp: int, dbp: int, day: str, resident: str | None = "r-1") -> dict[str, Any]:
    return {
        "id": f"rd-{i}",
        "resident_id": resident,
        "code": "85354-9",
        "components": [
            {"code": "8480-6", "value": str(sbp), "unit": "mm[Hg]"},
            {"code": "8462-4", "value": str(dbp), "unit": "mm[Hg]"},
            {"code": "8867-4", "value": "76", "unit": "/min"},
        ],
        "taken_at": f"{day}T08:{i % 60:02d}:00+00:00",
        "device": {"id": "demo-health-machine", "model": "Demo all-in-one"},
        "status": "final",
        "alerts": ["systolic ≥ 180"] if sbp >= 180 else [],
        "subject_hint": None,
    }


READINGS = [
    _bp(i, s, d, day)
    for i, (s, d, day) in enumerate(
        [
            (146, 92, "2026-05-20"),
            (138, 86, "2026-04-20"),
            (182, 104, "2026-03-20"),
            (150, 95, "2026-02-18"),
            (142, 90, "2026-01-19"),
            (155, 96, "2025-12-18"),
            (136, 84, "2025-11-18"),
        ]
    )
]
FILE = {
    "resident": RESIDENT,
    "entries": {
        "allergy": [
            {
                "id": "a-1",
                "substance": "青霉素",
                "reaction": "皮疹",
                "category": "medication",
                "status": "active",
                "code": "2",
                "recorded_on": "2019-04-02",
                "version": 1,
            }
        ],
        "condition": [
            {
                "id": "c-1",
                "name": "高血压",
                "code": "2",
                "icd10": "I10",
                "diagnosed_on": "2015-05-01",
                "status": "active",
                "version": 1,
            }
        ],
        "procedure": [],
        "family_history": [
            {"id": "f-1", "relation": "mother", "condition": "脑卒中", "code": "7", "note": "", "version": 1}
        ],
        "follow_up": [
            {
                "id": "v-1",
                "programme": "hypertension",
                "visit_date": "2026-02-18",
                "sbp": 150,
                "dbp": 95,
                "classification": "2",
                "next_visit": "2026-03-04",
                "version": 1,
            }
        ],
        "note": [],
    },
    "readings": READINGS,
    "problems": [],
}
HOME = {
    "today": TODAY,
    "unassigned": [_bp(90, 142, 91, TODAY, None), _bp(91, 186, 112, TODAY, None)],
    "unassigned_total": 2,
    "due": [
        {
            "resident_id": "r-1",
            "name": "龙秀英",
            "programme": "hypertension",
            "due": "2026-05-12",
            "overdue": True,
            "last_visit": "2026-02-18",
            "visits_last_year": 3,
            "rule": "H4",
        },
        {
            "resident_id": "r-2",
            "name": "吴国华",
            "programme": "diabetes",
            "due": TODAY,
            "overdue": False,
            "last_visit": None,
            "visits_last_year": 0,
            "rule": "D1",
        },
        {
            "resident_id": "r-3",
            "name": "姚德胜",
            "programme": "hypertension",
            "due": "2026-05-24",
            "overdue": False,
            "last_visit": "2026-02-23",
            "visits_last_year": 4,
            "rule": "H3",
        },
    ],
    "alerts": [
        {
            "reading_id": "rd-91",
            "resident_id": None,
            "name": "",
            "taken_at": f"{TODAY}T08:31:00+00:00",
            "reasons": ["systolic"],
            "codes": ["H2"],
        }
    ],
    "today_readings": [
        {**_bp(92, 184, 108, TODAY), "id": "rd-92", "name": "姚德胜", "acknowledged": False},
        {**_bp(91, 186, 112, TODAY, None), "name": "", "acknowledged": False},
        {**_bp(0, 146, 92, TODAY), "name": "龙秀英", "acknowledged": False},
        {**_bp(90, 142, 91, TODAY, None), "name": "", "acknowledged": False},
        {**_bp(93, 128, 80, TODAY), "id": "rd-93", "name": "吴国华", "acknowledged": True},
    ],
    "problems": 0,
}


class FakeApi:
    """Answers the screens' calls from the tables above; ``fail`` makes a method raise."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A test's own answers are held against the contract too."""
        super().__init_subclass__(**kwargs)
        if "call" in cls.__dict__:
            cls.call = checked(cls.__dict__["call"])  # type: ignore[method-assign]

    def __init__(self, *, sync: dict[str, Any] | None = None) -> None:
        self.on_event = lambda name, data: None
        self.sync = sync
        self.fail: dict[str, ClinicAgentError] = {}
        self.calls: list[tuple[str, dict[str, Any]]] = []

    async def connect(self) -> None:
        """Nothing to connect."""

    async def login(self, user: str, pin: str) -> SignedIn:
        return SignedIn(user=user, role="doctor", display_name="王医生", idle_seconds=600)

    async def logout(self) -> None:
        """Nothing to end."""

    async def close(self) -> None:
        """Nothing to close."""

    @checked
    async def call(self, method: str, params: dict[str, Any] | None = None) -> Any:
        self.calls.append((method, params or {}))
        if method in self.fail:
            raise self.fail[method]
        answers: dict[str, Any] = {
            "status": {"outbox": {"pending": 12, "parked": 0}, "disk_low": False},
            "home.summary": HOME,
            "resident.file": FILE,
            "resident.history": {
                "history": [
                    {
                        "at": "2026-02-18T09:00:00+00:00",
                        "actor": "user:doctor",
                        "action": "follow_up.create",
                        "object_type": "follow_up",
                        "object_id": "v-1",
                        "fields": [],
                    },
                    {
                        "at": "2026-01-02T10:00:00+00:00",
                        "actor": "user:doctor",
                        "action": "resident.update",
                        "object_type": "resident",
                        "object_id": "r-1",
                        "fields": ["phone", "village"],
                    },
                ]
            },
            "resident.lookup": {"matches": [LOOKUP_MATCH]},
            "followup.prefill": {
                "resident": RESIDENT,
                "today": TODAY,
                "sources": {"sbp": "rd-0", "dbp": "rd-0", "heart_rate": "rd-0"},
                "fields": {
                    "programme": "hypertension",
                    "visit_date": TODAY,
                    "sbp": 146,
                    "dbp": 92,
                    "heart_rate": 76,
                    "target_weight_kg": "55",
                },
                "previous": FILE["entries"]["follow_up"],
                "height_cm": "155",
                "limits": {
                    "systolic_urgent": "180",
                    "diastolic_urgent": "110",
                    "spo2_low": "90",
                    "glucose_high": "16.7",
                    "glucose_low": "3.9",
                    "temperature_high": "39",
                    "systolic_control": "140",
                    "diastolic_control": "90",
                    "glucose_control": "7.0",
                    "heart_rate_high": "100",
                },
            },
        }
        if method == "reading.acknowledge":
            return {"id": (params or {}).get("id"), "acknowledged": True}
        if method == "reading.get":
            found = next(r for r in HOME["today_readings"] if r["id"] == (params or {}).get("id"))
            reading = {k: v for k, v in copy.deepcopy(found).items() if k not in ("name", "acknowledged")}  # home's
            return {**reading, "resident_name": found["name"]} if found["resident_id"] else reading
        if method == "sync.status":
            if self.sync is None:
                raise UnknownMethod("unknown method 'sync.status'")
            return self.sync
        if method not in answers:
            raise UnknownMethod(f"unknown method {method!r}")
        return copy.deepcopy(answers[method])
