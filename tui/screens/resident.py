"""A resident's file: a header with allergies up front, then tabs for every part of the file.

Summary · Readings (trend chart and a paged table) · Allergies · Conditions · Surgery/trauma/
transfusion · Family history · Follow-ups · Notes · History of changes. ``a`` adds to the tab in
view, Enter edits the row under the cursor, Delete removes it (after a confirmation), ``h``/``g``
start a hypertension or diabetes follow-up with today's readings filled in.

Only the tab in view is built when the file opens; each other tab is built, and filled from the file
already read, the first time it is shown (a file opens faster with one table than with nine). The tabs
are a bar of titles (``TabBar``) over plain panes, one shown at a time: Textual's TabbedContent was the
largest part of opening a file.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Static

from tui.i18n import Catalogue, fit
from tui.screens.base import ClinicScreen, DaemonEvent
from tui.widgets.chart import Limit, Series, TrendChart
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.pending import Pending
from tui.widgets.readings import measurements, summary, when
from tui.widgets.tab_bar import TabBar
from tui.widgets.text import clean, lit

if TYPE_CHECKING:  # the contract's types only: the shapes are not loaded when the UI starts
    from clinic_agent.api.shapes import (
        HistoryItemJson,
        ProblemJson,
        ResidentFileReply,
        ResidentHistoryReply,
        ResidentJson,
    )

FIRST_READINGS = 60  # enough for the summary, the first page and a recent chart
ROWS_IN_A_THREAD = 200  # more readings than this are made into rows in a thread: 5,000 took 0.6-0.8 s of the UI's
TABS = ("summary", "readings", "allergy", "condition", "procedure", "family_history", "follow_up", "note", "history")
ENTRY_TABS = ("allergy", "condition", "procedure", "family_history", "follow_up", "note")
CHARTS = {
    "bp": (("8480-6", "chart.sbp", "red"), ("8462-4", "chart.dbp", "cyan")),
    "glucose": (("14743-9", "chart.glucose", "yellow"), ("14771-0", "chart.glucose", "yellow")),
    "weight": (("29463-7", "chart.weight", "green"),),
}


def _d(value: Any) -> str:
    return clean(value)[:10] if value else ""


def _entry_cells(kind: str, e: dict[str, Any], t: Catalogue) -> list[Text | str]:
    """The columns of one entry in its tab."""
    if kind == "allergy":
        return [
            lit(e.get("substance"), "bold red", cells=16),
            lit(e.get("reaction"), cells=16),
            t.label("allergy_category", e.get("category")),
            t.label("clinical_status", e.get("status")),
            _d(e.get("recorded_on")),
        ]
    if kind == "condition":
        return [
            lit(e.get("name"), "bold", cells=16),
            lit(e.get("icd10") or "", cells=8),
            _d(e.get("diagnosed_on")),
            t.label("clinical_status", e.get("status")),
        ]
    if kind == "procedure":
        return [
            t.label("procedure_category", e.get("category")),
            lit(e.get("name"), cells=24),
            _d(e.get("performed_on")),
        ]
    if kind == "family_history":
        return [t.label("relation", e.get("relation")), lit(e.get("condition"), cells=24), lit(e.get("note"), cells=20)]
    if kind == "follow_up":
        bp = f"{e.get('sbp') or '-'}/{e.get('dbp') or '-'}"
        return [
            _d(e.get("visit_date")),
            t(f"programme.{e.get('programme')}"),
            bp,
            clean(e.get("fasting_glucose") or "-"),
            t.label("classification", e.get("classification")),
            _d(e.get("next_visit")),
        ]
    return [when(e.get("written_at"), year=True), lit(e.get("text"), cells=40), lit(e.get("author"), cells=10)]


ENTRY_COLUMNS: dict[str, tuple[str, ...]] = {
    "allergy": ("col.substance", "col.reaction", "col.category", "col.status", "col.recorded"),
    "condition": ("col.condition", "col.icd10", "col.diagnosed", "col.status"),
    "procedure": ("col.category", "col.procedure", "col.date"),
    "family_history": ("col.relation", "col.condition", "col.note"),
    "follow_up": ("col.visit", "col.programme", "col.bp", "col.fbg", "col.classification", "col.next"),
    "note": ("col.time", "col.note", "col.author"),
}


class ResidentScreen(ClinicScreen):
    """One resident's health file."""

    TITLE_KEY = "resident.title"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        Binding("a", "add", "key.add"),
        Binding("e", "edit", "key.edit", show=False),
        Binding("delete", "delete", "key.delete"),
        Binding("h", "follow_up('hypertension')", "key.ht_follow_up"),
        Binding("g", "follow_up('diabetes')", "key.dm_follow_up"),
        Binding("r", "edit_resident", "key.edit_resident", show=False),
        Binding("c", "chart", "key.chart", show=False),
        Binding("q", "consult", "key.consult"),
        *[Binding(str(i + 1), f"tab('{tab}')", show=False) for i, tab in enumerate(TABS)],
    ]

    def __init__(self, resident_id: str, *, tab: str = "summary") -> None:
        super().__init__()
        self.resident_id = resident_id
        self.first_tab = tab
        self.file: dict[str, Any] = {}
        self.readings: list[dict[str, Any]] = []  # one row per measurement (an oximeter's SpO2 and pulse joined)
        self.history: list[HistoryItemJson] = []
        self.history_read = False
        self.chart = "bp"
        self.built: set[str] = {tab}  # the tabs whose widgets are mounted: the first one in compose, others when shown
        self.active = tab  # the tab in view
        self.first_file: asyncio.Future[Any] | None = None  # the first read of the file, sent as the screen is built

    def body(self) -> Iterable[Widget]:
        if self.first_file is None:  # asked for before the widgets are built: the first frame can show it
            self.first_file = self.ask_early(
                "resident.file", {"resident": self.resident_id, "readings": FIRST_READINGS}
            )
        yield Pending("pending.file")
        yield Static(id="resident-header")
        with Vertical(id="tabs"):
            yield TabBar(TABS, self.first_tab, id="tab-bar")
            for tab in TABS:
                with Vertical(id=tab, classes="tab-pane") as pane:
                    pane.display = tab == self.first_tab
                    if tab == self.first_tab:
                        yield from _tab_widgets(tab)  # the others wait until first shown (_build)

    def on_mount(self) -> None:
        super().on_mount()
        self.load()
        self.call_after_refresh(self._focus_table, self.first_tab)

    async def _build(self, tab: str) -> None:
        """Mount a tab's widgets the first time it is shown, and fill them from what has been read."""
        if tab in self.built:
            return
        self.built.add(tab)
        await self.query_one(f"#{tab}", Vertical).mount_all(_tab_widgets(tab))
        if self.file:
            self._show_tab(tab)

    @work(group="file")
    async def load(self) -> None:
        """Read the file with its newest readings first (the doctor sees it at once), then every reading and the
        history of changes behind it."""
        first, self.first_file = self.first_file, None  # read again when the file is loaded again
        with self.query_one(Pending).waiting():
            if first is None:
                first = self.ask_early("resident.file", {"resident": self.resident_id, "readings": FIRST_READINGS})
            found: ResidentFileReply | None = await self.answer(first)
        if found is None:
            return
        self._read(found)
        self.show_file()
        if len(found["readings"]) >= FIRST_READINGS:
            with self.query_one(Pending).waiting("pending.readings"):
                everything: ResidentFileReply | None = await self.call(
                    "resident.file", {"resident": self.resident_id}, quiet=True
                )
                if everything is not None:  # one row per measurement, worked out beside the UI
                    whole: dict[str, Any] = dict(everything)
                    joined = await asyncio.to_thread(measurements, whole["readings"])
            if everything is not None:
                self.file, self.readings = whole, joined
                if "readings" in self.built:
                    self._show_readings()
        history: ResidentHistoryReply | None = await self.call(
            "resident.history", {"resident": self.resident_id}, quiet=True
        )
        self.history = list(history["history"]) if history else []
        self.history_read = True
        self._show_history()

    def _read(self, found: ResidentFileReply) -> None:
        self.file = dict(found)
        self.readings = measurements(self.file["readings"])

    def on_daemon_event(self, event: DaemonEvent) -> None:
        if event.data.get("resident_id") == self.resident_id and event.name.startswith("reading."):
            self.load()

    # -- rendering ----------------------------------------------------------------------------------------------

    def show_file(self) -> None:
        """Render everything from ``self.file`` (the header and the tabs built so far)."""
        if not self.file:
            return
        self._show_header()
        for tab in TABS:
            if tab in self.built:
                self._show_tab(tab)

    def _show_tab(self, tab: str) -> None:
        if tab == "summary":
            self._show_summary()
        elif tab == "readings":
            self._show_readings()
        elif tab in ENTRY_TABS:
            self._show_entries(tab)
        elif tab == "history" and self.history_read:
            self._show_history()

    @property
    def resident(self) -> dict[str, Any]:
        """The resident's basic information."""
        return dict(self.file.get("resident") or {})

    def _entries(self, kind: str) -> list[dict[str, Any]]:
        items = list((self.file.get("entries") or {}).get(kind) or [])
        if kind == "follow_up":
            items.sort(key=lambda e: str(e.get("visit_date")), reverse=True)
        return items

    def _show_header(self) -> None:
        t = self.t
        r: ResidentJson = self.file["resident"]
        line = Text()
        line.append(clean(r["name"]), style="bold reverse")
        born = r["birth_date"] or ""
        line.append(
            f"  {t.label('sex', r['sex'])}  {t('resident.age', n=_age(born, self.clinic.today))}  {clean(born)}  "
        )
        line.append(clean(r["id_number"]), style="bold")
        if r.get("id_number_override"):
            line.append(" ⚠", style="bold yellow")  # kept despite its check digit; the reason is in the summary
        for flag in r["key_populations"] or []:
            line.append("  ")
            line.append(f" {t.label('key_population', flag)} ", style="black on yellow")
        allergies = self._entries("allergy")
        line.append("\n")
        if allergies:
            line.append("⚠ " + t("resident.allergies") + " ", style="bold red")
            shown = t("list.sep").join(
                clean(a.get("substance")) + (f"({clean(a.get('reaction'))})" if a.get("reaction") else "")
                for a in allergies
            )
            line.append(shown, style="bold red")
        else:
            line.append(t("resident.no_allergies"), style="dim")
        self.query_one("#resident-header", Static).update(line)

    def _show_summary(self) -> None:
        t = self.t
        r: ResidentJson = self.file["resident"]
        override = r.get("id_number_override")
        rows = [
            *([("field.id_number_override", override)] if override else []),
            ("field.health_record_number", r["health_record_number"] or "—"),
            ("field.phone", r["phone"] or "—"),
            ("field.village", r["village"] or "—"),
            ("field.address", r["address"] or "—"),
            ("field.ethnicity", t.label("ethnicity", r["ethnicity"]) or "—"),
        ]
        text = Text()
        for key, value in rows:
            text.append(f"{t(key)}: ", style="dim")
            text.append(clean(value) + "\n")
        conditions = self._entries("condition")
        text.append(f"\n{t('resident.conditions')}: ", style="bold")
        text.append(t("list.sep").join(clean(c.get("name")) for c in conditions) or t("resident.none"))
        readings = self.readings
        text.append(f"\n{t('resident.last_reading')}: ", style="bold")
        if readings:
            text.append(f"{when(readings[0].get('taken_at'), year=True)}  {summary(readings[0], t)}")
        else:
            text.append(t("resident.none"))
        visits = self._entries("follow_up")
        text.append(f"\n{t('resident.last_follow_up')}: ", style="bold")
        if visits:
            v = visits[0]
            text.append(
                f"{_d(v.get('visit_date'))} {t('programme.' + str(v.get('programme')))} "
                f"{t.label('classification', v.get('classification'))}"
            )
            if v.get("next_visit"):
                text.append(f"  {t('col.next')} {_d(v.get('next_visit'))}")
        else:
            text.append(t("resident.none"))
        text.append("\n\n" + t("resident.keys"), style="dim italic")
        problems: list[ProblemJson] = self.file.get("problems") or []
        if problems:
            text.append("\n\n" + t("banner.tamper") + " ", style="bold red")
            text.append("; ".join(clean(p["message"]) for p in problems))
        self.query_one("#summary-text", Static).update(text)

    def _show_readings(self) -> None:
        """The readings' rows (made in a thread when there are many: the table keeps what it shows meanwhile)."""
        if len(self.readings) > ROWS_IN_A_THREAD:
            self._make_reading_rows()
        else:
            self._put_reading_rows(_reading_rows(self.readings, self.t))
        self._show_chart()

    @work(group="reading-rows", exclusive=True)  # a newer list (or language) cancels the rows being made
    async def _make_reading_rows(self) -> None:
        readings = self.readings
        with self.query_one(Pending).waiting("pending.readings"):
            rows = await asyncio.to_thread(_reading_rows, readings, self.t)
        if readings is self.readings:
            self._put_reading_rows(rows)

    def _put_reading_rows(self, rows: list[Row]) -> None:
        t = self.t
        table = self.query_one("#t-readings", PagedTable)
        table.empty_text, table.page_text = t("resident.no_readings"), t("table.page")
        table.set_rows([t("col.time"), t("col.values"), t("col.source")], rows, keep_page=True)

    def _show_chart(self) -> None:
        t = self.t
        readings = self.readings
        lines: dict[str, tuple[str, list[tuple[datetime, float]]]] = {}
        for _, key, style in CHARTS[self.chart]:
            lines.setdefault(key, (style, []))
        for r in readings:
            moment = _moment(r.get("taken_at"))
            for c in r.get("components") or []:
                for code, key, _ in CHARTS[self.chart]:
                    if c.get("code") == code and moment is not None:
                        value = _number(c.get("value"))
                        if value is not None:
                            lines[key][1].append((moment, value))
        series = [Series(t(key), style, points) for key, (style, points) in lines.items()]
        limits = {"bp": [Limit(140), Limit(90, "yellow")], "glucose": [Limit(7.0), Limit(3.9, "yellow")]}
        self.query_one(TrendChart).show(
            series, limits.get(self.chart, []), t("chart.empty", what=t(f"chart.{self.chart}"))
        )

    def _show_entries(self, kind: str) -> None:
        t = self.t
        table = self.query_one(f"#t-{kind}", PagedTable)
        table.empty_text, table.page_text = t(f"resident.empty.{kind}"), t("table.page")
        rows: list[Row] = [(e["id"], _entry_cells(kind, e, t)) for e in self._entries(kind)]
        table.set_rows([t(c) for c in ENTRY_COLUMNS[kind]], rows, keep_page=True)

    def _show_history(self) -> None:
        if "history" not in self.built:
            return
        t = self.t
        table = self.query_one("#t-history", PagedTable)
        table.empty_text, table.page_text = t("resident.empty.history"), t("table.page")
        rows: list[Row] = [
            (
                str(i),
                [
                    when(h["at"], year=True),
                    lit(h["actor"].removeprefix("user:"), cells=12),
                    t(f"action.{h['action']}")
                    if t(f"action.{h['action']}") != f"action.{h['action']}"
                    else clean(h["action"]),
                    ", ".join(
                        t(f"fieldname.{f}") if t(f"fieldname.{f}") != f"fieldname.{f}" else f for f in h["fields"]
                    ),
                ],
            )
            for i, h in enumerate(self.history)
        ]
        table.set_rows([t("col.time"), t("col.who"), t("col.what"), t("col.fields")], rows, keep_page=True)

    def translate_body(self) -> None:
        self.query_one(TabBar).show(titles={tab: self.t(f"tab.{tab}") for tab in TABS})
        self.show_file()

    # -- actions --------------------------------------------------------------------------------------------------

    @property
    def tab(self) -> str:
        """The tab in view."""
        return self.active

    async def action_tab(self, tab: str) -> None:
        """Switch tab (1-9): show its pane (built the first time) and put the cursor in its table."""
        if tab not in TABS:
            return
        if tab != self.active:
            self.query_one(f"#{self.active}", Vertical).display = False
            self.active = tab
            self.query_one(f"#{tab}", Vertical).display = True
            self.query_one(TabBar).show(tab)
        await self._build(tab)
        self._focus_table(tab)

    def _focus_table(self, tab: str) -> None:
        """The cursor goes to the tab's table, where Enter, Delete and the page keys act (the summary has none)."""
        tables = self.query_one(f"#{tab}", Vertical).query(PagedTable)
        if tables and tab == self.active:
            tables.first().table.focus()

    @on(TabBar.Chosen)
    async def _tab_clicked(self, event: TabBar.Chosen) -> None:
        await self.action_tab(event.tab)

    async def action_consult(self) -> None:
        """Ask a specialist about this resident (q)."""
        from tui.screens.consult import ConsultRequestScreen

        name = str((self.file.get("resident") or {}).get("name") or "")
        readings = list(self.file.get("readings") or [])
        await self.app.push_screen(ConsultRequestScreen(self.resident_id, name, readings=readings))

    def action_back(self) -> None:
        """Back to where we came from."""
        self.app.pop_screen()

    def action_chart(self) -> None:
        """Cycle the chart: blood pressure, glucose, weight."""
        order = list(CHARTS)
        self.chart = order[(order.index(self.chart) + 1) % len(order)]
        if "readings" in self.built:
            self._show_chart()

    def _selected(self) -> dict[str, Any] | None:
        if self.tab not in ENTRY_TABS or self.tab not in self.built:
            return None
        key = self.query_one(f"#t-{self.tab}", PagedTable).current_key
        return next((e for e in self._entries(self.tab) if e["id"] == key), None)

    def action_add(self) -> None:
        """Add to the tab in view."""
        if self.tab == "follow_up":
            programme = "diabetes" if "diabetes" in (self.resident.get("key_populations") or []) else "hypertension"
            self.action_follow_up(programme)
        elif self.tab in ENTRY_TABS:
            self._edit_entry(self.tab, None)
        else:
            self.say("resident.choose_tab")

    def action_edit(self) -> None:
        """Edit the row under the cursor."""
        entry = self._selected()
        if entry is not None:
            self._edit_entry(self.tab, entry)

    @on(PagedTable.Chosen)
    def _chosen(self, event: PagedTable.Chosen) -> None:
        if event.table.id and event.table.id.removeprefix("t-") in ENTRY_TABS:
            self.action_edit()

    @work(group="edit")
    async def _edit_entry(self, kind: str, entry: dict[str, Any] | None) -> None:
        if kind == "follow_up":
            from tui.screens.followup import FollowUpScreen

            programme = str((entry or {}).get("programme") or "hypertension")
            screen: Any = FollowUpScreen(self.resident_id, programme, entry=entry)
        else:
            from tui.screens.entry_form import EntryFormScreen

            screen = EntryFormScreen(kind, self.resident_id, entry=entry)
        if await self.app.push_screen_wait(screen):
            self.say("saved")
            self.load()

    def action_follow_up(self, programme: str) -> None:
        """A new follow-up of a programme, prefilled."""
        self._start_follow_up(programme)

    @work(group="edit")
    async def _start_follow_up(self, programme: str) -> None:
        from tui.screens.followup import FollowUpScreen

        if await self.app.push_screen_wait(FollowUpScreen(self.resident_id, programme)):
            self.say("saved")
            self.load()

    @work(group="edit")
    async def action_delete(self) -> None:
        """Delete the row under the cursor, after asking."""
        from tui.screens.confirm import ConfirmScreen

        entry = self._selected()
        if entry is None:
            return
        if await self.app.push_screen_wait(ConfirmScreen("confirm.delete")):
            done = await self.call("entry.delete", {"kind": self.tab, "id": entry["id"]})
            if done is not None:
                self.load()

    @work(group="edit")
    async def action_edit_resident(self) -> None:
        """Edit the basic information."""
        from tui.screens.register import RegisterScreen

        if self.file and await self.app.push_screen_wait(RegisterScreen(resident=self.resident)):
            self.load()


