"""The Clinic Agent terminal UI: sign in, home, residents' files, readings, follow-ups, conflicts.

The app owns the connection to the daemon, who is signed in, the language, and the idle clock:
after ``idle_seconds`` without a key press or a click it locks, which removes every screen that
showed resident data and ends the session on the daemon too. The clock is injectable for tests.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections import deque
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from textual import events, work
from textual.app import App
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.reactive import reactive
from textual.screen import Screen
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input

from clinic_agent.core.errors import ClinicAgentError, DaemonError, UnknownMethod
from tui.i18n import DEFAULT_LANGUAGE, Catalogue
from tui.screens.base import ClinicModal, ClinicScreen, DaemonEvent, ScreenMixin
from tui.widgets.notices import Notices, Render
from tui.widgets.status_bar import StatusBar, StatusInfo
from tui.widgets.text import clean

if TYPE_CHECKING:  # types only: the client is loaded by whoever makes the Api (the command, or a test's fake)
    from tui.client import Api, SignedIn

# The other screens' rules, added after the sign-in's first frame (app.tcss has what the sign-in and every screen use).
SCREENS_CSS = Path(__file__).with_name("screens.tcss")
DEFAULT_IDLE_SECONDS = 600.0
KEY_STUCK_SECONDS = 1.0  # a key whose end never came back (its widget removed meanwhile) holds the next no longer
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
        self.notices = Notices(self, self.i18n)
        self.clock = clock
        self.idle_limit = idle_seconds
        self.status_seconds = status_seconds
        self.signed_in: SignedIn | None = None
        self.status_info = StatusInfo()
        self.last_activity = clock()
        self.first_user = user
        self.today = today
        self.typed_ahead: deque[events.Key] = deque()  # keys read from the terminal, not yet handed on
        self.key_in_flight: events.Key | None = None
        self._key_timer: Timer | None = None
        self._hold_timer: Timer | None = None
        self.set_reactive(ClinicApp.language, language)
        self._screens_css = False
        if hasattr(api, "on_event"):
            api.on_event = self._daemon_event

    # -- start, sign-in, lock --------------------------------------------------------------------------------

    def on_mount(self) -> None:
        from tui.screens.signin import SignInScreen

        self.set_interval(1.0, self.lock_if_idle)
        self.set_interval(self.status_seconds, self.refresh_status)
        self.push_screen(SignInScreen(user=self.first_user))

    def load_screens_css(self) -> None:
        """Add screens.tcss's rules to the stylesheet, once: after the sign-in's first frame, before any other screen.

        Parsing them before the first frame cost it a few ms (issue 13, cold start) for rules the sign-in never uses.
        Nothing on the screen is styled again: the rules added are for widgets of the other screens, and each of
        those asks for them (``ScreenMixin.on_compose``) before its widgets are styled as they are mounted.
        """
        if self._screens_css:
            return
        self._screens_css = True
        self.stylesheet.add_source(SCREENS_CSS.read_text(encoding="utf-8"), read_from=(str(SCREENS_CSS), ""))

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
        self.call_after_refresh(settle_heap)  # after home's first frame
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
                self.say(lambda t: t("saved"))
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

    def say(self, render: Render, *, severity: SeverityLevel = "information", timeout: float | None = None) -> None:
        """A notice (toast) in the language in force, said again in the other one if F2 comes while it shows."""
        self.notices.say(render, severity=severity, timeout=timeout)

    def action_language(self) -> None:
        """Switch between Chinese and English (F2)."""
        self.language = "en" if self.language == "zh" else "zh"

    def watch_language(self, language: str) -> None:
        self.i18n.switch(language)
        for screen in self.screen_stack:
            if isinstance(screen, ScreenMixin):
                screen.retranslate()
        self.notices.retranslate()

    # -- idle ------------------------------------------------------------------------------------------------

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, ACTIVITY):
            self.last_activity = self.clock()
        if isinstance(event, events.Key) and not event.is_forwarded:
            self.typed_ahead.append(event)
            await self.hand_on_keys()
            return
        await super().on_event(event)

    # -- keys typed ahead ------------------------------------------------------------------------------------

    async def hand_on_keys(self) -> None:
        """Hand the next key typed on to the screen, once the one before it has been dealt with in full.

        Textual gives a key to the widget focused when the app reads it; a key that moves the focus (Tab on a
        list, a key that opens a screen) does so only after travelling up to the bindings, so the keys of the same
        burst went to the old field ("Tab Tab 2" put 2 into the question box). Here a key goes on only when the one
        before it has come back up (``KeyDone``), and not to a screen still being mounted or one that holds keys
        while it works (signing in): each key lands where it would have, typed slowly.

        A letter typed into a text box moves nothing: the box takes the letters behind it straight away, in order
        (waiting for each made a burst of 36 letters take a second instead of a tenth), and a ``TypeaheadInput``
        sends on any that reach it after the focus has left.
        """
        while self.key_in_flight is None and self.typed_ahead:
            screen = self.screen
            if not screen.is_mounted or getattr(screen, "hold_keys", False):
                if self._hold_timer is None:  # one look a moment later, however many keys wait
                    self._hold_timer = self.set_timer(0.02, self._look_again)
                return
            key = self.typed_ahead.popleft()
            target = self.focused or screen
            if isinstance(screen, ScreenMixin):
                screen.keys_typed += 1
            await super().on_event(key)  # the priority bindings, or on to the focused widget
            if key.is_forwarded and not (key.is_printable and isinstance(target, Input)):
                self.key_in_flight = key
                self._trail(KeyDone(key, target))
                self._key_timer = self.set_timer(KEY_STUCK_SECONDS, lambda key=key: self._key_done(key))

    @staticmethod
    def _trail(done: KeyDone) -> None:
        """Send ``done`` up from the key's widget behind what the key made it post (Input.Submitted, ...)."""
        done.rounds += 1
        done.target.call_later(done.target.post_message, done)

    async def _look_again(self) -> None:
        self._hold_timer = None
        await self.hand_on_keys()

    def on_key_done(self, message: KeyDone) -> None:
        """The key came up; a binding it ran at the app may have posted to its widget: once more behind that."""
        if message.rounds < 2 and message.target.is_attached and self.key_in_flight is message.key:
            self._trail(KeyDone(message.key, message.target, rounds=message.rounds))
            return
        self._key_done(message.key)

    def _key_done(self, key: events.Key) -> None:
        """The key has been dealt with: the next goes on after what it set off (a focus, a screen mounting)."""
        if self.key_in_flight is not key:
            return
        self.key_in_flight = None
        if self._key_timer is not None:
            self._key_timer.stop()
            self._key_timer = None
        self.call_later(self.hand_on_keys)

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
            self.say(lambda t: t("consultation.answer_arrived"), timeout=30)

    @work(group="alert")
    async def alert_if_critical(self, reading_id: str) -> None:
        """A critical reading raises an alert on whatever screen is open, with the terminal bell."""
        from tui.widgets.readings import summary  # the readings' wording: not needed to draw the sign-in

        try:
            reading = await self.api.call("reading.get", {"id": reading_id})
        except ClinicAgentError:
            return
        if not reading.get("alerts") or self.signed_in is None:
            return
        name = clean(reading.get("resident_name"))
        key = "alert.critical_reading" if name else "alert.critical_unassigned"
        self.bell()
        self.say(lambda t: t(key, name=name, values=summary(reading, t)), severity="error", timeout=30)

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


def settle_heap() -> None:
    """Set what the app holds once home is up aside from Python's cyclic garbage collector (``gc.freeze``).

    Textual's caches make many objects that outlive a collection of the young generations, so a full collection
    came about once a second while the doctor typed, and it walked all the app held, some 90,000 objects (the
    modules, the styles, home's widgets): 35 ms on a quiet machine, 50-120 ms on a loaded one, and the keypress it
    fell into painted its results that much later (the search bench's p95). Frozen, those objects are not walked
    again; what is made after them is collected as before. Each sign-in first lets go of what the one before froze
    and collects it, so the home screen of a session that was locked is freed then, not kept for good.
    """
    gc.unfreeze()
    gc.collect()
    gc.freeze()


class KeyDone(Message):
    """Sent after a key to the widget it went to: when it has come up to the app, the key has been dealt with."""

    def __init__(self, key: events.Key, target: Widget, *, rounds: int = 0) -> None:
        super().__init__()
        self.key = key
        self.target = target
        self.rounds = rounds


class ApiEvent(Message):
    """An event pushed by the daemon, as the app receives it (it hands it to screens as DaemonEvent)."""

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.data = data
