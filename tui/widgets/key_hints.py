"""Key hints at the bottom: the keys of the screen in force, described in the language in force.

Bindings carry catalogue keys as their descriptions (``"key.save"``); this footer translates them.
A hint can be clicked, like Textual's own footer.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tui.widgets.fields import catalogue_of

# Textual's own widgets describe their keys in English; these are the ones a doctor meets.
TEXTUAL_KEYS = {"Dismiss menu": "key.close_list"}


class KeyHints(Footer):
    """Textual's footer, with every description taken from the catalogue."""

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        t = catalogue_of(self)
        seen: set[str] = set()
        shown = [
            (binding, enabled, tooltip)
            for (_, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show
        ]
        self.styles.grid_size_columns = len({b.action for b, _, _ in shown}) or 1
        hints: list[tuple[Binding, bool, str, str]] = []
        for binding, enabled, tooltip in shown:
            description = TEXTUAL_KEYS.get(binding.description, binding.description)
            if binding.action in seen or not description.startswith("key."):
                continue
            seen.add(binding.action)
            hints.append((binding, enabled, tooltip, t(description)))
        # A line that would be cut at the screen's edge (80 columns) is drawn compact: one cell less per key.
        wide = sum(cell_len(self.app.get_key_display(b)) + cell_len(d) + 3 for b, _, _, d in hints)
        tight = self.compact or wide > self.app.size.width
        self.set_class(tight, "-compact")
        for binding, enabled, tooltip, description in hints:
            key = FooterKey(
                binding.key,
                self.app.get_key_display(binding),
                description,
                binding.action,
                disabled=not enabled,
                tooltip=t(tooltip) if tooltip else "",
            )
            key.compact = tight
            yield key

    def retranslate(self) -> None:
        """Re-render in the language in force."""
        if self.is_attached:
            self.call_after_refresh(self.recompose)