def _tab_widgets(tab: str) -> list[Widget]:
    """What a tab holds, empty (filled by the screen's _show_tab)."""
    if tab == "summary":
        return [VerticalScroll(Static(id="summary-text"))]
    if tab == "readings":
        return [TrendChart(id="chart"), PagedTable(id="t-readings", page_size=8)]
    return [PagedTable(id=f"t-{tab}", page_size=12)]


def _age(born: str, today: Callable[[], date] = date.today) -> int | str:
    try:
        birth = date.fromisoformat(born)
    except ValueError:
        return "?"
    now = today()
    return now.year - birth.year - ((now.month, now.day) < (birth.month, birth.day))


def _moment(text: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(text))
    except ValueError:
        return None


def _number(text: Any) -> float | None:
    try:
        return float(str(text))
    except ValueError:
        return None


def _source(reading: dict[str, Any]) -> str:
    device = reading.get("device") or {}
    return str(device.get("model") or device.get("id") or reading.get("source") or "")


def _reading_rows(readings: list[dict[str, Any]], t: Catalogue) -> list[Row]:
    """The readings tab's rows: plain strings but for a marked reading (run in a thread for a long list)."""
    return [
        (r["id"], [when(r.get("taken_at"), year=True), _reading_text(r, t), fit(clean(_source(r)), 22)])
        for r in readings
    ]


def _reading_text(reading: dict[str, Any], t: Catalogue) -> Text | str:
    text = summary(reading, t)
    if reading.get("extreme_reason"):  # a value outside the plausible range, kept with the doctor's reason
        text += "  " + t("reading.extreme_kept", reason=clean(reading["extreme_reason"]))
    if reading.get("status") == "entered-in-error":
        return Text(text + " " + t("reading.in_error"), style="strike dim")
    if reading.get("alerts"):
        return Text("⚠ " + text, style="bold red")
    return text
