"""Form fields that check what is typed as it is typed, and say what is wrong right under the field.

Each field holds catalogue keys (its label, its hint) and re-renders when the language changes. A
field posts nothing of its own: forms read ``value``/``problem`` when saving, and listen to the
standard ``Input.Changed``/``Select.Changed`` messages when they want to react at once.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Input, Select, Static

from tui.i18n import Catalogue
from tui.widgets import checks
from tui.widgets.checks import Check, Problem

if TYPE_CHECKING:  # a form's list of choices, loaded with the first form that has one, not with the sign-in
    from textual.widgets import SelectionList


def catalogue_of(node: Any) -> Catalogue:
    """The catalogue of the running app (the default one outside an app)."""
    try:
        found = getattr(node.app, "i18n", None)
    except Exception:  # noqa: BLE001  (no active app: tests of a lone widget)
        found = None
    return found if isinstance(found, Catalogue) else Catalogue()


def compact_quietly(widget: Input | Select[Any], reactive: Any, compact: bool) -> None:
    """Make a new Input or Select compact without restyling it: Textual's ``compact=True`` restyles the widget as
    it is constructed, before it is mounted and styled anyway (about a tenth of a form's opening)."""
    widget.set_reactive(reactive, compact)
    widget.set_class(compact, "-textual-compact", update=False)


def removed_while_mounting(widget: Any) -> bool:
    """Whether a widget is being removed before its own mount was dealt with.

    A form closed (Esc, the lock, the app ending) while a step of its later fields is still being mounted removes
    those fields at once: the parts a field composed are gone before the field's Mount arrives, and a handler
    that looks them up (Textual's Select looks up its overlay) raised NoMatches, ending the app with a traceback.
    """
    return bool(widget._pruning or widget._closing)


class FieldSelect(Select[str]):
    """Textual's Select, which sets up nothing when it is removed before its mount arrives (see above)."""

    def _on_mount(self, event: events.Mount) -> None:
        if removed_while_mounting(self):
            event.prevent_default()  # Select's own setup looks up its overlay, which has gone


class TypeaheadInput(Input):
    """An Input that sends keys typed ahead to where the doctor meant them.

    A quick typist's keys reach the app in one burst, and the app hands each to the focused field's queue at once. A
    field that moves the focus on (Tab, or Enter where the screen goes to the next field) did so only when the key
    had come back up to the app, after the keys queued behind it were typed in here: a PIN typed right after
    "doctor" and Enter landed in the user name. So Tab, and Enter with ``enter_moves_on``, move the focus at once,
    and a key that reaches this field after the focus has left it goes on to the field that has it now.
    """

    def __init__(self, *args: Any, enter_moves_on: bool = False, compact: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.enter_moves_on = enter_moves_on
        compact_quietly(self, Input.compact, compact)

    async def _on_key(self, event: events.Key) -> None:
        focused = self.app.focused
        if focused is not None and focused is not self:  # typed ahead, behind a key that moved the focus on
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab") or (event.key == "enter" and self.enter_moves_on):
            event.stop()
            event.prevent_default()
            if event.key == "enter":
                await self.action_submit()
            (self.screen.focus_previous if event.key == "shift+tab" else self.screen.focus_next)()
            return
        await super()._on_key(event)


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
        enter_moves_on: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id or f"f-{name}")
        self.enter_moves_on = enter_moves_on
        self.label_key = label
        self.hint_key = hint
        self.field_name = name
        self.check: Check = check or checks.text()
        self._initial = value
        self._password = password
        self._language = ""  # the language its words are shown in

    def compose(self) -> ComposeResult:
        t = catalogue_of(self)
        self._language = t.language
        yield Static(Text(t(self.label_key)), classes="field-label")
        yield TypeaheadInput(
            value=self._initial,
            placeholder=t(self.hint_key) if self.hint_key else "",
            password=self._password,
            id=f"i-{self.field_name}",
            select_on_focus=True,  # a value the form came with is replaced by what is typed, as on paper
            compact=True,
            enter_moves_on=self.enter_moves_on,
        )
        yield _hidden(Static(classes="field-error"))

    def on_mount(self) -> None:
        if self._initial and not removed_while_mounting(self):  # a value that starts wrong says so at once
            self.show_problem(self.problem)

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
    def raw(self) -> str:
        """What is typed, as typed; before the box is mounted (a form's later fields come a frame at a time), what
        it will start with."""
        boxes = self.query(Input)
        return boxes.first().value if boxes else self._initial

    @property
    def problem(self) -> Problem | None:
        """What is wrong with the value now (None: fine)."""
        return self.check(self.input.value)

    def retranslate(self) -> None:
        """Render the label, hint and error in the language in force (nothing to do if they are in it already)."""
        t = catalogue_of(self)
        if t.language == self._language:
            return
        self._language = t.language
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        self.input.placeholder = t(self.hint_key) if self.hint_key else ""
        shown = self.input.value or self.has_class("-invalid")  # an empty field's "required" after a save stays
        self.show_problem(self.problem if shown else None)

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


def _hidden(widget: Static) -> Static:
    """A widget that starts hidden (an error line until there is an error)."""
    widget.display = False
    return widget


def numbered(options: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Options labelled with the number that chooses them (1 青霉素, 2 磺胺, ...), as on the paper form."""
    return [(f"{i} {label}", code) for i, (label, code) in enumerate(options, start=1)]


class _Digits:
    """Digits typed on a list: the option with that number (two quick digits make 10, 11, ...)."""

    PAUSE = 0.8  # a second digit within this many seconds extends the first

    def __init__(self) -> None:
        self.typed = ""
        self.at = 0.0

    def choose(self, digit: str, count: int) -> tuple[int | None, bool]:
        """(0-based option index or None, whether the choice is final: no further digit could extend it)."""
        now = time.monotonic()
        extended = self.typed + digit
        if self.typed and now - self.at < self.PAUSE and 1 <= int(extended) <= count:
            self.typed = extended
        else:
            self.typed = digit
        self.at = now
        number = int(self.typed)
        if not 1 <= number <= count:
            self.typed = ""
            return None, False
        return number - 1, number * 10 > count


class SelectField(Vertical):
    """A label and a choice from a value set (labels from the catalogue, codes as values).

    Typing an option's number chooses it; when no second digit could follow, the focus moves on.
    """

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
        self._digits = _Digits()
        self._language = ""  # the language its words are shown in

    def compose(self) -> ComposeResult:
        t = catalogue_of(self)
        self._language = t.language
        yield Static(Text(t(self.label_key)), classes="field-label")
        select = FieldSelect(
            numbered(t.options(self.value_set)),
            value=self._initial if self._initial else Select.NULL,
            id=f"i-{self.field_name}",
            prompt="—",
            allow_blank=True,
        )
        compact_quietly(select, Select.compact, True)
        yield select
        yield _hidden(Static(classes="field-error"))

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
    def raw(self) -> str | None:
        """The chosen code; before the box is mounted, the one it will start with."""
        return self.value if self.query(Select) else self._initial

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
        """Labels in the language in force (the chosen code is kept; nothing to do if they are in it already)."""
        t = catalogue_of(self)
        if t.language == self._language:
            return
        self._language = t.language
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        chosen = self.value
        with self.select.prevent(Select.Changed):
            self.select.set_options(numbered(t.options(self.value_set)))
            if chosen is not None:
                self.select.value = chosen
        if self.has_class("-invalid"):  # its "required" after a save, in the new language
            self.validate_now()

    def on_key(self, event: events.Key) -> None:
        if self.select.expanded or not event.character or not event.character.isdigit():
            return
        event.stop()
        event.prevent_default()
        options = catalogue_of(self).options(self.value_set)
        index, final = self._digits.choose(event.character, len(options))
        if index is None:
            return
        self.select.value = options[index][1]
        self.set_class(False, "-invalid")
        self.query_one(".field-error", Static).display = False
        if final:
            self.screen.focus_next()


class MultiField(Vertical):
    """A label and several choices from a value set ([m] fields of the national forms)."""

    DEFAULT_CLASSES = "field multi"

    def __init__(self, label: str, *, name: str, value_set: str, values: list[str] | None = None) -> None:
        super().__init__(id=f"f-{name}")
        self.label_key = label
        self.field_name = name
        self.value_set = value_set
        self._initial = list(values or [])
        self._digits = _Digits()
        self._language = ""  # the language its words are shown in

    def compose(self) -> ComposeResult:
        t = catalogue_of(self)
        self._language = t.language
        yield Static(Text(t(self.label_key)), classes="field-label")
        from textual.widgets import SelectionList

        yield SelectionList[str](
            *[(label, code, code in self._initial) for label, code in numbered(t.options(self.value_set))],
            id=f"i-{self.field_name}",
        )

    @property
    def choices(self) -> SelectionList[str]:
        """The list of choices."""
        from textual.widgets import SelectionList

        found: SelectionList[str] = self.query_one(SelectionList)
        return found

    def on_mount(self) -> None:
        if removed_while_mounting(self):
            return
        self.choices.highlighted = None  # no cursor on an option until the doctor moves into it

    @property
    def raw(self) -> list[str]:
        """The chosen codes; before the list is mounted, those it will start with."""
        return self.values if self.query("SelectionList") else list(self._initial)

    @property
    def values(self) -> list[str]:
        """The chosen codes, in the value set's order."""
        chosen = set(self.choices.selected)
        return [code for _, code in catalogue_of(self).options(self.value_set) if code in chosen]

    def retranslate(self) -> None:
        """Labels in the language in force (the choices are kept; nothing to do if they are in it already)."""
        t = catalogue_of(self)
        if t.language == self._language:
            return
        self._language = t.language
        self.query_one(".field-label", Static).update(Text(t(self.label_key)))
        selection = self.choices
        chosen = set(self.values) if selection.option_count else set(self._initial)
        selection.clear_options()
        selection.add_options([(label, code, code in chosen) for label, code in numbered(t.options(self.value_set))])

    def set_values(self, codes: list[str]) -> None:
        """Choose exactly these codes."""
        selection = self.choices
        selection.deselect_all()
        for code in codes:
            selection.select(code)

    def on_key(self, event: events.Key) -> None:
        if not event.character or not event.character.isdigit():
            return
        event.stop()
        event.prevent_default()
        options = catalogue_of(self).options(self.value_set)
        index, _ = self._digits.choose(event.character, len(options))
        if index is not None:
            selection = self.choices
            selection.toggle(options[index][1])
            selection.highlighted = index
