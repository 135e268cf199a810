"""The conflicts inbox, against a daemon that offers the sync contract's conflict methods (stubbed in-process)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from clinic_agent.agent import Agent, Caller
from clinic_agent.api import methods
from clinic_agent.api.params import Params
from tests.tui.conftest import Daemon
from tests.tui.helpers import screen_name, sign_in, until, visible_text
from tui.app import ClinicApp

CONFLICT = {
    "id": "c1",
    "entity": "resident",
    "entity_id": "r1",
    "kind": "update",
    "resident_id": "r1",
    "created_at": "2026-05-20T08:00:00+00:00",
    "fields": [
        {"name": "phone", "base": "13800000000", "local": "13811111111", "remote": "13822222222"},
        {"name": "village", "base": "大塘村", "local": "大塘村一组", "remote": "大塘村二组"},
    ],
}


@pytest.fixture
def resolved(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """conflict.list/get/resolve as the sync contract describes them; resolutions are recorded."""
    done: list[dict[str, Any]] = []

    def listing(agent: Agent, caller: Caller, params: Params) -> Any:
        return {"conflicts": [] if done else [dict(CONFLICT)]}

    def get(agent: Agent, caller: Caller, params: Params) -> Any:
        return CONFLICT

    def resolve(agent: Agent, caller: Caller, params: Params) -> Any:
        done.append(params.data)
        return {"resolved": True}

    for name, handler in (("conflict.list", listing), ("conflict.get", get), ("conflict.resolve", resolve)):
        monkeypatch.setitem(methods.REGISTRY, name, methods.Method(handler, methods.CLINICAL))
    return done


async def test_choosing_per_field_and_resolving(
    make_app: Callable[..., ClinicApp], daemon: Daemon, resolved: list[dict[str, Any]]
) -> None:
    app = make_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await sign_in(pilot)
        await pilot.press("f4")
        await until(pilot, lambda: screen_name(pilot) == "ConflictsScreen" and app.screen.current is not None)
        shown = visible_text(app)
        assert "13811111111" in shown and "13822222222" in shown and "13800000000" in shown  # noqa: PT018
        app.screen.query_one("#c-fields").table.focus()  # type: ignore[attr-defined]
        await pilot.press("down", "right")  # the village: keep the platform's
        await pilot.press("ctrl+s")
        await until(pilot, lambda: bool(resolved))
        await until(pilot, lambda: "没有冲突" in visible_text(app))
    assert resolved == [{"id": "c1", "choices": {"phone": "local", "village": "remote"}}]


async def test_without_sync_the_inbox_says_so(make_app: Callable[..., ClinicApp], daemon: Daemon) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f4")
        await until(pilot, lambda: "本机尚未启用平台同步" in visible_text(app))
