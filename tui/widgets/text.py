"""Resident-supplied strings on screen: always literal Text, never markup, never a control character."""

from __future__ import annotations

from rich.text import Text

from tui.i18n import fit


def clean(value: object) -> str:
    """A value as one printable line (control characters become '?')."""
    text = str(value if value is not None else "")
    if text.isprintable():  # nearly always: checked at once, not a character at a time (5,000 readings' rows)
        return text
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def lit(value: object, style: str = "", *, cells: int | None = None) -> Text:
    """Literal text: ``[bold]`` or ``[link=...]`` typed by a person shows as typed."""
    shown = clean(value)
    return Text(fit(shown, cells) if cells else shown, style=style, no_wrap=cells is not None)
