"""What every form dialog shares: the first field focused at once, Esc asking before changes are dropped, and
the values as a draft (kept encrypted by the daemon when the terminal locks, offered back after sign-in).

A form's values are read from its fields (``Field``, ``SelectField``, ``MultiField``) by name; the values
at the moment the form was ready are the baseline a change is measured against. A form composes the
fields typed first and names the rest in ``later()``: they are mounted one step per frame after the
first paint, with "正在打开表单…" if that takes longer than a moment, and the first field takes
typing meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from textual import events, work
from textual.widget import Widget
from textual.widgets import Input, Select, SelectionList

from tui.screens.base import ClinicModal
from tui.widgets.fields import Field, MultiField, SelectField
from tui.widgets.pending import Pending, Widgets, hold_collector, mount_in_steps, painted, release_collector


class FormModal(ClinicModal):
    """A dialog of fields; subclasses name their draft (``draft_form``) and how to reopen it (``draft_args``)."""

    def __init__(self) -> None:
        super().__init__()
        self.baseline: dict[str, Any] | None = None
        self.restored: dict[str, Any] | None = None
        self.built = False
        self._building = False
        self.early: dict[str, Any] | None = None  # the fields there at the first paint, as they started
        self.built_event = asyncio.Event()

    def on_compose(self, event: events.Compose) -> None:
        """No garbage collection from here to the first frame (``hold_collector``); ScreenMixin's own is called too."""
        hold_collector()

    def on_mount(self) -> None:
        super().on_mount()
        self.call_after_refresh(release_collector)  # the first frame is drawn
        self.focus_first()
        if self.early is None:
            self.early = self.values()
        if not self._building:  # Textual calls on_mount of every class in the MRO: a subclass's super() call too
            self._building = True
            self._build()

    def on_unmount(self) -> None:
        release_collector()  # closed before its first frame

    def later(self) -> Sequence[tuple[Widget, Widgets]]:
        """The fields mounted after the first paint: (parent, widgets, or what makes them when their step comes) per
        step."""
        return []

    @work(group="build")
    async def _build(self) -> None:
        pending = self.query(Pending)
        steps = self.later()
        if steps:
            await mount_in_steps(steps, pending.first() if pending else None)
        else:
            await painted(self)
        if not self._gone:
            self.built = True
            self.built_event.set()
            self.ready()

    def focus_first(self) -> None:
        """Focus the first field that takes input (never a scroll container)."""
        for widget in self.query("Input, Select, SelectionList"):
            if isinstance(widget, Input | Select | SelectionList) and widget.focusable:
                widget.focus()
                return

    def ready(self) -> None:
        """The form shows its starting values: remember them (a draft being restored goes in now)."""
        if not self.built:
            return
        if self.restored is not None:
            self.set_values(self.restored)
            self.restored = None
            self.baseline = {}
        else:
            self.baseline = self.values()

    # -- values ----------------------------------------------------------------------------------------------

    def values(self) -> dict[str, Any]:
        """Every field's raw value, by name (text as typed, codes, lists of codes)."""
        found: dict[str, Any] = {}
        for widget in self.query("*"):
            if isinstance(widget, Field | SelectField | MultiField):
                found[widget.field_name] = widget.raw  # a field still being mounted: what it starts with
        return found

    def set_values(self, values: dict[str, Any]) -> None:
        """Put raw values (as ``values`` returned them) back into the fields."""
        for widget in self.query("*"):
            name = getattr(widget, "field_name", None)
            if name not in values:
                continue
            value = values[name]
            if isinstance(widget, Field) and isinstance(value, str):
                widget.input.value = value
            elif isinstance(widget, SelectField) and (value is None or isinstance(value, str)):
                widget.value = value
            elif isinstance(widget, MultiField) and isinstance(value, list):
                widget.set_values([str(v) for v in value])

    @property
    def changed(self) -> bool:
        """Whether anything was typed or chosen since the form was ready (or, before that, since it opened)."""
        if self.baseline is not None:
            return self.values() != self.baseline
        if self.restored is not None or self.early is None:
            return True
        now = self.values()
        return any(now.get(name) != value for name, value in self.early.items())

    # -- drafts ----------------------------------------------------------------------------------------------

    def draft_form(self) -> str:
        """Which form this is (entry.allergy, follow_up.hypertension, register, ...)."""
        raise NotImplementedError

    def draft_args(self) -> dict[str, Any]:
        """What reopens the same form (resident, entry being edited, ...)."""
        raise NotImplementedError

    def draft(self) -> dict[str, Any] | None:
        """The form as a draft, or None when nothing was changed."""
        if not self.changed:
            return None
        return {"form": self.draft_form(), "args": self.draft_args(), "values": self.values()}

    def show_problems(self) -> None:
        """After a refused save: say so in the banner and put the cursor in the first field to correct."""
        banner = self.banner()
        if banner is not None:
            banner.show("fix_fields")
        for widget in self.query(".-invalid"):
            target = widget.query("Input, Select, SelectionList")
            if target:
                target.first().focus()
                widget.scroll_visible()
                return

    # -- leaving ---------------------------------------------------------------------------------------------

    def action_cancel(self) -> None:
        """Close; if something was changed, ask first."""
        if self.changed:
            self._ask_to_discard()
        else:
            self.dismiss(None)

    @work(group="discard", exclusive=True)
    async def _ask_to_discard(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        if await self.app.push_screen_wait(ConfirmScreen("confirm.discard")):
            self.dismiss(None)


def reopen(draft: dict[str, Any]) -> list[ClinicModal | Any]:
    """The screens that show a draft again: the resident's file (if any) and the form, with the values typed."""
    from tui.screens.entry_form import FORMS, EntryFormScreen
    from tui.screens.followup import FollowUpScreen
    from tui.screens.register import RegisterScreen
    from tui.screens.resident import ResidentScreen

    form, args = str(draft.get("form", "")), dict(draft.get("args") or {})
    values = dict(draft.get("values") or {})
    resident_id = str(args.get("resident_id") or "")
    entry = args.get("entry") if isinstance(args.get("entry"), dict) else None
    kind, _, programme = form.partition(".")
    screens: list[Any] = []
    if kind == "entry" and programme in FORMS and resident_id:
        screens = [ResidentScreen(resident_id, tab=programme), EntryFormScreen(programme, resident_id, entry=entry)]
    elif kind == "follow_up" and programme in ("hypertension", "diabetes") and resident_id:
        screens = [ResidentScreen(resident_id, tab="follow_up"), FollowUpScreen(resident_id, programme, entry=entry)]
    elif kind == "consult" and resident_id:
        from tui.screens.consult import ConsultRequestScreen

        name = str(args.get("resident_name") or "")
        screens = [ResidentScreen(resident_id), ConsultRequestScreen(resident_id, name)]
    elif kind == "register":
        resident = args.get("resident") if isinstance(args.get("resident"), dict) else None
        screens = [RegisterScreen(resident=resident)]
    if screens:
        screens[-1].restored = values
    return screens
