"""Registering a resident (or editing one's basic information).

The ID card number is checked as it is typed (length, birth date, the MOD 11-2 check digit); once it
is valid the birth date and sex are filled in from it. Ctrl+S saves and opens the new file. The fields
an ID card fills in are built before the first paint, the others a frame later (``FormModal.later``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input

from clinic_agent.core.errors import InvalidInput
from clinic_agent.core.idnumber import parse_id_number
from tui.screens.base import Tr
from tui.screens.form import FormModal
from tui.widgets import checks
from tui.widgets.banner import Banner
from tui.widgets.fields import Field, MultiField, SelectField
from tui.widgets.key_hints import KeyHints
from tui.widgets.pending import Pending
from tui.widgets.text import clean

TEXT_FIELDS = (
    "id_number",
    "id_number_override",
    "name",
    "birth_date",
    "health_record_number",
    "phone",
    "village",
    "address",
)


_ID_NUMBER = checks.id_number()


class RegisterScreen(FormModal):
    """Dismissed with the saved resident, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "key.save", priority=True),
        Binding("escape", "cancel", "key.cancel"),
    ]

    def __init__(self, *, resident: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.resident = resident

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form wide"):
            yield Tr("register.edit" if self.resident else "register.title", classes="box-title")
            yield Banner()
            yield Pending("pending.form")
            with VerticalScroll(can_focus=False), Grid(classes="form-grid", id="register-fields"):
                yield from self._first_fields()
        yield KeyHints()

    def _first_fields(self) -> list[Widget]:
        """The fields an ID card fills in: built before the first paint (typing the number fills birth and sex)."""
        r = self.resident or {}
        return [
            Field(
                "field.id_number",
                name="id_number",
                check=self._check_id_number,
                value=clean(r.get("id_number", "")),
                hint="hint.id_number",
            ),
            Field(
                "field.id_number_override",
                name="id_number_override",
                check=checks.text(),
                value=clean(r.get("id_number_override") or ""),
                hint="hint.id_number_override",
            ),
            Field(
                "field.name",
                name="name",
                check=checks.text(required=True, max_length=50),
                value=clean(r.get("name", "")),
            ),
            SelectField("field.sex", name="sex", value_set="sex", value=r.get("sex"), required=True),
            Field(
                "field.birth_date",
                name="birth_date",
                check=checks.day(required=True),
                value=clean(r.get("birth_date", "")),
                hint="hint.date",
            ),
        ]

    def later(self) -> list[tuple[Widget, Sequence[Widget]]]:
        """The other fields, in one step after the first paint (the doctor types the ID number meanwhile)."""
        r = self.resident or {}
        rest: list[Widget] = [
            Field(
                "field.health_record_number",
                name="health_record_number",
                check=checks.health_record_number,
                value=clean(r.get("health_record_number") or ""),
                hint="hint.hrn",
            ),
            Field("field.phone", name="phone", check=checks.phone, value=clean(r.get("phone") or "")),
            Field(
                "field.village", name="village", check=checks.text(max_length=100), value=clean(r.get("village") or "")
            ),
            Field("field.address", name="address", check=checks.text(), value=clean(r.get("address") or "")),
            SelectField("field.ethnicity", name="ethnicity", value_set="ethnicity", value=r.get("ethnicity")),
            MultiField(
                "field.key_populations",
                name="key_populations",
                value_set="key_population",
                values=list(r.get("key_populations") or []),
            ),
        ]
        return [(self.query_one("#register-fields", Grid), rest)]

    def focus_first(self) -> None:
        self.query_one("#i-id_number" if not self.resident else "#i-name", Input).focus()

    def _check_id_number(self, value: str) -> checks.Problem | None:
        """The ID number's problem; a wrong check digit only until a reason to keep the number is given
        (the reason field beside it says when to give one)."""
        problem = _ID_NUMBER(value)
        reasons = self.query("#i-id_number_override").results(Input)  # absent while the form is being built
        if problem is not None and problem.key == "err.id.check_digit" and any(r.value.strip() for r in reasons):
            return None
        return problem

    @on(Input.Changed, "#i-id_number_override")
    def _reason_changed(self) -> None:
        field = self.query_one("#f-id_number", Field)
        field.show_problem(field.problem if field.value else None)

    @on(Input.Changed, "#i-id_number")
    def _from_id_number(self, event: Input.Changed) -> None:
        try:
            number = parse_id_number(event.value, check_digit=False)  # a kept number still holds these
        except InvalidInput:
            return
        birth = self.query_one("#f-birth_date", Field)
        if not birth.value:
            birth.value = number.birth_date.isoformat()
        sex = self.query_one("#f-sex", SelectField)
        if sex.value is None:
            sex.value = "1" if number.is_male else "2"

    def collect(self) -> dict[str, Any] | None:
        """The form's values, or None (problems shown) when a field is wrong."""
        good = True
        values: dict[str, Any] = {}
        for name in TEXT_FIELDS:
            field = self.query_one(f"#f-{name}", Field)
            good = field.validate_now() and good
            values[name] = field.value or None
        for name in ("sex", "ethnicity"):
            select = self.query_one(f"#f-{name}", SelectField)
            good = select.validate_now() and good
            values[name] = select.value
        values["key_populations"] = self.query_one("#f-key_populations", MultiField).values
        if good and values["id_number"] and values["birth_date"]:
            held = parse_id_number(values["id_number"], check_digit=False).birth_date
            if date.fromisoformat(values["birth_date"]) != held:
                self.query_one("#f-birth_date", Field).show_problem(
                    checks.Problem("err.birth_mismatch", {"held": held.isoformat()})
                )
                good = False
        return values if good else None

    @work(group="save")
    async def action_save(self) -> None:
        """Save (Ctrl+S)."""
        await self.built_event.wait()  # Ctrl+S pressed while the form is still being built saves once it is
        values = self.collect()
        if values is None:
            self.show_problems()
            return
        params = {k: v for k, v in values.items() if v is not None}
        if self.resident:
            params.update(id=self.resident["id"], version=self.resident["version"])
            saved = await self.call("resident.update", params)
        else:
            saved = await self.call("resident.add", params)
        if saved is None:
            return
        self.dismiss(saved)
        if not self.resident:
            from tui.screens.resident import ResidentScreen

            await self.app.push_screen(ResidentScreen(str(saved["id"])))

    def draft_form(self) -> str:
        return "register"

    def draft_args(self) -> dict[str, Any]:
        return {"resident": self.resident}
