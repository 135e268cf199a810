"""Waiting where the doctor is looking: a line saying what is on its way, and screens built in steps.

A wait shorter than ``DELAY`` shows nothing (a quick answer must not flicker); a longer one shows the
line until it ends. A screen with many fields paints its first ones, then mounts the rest one step per
frame (``mount_in_steps``), so the doctor sees the form, and the line, while the rest is built.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager

from rich.text import Text
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Static

DELAY = 0.15  # seconds: a wait shorter than this shows nothing

# A step's widgets, or what makes them when the step comes (a form's later fields are not built before its first paint).
Widgets = Sequence[Widget] | Callable[[], Sequence[Widget]]


class Pending(Static):
    """One line ("正在载入…") shown only while a wait has lasted longer than ``DELAY``."""

    DEFAULT_CLASSES = "pending"

    def __init__(self, key: str = "pending.loading", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.key = key
        self.waits = 0
        self._timer: Timer | None = None
        self.display = False

    def on_mount(self) -> None:
        if hasattr(self.app, "language"):
            self.watch(self.app, "language", lambda _: self.retranslate(), init=False)

    def start(self, key: str | None = None) -> None:
        """A wait begins (waits may overlap: the line goes when the last one ends)."""
        self.key = key or self.key
        self.waits += 1
        if self._timer is None and not self.display:
            self._timer = self.set_timer(DELAY, self._show)

    def stop(self) -> None:
        """A wait ended."""
        self.waits = max(0, self.waits - 1)
        if self.waits:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self.display = False

    @contextmanager
    def waiting(self, key: str | None = None) -> Iterator[None]:
        """Show the line while the block runs, if it runs longer than ``DELAY``."""
        self.start(key)
        try:
            yield
        finally:
            self.stop()

    def _show(self) -> None:
        self._timer = None
        if self.waits:
            self.retranslate()
            self.display = True

    def retranslate(self) -> None:
        """Render in the language in force."""
        t = getattr(self.app, "i18n", None)
        if t is not None:
            self.update(Text(t(self.key), style="italic"))


async def painted(widget: Widget) -> None:
    """Return once the screen has been drawn again (what was mounted so far is on the terminal)."""
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def drawn() -> None:
        if not done.done():
            done.set_result(None)

    widget.call_after_refresh(drawn)
    await done


def held(place: Widget, rows: int) -> Widget:
    """A place kept ``rows`` high until ``mount_in_steps`` fills it, so what is below it does not move when it is
    filled; then as high as what it holds (an error line under a field may make it higher)."""
    place.styles.height = rows
    place.add_class("-held")
    return place


async def mount_in_steps(steps: Iterable[tuple[Widget, Widgets]], pending: Pending | None = None) -> None:
    """Mount each step's widgets into its parent, one step per frame, with the waiting line meanwhile (widgets given
    as a function are made when their step comes, after the frame before it)."""
    if pending is not None:
        pending.start()
    try:
        for parent, widgets in steps:
            if not parent.is_attached:
                return
            await painted(parent)
            await parent.mount_all(widgets() if callable(widgets) else widgets)
            if parent.has_class("-held"):
                parent.remove_class("-held")
                parent.styles.height = "auto"
    finally:
        if pending is not None:
            pending.stop()


class _Collector:
    """Whether ``hold_collector`` turned Python's cyclic garbage collector off (and so should turn it back on)."""

    held = False


def hold_collector() -> None:
    """No cyclic garbage collection until ``release_collector``: a screen being built makes thousands of objects, and
    a full collection falling into its first frame walked all the app held since home was frozen (``settle_heap``:
    the file below, its readings), 50-300 ms on a loaded machine, the follow-up form's p95. What is made meanwhile is
    collected once the collector is back on, while the doctor reads the first frame."""
    if gc.isenabled():
        gc.disable()
        _Collector.held = True


def release_collector() -> None:
    """Turn the collector back on if ``hold_collector`` turned it off (once; a second call does nothing)."""
    if _Collector.held:
        _Collector.held = False
        gc.enable()
