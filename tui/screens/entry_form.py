"""Adding or editing one entry of a file: allergy, condition, surgery/trauma/transfusion, family history, note.

Every field is checked as it is typed (dates, lengths, value sets); Ctrl+S saves through
``entry.add``/``entry.update``; the daemon's refusal (a stale copy, a bad value) shows as a banner.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Select

from tui.screens.base import Tr
from tui.screens.form import FormModal
from tui.widgets import checks
from tui.widgets.banner import Banner
from tui.widgets.fields import Field, SelectField
from tui.widgets.key_hints import KeyHints
from tui.widgets.pending import Pending
from tui.widgets.text import clean


@dataclass(frozen=True)
class Spec:
    """One field of a form: its name, label key, and either a check (text) or a value set (choice)."""

    name: str
    label: str
    check: Callable[[], checks.Check] | None = None
    value_set: str | None = None
    required: bool = False


def _text(required: bool = False, max_length: int = 200) -> Callable[[], checks.Check]:
    return lambda: checks.text(required=required, max_length=max_length)


def _day() -> checks.Check:
    return checks.day()


FORMS: dict[str, tuple[Spec, ...]] = {
    "allergy": (
        Spec("code", "field.allergy_code", value_set="allergen"),
        Spec("substance", "field.substance", _text(required=True)),
        Spec("category", "field.allergy_category", value_set="allergy_category", required=True),
        Spec("reaction", "field.reaction", _text()),
        Spec("criticality", "field.criticality", value_set="criticality"),
        Spec("status", "field.status", value_set="clinical_status", required=True),
        Spec("recorded_on", "field.recorded_on", _day),
        Spec("note", "field.note", _text(max_length=2000)),
    ),
    "condition": (
        Spec("code", "field.condition_code", value_set="disease"),
        Spec("name", "field.condition_name", _text(required=True)),
        Spec("icd10", "field.icd10", _text(max_length=10)),
        Spec("diagnosed_on", "field.diagnosed_on", _day),
        Spec("status", "field.status", value_set="clinical_status", required=True),
        Spec("note", "field.note", _text(max_length=2000)),
    ),
    "procedure": (
        Spec("category", "field.procedure_category", value_set="procedure_category", required=True),
        Spec("name", "field.procedure_name", _text(required=True)),
        Spec("performed_on", "field.performed_on", _day),
        Spec("note", "field.note", _text(max_length=2000)),
    ),
    "family_history": (
        Spec("relation", "field.relation", value_set="relation", required=True),
        Spec("code", "field.condition_code", value_set="family_disease"),
        Spec("condition", "field.condition_name", _text(required=True)),
        Spec("note", "field.note", _text(max_length=2000)),
    ),
    "note": (Spec("text", "field.note_text", _text(required=True, max_length=2000)),),
}
DEFAULTS = {"allergy": {"category": "medication", "status": "active"}, "condition": {"status": "active"}}
# Choosing a code fills the name field with its label (青霉素, 高血压, ...), unless "other" is chosen.
CODE_FILLS = {
    "allergy": ("allergen", "substance"),
    "condition": ("disease", "name"),
    "family_history": ("family_disease", "condition"),
}


class EntryFormScreen(FormModal):
    """Dismissed with the saved entry, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "key.save", priority=True),
        Binding("escape", "cancel", "key.cancel"),
    ]

    def __init__(self, kind: str, resident_id: str, *, entry: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.kind = kind
        self.resident_id = resident_id
        self.entry = entry

    @property
    def _values(self) -> dict[str, Any]:
        return {**DEFAULTS.get(self.kind, {}), **(self.entry or {})}

    def compose(self) -> ComposeResult:
        first = FORMS[self.kind][0]
        with Vertical(classes="dialog form"):
            yield Tr(f"form.{self.kind}.{'edit' if self.entry else 'add'}", classes="box-title")
            yield Banner()
            yield Pending("pending.form")
            with VerticalScroll(can_focus=False, id="form-fields"):
                yield self._field(first, self._values.get(first.name))
        yield KeyHints()

    def later(self) -> list[tuple[Widget, Sequence[Widget]]]:
        """The fields after the first, one per frame (the first takes typing meanwhile)."""
        scroll = self.query_one("#form-fields", VerticalScroll)
        values = self._values
        return [(scroll, [self._field(spec, values.get(spec.name))]) for spec in FORMS[self.kind][1:]]

    def _field(self, spec: Spec, value: Any) -> Widget:
        if spec.value_set:
            return SelectField(
                spec.label,
                name=spec.name,
                value_set=spec.value_set,
                value=str(value) if value else None,
                required=spec.required,
            )
        check = spec.check() if spec.check else checks.text()
        return Field(spec.label, name=spec.name, check=check, value=clean(value) if value else "")

    @on(Select.Changed)
    def _code_chosen(self, event: Select.Changed) -> None:
        fill = CODE_FILLS.get(self.kind)
        if fill is None or event.select.id != "i-code" or not isinstance(event.value, str):
            return
        value_set, target = fill
        found = self.query(f"#f-{target}")
        field = found.first() if found else None
        if isinstance(field, Field) and event.value not in ("other", "1") and not field.value:
            field.value = self.t.label(value_set, event.value)

    def collect(self) -> dict[str, Any] | None:
        """The form's values, or None (with the problems shown) if any field is wrong."""
        good = True
        values: dict[str, Any] = {}
        for spec in FORMS[self.kind]:
            widget = self.query_one(f"#f-{spec.name}")
            if isinstance(widget, Field | SelectField):
                good = widget.validate_now() and good
                value = widget.value
                empty = None if spec.value_set or spec.check is _day else ""
                values[spec.name] = value if value not in ("", None) else empty
        if not good:
            return None
        if self.kind == "note":
            values["written_at"] = (self.entry or {}).get("written_at") or _now()
            values["author"] = (self.entry or {}).get("author") or (
                self.clinic.signed_in.display_name if self.clinic.signed_in else ""
            )
        return values

    @work(group="save")
    async def action_save(self) -> None:
        """Save (Ctrl+S)."""
        await self.built_event.wait()  # Ctrl+S pressed while the form is still being built saves once it is
        fields = self.collect()
        if fields is None:
            self.show_problems()
            return
        if self.entry is None:
            params = {"kind": self.kind, "resident_id": self.resident_id, "fields": fields}
            saved = await self.call("entry.add", params)
        else:
            params = {
                "kind": self.kind,
                "id": self.entry["id"],
                "version": self.entry["version"],
                "fields": {**self.entry, **fields},
            }
            saved = await self.call("entry.update", params)
        if saved is not None:
            self.dismiss(saved)

    def draft_form(self) -> str:
        return f"entry.{self.kind}"

    def draft_args(self) -> dict[str, Any]:
        return {"resident_id": self.resident_id, "entry": self.entry}


def _now() -> str:
    from datetime import datetime

    return datetime.now().astimezone().isoformat(timespec="seconds")
