"""Home: search as you type; today's readings (live); readings waiting to be assigned; follow-ups due; alerts.

After sign-in the search box has the focus: typing searches at once, Enter opens the best match,
Down moves into the results. With the box empty the lists of the day show instead: today's readings
as they arrive (critical first), where Space acknowledges the reading under the cursor and Enter
opens its file (or assigns it); F6 assigns the newest waiting reading. Under them, while any is open,
the consultations (``ConsultPanel``): answered ones first; F7 opens the inbox on the first. Typing
while a list has the focus goes to the search box.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Static

from tui.i18n import Catalogue, fill
from tui.screens.base import ClinicScreen, DaemonEvent, Tr
from tui.widgets import checks
from tui.widgets.consult_panel import ConsultPanel
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.readings import measurements, named, short_when, summary, when
from tui.widgets.result_list import ResultList
from tui.widgets.search_box import SearchBox
from tui.widgets.status_bar import StatusInfo
from tui.widgets.text import clean, lit

if TYPE_CHECKING:  # the contract's types only: the shapes are not loaded when the UI starts
    from clinic_agent.api.shapes import (
        AlertJson,
        AwaitingJson,
        ConsultAwaitingReply,
        DueJson,
        HomeSummaryReply,
        LookupMatchJson,
        ProblemJson,
        ResidentLookupReply,
    )

SEX = "sex"
HALF = 39  # cells of a list in half of 80 columns, before the screen is laid out


class HomeScreen(ClinicScreen):
    """The screen after sign-in."""

    TITLE_KEY = "home.title"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "key.open", show=True),
        Binding("f3", "register", "key.register"),
        Binding("f4", "conflicts", "key.conflicts"),
        Binding("f5", "reload", "key.reload"),
        Binding("f6", "assign_newest", "key.assign_newest"),
        Binding("f7", "consultations", "key.consultations"),
        Binding("space", "acknowledge", "key.acknowledge"),
        Binding("ctrl+q", "app.quit", "key.quit"),
        Binding("escape", "clear", "key.clear", show=False),
        Binding("down", "into_results", "key.results", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.matches: list[LookupMatchJson] = []
        self.matched_text = ""
        self.summary: dict[str, Any] = {}
        self._loading = False
        self._assigning = ""
        self._search_seq = 0
        self._note = ""  # what #search-note shows
        self._line = Text()  # what the line under the results shows
        self._load_again = False
        self.groups: dict[str, list[str]] = {}  # the first reading of a joined measurement -> all of its readings
        self.awaiting: list[AwaitingJson] = []  # the consultations not closed, answered ones first

    def body(self) -> Iterable[Widget]:
        with Horizontal(id="search-row"):
            yield Tr("home.search_label", classes="search-label")
            yield SearchBox(id="search", compact=True, select_on_focus=False)
        yield Static(id="search-note")
        with Vertical(id="home-body"):  # two layers: the search results, and over them the lists of the day
            with Vertical(id="results"):  # drawn by a list of a fixed size: new results redraw it, no layout
                yield ResultList(id="result-list")
                yield Static(classes="page-line", id="results-line")
            with Vertical(id="lists"):
                with Horizontal(id="dashboard"):
                    with Vertical(id="left"):
                        yield Tr("home.today", classes="heading", id="h-today", n="…", new="…")
                        yield PagedTable(id="today", page_size=6)
                        yield Tr("home.unassigned", classes="heading", id="h-unassigned", n="…")
                        yield PagedTable(id="unassigned", page_size=4)
                    with Vertical(id="right"):
                        yield Tr("home.due", classes="heading", id="h-due", n="…")
                        yield PagedTable(id="due", page_size=6)
                        yield Tr("home.alerts", classes="heading", id="h-alerts", n="…")
                        yield PagedTable(id="alerts", page_size=4)
                yield ConsultPanel(id="consult-panel")  # the consultations not closed yet, while there are any

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(ResultList).can_focus = False  # under the lists: Tab must not reach it
        self.query_one("#search-note").display = False
        self.query_one("#search", Input).focus()
        self.load()
        self.load_awaiting()

    # -- search ------------------------------------------------------------------------------------------------

    @on(Input.Changed, "#search")
    def _typed(self, event: Input.Changed) -> None:
        text = event.value.strip()
        self._show_note(text)
        self._search_seq += 1  # now, as the key comes: an answer to an earlier key is dropped, even one not asked yet
        if text:
            self.lookup(text, self._search_seq)  # the results replace the lists of the day when they come
        else:
            self.matches, self.matched_text = [], ""
            self.query_one(ResultList).show([], [])  # the next first letter shows no stale page
            self._show_results(False)
            self.query_one("#search", SearchBox).release()

    def _show_results(self, searching: bool) -> None:
        """The search results in place of the lists of the day, or back.

        The results are laid out under the lists all along: the first letter hides the lists, uncovering a list
        already laid out and drawn, whose rows alone are drawn again (showing a hidden table laid the screen out,
        drew its frame whole and filled its page a second time for its new size). The first letter changes the
        screen with its answer, not before: one frame with the results, not an empty list first.
        """
        lists = self.query_one("#lists")
        if lists.display == searching:
            lists.display = not searching
            self.query_one(ResultList).can_focus = searching

    @work(group="search")
    async def lookup(self, text: str, mine: int | None = None) -> list[LookupMatchJson]:
        """Search residents and show them, unless a newer key (numbered ``mine`` when typed) came since."""
        if mine is None:
            self._search_seq += 1
            mine = self._search_seq
        try:
            return await self._look_up(text, mine)
        finally:
            if mine == self._search_seq and self.is_attached:  # the newest key's answer is in: paint it
                self.query_one("#search", SearchBox).release()

    async def _look_up(self, text: str, mine: int) -> list[LookupMatchJson]:
        if "\n" in text or any(not ch.isprintable() for ch in text):
            text = "".join(ch for ch in text if ch.isprintable())
        if not text:
            return []
        result: ResidentLookupReply | None = await self.call("resident.lookup", {"text": text[:60], "limit": 20})
        matches = list(result["matches"]) if result else []
        if mine == self._search_seq:  # an answer to an older keypress is dropped
            self.matches, self.matched_text = matches, text
            self._show_matches()
            self._show_results(True)
            self._show_note(text, result.get("problems", []) if result else [])
        return matches

    def _show_note(self, text: str, damaged: list[ProblemJson] | None = None) -> None:
        """Under the box, at once: what is wrong with an ID number typed in full (a mistyped digit, say);
        with the answer, the rows that matched but failed their integrity check (left out of the list)."""
        note = Text(id_number_note(text, self.t), style="bold yellow")
        if damaged:
            note.append(("\n" if note else "") + self.t("banner.tamper") + " ", style="bold red")
            note.append("; ".join(clean(p.get("message")) for p in damaged))
        if note.markup == self._note:  # most keypresses: nothing to say, and no update (each relays out the screen)
            return
        self._note = note.markup
        widget = self.query_one("#search-note", Static)
        widget.update(note)
        widget.display = bool(note)

    def _show_matches(self) -> None:
        t = self.t
        rows: list[Row] = [
            (
                m["id"],
                [
                    lit(m["name"], "bold", cells=12),
                    t.label(SEX, m["sex"]),
                    clean(m["birth_date"]),
                    lit(m["village"], cells=24),
                    "…" + clean(m["id_number"])[-6:],
                    t(f"matched.{m['matched_by']}"),
                ],
            )
            for m in self.matches
        ]
        self.query_one(ResultList).show(
            [t("col.name"), t("col.sex"), t("col.born"), t("col.village"), t("col.id_number"), t("col.matched")],
            rows,
        )
        if rows:
            line = Text(fill(t("table.page"), page=1, pages=1, rows=len(rows)))
        else:
            line = Text("" if id_number_note(self.matched_text, t) else t("home.no_match"), style="dim")
        self._results_line(line)

    def _results_line(self, text: Text) -> None:
        """The line under the results, updated when it says something else. One line of the width of the results: a
        new text is a redraw of that line, not a layout (which made a frame of the whole of home)."""
        if text != self._line:
            self._line = text
            self.query_one("#results-line", Static).update(text, layout=False)

    @on(Input.Submitted, "#search")
    async def _open_best(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        matches = self.matches if text == self.matched_text else await self.lookup(text).wait()
        if matches:
            await self.open_resident(str(matches[0]["id"]))
        elif not id_number_note(text, self.t):  # a wrong ID number is already explained beside the box
            self.say("home.no_match", severity="warning")

    async def open_resident(self, resident_id: str, tab: str = "summary") -> None:
        """Open a resident's file."""
        from tui.screens.resident import ResidentScreen

        await self.app.push_screen(ResidentScreen(resident_id, tab=tab))

    def action_clear(self) -> None:
        """Empty the search box."""
        search = self.query_one("#search", Input)
        search.value = ""
        search.focus()

    def action_into_results(self) -> None:
        """Down from the search box moves into the results (or today's readings, or the inbox)."""
        if self.query_one("#search", Input).value.strip():
            self._show_results(True)  # Down before the first answer came: the list it will fill
            self.query_one(ResultList).focus()
            return
        target = "#today" if self.summary.get("today_readings") else "#unassigned"
        self.query_one(target, PagedTable).table.focus()

    def on_key(self, event: events.Key) -> None:
        """A letter or digit typed while a list has the focus goes to the search box."""
        search = self.query_one("#search", Input)
        if search.has_focus or not event.character or not (event.character.isalnum() and event.is_printable):
            return
        if event.character.isspace():
            return
        event.stop()
        event.prevent_default()
        search.focus()
        search.insert_text_at_cursor(event.character)

    async def action_open(self) -> None:
        """Enter on a list row."""
        focused = self.focused
        parent = focused.parent if focused is not None else None
        if isinstance(focused, ResultList) and focused.current_key:
            await self.open_resident(focused.current_key)
        elif isinstance(parent, PagedTable) and parent.current_key:
            await self._chosen(parent, parent.current_key)

    @on(ResultList.Chosen)
    async def _on_result_chosen(self, event: ResultList.Chosen) -> None:
        await self.open_resident(event.key)

    @on(PagedTable.Chosen)
    async def _on_chosen(self, event: PagedTable.Chosen) -> None:
        await self._chosen(event.table, event.key)

    async def _chosen(self, table: PagedTable, key: str) -> None:
        if table.id == "consultations":
            await self.action_consultations(key)
        elif table.id == "due":
            await self.open_resident(key.split("|")[0], tab="follow_up")
        elif table.id == "today":
            reading = self._today(key)
            if reading is not None and reading.get("resident_id"):
                self._acknowledge(key)
                await self.open_resident(str(reading["resident_id"]), tab="readings")
            else:
                self.assign(key)
        elif table.id in ("unassigned", "alerts"):
            reading = self._reading(key)
            if reading is not None and reading.get("resident_id"):
                await self.open_resident(str(reading["resident_id"]), tab="readings")
            else:
                self.assign(key)

    def _reading(self, reading_id: str) -> dict[str, Any] | None:
        for item in self.summary.get("unassigned", []):
            if item["id"] == reading_id:
                return dict(item)
        for item in self.summary.get("alerts", []):
            if item["reading_id"] == reading_id:
                return {"id": reading_id, "resident_id": item.get("resident_id")}
        return None

    def _today(self, reading_id: str) -> dict[str, Any] | None:
        return next((dict(r) for r in self.summary.get("today_readings", []) if r["id"] == reading_id), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Space acknowledges only in today's readings."""
        if action == "acknowledge":
            return self.query_one("#today", PagedTable).table.has_focus
        return True

    def action_acknowledge(self) -> None:
        """Acknowledge the reading under the cursor (Space): the doctor has seen it."""
        key = self.query_one("#today", PagedTable).current_key
        reading = self._today(key) if key else None
        if reading is None or not reading.get("resident_id"):
            if reading is not None:
                self.say("home.assign_first")
            return
        if not reading.get("acknowledged"):
            self._acknowledge(str(reading["id"]))

    @work(group="acknowledge")
    async def _acknowledge(self, reading_id: str) -> None:
        for reading in self.summary.get("today_readings", []):
            if reading["id"] == reading_id:
                reading["acknowledged"] = True  # shown at once; the daemon's event reloads the list
        self._show_summary()
        for one in self.groups.get(reading_id, [reading_id]):
            await self.call("reading.acknowledge", {"id": one})

    def action_assign_newest(self) -> None:
        """Assign the newest waiting reading (F6)."""
        waiting = self.summary.get("unassigned") or []
        if waiting:
            self.assign(str(waiting[0]["id"]))
        else:
            self.say("home.none_waiting")

    def assign(self, reading_id: str) -> None:
        """Assign a waiting reading (search, confirm)."""
        from tui.screens.assign import AssignScreen

        self._assigning = reading_id
        joined = self._today(reading_id) or next(
            (dict(r) for r in self.summary.get("unassigned", []) if r["id"] == reading_id), None
        )
        self.app.push_screen(AssignScreen(reading_id, measurement=joined), self._assigned)

    def _assigned(self, resident: dict[str, Any] | None) -> None:
        if resident:
            self._assign(self._assigning, resident)

    @work(group="assign")
    async def _assign(self, reading_id: str, resident: dict[str, Any]) -> None:
        done = None
        for one in self.groups.get(reading_id, [reading_id]):  # the SpO2 and the pulse of one measurement go together
            done = await self.call("reading.assign", {"id": one, "resident": resident["id"]})
            if done is None:
                break
        if done is not None:
            self.say("assign.done", name=clean(resident["name"]))
            self.load()

    # -- the lists of the day ------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read the home summary (once more after the current reading, if one is under way)."""
        if self._loading:
            self._load_again = True
            return
        self._loading = True
        self._load()

    @work(group="home")
    async def _load(self) -> None:
        try:
            while True:
                self._load_again = False
                summary: HomeSummaryReply | None = await self.call("home.summary", {"limit": 100})
                if summary is not None:
                    self.summary = self._grouped(summary)
                    self._show_summary()
                if not self._load_again:
                    return
        finally:
            self._loading = False

    def _grouped(self, reply: HomeSummaryReply) -> dict[str, Any]:
        """One device measurement is one row: an oximeter's SpO2 and pulse, stored as two readings, are joined."""
        summary: dict[str, Any] = dict(reply)
        self.groups = {}
        for part in ("today_readings", "unassigned"):
            rows = measurements(list(summary.get(part) or []))
            joined = len(summary.get(part) or []) - len(rows)
            summary[part] = rows
            self.groups.update({r["id"]: r["ids"] for r in rows if len(r["ids"]) > 1})
            if part == "unassigned" and "unassigned_total" in summary:
                summary["unassigned_total"] = int(summary["unassigned_total"]) - joined
        return summary

    def action_reload(self) -> None:
        """Read everything again (F5), the consultation panel too."""
        self.load()
        self.load_awaiting()
        self.clinic.refresh_status()

    def on_daemon_event(self, event: DaemonEvent) -> None:
        if event.name in (
            "reading.received",
            "reading.assigned",
            "reading.acknowledged",
            "conflict.new",
            "store.unlocked",
        ):
            self.load()  # a burst of events ends in one or two readings of the summary
        if event.name in ("consult.answer", "sync.state", "store.unlocked"):  # a sync moves a request on
            self.load_awaiting()

    def on_resize(self) -> None:
        """A list's columns take the room there is: drawn again for the new width."""
        if self.summary:
            self.call_after_refresh(self._show_summary)

    def on_screen_resume(self) -> None:
        """Back on home (an outcome recorded in the inbox, say): the consultation panel is read again."""
        self.load_awaiting()

    @work(group="home-consult", exclusive=True)
    async def load_awaiting(self) -> None:
        """The consultations not closed yet, answered ones first (home's consultation panel)."""
        found: ConsultAwaitingReply | None = await self.call("consult.awaiting", {"limit": 20}, quiet=True)
        self.awaiting = list(found["consultations"]) if found else []
        self._show_awaiting()

    def _show_awaiting(self) -> None:
        panels = self.query(ConsultPanel)
        if not panels:
            return  # an answer read before the screen was composed: on_mount reads them again
        panel = panels.first()
        panel.show(self.awaiting, self.t)
        panel.display = bool(self.awaiting)  # under the search results while there are any, with the lists

    def _show_summary(self) -> None:
        t, s = self.t, self.summary
        today = date.fromisoformat(s["today"]) if s.get("today") else date.today()
        columns, unassigned = self._waiting(s.get("unassigned", []), today)
        due_items: list[DueJson] = s.get("due", [])
        alert_items: list[AlertJson] = s.get("alerts", [])
        due: list[Row] = [
            (
                f"{d['resident_id']}|{d['programme']}",
                [lit(d["name"], cells=8), t(f"programme.{d['programme']}"), self._due_text(d, today)],
            )
            for d in due_items
        ]
        alerts: list[Row] = [
            (
                a["reading_id"],
                [
                    when(a["taken_at"]),
                    lit(a["name"] or t("home.unassigned_short"), cells=8),
                    Text(" ".join(t(f"alert.{c}") for c in a["codes"]), style="bold red"),
                ],
            )
            for a in alert_items
        ]
        todays = s.get("today_readings", [])
        today_rows: list[Row] = [(r["id"], self._today_cells(r)) for r in todays]
        fresh = sum(1 for r in todays if r.get("resident_id") and not r.get("acknowledged"))
        self._fill("#today", ["  " + t("col.time"), t("col.name"), t("col.values")], today_rows, "home.none_today")
        self.query_one("#h-today", Tr).set_key("home.today", n=len(todays), new=fresh)
        self._fill("#unassigned", columns, unassigned, "home.none_waiting")
        self._fill("#due", [t("col.name"), t("col.programme"), t("col.due")], due, "home.none_due")
        self._fill("#alerts", [t("col.time"), t("col.name"), t("col.alert")], alerts, "home.no_alerts")
        self.query_one("#h-unassigned", Tr).set_key("home.unassigned", n=s.get("unassigned_total", len(unassigned)))
        self.query_one("#h-due", Tr).set_key("home.due", n=len(due))
        self.query_one("#h-alerts", Tr).set_key("home.alerts", n=len(alerts))

    def _waiting(self, waiting: list[dict[str, Any]], today: date) -> tuple[list[str], list[Row]]:
        """The readings waiting to be assigned, in the columns of today's readings so that both fit half of 80 columns:
        ⚠ and the time (HH:MM today, MM-DD before), whom the device named (when any did), the values.

        Whom the device named gets the cells the values leave (six at least, as today's names; twelve at most), so a
        four-character name or more of an ID number shows where the values are short or the terminal wide."""
        t = self.t
        values = [Text(summary(r, t, short=True), style="bold red" if r.get("alerts") else "") for r in waiting]
        hints = any(r.get("subject_hint") for r in waiting)
        room = (self.query_one("#unassigned", PagedTable).size.width or HALF) - 5  # 2 padding a column, the last cut
        width = min(12, max(6, room - 7 - max((v.cell_len for v in values), default=0)))
        rows: list[Row] = []
        for r, shown in zip(waiting, values, strict=True):
            mark = ("⚠" if r.get("alerts") else " ", "bold red")
            cells: list[Text | str] = [Text.assemble(mark, " ", short_when(r.get("taken_at"), today))]
            if hints:
                cells.append(named(r.get("subject_hint"), t, cells=width) if r.get("subject_hint") else "")
            rows.append((r["id"], [*cells, shown]))
        return ["  " + t("col.time"), *([t("col.named")] if hints else []), t("col.values")], rows

    def _today_cells(self, r: dict[str, Any]) -> list[Text | str]:
        """A reading of today: its mark (⚠ critical, ● not yet acknowledged, ✓ seen), time, whose, values."""
        t = self.t
        named = bool(r.get("resident_id"))
        if r.get("alerts"):
            mark = Text("⚠" if not r.get("acknowledged") else "✓", style="bold red")
        elif named and not r.get("acknowledged"):
            mark = Text("●", style="bold yellow")
        else:
            mark = Text("✓" if named else "?", style="dim")
        # six cells (three characters) leave the values their 21 cells in a half of 80 columns
        name = lit(r.get("name"), cells=6) if named else Text(t("home.unassigned_short"), style="italic")
        values = Text(summary(r, t, short=True), style="bold red" if r.get("alerts") else "")
        return [Text.assemble(mark, " ", when(r.get("taken_at"))[-5:]), name, values]  # one cell: narrow at 80

    def _due_text(self, item: DueJson, today: date) -> Text:
        due = date.fromisoformat(item["due"])
        days = (due - today).days
        if days < 0:
            return Text(self.t("due.overdue", n=-days), style="bold red")
        if days == 0:
            return Text(self.t("due.today"), style="bold yellow")
        return Text(self.t("due.in_days", n=days, date=due.strftime("%m-%d")))

    def _fill(self, selector: str, columns: list[str], rows: list[Row], empty: str) -> None:
        table = self.query_one(selector, PagedTable)
        table.empty_text = self.t(empty)
        table.page_text = self.t("table.page")
        table.set_rows(columns, rows, keep_page=True)

    def translate_body(self) -> None:
        search = self.query_one("#search", Input)
        search.placeholder = self.t("home.search_hint")
        self._show_note(search.value.strip())
        if self.summary:
            self._show_summary()
        if self.matches or self.matched_text:  # a search that found nothing has its column titles too
            self._show_matches()
        if self.awaiting:
            self._show_awaiting()

    def status_changed(self, info: StatusInfo) -> None:
        banner = self.banner()
        if banner is None or (banner.kind not in (None, "disk_full", "sync_failing")):
            return
        if info.disk_low:
            banner.show("disk_full")
        elif info.sync and info.sync.get("state") == "error":
            banner.show("sync_failing", str(info.sync.get("last_error") or ""))
        elif banner.kind is not None:
            banner.hide()

    # -- elsewhere -----------------------------------------------------------------------------------------------

    async def action_register(self) -> None:
        """Register a new resident (F3)."""
        from tui.screens.register import RegisterScreen

        await self.app.push_screen(RegisterScreen())

    async def action_consultations(self, chosen: str | None = None) -> None:
        """The consultation inbox (F7): opened on the panel's first row, the newest answer (or the row Enter chose)."""
        from tui.screens.consult import ConsultInboxScreen

        if chosen is None and self.awaiting:
            chosen = str(self.awaiting[0]["id"])
        await self.app.push_screen(ConsultInboxScreen(chosen=chosen))

    async def action_conflicts(self) -> None:
        """The conflicts inbox (F4)."""
        from tui.screens.conflicts import ConflictsScreen

        await self.app.push_screen(ConflictsScreen())


def id_number_note(text: str, t: Catalogue) -> str:
    """For 18 characters that read as an ID card number but fail its checks, why (else nothing)."""
    number = "".join(ch for ch in unicodedata.normalize("NFKC", text) if ch not in " -").upper()
    if len(number) != 18 or not number[:17].isdigit():
        return ""
    problem = checks.id_number()(number)
    if problem is None:
        return ""
    if problem.key == "err.id.check_digit":
        return t("home.id_check_digit", **problem.values)
    return t("home.id_problem", why=t(problem.key, **problem.values))
