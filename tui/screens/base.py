"""What every screen shares: the title line, the error banner, the status line, key hints, and API calls.

A screen calls the daemon through ``await self.call(method, params)``: an error from the daemon
becomes a plain banner (never a traceback), an expired session locks the terminal, and the call
returns None. Screens hold catalogue keys, and ``retranslate`` re-renders them when the language
changes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

from clinic_agent.core.errors import ClinicAgentError, SessionExpired, StoreLocked, UnknownMethod
from tui.i18n import Catalogue
from tui.widgets.banner import Banner, detail_of, kind_of
from tui.widgets.fields import Field, MultiField, SelectField
from tui.widgets.key_hints import KeyHints
from tui.widgets.status_bar import StatusBar, StatusInfo
from tui.widgets.text import clean

if TYPE_CHECKING:
    from tui.app import ClinicApp


class DaemonEvent(Message):
    """An event the daemon pushed (reading.received, sync.state, conflict.new, device.state, disk.low, ...)."""

    bubble = False

    def __init__(self, name: str, data: dict[str, Any]) -> None:
        super().__init__()
        self.name = name
        self.data = data


class ScreenMixin:
    """API calls and translation for screens and modal screens alike."""

    TITLE_KEY: ClassVar[str] = "app.title"
    HINTS_AT_ONCE: ClassVar[bool] = False  # key hints in the first frame (keys that need no widget of the screen)
    SCREENS_CSS: ClassVar[bool] = True  # its widgets need screens.tcss (the sign-in's need app.tcss alone)
    last_error: ClinicAgentError | None = None
    keys_typed = 0  # keys the app handed to this screen: after one, the doctor moves the focus, not the screen
    hold_keys = False  # True while the screen works on what was typed: the keys typed meanwhile wait for it

    def on_compose(self, event: events.Compose) -> None:
        """screens.tcss's rules are in the stylesheet before this screen's widgets are styled (``load_screens_css``).

        Textual calls this before Widget's own handler, which composes the screen and styles what it mounts.
        """
        if self.SCREENS_CSS:
            self.clinic.load_screens_css()

    def auto_focus(self, widget: Widget) -> None:
        """Focus a widget for the doctor, unless the doctor has typed on this screen already.

        A screen that focuses a field when its data arrives (a worker, a later frame) took the focus away from
        where the doctor had moved it in the meantime, and the keys typed next went there.
        """
        node: Any = self
        if self.keys_typed and node.focused is not None:
            return
        widget.focus()

    @property
    def clinic(self) -> ClinicApp:
        """The app, typed."""
        return self.app  # type: ignore[attr-defined,no-any-return]

    @property
    def t(self) -> Catalogue:
        """The catalogue in force."""
        return self.clinic.i18n

    def banner(self) -> Banner | None:
        """This screen's banner, if it has one."""
        found = self.query(Banner)  # type: ignore[attr-defined]
        return found.first() if found else None

    async def call(self, method: str, params: dict[str, Any] | None = None, *, quiet: bool = False) -> Any:
        """Call the daemon; on an error show it (unless quiet) and return None."""
        return await self.answer(self.clinic.api.call(method, params), quiet=quiet)

    def ask_early(self, method: str, params: dict[str, Any] | None = None) -> asyncio.Future[Any]:
        """Send a call now and read its answer later with ``answer``.

        A screen asks for what it shows before its widgets are built, so the answer travels while they are
        mounted and the first frame can already hold it.
        """
        sent = asyncio.ensure_future(self.clinic.api.call(method, params))
        sent.add_done_callback(lambda done: done.cancelled() or done.exception())  # read even if nobody awaits it
        return sent

    async def answer(self, reply: Awaitable[Any], *, quiet: bool = False) -> Any:
        """The answer to a call (``call``, ``ask_early``); on an error show it (unless quiet) and return None."""
        self.last_error = None
        try:
            result = await reply
        except ClinicAgentError as exc:
            if self._gone:
                return None
            self.last_error = exc
            if isinstance(exc, SessionExpired):
                self.clinic.lock("expired")
            elif isinstance(exc, StoreLocked) and self.clinic.signed_in is not None:
                self.clinic.lock("store_locked")
            elif not quiet and not isinstance(exc, UnknownMethod):
                self.show_error(exc)
            return None
        return None if self._gone else result

    @property
    def _gone(self) -> bool:
        """The screen was closed while the daemon answered (the answer has nowhere to go)."""
        node: Any = self
        return bool(node._closing or node._closed or not node.is_attached)

    def show_error(self, error: ClinicAgentError) -> None:
        """Show an error in the banner."""
        banner = self.banner()
        if banner is not None:
            banner.show_error(error)
        else:
            kind, detail = kind_of(error), detail_of(error)
            self.clinic.say(
                lambda t: t(f"banner.{kind}") + ("  " + detail if detail and t.language == "en" else ""),
                severity="error",
            )

    def say(
        self, key: str, *, severity: SeverityLevel = "information", timeout: float | None = None, **values: Any
    ) -> None:
        """A notice (toast) of a catalogue key, which follows the language while it is shown."""
        self.clinic.say(lambda t: t(key, **values), severity=severity, timeout=timeout)

    def retranslate(self) -> None:
        """Re-render every text of the screen in the language in force."""
        node: Any = self
        for widget in node.query("*"):
            if isinstance(widget, Field | SelectField | MultiField | Banner | StatusBar | KeyHints):
                widget.retranslate()
        for title in node.query(".title"):
            title.update(self.title_text())
        for static in node.query(".t"):
            if isinstance(static, Tr):
                static.retranslate()
        self.translate_body()

    def _on_screen_resume(self, event: events.ScreenResume) -> None:
        """A screen shown for the first time keeps the styles its widgets got as they were mounted a moment ago.

        Textual styles every widget of a screen again when it is shown, which for a screen just pushed repeats
        what mounting did: a form of forty fields spent about a quarter of its opening on it. A screen shown
        again (a dialog over it closed) is restyled as before. Textual calls the handler of every class of the
        screen in turn, this one before Screen's own (which reads ``refresh_styles``); no super() call.
        """
        if not getattr(self, "_shown_once", False):
            self._shown_once = True
            event.refresh_styles = False

    def translate_once(self) -> None:
        """The screen's first rendering of its texts, as it is mounted.

        Textual calls ``on_mount`` of every class of a screen, and most screens also call ``super().on_mount()``
        first: every text, every list and every key hint of a new screen was rendered twice. The first call does it.
        """
        if not getattr(self, "_translated", False):
            self._translated = True
            self.retranslate()

    def translate_body(self) -> None:
        """Screens re-render their own texts here (column titles, tab labels, ...)."""

    def status_changed(self, info: StatusInfo) -> None:
        """The status line was refreshed (a screen may raise a banner for disk space or sync)."""

    def title_text(self) -> Text:
        """The title line: the app, this screen, and who is signed in."""
        line = Text(" " + self.t("app.title"), style="bold")
        if self.TITLE_KEY != "app.title":
            line.append(" · " + self.t(self.TITLE_KEY))
        who = self.clinic.signed_in
        if who is not None:
            line.append("   ")
            line.append(clean(who.display_name), style="italic")
        return line


