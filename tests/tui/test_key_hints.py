"""The key hints at the bottom follow the focus, and are built again only when what they show changes."""

from __future__ import annotations

from datetime import date

import pytest

from tests.tui.fake_api import FakeApi
from tests.tui.helpers import settled, until, visible_text
from tui.app import ClinicApp
from tui.widgets.key_hints import KeyHints
from tui.widgets.paged_table import PagedTable


async def test_hints_are_rebuilt_only_when_they_change(monkeypatch: pytest.MonkeyPatch) -> None:
    built = []
    compose = KeyHints.compose

    def counted(self: KeyHints):  # type: ignore[no-untyped-def]
        built.append(1)
        return compose(self)

    monkeypatch.setattr(KeyHints, "compose", counted)
    app = ClinicApp(FakeApi(), language="en", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen" and bool(app.screen.summary))
        await settled(pilot)
        home = app.screen
        assert "Acknowledge" not in visible_text(app)
        before = len(built)
        home.query_one("#unassigned", PagedTable).table.focus()  # the focus moves; the keys stay the same
        await settled(pilot)
        home.query_one("#due", PagedTable).table.focus()
        await settled(pilot)
        assert len(built) == before
        home.query_one("#today", PagedTable).table.focus()  # Space acknowledges here: a hint more
        await settled(pilot)
        assert len(built) > before
        await until(pilot, lambda: "Acknowledge" in visible_text(app))


async def test_a_screen_builds_its_hints_once_as_it_opens(monkeypatch: pytest.MonkeyPatch) -> None:
    """Its bindings change twice as it opens (mounted, then focused): one build, not one for each. The
    sign-in has its keys in its first frame: composed once, not empty first and built again a frame later
    (which laid the first screen out twice at start-up)."""
    built: dict[int, int] = {}
    composed: dict[int, int] = {}
    compose = KeyHints.compose

    def counted(self: KeyHints):  # type: ignore[no-untyped-def]
        keys = list(compose(self))  # a compose before the screen's bindings are known builds nothing
        composed[id(self)] = composed.get(id(self), 0) + 1
        if keys:
            built[id(self)] = built.get(id(self), 0) + 1
        return iter(keys)

    monkeypatch.setattr(KeyHints, "compose", counted)
    app = ClinicApp(FakeApi(), today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: type(app.screen).__name__ == "SignInScreen")
        await settled(pilot)
        await pilot.pause(0.2)
        assert list(built.values()) == [1]
        assert list(composed.values()) == [1]
        assert "English" in visible_text(app)
