"""Assigning a waiting reading to a resident: the reading, the residents it names, a search, a confirmation.

A reading whose device named a resident (an ID number, a health-record number, a name) comes with
that resident pre-matched at the top of the list; Enter asks to confirm, Y assigns.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.widgets import Input, Static

from tui.screens.base import ClinicModal, Tr
from tui.widgets.banner import Banner
from tui.widgets.key_hints import KeyHints
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.readings import flagged, when
from tui.widgets.text import clean, lit

if TYPE_CHECKING:  # the contract's types only: the shapes are not loaded when the UI starts
    from clinic_agent.api.shapes import CandidateJson, LookupMatchJson, ReadingSuggestReply, ResidentLookupReply

    # Whom a reading may be given to: a resident its hint names (reading.suggest), or one searched for.
    Candidate = CandidateJson | LookupMatchJson


class AssignScreen(ClinicModal):
    """Dismissed with the resident the doctor confirmed (the caller assigns), or None.

    The confirmation is asked here, in the dialog, rather than in a second dialog on top of it.
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "key.cancel"),
        Binding("y", "yes", "key.yes", show=False),
        Binding("n", "no", "key.no", show=False),
        Binding("down", "into_list", "key.results", show=False),
    ]

    def __init__(self, reading_id: str, *, measurement: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.reading_id = reading_id
        self.measurement = measurement  # the row as home shows it: an oximeter's SpO2 and pulse together
        self.reading: dict[str, Any] = {}
        self.hint = ""
        self.candidates: list[Candidate] = []
        self.suggested: set[str] = set()
        self.pending: Candidate | None = None
        self._search_seq = 0

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="assign-box"):
            yield Tr("assign.title", classes="box-title")
            yield Banner()
            yield Static(id="reading")
            yield Input(id="assign-search")
            yield PagedTable(id="candidates", page_size=8)
            yield Static(id="question")
            yield Tr("assign.help", classes="help")
        yield KeyHints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#question").display = False
        self.query_one("#assign-search", Input).focus()  # a name may be typed before the suggestions come
        self.load()

    @work(group="assign")
    async def load(self) -> None:
        """The reading and the residents it names."""
        found: ReadingSuggestReply | None = await self.call("reading.suggest", {"id": self.reading_id})
        if found is None:
            self.auto_focus(self.query_one("#assign-search", Input))
            return
        self.reading, self.hint = dict(found["reading"]), found["hint"]
        if self.measurement is not None:
            joined: dict[str, Any] = {k: self.measurement[k] for k in ("components", "alerts") if k in self.measurement}
            self.reading = {**self.reading, **joined}
        self.candidates = list(found["candidates"])
        self.suggested = {c["id"] for c in self.candidates}
        self._show()
        if self.candidates:
            self.auto_focus(self.query_one("#candidates", PagedTable).table)
        else:
            self.auto_focus(self.query_one("#assign-search", Input))

    def _show(self) -> None:
        t = self.t
        line = Text()
        if self.reading:
            line.append(when(self.reading.get("taken_at"), year=True) + "  ")
            line.append_text(flagged(self.reading, t))
            device = self.reading.get("device") or {}
            if device:
                line.append("\n" + t("assign.device") + " ")
                line.append(clean(device.get("model") or device.get("id")))
            if self.hint:
                line.append("\n" + t("assign.names") + " ")
                line.append(clean(self.hint), style="bold")
        self.query_one("#reading", Static).update(line)
        rows: list[Row] = [
            (
                c["id"],
                [
                    Text("★", style="bold green") if c["id"] in self.suggested else "",
                    lit(c["name"], "bold", cells=12),
                    t.label("sex", c["sex"]),
                    clean(c["birth_date"]),
                    lit(c["village"], cells=24),
                    "…" + clean(c["id_number"])[-6:],
                ],
            )
            for c in self.candidates
        ]
        table = self.query_one("#candidates", PagedTable)
        typed = self.query_one("#assign-search", Input).value.strip()
        table.empty_text = t("home.no_match") if typed else t("assign.search_first")
        table.page_text = t("table.page")
        table.set_rows(["", t("col.name"), t("col.sex"), t("col.born"), t("col.village"), t("col.id_number")], rows)

    def translate_body(self) -> None:
        self.query_one("#assign-search", Input).placeholder = self.t("home.search_hint")
        self._show()

    @on(Input.Changed, "#assign-search")
    def _typed(self, event: Input.Changed) -> None:
        self.search(event.value.strip())

    @work(group="search")
    async def search(self, text: str) -> None:
        """Search residents as you type."""
        text = "".join(ch for ch in text if ch.isprintable())[:60]
        if not text:
            return
        self._search_seq += 1
        mine = self._search_seq
        found: ResidentLookupReply | None = await self.call("resident.lookup", {"text": text, "limit": 40})
        if found is not None and mine == self._search_seq:
            self.candidates = list(found["matches"])
            self._show()

    @on(Input.Submitted, "#assign-search")
    def _submitted(self) -> None:
        if self.candidates:
            self.confirm(self.candidates[0])

    def action_into_list(self) -> None:
        """Down from the search box into the list."""
        self.query_one("#candidates", PagedTable).table.focus()

    @on(PagedTable.Chosen)
    def _chosen(self, event: PagedTable.Chosen) -> None:
        chosen = next((c for c in self.candidates if c["id"] == event.key), None)
        if chosen is not None:
            self.confirm(chosen)

    def confirm(self, resident: Candidate) -> None:
        """Ask (Y/N) before assigning."""
        self.pending = resident
        self._show_question()
        self.query_one("#candidates", PagedTable).table.focus()

    def _show_question(self) -> None:
        question = self.query_one("#question", Static)
        if self.pending is None:
            question.update("")
            question.display = False
            return
        r = self.pending
        text = Text(
            self.t(
                "assign.confirm",
                name=clean(r["name"]),
                born=clean(r["birth_date"]),
                tail=clean(r["id_number"])[-6:],
            ),
            style="bold",
        )
        text.append("  " + self.t("assign.yes_no"), style="reverse")
        question.update(text)
        question.display = True

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Y and N answer only while a question is asked (and are then shown)."""
        if action in ("yes", "no"):
            return self.pending is not None
        return True

    def action_yes(self) -> None:
        """Assign to the resident asked about."""
        if self.pending is not None:
            self.dismiss(self.pending)

    def action_no(self) -> None:
        """Choose another resident."""
        self.pending = None
        self._show_question()

    def action_cancel(self) -> None:
        """Close without assigning (or take back the question first)."""
        if self.pending is not None:
            self.action_no()
        else:
            self.dismiss(None)
