"""A row of tab titles over an underline, drawn by one widget: the resident's file's nine tabs.

Textual's TabbedContent builds a widget per title, an animated underline, a content switcher and a pane
per tab, and lays them out and styles them one by one: on a loaded 2-core machine it was the largest part
of opening a file. This bar draws the titles and the underline as two lines of text, the title in view
bright with the bar under it, the others dimmed, as TabbedContent looks. It takes no focus: the screen
switches tabs (keys 1-9, or a click on a title, which the bar hands on as ``TabBar.Chosen``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.console import RenderableType
from rich.style import Style
from rich.text import Text
from textual import events
from textual.message import Message
from textual.widget import Widget


class TabBar(Widget):
    """The titles of the tabs, the one in view underlined."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"tab-bar--title", "tab-bar--active", "tab-bar--underline"}
    DEFAULT_CSS = """
    TabBar { width: 1fr; height: 2; }
    TabBar > .tab-bar--title { color: $foreground 50%; }
    TabBar > .tab-bar--active { color: $foreground; }
    TabBar > .tab-bar--underline { color: $block-cursor-background; background: $foreground 10%; }
    TabBar:ansi > .tab-bar--title { text-style: dim; }
    TabBar:ansi > .tab-bar--active { text-style: not dim bold; }
    """

    class Chosen(Message):
        """The doctor clicked a tab's title."""

        def __init__(self, bar: TabBar, tab: str) -> None:
            super().__init__()
            self.bar = bar
            self.tab = tab

        @property
        def control(self) -> TabBar:
            """The bar clicked."""
            return self.bar

    def __init__(self, tabs: Sequence[str], active: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.tabs = tuple(tabs)
        self.active = active
        self.titles: dict[str, str] = dict.fromkeys(self.tabs, "")
        self._places: list[tuple[int, int, str]] = []  # (first cell, end cell, tab) as last drawn

    def show(self, active: str | None = None, titles: dict[str, str] | None = None) -> None:
        """Underline another tab, or show the titles in another language (drawn again only when they changed)."""
        new_active = active or self.active
        new_titles = {**self.titles, **(titles or {})}
        if new_active != self.active or new_titles != self.titles:
            self.active, self.titles = new_active, new_titles
            self.refresh()

    def render(self) -> RenderableType:
        shown = self._visible(self.size.width)
        title = self.get_component_rich_style("tab-bar--title")
        active = self.get_component_rich_style("tab-bar--active")
        line = Text(no_wrap=True, overflow="crop", end="")
        self._places = []
        start = end = 0
        for tab in shown:
            label = f" {self.titles.get(tab, '')} "
            place = line.cell_len
            line.append(label, style=active if tab == self.active else title)
            self._places.append((place, line.cell_len, tab))
            if tab == self.active:  # the bar is as wide as the title, not its padding (as Textual's)
                start, end = place + 1, line.cell_len - 1
        line.append("\n")
        line.append_text(self._underline(max(self.size.width, line.cell_len), start, end))
        return line

    def _visible(self, width: int) -> Sequence[str]:
        """The tabs from the first that lets the one in view fit in ``width`` cells (a narrow terminal)."""
        widths = [Text(f" {self.titles.get(tab, '')} ").cell_len for tab in self.tabs]
        end = sum(widths[: self.tabs.index(self.active) + 1]) if self.active in self.tabs else 0
        first = 0
        while width > 0 and end > width and first < len(self.tabs) - 1:
            end -= widths[first]
            first += 1
        return self.tabs[first:]

    def _underline(self, width: int, start: int, end: int) -> Text:
        """The bar under the titles: bright under the tab in view, faint elsewhere (as Textual's Underline)."""
        style = self.get_component_rich_style("tab-bar--underline")
        bright, faint = Style.from_color(style.color), Style.from_color(style.bgcolor)
        bar = Text(end="")
        if start > 0:
            bar.append("━" * (start - 1) + "╸", style=faint)
        bar.append("━" * (end - start), style=bright)
        if end < width:
            bar.append("╺" + "━" * (width - end - 1), style=faint)
        return bar

    def on_click(self, event: events.Click) -> None:
        """A click on a title chooses its tab (the underline is no title)."""
        if event.y != 0:
            return
        for first, end, tab in self._places:
            if first <= event.x < end:
                event.stop()
                self.post_message(self.Chosen(self, tab))
                return
