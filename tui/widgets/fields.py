"""Form fields that check what is typed as it is typed, and say what is wrong right under the field.

Each field holds catalogue keys (its label, its hint) and re-renders when the language changes. A
field posts nothing of its own: forms read ``value``/``problem`` when saving, and listen to the
standard ``Input.Changed``/``Select.Changed`` messages when they want to react at once.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Select, SelectionList, Static

from tui.i18n import Catalogue
from tui.widgets import checks
from tui.widgets.checks import Check, Problem


def catalogue_of(node: Any) -> Catalogue:
    """The catalogue of the running app (the default one outside an app)."""
    try:
        found = getattr(node.app, "i18n", None)
    except Exception:  # noqa: BLE001  (no active app: tests of a lone widget)
        found = None
    return found if isinstance(found, Catalogue) else Catalogue()


class Field(Vertical):
    """A label, an input and the inline error under it."""

    DEFAULT_CLASSES = "field"

    def __init__(
        self,
        label: str,
        *,
        name: str,
        check: Check | None = None,
        value: str = "",
        hint: str = "",
        password: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id or f"f-{name}")
        self.label_key = label
        self.hint_key = hint
        self.field_name = name
        self.check: Check = check or checks.text()
        self._initial = value
        self._password = password

    def compose(self) -> ComposeResult:
        yield Static(classes="field-label")
        yield Input(
            value=self._initial, password=self._password, id=f"i-{self.field_name}", select_on_focus=False, compact=True
        )
        yield Static(classes="field-error")

    def on_mount(self) -> None:
        self.retranslate()

    @property
    def input(self) -> Input:
        """The input box."""
        return self.query_one(Input)

    @property
    def value(self) -> str:
        """What is typed, without surrounding spaces."""
        return self.input.value.strip()

    @value.setter
    def value(self, text: str) -> None:
        self.input.value = text

    @property
    def problem(self) -> Problem | None:
        """What is wrong with the value now (None: fine)."""
        return self.check(self.input.value)

    def retranslate(self) -> None:
        """Render the label, hint and error in the language in force."""
        t = catalogue_of(self)
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        self.input.placeholder = t(self.hint_key) if self.hint_key else ""
        self.show_problem(self.problem if self.input.value else None)

    def show_problem(self, problem: Problem | None) -> None:
        """Show (or clear) the inline error."""
        t = catalogue_of(self)
        error = self.query_one(".field-error", Static)
        error.update(Text(t(problem.key, **problem.values)) if problem else "")
        error.display = problem is not None
        self.set_class(problem is not None, "-invalid")

    def validate_now(self) -> bool:
        """Check the value (also when empty) and show the result; True when fine."""
        problem = self.problem
        self.show_problem(problem)
        return problem is None

    def on_input_changed(self, event: Input.Changed) -> None:
        self.show_problem(self.problem if event.value else None)


class SelectField(Vertical):
    """A label and a choice from a value set (labels from the catalogue, codes as values)."""

    DEFAULT_CLASSES = "field"

    def __init__(
        self, label: str, *, name: str, value_set: str, value: str | None = None, required: bool = False
    ) -> None:
        super().__init__(id=f"f-{name}")
        self.label_key = label
        self.field_name = name
        self.value_set = value_set
        self.required = required
        self._initial = value

    def compose(self) -> ComposeResult:
        yield Static(classes="field-label")
        t = catalogue_of(self)
        yield Select[str](
            t.options(self.value_set),
            value=self._initial if self._initial else Select.NULL,
            id=f"i-{self.field_name}",
            prompt="—",
            allow_blank=True,
            compact=True,
        )
        yield Static(classes="field-error")

    def on_mount(self) -> None:
        self.query_one(".field-error").display = False
        self.retranslate()

    @property
    def select(self) -> Select[str]:
        """The select box."""
        return self.query_one(Select)

    @property
    def value(self) -> str | None:
        """The chosen code, or None."""
        value = self.select.value
        return value if isinstance(value, str) else None

    @value.setter
    def value(self, code: str | None) -> None:
        if code and code in {c for _, c in catalogue_of(self).options(self.value_set)}:
            self.select.value = code
        else:
            self.select.clear()

    @property
    def problem(self) -> Problem | None:
        """Required and empty."""
        return Problem("err.required") if self.required and self.value is None else None

    def validate_now(self) -> bool:
        """Show the result of the check; True when fine."""
        problem = self.problem
        t = catalogue_of(self)
        error = self.query_one(".field-error", Static)
        error.update(Text(t(problem.key)) if problem else "")
        error.display = problem is not None
        self.set_class(problem is not None, "-invalid")
        return problem is None

    def retranslate(self) -> None:
        """Labels in the language in force (the chosen code is kept)."""
        t = catalogue_of(self)
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        chosen = self.value
        with self.select.prevent(Select.Changed):
            self.select.set_options(t.options(self.value_set))
            if chosen is not None:
                self.select.value = chosen


class MultiField(Vertical):
    """A label and several choices from a value set ([m] fields of the national forms)."""

    DEFAULT_CLASSES = "field multi"

    def __init__(self, label: str, *, name: str, value_set: str, values: list[str] | None = None) -> None:
        super().__init__(id=f"f-{name}")
        self.label_key = label
        self.field_name = name
        self.value_set = value_set
        self._initial = list(values or [])

    def compose(self) -> ComposeResult:
        yield Static(classes="field-label")
        t = catalogue_of(self)
        yield SelectionList[str](
            *[(label, code, code in self._initial) for label, code in t.options(self.value_set)],
            id=f"i-{self.field_name}",
        )

    def on_mount(self) -> None:
        self.retranslate()

    @property
    def values(self) -> list[str]:
        """The chosen codes, in the value set's order."""
        chosen = set(self.query_one(SelectionList).selected)
        return [code for _, code in catalogue_of(self).options(self.value_set) if code in chosen]

    def retranslate(self) -> None:
        """Labels in the language in force (the choices are kept)."""
        t = catalogue_of(self)
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        chosen = set(self.values) if self.query_one(SelectionList).option_count else set(self._initial)
        selection = self.query_one(SelectionList)
        selection.clear_options()
        selection.add_options([(label, code, code in chosen) for label, code in t.options(self.value_set)])
