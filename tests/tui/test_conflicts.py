"""The conflicts inbox on a PC that is not enrolled, and against a daemon without sync.

Resolving a real conflict (two PCs, the real FHIR server) is tested in
tests/integration/sync/test_sync_tui.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from clinic_agent.api import registry
from tests.tui.conftest import Daemon
from tests.tui.helpers import screen_name, sign_in, until, visible_text
from tui.app import ClinicApp


async def test_a_pc_not_enrolled_says_there_is_nothing_to_resolve(
    make_app: Callable[..., ClinicApp], daemon: Daemon
) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f4")
        await until(pilot, lambda: "本机尚未启用平台同步" in visible_text(app))
        assert screen_name(pilot) == "ConflictsScreen"


async def test_a_daemon_without_sync_says_so_without_an_error(
    make_app: Callable[..., ClinicApp], daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("conflict.list", "sync.status"):  # a daemon of a version before sync
        monkeypatch.delitem(registry.REGISTRY, name)
    app = make_app(language="en")
    async with app.run_test(size=(100, 24)) as pilot:
        await sign_in(pilot)
        await pilot.press("f4")
        await until(pilot, lambda: "Sync with the platform is not set up" in visible_text(app))
        assert "unknown method" not in visible_text(app)
