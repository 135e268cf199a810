"""Key hints at the bottom: the keys of the screen in force, described in the language in force.

Bindings carry catalogue keys as their descriptions (``"key.save"``); this footer translates them.
A hint can be clicked, like Textual's own footer.
"""

from __future__ import annotations

from rich.cells import cell_len
from textual.app import ComposeResult
from textual.binding import ActiveBinding, Binding
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from tui.widgets.fields import catalogue_of

# Textual's own widgets describe their keys in English; these are the ones a doctor meets.
TEXTUAL_KEYS = {"Dismiss menu": "key.close_list"}


class KeyHints(Footer):
    """Textual's footer, with every description taken from the catalogue.

    Textual's footer builds its keys again whenever the screen's bindings may have changed: every focus
    change, every screen pushed or popped, each a few times as a screen opens. That cost 10-50 ms each
    on the reference machine, most of a screen's opening. This one builds them again only when what it
    shows (keys, words, enabled, compact) is different, and once for any number of changes before the
    next frame: a file opening asked three times, each rebuild also laying the screen out again.

    Textual's footer starts empty and fills in a frame later, once the screen's bindings are known; on
    the first screen that laid it out twice at start-up. A screen whose keys do not depend on its
    widgets (``HINTS_AT_ONCE``, the sign-in) has them in its first frame.
    """

    def __init__(self) -> None:
        super().__init__()
        self._shown: tuple[object, ...] | None = None
        self._rebuilding = False  # a rebuild is due at the next frame; it reads the bindings as they are then

    def _hints(self, active: list[ActiveBinding]) -> tuple[list[tuple[Binding, bool, str, str]], bool]:
        """The keys to show of the screen's ``active`` bindings, translated, and whether the line must be compact."""
        t = catalogue_of(self)
        seen: set[str] = set()
        hints: list[tuple[Binding, bool, str, str]] = []
        for _, binding, enabled, tooltip in active:
            description = TEXTUAL_KEYS.get(binding.description, binding.description)
            if not binding.show or binding.action in seen or not description.startswith("key."):
                continue
            seen.add(binding.action)
            hints.append((binding, enabled, tooltip, t(description)))
        # A line that would be cut at the screen's edge (80 columns) is drawn compact: one cell less per key.
        wide = sum(cell_len(self.app.get_key_display(b)) + cell_len(d) + 3 for b, _, _, d in hints)
        return hints, self.compact or wide > self.app.size.width

    def _signature(self, hints: list[tuple[Binding, bool, str, str]], tight: bool) -> tuple[object, ...]:
        return (tight, *((b.key, b.action, enabled, tooltip, d) for b, enabled, tooltip, d in hints))

    def bindings_changed(self, screen: Screen[object]) -> None:
        """Build the keys again only if what they show changed, and only once before the next frame."""
        self._bindings_ready = True
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen or self._rebuilding:
            return
        hints, tight = self._hints(list(self.screen.active_bindings.values()))
        if self._signature(hints, tight) == self._shown:
            return
        self._rebuilding = True
        self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        if self._rebuilding and self.is_attached:  # not composed since it was asked for
            await self.recompose()

    def compose(self) -> ComposeResult:
        self._rebuilding = False  # composed now: a change after this needs a rebuild of its own
        if not self._bindings_ready and not getattr(self.screen, "HINTS_AT_ONCE", False):
            return
        t = catalogue_of(self)
        active = list(self.screen.active_bindings.values())
        hints, tight = self._hints(active)
        self._shown = self._signature(hints, tight)
        shown = [b for (_, b, _, _) in active if b.show]
        self.styles.grid_size_columns = len({b.action for b in shown}) or 1
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
            key.set_reactive(FooterKey.compact, tight)  # no watcher: each would restyle the key as the footer is built
            key.set_class(tight, "-compact", update=False)
            yield key

    def retranslate(self) -> None:
        """Re-render in the language in force (the words are part of what is shown: the same words, no rebuild)."""
        if self.is_attached and self._bindings_ready:
            self.bindings_changed(self.screen)
