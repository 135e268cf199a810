"""Helpers for driving the TUI in tests."""

from __future__ import annotations

import asyncio
import html
import re
import time
from collections.abc import Callable
from typing import Any

from textual.css.query import NoMatches
from textual.pilot import Pilot

from tui.app import ClinicApp

CANARIES = ("龙秀英", "吴国华", "杨光明", "张秀兰", "522229", "松桃县", "青霉素")


class FakeClock:
    """A monotonic clock moved by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def until(pilot: Pilot[None], predicate: Callable[[], bool], within: float = 30.0) -> None:
    """Let the app run until a condition holds (or fail after a timeout).

    A widget the condition asks for that is not mounted yet (forms mount their later fields a frame
    at a time) means "not yet". The limit is generous: on a loaded 2-core CI machine a form took
    over 10 s to build; the test is about what happens, never how fast (bench/ measures that).
    """
    deadline = time.monotonic() + within
    while not _holds(predicate):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {within} s; screen: {type(pilot.app.screen).__name__}")
        await pilot.pause(0.02)
        await asyncio.sleep(0)


async def settled(pilot: Pilot[None], within: float = 10.0) -> None:
    """Let every worker the screens started finish and the screen repaint, so what is drawn no longer moves.

    A snapshot taken while a load is still on its way differs on a busy machine from one on a quiet one.
    """
    for _ in range(2):
        await until(pilot, lambda: not _busy(pilot), within)
        await pilot.pause()


def _busy(pilot: Pilot[None]) -> list[object]:
    """The workers of the app and of the screen on top still running (a screen below waiting on a form is not)."""
    return [w for w in pilot.app.workers if w.is_running and w.node in (pilot.app, pilot.app.screen)]


def screen_name(pilot: Pilot[None]) -> str:
    """The class name of the screen on top."""
    return type(pilot.app.screen).__name__


async def sign_in(pilot: Pilot[None], user: str = "doctor", pin: str = "246810") -> None:
    """Type the user name and PIN as a person would, and wait for home."""
    await until(pilot, lambda: screen_name(pilot) == "SignInScreen")
    await pilot.press(*user, "enter", *pin, "enter")
    await until(pilot, lambda: screen_name(pilot) == "HomeScreen")


async def open_fake_file(pilot: Pilot[None]) -> None:
    """Sign in to the fake daemon, find its resident by initials and open the file."""
    app: Any = pilot.app
    await sign_in(pilot)
    await pilot.press(*"lxy")
    await until(pilot, lambda: bool(app.screen.matches))
    await pilot.press("enter")
    await until(pilot, lambda: screen_name(pilot) == "ResidentScreen" and bool(app.screen.file))


def visible_text(app: ClinicApp) -> str:
    """Everything drawn on the terminal now, as text (what a person would see)."""
    svg = app.export_screenshot()
    found = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return "".join(html.unescape(fragment) for fragment in found).replace("\xa0", " ")


def _holds(predicate: Callable[[], bool]) -> bool:
    try:
        return predicate()
    except NoMatches:
        return False
