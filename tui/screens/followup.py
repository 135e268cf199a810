"""The national hypertension and type 2 diabetes follow-up forms (国家基本公共卫生服务规范, 3rd edition, 2017).

Opened prefilled: today's readings (blood pressure, heart rate, weight, BMI, fasting glucose), the
targets, lifestyle and drugs of the last visit carried over. As values are typed the follow-up
rules (H2-H5, D2-D6) suggest the classification and the next visit; the doctor may choose
otherwise. Ctrl+S saves.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical, VerticalScroll
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from clinic_agent.core import rules
from clinic_agent.core.model import FollowUp, Programme
from tui.screens.base import Tr
from tui.screens.form import FormModal
from tui.widgets import checks
from tui.widgets.banner import Banner
from tui.widgets.fields import Field, MultiField, SelectField
from tui.widgets.key_hints import KeyHints
from tui.widgets.pending import Pending, Widgets, held
from tui.widgets.text import clean

# name, label, check factory arguments: (low, high, places) for numbers.
NUMBERS: dict[str, tuple[int | Decimal, int | Decimal, int]] = {
    "sbp": (40, 300, 0),
    "dbp": (20, 200, 0),
    "heart_rate": (20, 250, 0),
    "weight_kg": (10, 300, 1),
    "target_weight_kg": (10, 300, 1),
    "bmi": (Decimal(10), Decimal(80), 1),
    "target_bmi": (Decimal(10), Decimal(80), 1),
    "smoking_per_day": (0, 100, 0),
    "target_smoking_per_day": (0, 100, 0),
    "alcohol_liang_per_day": (0, 50, 1),
    "target_alcohol_liang_per_day": (0, 50, 1),
    "exercise_times_per_week": (0, 21, 0),
    "target_exercise_times_per_week": (0, 21, 0),
    "exercise_minutes": (0, 600, 0),
    "target_exercise_minutes": (0, 600, 0),
    "staple_food_g": (0, 2000, 0),
    "target_staple_food_g": (0, 2000, 0),
    "fasting_glucose": (Decimal("1.0"), Decimal("35.0"), 2),
    "hba1c": (Decimal(3), Decimal(20), 1),
}
INTEGERS = {k for k, (_, _, places) in NUMBERS.items() if places == 0}
DIABETES_ONLY = {
    "foot_pulse",
    "staple_food_g",
    "target_staple_food_g",
    "hypoglycaemia",
    "insulin",
    "hba1c",
    "hba1c_date",
    "fasting_glucose",
}
SECTIONS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    ("fu.visit", (("visit_date", "date"), ("method", "followup_method"), ("doctor", "text"))),
    (
        "fu.signs",
        (
            ("sbp", "num"),
            ("dbp", "num"),
            ("weight_kg", "num"),
            ("target_weight_kg", "num"),
            ("bmi", "num"),
            ("target_bmi", "num"),
            ("heart_rate", "num"),
            ("foot_pulse", "foot_pulse"),
        ),
    ),
    (
        "fu.lifestyle",
        (
            ("smoking_per_day", "num"),
            ("target_smoking_per_day", "num"),
            ("alcohol_liang_per_day", "num"),
            ("target_alcohol_liang_per_day", "num"),
            ("exercise_times_per_week", "num"),
            ("target_exercise_times_per_week", "num"),
            ("exercise_minutes", "num"),
            ("target_exercise_minutes", "num"),
            ("salt_intake", "salt"),
            ("target_salt_intake", "salt"),
            ("staple_food_g", "num"),
            ("target_staple_food_g", "num"),
            ("psychological", "level"),
            ("compliance", "level"),
        ),
    ),
    ("fu.tests", (("fasting_glucose", "num"), ("hba1c", "num"), ("hba1c_date", "date"), ("tests", "long"))),
    (
        "fu.drugs",
        (
            ("adherence", "adherence"),
            ("adverse_reaction", "text"),
            ("hypoglycaemia", "hypoglycaemia"),
            ("med1_name", "text"),
            ("med1_times", "times"),
            ("med1_dose", "text"),
            ("med2_name", "text"),
            ("med2_times", "times"),
            ("med2_dose", "text"),
            ("med3_name", "text"),
            ("med3_times", "times"),
            ("med3_dose", "text"),
            ("insulin", "text"),
        ),
    ),
    (
        "fu.outcome",
        (
            ("classification", "classification"),
            ("next_visit", "future"),
            ("referral_reason", "text"),
            ("referral_to", "text"),
        ),
    ),
)
# Sections laid out in pairs (this visit | target), as on the paper form; the others in three columns.
PAIRED = ("fu.signs", "fu.lifestyle")
# The rows the symptoms take (tui/app.tcss): the list's label, the list (its options and borders, at most
# .field SelectionList's max-height) and the box for other symptoms (a label and a compact input).
SYMPTOMS_LABEL, SYMPTOMS_LIST, OTHER_SYMPTOMS = 1, 8, 2
RULE_FIELDS = ("sbp", "dbp", "heart_rate", "fasting_glucose", "adverse_reaction", "hypoglycaemia")


class FollowUpScreen(FormModal):
    """Dismissed with the saved follow-up, or None."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "key.save", priority=True),
        Binding("escape", "cancel", "key.cancel"),
    ]

    def __init__(self, resident_id: str, programme: str, *, entry: dict[str, Any] | None = None) -> None:
        super().__init__()
        self.resident_id = resident_id
        self.programme = Programme(programme)
        self.entry = entry
        self.prefill: dict[str, Any] = {}
        self.answered: dict[str, Any] | None = None  # the prefill as the daemon answered it (prefill: once filled in)
        self.limits = rules.DEFAULT_THRESHOLDS
        self.previous: list[FollowUp] = []
        self.touched: set[str] = set()
        self.today = date.today()
        self.loaded = False

    def on_mount(self) -> None:
        self.today = self.clinic.today()
        super().on_mount()
        self.load()

    def focus_first(self) -> None:
        """The first value the doctor types: blood pressure (or fasting glucose), typeable before the prefill.

        Focused at once, not after the frame (``focus``): the first frame showed the visit date focused, Textual's
        choice as the screen was composed, and keys typed before the next one went there.
        """
        self.set_focus(self.query_one("#i-sbp" if not self.diabetes else "#i-fasting_glucose", Input))

    def ready(self) -> None:
        """The baseline is the prefilled form, so wait for the prefill."""
        if self.loaded:
            super().ready()

    def draft_form(self) -> str:
        return f"follow_up.{self.programme.value}"

    def draft_args(self) -> dict[str, Any]:
        return {"resident_id": self.resident_id, "entry": self.entry}

    @property
    def diabetes(self) -> bool:
        """The diabetes form (else hypertension)."""
        return self.programme is Programme.DIABETES

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form wide", id="followup-box"):
            yield Tr(f"fu.title.{self.programme.value}", classes="box-title")
            yield Static(id="fu-who")
            yield Pending("fu.loading")
            yield Banner()
            yield Static(id="assessment")
            with VerticalScroll(id="fu-scroll", can_focus=False):
                for i, (section, _) in enumerate(SECTIONS):
                    with Vertical(classes="fu-section", id=f"fu-section-{i}"):
                        if section in self.first_sections:
                            yield from self._section(section)
        yield KeyHints()

    @property
    def first_sections(self) -> tuple[str, ...]:
        """Built before the first paint: the visit, symptoms and signs (and the tests, for fasting glucose)."""
        return ("fu.visit", "fu.signs", "fu.tests") if self.diabetes else ("fu.visit", "fu.signs")

    def later(self) -> list[tuple[Widget, Widgets]]:
        """The symptoms, then the other sections, one per frame: the doctor types the first values meanwhile.

        Each step's fields are made when it comes: made here, the fifty of them were a tenth of the first frame.
        """
        return [
            (self.query_one("#fu-symptoms", Vertical), lambda: list(self._symptoms())),
            *(
                (self.query_one(f"#fu-section-{i}", Vertical), partial(self._made, section))
                for i, (section, _) in enumerate(SECTIONS)
                if section not in self.first_sections
            ),
        ]

    def _made(self, section: str) -> list[Widget]:
        return list(self._section(section))

    def _symptoms(self) -> Iterator[Widget]:
        """The list of symptoms and the box for others: the list was a fifth to two fifths of the first frame."""
        yield MultiField(
            "fu.field.symptoms", name="symptoms", value_set="dm_symptom" if self.diabetes else "ht_symptom"
        )
        yield Field("fu.field.other_symptoms", name="other_symptoms", check=checks.text(max_length=2000))

    def _section(self, section: str) -> Iterator[Widget]:
        """A section's heading and its grid of fields (symptoms come second, as on the paper form)."""
        fields = dict(SECTIONS)[section]
        yield Tr(section, classes="section")
        yield Grid(
            *(self._field(name, kind) for name, kind in fields if self.diabetes or name not in DIABETES_ONLY),
            classes="form-grid" if section in PAIRED else "form-grid three",
        )
        if section == "fu.visit":
            yield Tr("fu.symptoms", classes="section")
            options = len(self.t.options("dm_symptom" if self.diabetes else "ht_symptom"))
            rows = SYMPTOMS_LABEL + min(options + 2, SYMPTOMS_LIST) + OTHER_SYMPTOMS
            yield held(Vertical(id="fu-symptoms"), rows)  # filled after the first paint (later): the signs stay put

    def _field(self, name: str, kind: str) -> Field | SelectField:
        label = f"fu.field.{name}"
        if kind == "num":
            low, high, places = NUMBERS[name]
            return Field(label, name=name, check=checks.number(low, high, places=places))
        if kind == "date":
            return Field(
                label, name=name, check=checks.day(required=name == "visit_date", today=self._today), hint="hint.date"
            )
        if kind == "future":
            return Field(label, name=name, check=checks.future_day(today=self._today), hint="hint.date")
        if kind == "times":
            return Field(label, name=name, check=checks.number(1, 12))
        if kind in ("text", "long"):
            return Field(label, name=name, check=checks.text(max_length=2000 if kind == "long" else 200))
        return SelectField(label, name=name, value_set=kind, required=name in ("method", "classification"))

    def _today(self) -> date:
        return self.today

    @work(group="prefill")
    async def load(self) -> None:
        """Today's readings and the last visit, into the form (once every field is there)."""
        with self.query_one(Pending).waiting():
            found = await self.call(
                "followup.prefill", {"resident": self.resident_id, "programme": self.programme.value}
            )
            if found is None:
                return
            self.today = date.fromisoformat(found["today"])
            self.limits = rules.Thresholds(**{k: Decimal(v) for k, v in (found.get("limits") or {}).items()})
            self.previous = [_follow_up(p) for p in found.get("previous") or []]
            if self.entry is not None:
                self.previous = [p for p in self.previous if p.id != self.entry.get("id")]
            self.answered = found
            self._show_who()  # who it is, at once; the values once the form is built
            await self.built_event.wait()
        self.prefill = found
        values = dict(self.entry) if self.entry is not None else dict(found.get("fields") or {})
        if self.entry is None:
            values.setdefault("method", "1")  # at the clinic's terminal a visit is at the clinic; 2/3 change it
            if self.clinic.signed_in is not None:
                values.setdefault("doctor", self.clinic.signed_in.display_name)
        self.fill(values)
        self.assess()
        self.loaded = True
        self.ready()

    def _show_who(self) -> None:
        """The line under the title: whose form, and how many values came from today's readings."""
        found = self.answered or {}
        resident = found.get("resident") or {}
        who = Text(clean(resident.get("name")), style="bold")
        who.append(f"  {clean(resident.get('id_number'))}  {clean(resident.get('birth_date'))}")
        if found.get("sources"):
            who.append("  " + self.t("fu.prefilled", n=len(found["sources"])), style="green")
        self.query_one("#fu-who", Static).update(who)

    def translate_body(self) -> None:
        """The who line and the suggestion (its classification, action and rules) in the language in force."""
        if self.answered is not None:
            self._show_who()
        if self.loaded:
            self.assess()

    def fill(self, values: dict[str, Any]) -> None:
        """Put values into the form."""
        for i, med in enumerate(values.get("medications") or [], start=1):
            if i <= 3:
                values[f"med{i}_name"] = med.get("name", "")
                values[f"med{i}_times"] = med.get("times_per_day") or ""
                values[f"med{i}_dose"] = med.get("dose", "")
        for widget in self.query(Field):
            value = values.get(widget.field_name)
            if value not in (None, "") and widget.field_name not in self.touched:
                with widget.input.prevent(Input.Changed):
                    widget.value = clean(value)
                if widget.input.has_focus:  # the doctor is in it: what is typed replaces the prefilled value
                    widget.input.select_all()
        for select in self.query(SelectField):
            if select.field_name not in self.touched:
                with select.select.prevent(Select.Changed):
                    select.value = values.get(select.field_name)
        if values.get("symptoms"):
            self.query_one("#f-symptoms", MultiField).set_values(list(values["symptoms"]))

    # -- the rules, live ----------------------------------------------------------------------------------------------

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        name = (event.input.id or "").removeprefix("i-")
        self.touched.add(name)
        if name == "weight_kg":
            self._bmi()
        if name in RULE_FIELDS:
            self.assess()

    @on(Select.Changed)
    def _chosen(self, event: Select.Changed) -> None:
        name = (event.select.id or "").removeprefix("i-")
        if event.select.has_focus:
            self.touched.add(name)
        if name in RULE_FIELDS:
            self.assess()

    def _bmi(self) -> None:
        height = rules.decimal_or_none(self.prefill.get("height_cm"))
        weight = rules.decimal_or_none(self.query_one("#f-weight_kg", Field).value)
        if height and weight and "bmi" not in self.touched and Decimal(10) <= weight <= Decimal(300):
            with self.query_one("#i-bmi", Input).prevent(Input.Changed):
                self.query_one("#f-bmi", Field).value = str(rules.bmi(weight, height))

    def _int(self, name: str) -> int | None:
        field = self.query_one(f"#f-{name}", Field)
        if field.problem is not None:  # a value the field refuses (SBP 400) decides nothing
            return None
        value = rules.decimal_or_none(field.value)
        return int(value) if value is not None and value == value.to_integral_value() else None

    def facts(self) -> rules.VisitFacts:
        """What the form says so far, as the rules read it."""
        adverse = self.query_one("#f-adverse_reaction", Field).value
        hypo = self.query_one("#f-hypoglycaemia", SelectField).value if self.diabetes else None
        glucose_field = self.query_one("#f-fasting_glucose", Field) if self.diabetes else None
        glucose = glucose_field.value if glucose_field is not None and glucose_field.problem is None else ""
        return rules.VisitFacts(
            programme=self.programme,
            sbp=self._int("sbp"),
            dbp=self._int("dbp"),
            fasting_glucose=rules.decimal_or_none(glucose),
            heart_rate=self._int("heart_rate"),
            adverse_reaction=bool(adverse.strip()),
            hypoglycaemia=hypo,
        )

    def assess(self) -> rules.Assessment | None:
        """Suggest the classification and next visit; show why (None while the form is still being built)."""
        if not self.built:
            return None
        facts = self.facts()
        assessment = rules.assess_visit(facts, self.previous, self.limits)
        t = self.t
        style = {"emergency": "bold white on red", "refer": "bold red", "recheck": "bold yellow"}.get(
            assessment.action.value, "bold green"
        )
        text = Text(" " + t("fu.suggested") + " ", style="dim")
        text.append(
            f" {t.label('classification', assessment.classification.value)} · "
            f"{t('action.' + assessment.action.value)} ",
            style=style,
        )
        text.append("  " + " ".join(t(f"rule.{r}") for r in assessment.rules))
        weight = rules.decimal_or_none(self.query_one("#f-bmi", Field).value)
        if weight is not None:
            text.append("  BMI " + t(f"bmi.{rules.bmi_band(weight).value}"))
        self.query_one("#assessment", Static).update(text)
        if "classification" not in self.touched:
            classification = self.query_one("#f-classification", SelectField)
            with classification.select.prevent(Select.Changed):
                classification.value = assessment.classification.value
        if "next_visit" not in self.touched:
            visit = rules_date(self.query_one("#f-visit_date", Field).value) or self.today
            field = self.query_one("#f-next_visit", Field)
            with field.input.prevent(Input.Changed):
                field.value = (visit + timedelta(days=assessment.next_visit_days)).isoformat()
        return assessment

    # -- saving --------------------------------------------------------------------------------------------------------

    def collect(self) -> dict[str, Any] | None:
        """The form as FollowUp fields, or None (problems shown)."""
        good = True
        values: dict[str, Any] = {}
        for widget in self.query(Field):
            good = widget.validate_now() and good
            values[widget.field_name] = widget.value
        for select in self.query(SelectField):
            good = select.validate_now() and good
            values[select.field_name] = select.value
        if not good:
            return None
        fields: dict[str, Any] = {
            "programme": self.programme.value,
            "symptoms": self.query_one("#f-symptoms", MultiField).values,
        }
        medications = []
        for i in (1, 2, 3):
            name = values.pop(f"med{i}_name", "")
            times = values.pop(f"med{i}_times", "")
            dose = values.pop(f"med{i}_dose", "")
            if name:
                medications.append({"name": name, "times_per_day": int(times) if times else None, "dose": dose})
        fields["medications"] = medications
        for name, value in values.items():
            if name in INTEGERS:
                fields[name] = int(value) if value else None
            elif name in (
                "tests",
                "other_symptoms",
                "adverse_reaction",
                "insulin",
                "referral_reason",
                "referral_to",
                "doctor",
            ):
                fields[name] = value or ""
            else:
                fields[name] = value or None
        return fields

    @work(group="save")
    async def action_save(self) -> None:
        """Save (Ctrl+S)."""
        await self.built_event.wait()  # Ctrl+S pressed while the form is still being built saves once it is
        fields = self.collect()
        if fields is None:
            self.show_problems()
            return
        if self.entry is None:
            saved = await self.call(
                "entry.add", {"kind": "follow_up", "resident_id": self.resident_id, "fields": fields}
            )
        else:
            saved = await self.call(
                "entry.update",
                {"kind": "follow_up", "id": self.entry["id"], "version": self.entry["version"], "fields": fields},
            )
        if saved is not None:
            self.dismiss(saved)


def rules_date(text: str) -> date | None:
    """A typed date, or None."""
    return checks.parse_date(text) if text else None


def _follow_up(data: dict[str, Any]) -> FollowUp:
    """An earlier visit, as much of it as the rules read."""
    return FollowUp(
        id=str(data.get("id", "")),
        resident_id=str(data.get("resident_id", "")),
        programme=Programme(data.get("programme", "hypertension")),
        visit_date=date.fromisoformat(str(data["visit_date"])),
        sbp=data.get("sbp"),
        dbp=data.get("dbp"),
        heart_rate=data.get("heart_rate"),
        fasting_glucose=data.get("fasting_glucose"),
        adverse_reaction=str(data.get("adverse_reaction") or ""),
        hypoglycaemia=data.get("hypoglycaemia"),
        classification=data.get("classification"),
    )
