"""Input widgets: control characters, escapes, emoji, 10 KB pastes: no crash, an inline error."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from tui.i18n import Catalogue
from tui.widgets import checks
from tui.widgets.checks import Problem
from tui.widgets.fields import Field, MultiField, SelectField

NASTY = st.one_of(
    st.text(max_size=60),
    st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=0x1F), max_size=20),
    st.sampled_from(["\x1b[31mred", "\x1b]8;;http://x\x07link", "[bold red]x[/]", "\x00", "‮abc", "👩‍⚕️🩺", "１２３"]),
    st.builds(lambda part, n: part * n, st.text(min_size=1, max_size=8), st.integers(1300, 1400)),  # ~10 KB pastes
)
CHECKS = {
    "text": checks.text(required=True),
    "id_number": checks.id_number(today=lambda: date(2026, 5, 20)),
    "day": checks.day(required=True, today=lambda: date(2026, 5, 20)),
    "number": checks.number(40, 300),
    "decimal": checks.number(Decimal("1.0"), Decimal("35.0"), places=2),
    "hrn": checks.health_record_number,
    "phone": checks.phone,
    "pin": checks.pin,
    "user": checks.user_name,
}
catalogue = Catalogue("zh")


@settings(max_examples=25, deadline=None)
@given(value=NASTY, name=st.sampled_from(sorted(CHECKS)))
def test_every_check_answers_with_a_translatable_problem_or_none(value: str, name: str) -> None:
    problem = CHECKS[name](value)
    assert problem is None or isinstance(problem, Problem)
    if problem is not None:
        message = catalogue(problem.key, **problem.values)
        assert message != problem.key, f"no message for {problem.key}"
    if any(not ch.isprintable() for ch in value) and value.strip():
        assert problem is not None  # a control character never passes silently


def test_the_id_number_check_names_the_check_digit() -> None:
    problem = checks.id_number()("11010519491231002Y")
    assert problem is not None and problem.key == "err.id.characters"  # noqa: PT018
    wrong = checks.id_number()("110105194912310021")
    assert wrong == Problem("err.id.check_digit", {"expected": "X"})
    assert checks.id_number()("11010519491231002x") is None


def test_dates_and_ranges() -> None:
    day = checks.day(today=lambda: date(2026, 5, 20))
    assert day("2026-02-30") == Problem("err.date")
    assert day("2026-05-21") == Problem("err.date_future")
    assert day("20260301") is None
    assert checks.number(40, 300)("301") == Problem("err.range", {"low": 40, "high": 300})
    assert checks.number(40, 300)("120.5") == Problem("err.whole", {"places": 0})
    assert checks.number(Decimal(1), Decimal(35), places=1)("7.25") == Problem("err.places", {"places": 1})


class _FieldApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Field("field.id_number", name="id_number", check=checks.id_number())


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=NASTY)
async def test_a_field_shows_the_problem_under_itself_and_never_crashes(value: str) -> None:
    app = _FieldApp()
    async with app.run_test(size=(80, 10)) as pilot:
        field = app.query_one(Field)
        app.query_one(Input).value = value
        await pilot.pause()
        problem = field.problem
        assert field.has_class("-invalid") == (problem is not None and bool(value))
        if problem is not None and value:
            error = str(field.query_one(".field-error").render())
            assert error == Catalogue()(problem.key, **problem.values)


async def test_pasting_into_the_search_box_does_not_crash() -> None:
    from tests.tui.fake_api import FakeApi
    from tests.tui.helpers import until
    from tui.app import ClinicApp

    app = ClinicApp(FakeApi())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        search = app.screen.query_one("#search", Input)
        search.insert_text_at_cursor("\x1b[2J" + "张" * 5000 + "👩‍⚕️\x00")
        await pilot.pause()
        assert type(app.screen).__name__ == "HomeScreen"


async def test_a_form_opened_in_one_language_follows_a_switch_to_the_other() -> None:
    """Fields are drawn in the language in force as they are built, and again only when it changes (F2)."""
    from tests.tui.fake_api import FakeApi
    from tests.tui.helpers import settled, until, visible_text
    from tui.app import ClinicApp
    from tui.widgets.fields import MultiField, SelectField

    app = ClinicApp(FakeApi(), language="zh", today=lambda: date(2026, 5, 20), status_seconds=3600)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"doctor", "enter", *"246810", "enter")
        await until(pilot, lambda: type(app.screen).__name__ == "HomeScreen")
        await settled(pilot)
        await pilot.press("f3")
        await until(pilot, lambda: type(app.screen).__name__ == "RegisterScreen")
        await settled(pilot)
        form = app.screen
        sex = form.query_one("#f-sex", SelectField).select
        assert "姓名" in visible_text(app) and "Name" not in visible_text(app)  # noqa: PT018
        assert form.query_one("#i-birth_date", Input).placeholder == catalogue("hint.date")
        assert [str(prompt) for prompt, _ in sex._options[1:]] == ["1 男", "2 女", "3 未知的性别", "4 未说明的性别"]
        for language, name in (("en", "Name"), ("zh", "姓名")):
            await pilot.press("f2")
            await until(pilot, lambda name=name: name in visible_text(app))
            t = Catalogue(language)
            assert form.query_one("#i-birth_date", Input).placeholder == t("hint.date")
            assert [str(p) for p, _ in sex._options[1:]] == [
                f"{i} {label}" for i, (label, _) in enumerate(t.options("sex"), 1)
            ]
            populations = form.query_one("#f-key_populations", MultiField).query_one("SelectionList")
            assert str(populations.get_option_at_index(0).prompt).endswith(t.options("key_population")[0][0])


class FormBox(App[None]):
    """A bare app with one box to mount fields into, as a form mounts its later fields."""

    def compose(self) -> ComposeResult:
        yield Vertical(id="box")


async def test_fields_removed_while_they_are_being_mounted_end_quietly() -> None:
    """A form closed (Esc, the lock, the app ending) while a step of its fields is mounting: the fields go in the
    same moment they come. Textual's Select looked up its overlay, already gone, and the app ended with NoMatches
    (the day test's occasional failure, after Esc on a form still being built)."""
    app = FormBox()
    async with app.run_test() as pilot:
        for _ in range(3):
            box = app.query_one("#box")
            box.mount_all(
                [
                    SelectField(
                        "field.allergy_category", name="category", value_set="allergy_category", value="medication"
                    ),
                    Field("fu.field.sbp", name="sbp", check=checks.number(40, 300), value="400"),
                    MultiField("fu.field.symptoms", name="symptoms", value_set="ht_symptom", values=["1"]),
                ]
            )
            await box.remove()  # in the same moment
            await app.mount(Vertical(id="box"))
            await pilot.pause(0.05)
    assert app.return_code in (0, None)
