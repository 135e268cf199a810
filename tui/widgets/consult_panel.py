"""Home's consultation panel: requests a specialist has answered and whose outcome the doctor has not recorded.

Shown under the lists of the day only while there is one: whom it was about, whom it asked and
the answer's first words. F7 opens the consultation inbox on the newest of them (Enter on a row, on
that one), where ``1`` ``2`` ``3`` record the outcome: two keys from home. The rows come from the
daemon's ``consult.awaiting``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static

from tui.i18n import Catalogue
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.text import clean, lit

if TYPE_CHECKING:  # the contract's types only: the shapes are not loaded when the UI starts
    from clinic_agent.api.shapes import AwaitingJson


class ConsultPanel(Vertical):
    """The answered consultations awaiting the doctor's outcome (hidden when there are none)."""

    DEFAULT_CSS = """
    ConsultPanel { height: auto; max-height: 6; margin: 0 0 0 1; }
    ConsultPanel > .heading { height: 1; }
    ConsultPanel > PagedTable { height: auto; max-height: 5; }
    ConsultPanel DataTable { overflow-x: hidden; }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="heading", id="h-consultations")
        yield PagedTable(id="consultations", page_size=3, fit=False)

    def on_mount(self) -> None:
        self.display = False

    def show(self, items: list[AwaitingJson], t: Catalogue) -> None:
        """Fill the panel (in the language in force); hide it when nothing waits for an outcome."""
        self.display = bool(items)
        self.query_one("#h-consultations", Static).update(Text(t("home.consultations", n=len(items)), style="bold"))
        rows: list[Row] = [
            (
                str(c["id"]),
                [
                    lit(c["resident_name"], "bold", cells=8),
                    lit(c["target_name"] or c["target"], cells=22),
                    Text(clean(c["answer"]).replace("\n", " ")[:60], style="green"),
                ],
            )
            for c in items
        ]
        table = self.query_one(PagedTable)
        table.empty_text, table.page_text = "", t("table.page")
        table.set_rows([t("col.name"), t("consultation.target"), t("consultation.answer")], rows, keep_page=True)
