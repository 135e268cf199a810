"""The Clinic Agent terminal UI: sign in, home, residents' files, readings, follow-ups, conflicts.

The app owns the connection to the daemon, who is signed in, the language, and the idle clock:
after ``idle_seconds`` without a key press or a click it locks, which removes every screen that
showed resident data and ends the session on the daemon too. The clock is injectable for tests.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from datetime import date
from typing import Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen

from clinic_agent.core.errors import ClinicAgentError, DaemonError, UnknownMethod
from tui.client import Api, SignedIn
from tui.i18n import DEFAULT_LANGUAGE, Catalogue
from tui.screens.base import ClinicModal, ClinicScreen, DaemonEvent, ScreenMixin
from tui.widgets.readings import summary
from tui.widgets.status_bar import StatusBar, StatusInfo
from tui.widgets.text import clean

DEFAULT_IDLE_SECONDS = 600.0
ACTIVITY = (events.Key, events.MouseDown, events.Paste, events.MouseScrollDown, events.MouseScrollUp)


class ClinicApp(App[None]):
    """The terminal UI; give it an Api (the daemon's, or a fake in tests)."""

    CSS_PATH = "app.tcss"
    TITLE = "Clinic Agent"
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "language", "key.language", priority=True),
        Binding("ctrl+l", "lock", "key.lock", priority=True),
        Binding("ctrl+q", "quit", "key.quit", show=False),
    ]

    language: reactive[str] = reactive(DEFAULT_LANGUAGE)

    def __init__(
        self,
        api: Api,
        *,
        language: str = DEFAULT_LANGUAGE,
        clock: Callable[[], float] = time.monotonic,
        idle_seconds: float | None = None,
        status_seconds: float = 30.0,
        user: str = "",
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__()
        self.api = api
        self.i18n = Catalogue(language)
        self.clock = clock
        self.idle_limit = idle_seconds
        self.status_seconds = status_seconds
        self.signed_in: SignedIn | None = None
        self.status_info = StatusInfo()
        self.last_activity = clock()
        self.first_user = user
        self.today = today
        self.set_reactive(ClinicApp.language, language)
        if hasattr(api, "on_event"):
            api.on_event = self._daemon_event

    # -- start, sign-in, lock --------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from tui.screens.signin import SignInScreen

        self.set_interval(1.0, self.lock_if_idle)
        self.set_interval(self.status_seconds, self.refresh_status)
        self.push_screen(SignInScreen(user=self.first_user))

    @property
    def idle_seconds(self) -> float:
        """How long the terminal may sit idle before it locks."""
        if self.idle_limit is not None:
            return self.idle_limit
        return self.signed_in.idle_seconds if self.signed_in else DEFAULT_IDLE_SECONDS

    def signed_in_as(self, who: SignedIn) -> None:
        """After a good sign-in: home, with the search box focused.

        Screen changes run as the app's own workers: a screen's worker cannot wait for its own
        screen to be removed.
        """
        self.run_worker(self._signed_in_as(who), group="transition", exclusive=True)

    async def _signed_in_as(self, who: SignedIn) -> None:
        from tui.screens.home import HomeScreen

        self.signed_in = who
        self.last_activity = self.clock()
        self.status_info.user, self.status_info.role = who.display_name, who.role
        await self._to_base()
        await self.switch_screen(HomeScreen())
        self.refresh_status()
        self.offer_drafts()

    @work(group="drafts", exclusive=True)
    async def offer_drafts(self) -> None:
        """Forms left unfinished at the last lock: offer the newest back (No discards them all)."""
        from tui.screens.confirm import ConfirmScreen
        from tui.screens.form import reopen

        try:
            drafts = list((await self.api.call("draft.list"))["drafts"])
        except ClinicAgentError:
            return
        if not drafts or self.signed_in is None:
            return
        wanted = await self.push_screen_wait(ConfirmScreen("drafts.offer", n=len(drafts)))
        taken = drafts[-1:] if wanted else drafts
        for draft in taken:
            with contextlib.suppress(ClinicAgentError):
                await self.api.call("draft.delete", {"id": draft["id"]})
        screens = reopen(dict(drafts[-1]["draft"])) if wanted and self.signed_in is not None else []
        for screen in screens[:-1]:
            await self.push_screen(screen)
        if screens:
            await self.push_screen(screens[-1], callback=self._draft_done(screens[-2] if len(screens) > 1 else None))

    def _draft_done(self, under: Screen[Any] | None) -> Callable[[Any], None]:
        """After a reopened draft is saved, the file under it shows the saved entry."""

        def done(saved: Any) -> None:
            if saved:
                self.notify(self.i18n("saved"), markup=False)
                reload = getattr(under, "load", None)
                if callable(reload):
                    reload()

        return done

    async def _to_base(self) -> None:
        """Drop every screen above the bottom one (their widgets, and what they showed, go with them)."""
        while len(self.screen_stack) > 2:
            screen = self.screen_stack[-1]
            if isinstance(screen, ClinicModal):
                screen.dismiss(None)
            else:
                await self.pop_screen()

    def lock(self, reason: str = "manual") -> None:
        """Hide every resident detail and end the session; the lock screen asks for the PIN again."""
        who = self.signed_in
        if who is None:
            return
        self.signed_in = None
        self.run_worker(self._lock(who, reason), group="transition", exclusive=True)

    async def _lock(self, who: SignedIn, reason: str) -> None:
        from tui.screens.lock import LockScreen

        self.status_info = StatusInfo()
        await self._keep_drafts()
        await self._to_base()
        await self.switch_screen(LockScreen(user=who.user, reason=reason))
        with contextlib.suppress(ClinicAgentError):
            await self.api.logout()

    async def _keep_drafts(self) -> None:
        """Every open form with something typed goes to the daemon as a draft (encrypted) before the lock."""
        from tui.screens.consult import ConsultRequestScreen
        from tui.screens.form import FormModal

        for screen in self.screen_stack:
            draft = screen.draft() if isinstance(screen, FormModal | ConsultRequestScreen) else None
            if draft is not None:
                with contextlib.suppress(ClinicAgentError):
                    await self.api.call("draft.save", {"draft": draft})

    def action_lock(self) -> None:
        """Lock now (Ctrl+L)."""
        self.lock("manual")

    def action_language(self) -> None:
        """Switch between Chinese and English (F2)."""
        self.language = "en" if self.language == "zh" else "zh"

    def watch_language(self, language: str) -> None:
        self.i18n.switch(language)
        for screen in self.screen_stack:
            if isinstance(screen, ScreenMixin):
                screen.retranslate()

    # -- idle ------------------------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, ACTIVITY):
            self.last_activity = self.clock()
        await super().on_event(event)

    def lock_if_idle(self) -> None:
        """Lock when idle too long (called every second, and by tests after moving the clock)."""
        if self.signed_in is not None and self.clock() - self.last_activity >= self.idle_seconds:
            self.lock("idle")

    # -- events and status -----------------------------------------------------------------------------------

    def _daemon_event(self, name: str, data: dict[str, Any]) -> None:
        self.post_message(ApiEvent(name, data))

    def on_api_event(self, event: ApiEvent) -> None:
        if self.signed_in is None:
            return
        if event.name in ("sync.state", "conflict.new", "disk.low", "reading.received"):  # what waits to be sent
            if event.name == "disk.low":
                self.status_info.disk_low = bool(event.data.get("low"))
            self.refresh_status()
        for screen in self.screen_stack:
            if isinstance(screen, ClinicScreen) and screen.is_running:
                screen.post_message(DaemonEvent(event.name, event.data))
        if event.name == "reading.received" and event.data.get("id"):
            self.alert_if_critical(str(event.data["id"]))
        if event.name == "consult.answer":  # a specialist accepted or answered: say so on whatever screen is open
            self.bell()
            self.notify(self.i18n("consultation.answer_arrived"), timeout=30, markup=False)

    @work(group="alert")
    async def alert_if_critical(self, reading_id: str) -> None:
        """A critical reading raises an alert on whatever screen is open, with the terminal bell."""
        try:
            reading = await self.api.call("reading.get", {"id": reading_id})
        except ClinicAgentError:
            return
        if not reading.get("alerts") or self.signed_in is None:
            return
        t = self.i18n
        name = clean(reading.get("resident_name"))
        key = "alert.critical_reading" if name else "alert.critical_unassigned"
        self.bell()
        self.notify(
            t(key, name=name, values=summary(reading, t)),
            severity="error",
            timeout=30,
            markup=False,
        )

    @work(exclusive=True, group="status")
    async def refresh_status(self) -> None:
        """Read the daemon's status and the sync state for the status line."""
        if self.signed_in is None:
            return
        info = self.status_info
        try:
            status = await self.api.call("status")
            outbox = status.get("outbox") or {}
            info.pending, info.parked = int(outbox.get("pending", 0)), int(outbox.get("parked", 0))
            info.disk_low = bool(status.get("disk_low"))
        except DaemonError:
            return
        except ClinicAgentError:
            pass
        try:
            info.sync = await self.api.call("sync.status")
            info.sync_available = True
        except ClinicAgentError as exc:
            info.sync, info.sync_available = None, not isinstance(exc, UnknownMethod)
        for screen in self.screen_stack:
            for bar in screen.query(StatusBar):
                bar.set_info(info)
            if isinstance(screen, ScreenMixin):
                screen.status_changed(info)

    async def action_quit(self) -> None:
        """End the session on the daemon, then quit (Ctrl+Q)."""
        with contextlib.suppress(ClinicAgentError):
            await self.api.logout()
            await self.api.close()
        self.exit()


class ApiEvent(Message):
    """An event pushed by the daemon, as the app receives it (it hands it to screens as DaemonEvent)."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.data = data
