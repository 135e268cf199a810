"""A yes/no question (delete this? assign to this resident?)."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button

from tui.screens.base import ClinicModal, Tr
from tui.widgets.key_hints import KeyHints


class ConfirmScreen(ClinicModal):
    """Dismissed with True (Y, Enter on Yes) or False (N, Escape)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "key.yes"),
        Binding("n,escape", "answer(False)", "key.no"),
    ]

    def __init__(self, question: str, **values: Any) -> None:
        super().__init__()
        self.question = question
        self.values = values

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Tr(self.question, classes="question", **self.values)
            with Horizontal(classes="buttons"):
                yield Button("", id="yes", variant="primary")
                yield Button("", id="no")
        yield KeyHints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#yes", Button).focus()

    def translate_body(self) -> None:
        self.query_one("#yes", Button).label = self.t("button.yes")
        self.query_one("#no", Button).label = self.t("button.no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        """Answer."""
        self.dismiss(answer)
