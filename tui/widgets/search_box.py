"""Home's search box: a letter and the results it brings are painted in one frame.

Textual paints at most one frame per 1/60 s. A letter typed into the box was painted on its own first
(the box's new width lays the screen out), and the results came a frame later, so they waited for that
frame to be drawn and for the next frame's turn: on a loaded 2-core machine 15-30 ms before any of the
results' own work. So a change of the text holds the app's paint until the screen has put the results
in (``release``) or ``HOLD`` seconds pass, whichever comes first: with a daemon that answers in time the
doctor sees the letter and its results at once, and with a slow one the letter still shows after ``HOLD``.
"""

from __future__ import annotations

from typing import Any

from textual.geometry import Size
from textual.reactive import Reactive
from textual.widgets import Input

HOLD = 0.05  # seconds a letter may wait for its results before it is painted alone


class SearchBox(Input):
    """An Input whose changes hold the next paint until ``release`` (or ``HOLD`` seconds)."""

    _holding = 0  # the number of the hold in force (0: none)
    _holds = 0  # holds taken so far, so that a late timer releases only its own
    _held_app: Any = None  # the app whose paint is held (a box taken off the screen still ends its hold)

    # Input sets its virtual size to its text's width at each change, and Textual's virtual size lays the screen out
    # when it changes: every letter laid out the whole of home (its lists of the day too), a full frame. The box's
    # size is fixed (1fr of the row); the text's width only bounds its own horizontal scroll, which reads it as it is.
    virtual_size: Reactive[Size] = Reactive(Size(0, 0), layout=False)

    def watch_value(self, value: str) -> None:
        """A change of the text, typed or set: hold the paint for its results."""
        if self._holding or not self.is_attached:
            return
        self._holds += 1
        hold = self._holding = self._holds
        app = self._held_app = self.app
        app._begin_batch()  # Textual's batch_update, ended in _release: nothing is painted meanwhile
        app.set_timer(HOLD, lambda: self._release(hold))  # the app's timer: it runs even if the box is gone

    def release(self) -> None:
        """The screen shows what the text asked for: paint it (with the text) in the next frame."""
        self._release(self._holding)

    def _release(self, hold: int) -> None:
        if hold and hold == self._holding:
            self._holding = 0
            self._held_app._end_batch()
