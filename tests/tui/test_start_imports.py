"""The UI's start, up to the sign-in screen's first frame, loads only what that screen needs (issue 13: cold start).

Structural, never timed: a fresh interpreter starts the app against a daemon that answers at once,
waits for the sign-in screen to be drawn, then lists the modules it loaded. The other screens (home,
a file, the forms, conflicts, consultations), the readings' wording and charts, the API's contract
and shapes, the model, serde and pinyin come later, when first used. When this test fails, a
module-level import has pulled one of them back onto the start: import it where it is used instead.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# Nothing of these before the sign-in screen is drawn.
HEAVY = (
    "tui.screens.home",
    "tui.screens.resident",
    "tui.screens.form",
    "tui.screens.entry_form",
    "tui.screens.followup",
    "tui.screens.register",
    "tui.screens.assign",
    "tui.screens.conflicts",
    "tui.screens.consult",
    "tui.screens.lock",
    "tui.screens.unlock",
    "tui.screens.confirm",
    "tui.widgets.readings",
    "tui.widgets.chart",
    "tui.widgets.paged_table",
    "tui.widgets.consult_panel",
    "textual.widgets._selection_list",  # the forms' lists of choices
    "textual.widgets._data_table",
    "clinic_agent.api",  # the contract (with the first error shown), the client (with the first call)
    "clinic_agent.core.model",
    "clinic_agent.core.serde",
    "clinic_agent.core.pinyin",
    "clinic_agent.store",
    "pypinyin",
    "sync",
    "drivers",
    "httpx",
    "cryptography",
)

# The app on a headless terminal, against a daemon that answers at once; it prints the modules it has
# loaded once the sign-in screen has been drawn, and exits.
STARTED = """
import sys
from pathlib import Path
from tui.app import ClinicApp

class Daemon:
    on_event = None
    async def connect(self): pass
    async def logout(self): pass
    async def close(self): pass
    async def call(self, method, params=None):
        return {"users": 1, "outbox": {"pending": 0, "parked": 0}, "disk_low": False}

class Started(ClinicApp):
    CSS_PATH = str(Path(sys.modules[ClinicApp.__module__].__file__).with_name("app.tcss"))
    first_frame = None
    def on_mount(self):
        self.watch_for = self.set_interval(0.01, self.check)
    def _display(self, screen, renderable):
        if self.first_frame is None and type(screen).__name__ == "SignInScreen":
            self.first_frame = [Path(path).name for path, _ in self.stylesheet.source if path.endswith(".tcss")]
        super()._display(screen, renderable)
    def check(self):
        if type(self.screen).__name__ == "SignInScreen" and self.screen.is_mounted:
            self.watch_for.stop()
            self.call_after_refresh(self.drawn)
    def drawn(self):
        self.loaded = sorted(sys.modules)
        self.exit()

app = Started(Daemon())
app.run(headless=True, size=(80, 24))
print("\\n".join(app.loaded))
print("first-frame-css:" + ",".join(app.first_frame))
"""


def _loaded_at_sign_in(tmp_path: Path) -> set[str]:
    script = tmp_path / "started.py"
    script.write_text(STARTED, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "TERM": "dumb"},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return set(done.stdout.split())


def test_the_sign_in_screen_is_drawn_with_its_own_rules_only(tmp_path: Path) -> None:
    """The first frame's stylesheet has app.tcss, not screens.tcss (the other screens' rules, added after it).

    Planted fault, failing this test: ``SignInScreen.SCREENS_CSS`` left True (its compose adds them first)."""
    modules = _loaded_at_sign_in(tmp_path)
    assert [m for m in modules if m.startswith("first-frame-css:")] == ["first-frame-css:app.tcss"]


def test_the_sign_in_screen_is_drawn_without_the_other_screens_or_heavy_modules(tmp_path: Path) -> None:
    """Planted faults, each failing this test: ``tui/app.py`` importing ``summary`` from
    ``tui.widgets.readings`` at the top again; ``tui/widgets/banner.py`` importing ``declared`` from the
    contract at the top; ``tui/widgets/fields.py`` importing ``SelectionList`` at the top."""
    modules = _loaded_at_sign_in(tmp_path)
    assert "tui.screens.signin" in modules  # it did start the UI as far as the sign-in
    assert sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)) == []


async def test_a_screen_built_before_the_sign_ins_first_frame_has_its_rules_all_the_same() -> None:
    """screens.tcss is added by whichever comes first: the sign-in's first frame, or another screen being built.

    A dialog pushed under the sign-in as the app mounts is built before that frame. Planted fault, failing this
    test: ``ScreenMixin.on_compose`` not adding the rules (the dialog's box would lose its width and border)."""
    from textual.containers import Vertical

    import tui.app
    from tests.tui.fake_api import FakeApi
    from tui.screens.confirm import ConfirmScreen

    class Early(tui.app.ClinicApp):
        CSS_PATH = str(Path(tui.app.__file__).with_name("app.tcss"))  # beside the app, not this test

        def on_mount(self) -> None:  # Textual calls ClinicApp.on_mount after this one: the sign-in goes on top
            self.push_screen(ConfirmScreen("drafts.offer", n=1))

    app = Early(FakeApi())
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        dialog = app.screen_stack[1]
        assert isinstance(dialog, ConfirmScreen)
        assert type(app.screen).__name__ == "SignInScreen"
        box = dialog.query_one(".dialog", Vertical)
        width = box.styles.width
        assert (width.cells if width else None, box.styles.border_top[0]) == (56, "round")
