"""Home's consultation panel: the requests not closed yet, those a specialist has answered first.

Shown under the lists of the day while there is one. An answered request (the doctor has an outcome
to record) carries ⚠ and the answer's first words; the others say where they stand — only on this
PC (not sent yet: a sync has still to take it up), sent, accepted — with the question. F7 opens the
consultation inbox on the first row (Enter on a row, on that one), where ``1`` ``2`` ``3`` record
the outcome: two keys from home. The rows come from the daemon's ``consult.awaiting``, answered first.
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

ROWS = 3  # at most three rows: the lists of the day keep their room at 80x24
NAME_CELLS = 8
TARGET_CELLS = 16
WIDTH = 79  # home's width at 80 columns, before the screen is laid out
STATE_STYLE = {"waiting": "yellow", "sent": "cyan", "accepted": "cyan", "answered": "bold yellow"}


class ConsultPanel(Vertical):
    """The consultations not closed yet (hidden when there are none)."""

    DEFAULT_CSS = """
    ConsultPanel { height: auto; max-height: 6; margin: 0 0 0 1; }
    ConsultPanel > .heading { height: 1; }
    ConsultPanel > PagedTable { height: auto; max-height: 5; }
    ConsultPanel DataTable { overflow-x: hidden; }
    """

    def compose(self) -> ComposeResult:
        yield Static(classes="heading", id="h-consultations")
        yield PagedTable(id="consultations", page_size=ROWS, fit=False)

    def on_mount(self) -> None:
        self.display = False

    def show(self, items: list[AwaitingJson], t: Catalogue) -> None:
        """Fill the panel (in the language in force); hide it when no consultation is open."""
        if not self.query("#h-consultations"):  # the answer came before the panel's parts were mounted
            self.call_after_refresh(self.show, items, t)
            return
        self.display = bool(items)
        answered = sum(1 for c in items if c["state"] == "answered")
        if answered:
            heading = t("home.consultations", n=len(items), answered=answered)
        else:
            heading = t("home.consultations_open", n=len(items))
        self.query_one("#h-consultations", Static).update(Text(heading, style="bold"))
        states = [_state(c["state"], t) for c in items]
        state_cells = max((s.cell_len for s in states), default=0)
        # two cells of padding a column, and the margin: what the state, name and target leave to the text
        room = (self.size.width or WIDTH) - state_cells - NAME_CELLS - TARGET_CELLS - 8 - 1
        rows: list[Row] = [
            (
                str(c["id"]),
                [
                    state,
                    lit(c["resident_name"], "bold", cells=NAME_CELLS),
                    lit(c["target_name"] or c["target"], cells=TARGET_CELLS),
                    _text(c, max(room, 10)),
                ],
            )
            for c, state in zip(items, states, strict=True)
        ]
        table = self.query_one(PagedTable)
        table.empty_text, table.page_text = "", t("table.page")
        columns = ["  " + t("consultation.state"), t("col.name"), t("consultation.target"), t("home.consult_text")]
        table.set_rows(columns, rows, keep_page=True)
        table.styles.height = min(len(items), ROWS) + 2  # the column titles and the page line: no empty rows


def _state(state: str, t: Catalogue) -> Text:
    """⚠ for an answer whose outcome is to be recorded; the state in words, "only on this PC" before a sync."""
    mark = "⚠ " if state == "answered" else "  "
    return Text(mark + t(f"home.consult_state.{state}"), style=STATE_STYLE.get(state, ""))


def _text(item: AwaitingJson, cells: int) -> Text:
    """The answer's first words when there is one, else the question asked."""
    if item["state"] == "answered" and item["answer"]:
        return lit(_one_line(item["answer"]), "green", cells=cells)
    return lit(_one_line(item["question"]), "dim", cells=cells)


def _one_line(text: str) -> str:
    """A message of several lines as one (the panel has one line a row)."""
    return clean(" ".join(text.split()))
