"""The lock screen: nothing about any resident, just how to sign in again."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual.binding import Binding, BindingType
from textual.containers import Center, Vertical
from textual.widget import Widget

from tui.screens.base import ClinicScreen, Tr


class LockScreen(ClinicScreen):
    """Shown after the idle time, Ctrl+L, or an expired session."""

    TITLE_KEY = "lock.title"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "sign_in", "key.sign_in"),
        Binding("ctrl+q", "app.quit", "key.quit"),
    ]

    def __init__(self, *, user: str = "", reason: str = "manual") -> None:
        super().__init__()
        self.user = user
        self.reason = reason

    def body(self) -> Iterable[Widget]:
        with Center(), Vertical(id="lock-box", classes="box"):
            yield Tr("lock.locked", classes="box-title")
            yield Tr(f"lock.reason.{self.reason}", classes="help")
            yield Tr("lock.press_enter", classes="help")

    async def action_sign_in(self) -> None:
        """Sign in again (the user name is kept, the PIN is asked)."""
        from tui.screens.signin import SignInScreen

        await self.app.switch_screen(SignInScreen(user=self.user))
