"""The status line: who is signed in, the sync state, what waits to be sent, disk space."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.widgets import Static

from tui.widgets.fields import catalogue_of
from tui.widgets.text import clean

_STATE_STYLE = {"idle": "green", "syncing": "cyan", "offline": "yellow", "error": "bold red", "not enrolled": "dim"}


@dataclass
class StatusInfo:
    """What the status line shows (set by the app from status, sync.status and events)."""

    user: str = ""
    role: str = ""
    sync: dict[str, Any] | None = None
    sync_available: bool = True
    pending: int = 0
    parked: int = 0
    disk_low: bool = False


class StatusBar(Static):
    """One line at the bottom of every signed-in screen."""

    DEFAULT_CLASSES = "status-bar"

    def __init__(self, info: StatusInfo | None = None, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.info = info or StatusInfo()

    def set_info(self, info: StatusInfo) -> None:
        """Show new information."""
        self.info = info
        self.retranslate()

    def on_mount(self) -> None:
        self.retranslate()

    def retranslate(self) -> None:
        """Render in the language in force."""
        t, info = catalogue_of(self), self.info
        line = Text()
        if not info.user:  # signed out: nothing read from the daemon yet, so no sync state or count to show
            self.update(line)
            return
        if info.user:
            line.append(" " + clean(info.user), style="bold")
            line.append(f" ({t('role.' + info.role)})  " if info.role else "  ")
        line.append(t("status.sync") + " ")
        if not info.sync_available or info.sync is None:
            line.append(t("sync.unavailable"), style="dim")
            pending, parked, conflicts = info.pending, info.parked, 0
        else:
            state = str(info.sync.get("state", ""))
            line.append(t(f"sync.{state}"), style=_STATE_STYLE.get(state, ""))
            pending = int(info.sync.get("pending") or 0)
            parked = int(info.sync.get("parked") or 0)
            conflicts = int(info.sync.get("conflicts") or 0)
            last = info.sync.get("last_sync")
            if last:
                line.append("  " + t("status.last_sync", when=clean(str(last)[:16].replace("T", " "))))
        line.append("  " + t("status.pending", n=pending))
        if parked:
            line.append("  " + t("status.parked", n=parked), style="yellow")
        if conflicts:
            line.append("  " + t("status.conflicts", n=conflicts), style="bold magenta")
        if info.disk_low:
            line.append("  " + t("status.disk_low"), style="bold red")
        self.update(line)
