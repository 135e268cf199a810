"""The doctor's flows, driven with Textual's pilot against a real daemon (in-process, demo store)."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input

from tests.tui.conftest import Daemon
from tui.app import ClinicApp
from tests.tui.helpers import CANARIES, FakeClock, screen_name, sign_in, until, visible_text


async def test_sign_in_puts_the_focus_in_the_search_box(make_app: Callable[..., ClinicApp]) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await sign_in(pilot)
        assert isinstance(app.focused, Input) and app.focused.id == "search"  # noqa: PT018
        await until(pilot, lambda: "龙秀英" in visible_text(app))
