"""Unlock: the daemon is locked (after a reboot without a machine key); its passphrase is asked once."""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input

from clinic_agent.core.errors import ClinicAgentError
from tui.screens.base import ClinicModal, Tr
from tui.widgets import checks
from tui.widgets.banner import Banner
from tui.widgets.fields import Field
from tui.widgets.key_hints import KeyHints


class UnlockScreen(ClinicModal):
    """Asks the store's passphrase; dismissed with True once the daemon is unlocked."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "key.cancel")]

    def __init__(self, *, user: str = "") -> None:
        super().__init__()
        self.user = user

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="unlock-box"):
            yield Tr("unlock.title", classes="box-title")
            yield Banner()
            yield Tr("unlock.explain", classes="help")
            yield Field(
                "unlock.passphrase", name="passphrase", check=checks.text(required=True, max_length=1024), password=True
            )
        yield KeyHints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-passphrase", Input).focus()

    @on(Input.Submitted, "#i-passphrase")
    @work(group="unlock")
    async def _submit(self) -> None:
        field = self.query_one("#f-passphrase", Field)
        if not field.validate_now():
            return
        passphrase, field.value = field.input.value, ""
        try:
            await self.clinic.api.call("unlock", {"passphrase": passphrase, "user": self.user or None})
        except ClinicAgentError as exc:
            self.show_error(exc)
            return
        self.dismiss(True)

    def action_cancel(self) -> None:
        """Back to sign-in."""
        self.dismiss(False)