class Tr(Static):
    """A label that shows a catalogue key and follows the language."""

    def __init__(self, key: str, *, classes: str = "", id: str | None = None, **values: Any) -> None:
        super().__init__(classes=f"t {classes}".strip(), id=id)
        self.key = key
        self.values = values

    def on_mount(self) -> None:
        self.retranslate()

    def set_key(self, key: str, **values: Any) -> None:
        """Show another message."""
        self.key, self.values = key, values
        self.retranslate()

    def retranslate(self) -> None:
        """Render in the language in force."""
        t = getattr(self.app, "i18n", None)
        if isinstance(t, Catalogue):
            self.update(Text(t(self.key, **self.values)))


class ClinicScreen(ScreenMixin, Screen[None]):
    """A full screen: title line, banner, body, status line, key hints."""

    def compose(self) -> ComposeResult:
        yield Static(classes="title")
        yield Banner()
        yield from self.body()
        yield StatusBar(self.clinic.status_info)
        yield KeyHints()

    def body(self) -> Iterable[Widget]:
        """The widgets between the banner and the status line."""
        return ()

    def on_mount(self) -> None:
        self.translate_once()


class ClinicModal(ScreenMixin, ModalScreen[Any]):
    """A dialog over the screen under it, with its own banner and key hints."""

    def on_mount(self) -> None:
        self.translate_once()
