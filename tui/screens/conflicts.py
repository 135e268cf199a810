"""The conflicts inbox: where this clinic and the platform both changed the same field of a record.

Left, the conflicts; right, the chosen one field by field — the last synced value, ours, the
platform's — and which to keep. ← keeps ours, → keeps the platform's, Ctrl+S resolves and the choice
syncs. On a PC not enrolled with the platform (or a daemon without sync) the screen says so.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget

from clinic_agent.core.errors import UnknownMethod
from tui.screens.base import ClinicScreen, DaemonEvent, Tr
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.pending import Pending
from tui.widgets.readings import when
from tui.widgets.text import clean, lit


def _value(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return ", ".join(clean(v) for v in value)
    return clean(value)


class ConflictsScreen(ClinicScreen):
    """Both versions side by side; choose per field."""

    TITLE_KEY = "conflicts.title"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        Binding("left,o", "choose('local')", "key.keep_ours", priority=True),
        Binding("right,p", "choose('remote')", "key.keep_theirs", priority=True),
        Binding("ctrl+s", "resolve", "key.resolve", priority=True),
        Binding("f5", "reload", "key.reload"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.conflicts: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None
        self.choices: dict[str, str] = {}

    def body(self) -> list[Widget]:
        return [
            Pending("pending.loading"),  # the list and its first conflict come from the daemon
            Horizontal(
                Vertical(Tr("conflicts.list", classes="heading"), PagedTable(id="c-list", page_size=12), id="c-left"),
                Vertical(
                    Tr("conflicts.detail", classes="heading", id="c-head"),
                    PagedTable(id="c-fields", page_size=12),
                    id="c-right",
                ),
                id="c-panes",
            ),
        ]

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    @work(group="conflicts")
    async def load(self) -> None:
        """The inbox."""
        with self.query_one(Pending).waiting():
            found = await self.call("conflict.list")
        if found is None:
            if isinstance(self.last_error, UnknownMethod):
                banner = self.banner()
                if banner is not None:
                    banner.show("sync_unavailable")
            return
        self.conflicts = list(found.get("conflicts") or [])
        self._show_list()
        if self.conflicts:
            self.auto_focus(self.query_one("#c-list", PagedTable).table)
            with self.query_one(Pending).waiting():
                await self.open(str(self.conflicts[0]["id"]))
            return
        self.current = None
        self._show_fields()
        sync = await self.call("sync.status", quiet=True)
        if sync is not None and sync.get("state") == "not enrolled":
            banner = self.banner()
            if banner is not None:
                banner.show("sync_unavailable")

    def _show_list(self) -> None:
        t = self.t
        rows: list[Row] = [
            (
                str(c["id"]),
                [
                    when(c.get("created_at")),
                    t(f"entity.{c.get('entity')}"),
                    lit(c.get("resident_name") or c.get("kind") or "", cells=10),
                    str(len(c.get("fields") or [])),
                ],
            )
            for c in self.conflicts
        ]
        table = self.query_one("#c-list", PagedTable)
        table.empty_text, table.page_text = t("conflicts.none"), t("table.page")
        table.set_rows([t("col.time"), t("col.record"), t("col.what"), t("col.fields")], rows, keep_page=True)

    @on(PagedTable.Highlighted, "#c-list")
    async def _highlighted(self, event: PagedTable.Highlighted) -> None:
        if self.current is None or str(self.current.get("id")) != event.key:
            await self.open(event.key)

    async def open(self, conflict_id: str) -> None:
        """Show one conflict field by field (ours kept until chosen otherwise)."""
        found = await self.call("conflict.get", {"id": conflict_id})
        if found is None:
            return
        self.current = found
        self.choices = {str(f["name"]): "local" for f in found.get("fields") or []}
        self._show_fields()

    def _show_fields(self) -> None:
        t = self.t
        table = self.query_one("#c-fields", PagedTable)
        table.empty_text, table.page_text = t("conflicts.choose"), t("table.page")
        rows: list[Row] = []
        for f in (self.current or {}).get("fields") or []:
            name = str(f["name"])
            ours = self.choices.get(name) == "local"
            rows.append(
                (
                    name,
                    [
                        t(f"fieldname.{name}") if t(f"fieldname.{name}") != f"fieldname.{name}" else clean(name),
                        lit(_value(f.get("base")), "dim", cells=12),
                        Text(("● " if ours else "  ") + _value(f.get("local")), style="bold green" if ours else "dim"),
                        Text(
                            ("● " if not ours else "  ") + _value(f.get("remote")),
                            style="bold cyan" if not ours else "dim",
                        ),
                    ],
                )
            )
        columns = [t("col.field"), t("conflicts.base"), t("conflicts.ours"), t("conflicts.theirs")]
        table.set_rows(columns, rows, keep_page=True)
        head = self.query_one("#c-head", Tr)
        if self.current:
            head.set_key("conflicts.detail_of", record=t(f"entity.{self.current.get('entity')}"))
        else:
            head.set_key("conflicts.detail")

    def action_choose(self, side: str) -> None:
        """Keep ours (←) or the platform's (→) for the field under the cursor."""
        table = self.query_one("#c-fields", PagedTable)
        name = table.current_key
        if name is None or self.current is None:
            return
        self.choices[name] = side
        self._show_fields()
        table.table.focus()

    @work(group="resolve")
    async def action_resolve(self) -> None:
        """Resolve with the choices made (Ctrl+S)."""
        if self.current is None:
            return
        done = await self.call("conflict.resolve", {"id": self.current["id"], "choices": dict(self.choices)})
        if done is not None:
            self.say("conflicts.resolved")
            self.current = None
            self.load()

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the inbox again."""
        self.load()

    def on_daemon_event(self, event: DaemonEvent) -> None:
        if event.name == "conflict.new":
            self.load()

    def translate_body(self) -> None:
        self._show_list()
        self._show_fields()
