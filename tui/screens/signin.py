"""Sign in: the user name first, the PIN next, Enter submits. A locked daemon asks for the passphrase once.

While the PIN is checked (Argon2id, half a second or more) the box says so. On a PC with no account
yet (just after ``clinic-agent init``) it says how a technician creates the first doctor.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.widget import Widget
from textual.widgets import Input

from clinic_agent.core.errors import ClinicAgentError, StoreLocked
from tui.screens.base import ClinicScreen, Tr
from tui.widgets import checks
from tui.widgets.fields import Field
from tui.widgets.pending import Pending


class SignInScreen(ClinicScreen):
    """Name and PIN."""

    TITLE_KEY = "signin.title"
    HINTS_AT_ONCE = True  # its keys are the app's and its own, known before its widgets: in the first frame
    SCREENS_CSS = False  # app.tcss has its rules; the other screens' are added after its first frame
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+q", "app.quit", "key.quit")]

    def __init__(self, *, user: str = "", reason: str = "") -> None:
        super().__init__()
        self.user = user
        self.reason = reason
        self.busy = False

    def body(self) -> Iterable[Widget]:
        with Center(), Vertical(id="signin-box", classes="box"):
            yield Tr("signin.welcome", classes="box-title")
            yield Field(
                "signin.user",
                name="user",
                check=checks.user_name,
                value=self.user,
                hint="signin.user_hint",
                enter_moves_on=True,  # to the PIN, at once: the PIN's keys may be right behind it (TypeaheadInput)
            )
            yield Field("signin.pin", name="pin", check=checks.pin, password=True, hint="signin.pin_hint")
            yield Pending("pending.signin")
            yield Tr("signin.help", classes="help")
            yield Tr("signin.no_accounts", classes="help warning", id="no-accounts")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-pin" if self.user else "#i-user", Input).focus()
        self.query_one("#no-accounts").display = False
        self.call_after_refresh(self.check_accounts)  # after the first frame: nothing waits on the daemon before it
        self.call_after_refresh(self.clinic.load_screens_css)  # the other screens' rules, ready before home is built
        if self.reason:
            banner = self.banner()
            if banner is not None:
                banner.show(self.reason)

    @work(group="accounts", exclusive=True)
    async def check_accounts(self) -> None:
        """Say how to create the first account when the daemon has none (status needs no session)."""
        try:
            status = await self.clinic.api.call("status")
        except ClinicAgentError:
            return
        none = isinstance(status, dict) and status.get("users") == 0
        self.query_one("#no-accounts").display = none

    @on(Input.Submitted, "#i-user")
    def _next(self) -> None:
        self.query_one("#i-pin", Input).focus()

    @on(Input.Submitted, "#i-pin")
    def _submit(self) -> None:
        self.hold_keys = True  # what is typed behind the PIN is meant for home (or, refused, for the PIN box)
        self.submit()

    @work(group="signin")
    async def submit(self) -> None:
        """Check the fields, then sign in (unlocking the daemon first if it is locked)."""
        try:
            if not await self._sign_in():
                self.hold_keys = False
        except BaseException:
            self.hold_keys = False
            raise

    async def _sign_in(self) -> bool:
        """Sign in; True when home is on its way."""
        user_field, pin_field = self.query_one("#f-user", Field), self.query_one("#f-pin", Field)
        if not (user_field.validate_now() and pin_field.validate_now()):
            (user_field if user_field.problem else pin_field).input.focus()
            return False
        banner = self.banner()
        if banner is not None:
            banner.hide()
        who = None
        try:
            with self.query_one(Pending).waiting():
                await self.clinic.api.connect()
                who = await self.clinic.api.login(user_field.value, pin_field.input.value)
        except StoreLocked:
            if await self._unlock(user_field.value):
                try:
                    who = await self.clinic.api.login(user_field.value, pin_field.input.value)
                except ClinicAgentError as exc:
                    self.show_error(exc)
        except ClinicAgentError as exc:
            self.show_error(exc)
        pin_field.value = ""
        if who is None:
            pin_field.input.focus()
            self.check_accounts()
            return False
        self.query_one(Pending).start("pending.home")  # home takes a moment to build: said here until it replaces us
        self.clinic.signed_in_as(who)
        return True

    async def _unlock(self, user: str) -> bool:
        from tui.screens.unlock import UnlockScreen

        unlocked: bool = await self.app.push_screen_wait(UnlockScreen(user=user))
        return unlocked
