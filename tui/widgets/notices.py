"""Notices (Textual's toasts) that follow the language: F2 re-renders the ones still on screen.

Textual keeps a notice as the finished text it was given, so a notice raised in Chinese stayed in
Chinese after F2 until it timed out. Here a notice keeps how to say it (a function of the
catalogue) beside Textual's notification; on a language switch each notice still shown gets its new
text in place, keeping its place in the stack and its time left.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.notifications import Notification, Notify, SeverityLevel
from textual.widgets._toast import Toast

from tui.i18n import Catalogue

Render = Callable[[Catalogue], str]


class Notices:
    """The app's notices and how each is said, so they can be said again in another language."""

    def __init__(self, app: App[Any], catalogue: Catalogue) -> None:
        self.app = app
        self.catalogue = catalogue
        self.shown: list[tuple[Notification, Render]] = []  # until each times out

    def say(self, render: Render, *, severity: SeverityLevel = "information", timeout: float | None = None) -> None:
        """Raise a notice whose text is ``render(catalogue)`` in the language in force, now and after F2."""
        seconds = self.app.NOTIFICATION_TIMEOUT if timeout is None else timeout
        notification = Notification(render(self.catalogue), severity=severity, timeout=seconds, markup=False)
        self.shown = [(n, r) for n, r in self.shown if not n.has_expired]
        self.shown.append((notification, render))
        self.app.post_message(Notify(notification))

    def retranslate(self) -> None:
        """Say every notice still shown in the language in force (and forget those gone).

        The toasts hold the notification itself, so its new text is what they draw next; one posted but not yet
        shown, or clicked away, is said again too, which is harmless.
        """
        self.shown = [(n, r) for n, r in self.shown if not n.has_expired]
        for notification, render in self.shown:
            notification.message = render(self.catalogue)
        for screen in self.app.screen_stack:
            for toast in screen.query(Toast):
                toast.refresh(layout=True)
