"""The error banner: what went wrong, in the language in force.

The daemon's errors carry a code; the contract (``clinic_agent.api.contract``) names the catalogue
key of the headline for every code, and the codes a doctor can act on (an implausible value, an ID
number's check, a wait after wrong PINs) have a sentence of their own. The daemon's English words
are shown only when English is the language, and only for the codes whose words add to the headline
(which field or value was refused, what the platform said): never a wrong PIN said twice.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from clinic_agent.core.errors import ClinicAgentError
from tui.widgets.fields import catalogue_of
from tui.widgets.text import clean


def kind_of(error: ClinicAgentError) -> str:
    """The banner kind for an error: the catalogue key the contract gives its code, less ``banner.``."""
    from clinic_agent.api.contract import declared  # loaded with the first error shown, not with the first screen

    return declared(error.code).message_key.removeprefix("banner.")


def detail_of(error: ClinicAgentError) -> str:
    """The daemon's words for an English screen, where its code says they add to the headline; else ""."""
    from clinic_agent.api.contract import declared

    return clean(error.message) if declared(error.code).detail else ""


class Banner(Static):
    """Hidden until there is something to say; Escape (or a click) hides it again."""

    DEFAULT_CLASSES = "banner"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.kind: str | None = None
        self.detail = ""
        self.code = ""
        self.values: dict[str, object] = {}

    def show_error(self, error: ClinicAgentError) -> None:
        """Show an error from the daemon."""
        self.show(kind_of(error), detail_of(error))
        self.code = error.code
        self.values = {"seconds": getattr(error, "retry_after", 0) or ""}
        self.retranslate()

    def show(self, kind: str, detail: str = "") -> None:
        """Show a banner of a kind (locked, disk_full, sync_failing, tamper, offline, error, ...)."""
        self.kind, self.detail, self.code, self.values = kind, detail, "", {}
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
        said = t(f"error.{self.code}", **self.values) if self.code else ""
        if said and said != f"error.{self.code}":
            text.append("  " + said)
        elif self.detail and (t.language == "en" or not self.code):
            text.append("  ")
            text.append(clean(self.detail))  # the daemon's words, only where its code says they add something
        self.update(text)

    def on_mount(self) -> None:
        self.display = self.kind is not None

    def on_click(self) -> None:
        self.hide()
