"""The error banner: what went wrong in one headline (translated) and the daemon's own words, literally."""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from clinic_agent.errors import (
    AccessDenied,
    ClinicAgentError,
    DaemonError,
    DaemonNotRunning,
    DiskFull,
    InvalidInput,
    LockedOut,
    RecordChanged,
    RecordNotFound,
    SessionExpired,
    StoreCorrupted,
    StoreLocked,
    TooManyAttempts,
)
from tui.widgets.fields import catalogue_of
from tui.widgets.text import clean

# Banner kinds, most specific first: (error class, kind).
_KINDS: tuple[tuple[type[ClinicAgentError], str], ...] = (
    (StoreLocked, "locked"),
    (DiskFull, "disk_full"),
    (StoreCorrupted, "tamper"),
    (DaemonNotRunning, "offline"),
    (DaemonError, "offline"),
    (SessionExpired, "expired"),
    (TooManyAttempts, "too_many"),
    (LockedOut, "locked_out"),
    (AccessDenied, "denied"),
    (RecordChanged, "changed"),
    (RecordNotFound, "not_found"),
    (InvalidInput, "invalid"),
)


def kind_of(error: ClinicAgentError) -> str:
    """The banner kind for an error."""
    for cls, kind in _KINDS:
        if isinstance(error, cls):
            return kind
    return "error"


class Banner(Static):
    """Hidden until there is something to say; Escape (or a click) hides it again."""

    DEFAULT_CLASSES = "banner"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind: str | None = None
        self.detail = ""

    def show_error(self, error: ClinicAgentError) -> None:
        """Show an error from the daemon."""
        self.show(kind_of(error), error.message)

    def show(self, kind: str, detail: str = "") -> None:
        """Show a banner of a kind (locked, disk_full, sync_failing, tamper, offline, error, ...)."""
        self.kind, self.detail = kind, detail
        self.set_classes(f"banner -{kind}")
        self.retranslate()
        self.display = True

    def hide(self) -> None:
        """Hide the banner."""
        self.kind = None
        self.display = False

    def retranslate(self) -> None:
        """Headline in the language in force; the detail as the daemon wrote it."""
        if self.kind is None:
            self.display = False
            return
        t = catalogue_of(self)
        text = Text(t(f"banner.{self.kind}"), style="bold")
        if self.detail:
            text.append("  ")
            text.append(clean(self.detail))
        self.update(text)

    def on_mount(self) -> None:
        self.display = self.kind is not None

    def on_click(self) -> None:
        self.hide()
