"""Remote consultation: asking a specialist about a resident, and the inbox of requests and answers.

``ConsultRequestScreen`` (from a resident's file, ``q``): the question (a quick phrase fills it in),
the urgency, whom to ask (the platform's consultation services, kept for offline use, and those
agent.toml names) and what goes with it — the last 30 days of readings, active conditions and
allergies and the last follow-up (with its medications), all preselected and shown before sending
(space leaves one out). The question has the focus on open; Ctrl+S sends it; Esc asks before it
drops a question typed or a choice changed; a lock keeps it as a draft, as it keeps the forms'.

``ConsultInboxScreen`` (from home, F7): every request with its state — waiting to send, sent,
accepted, answered, closed — made on this PC or another of the clinic's, the question and the
specialist's answers; ``a`` adds information to a request (``ConsultAddScreen``: one text, Enter
sends it), ``w`` withdraws one (after Y to confirm), ``1`` ``2`` ``3`` record the outcome (advice followed, referred,
could not reach the resident) once the doctor confirms it in ``ConsultOutcomeScreen``, which names it and takes an
optional note (Enter records, Esc drops). An answer arriving refreshes it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widget import Widget
from textual.widgets import Input, Select, Static

from tui.i18n import Catalogue
from tui.screens.base import ClinicModal, ClinicScreen, DaemonEvent, Tr
from tui.widgets.fields import Field, SelectField
from tui.widgets.key_hints import KeyHints
from tui.widgets.paged_table import PagedTable, Row
from tui.widgets.readings import summary, when
from tui.widgets.text import clean, lit

if TYPE_CHECKING:  # the contract's types only: the shapes are not loaded when the UI starts
    from clinic_agent.api.shapes import AttachmentJson, ConsultAttachmentsReply, ConsultTargetsReply, TargetJson

STATE_STYLE = {
    "waiting": "yellow",
    "sent": "cyan",
    "accepted": "cyan",
    "answered": "bold green",
    "closed": "dim",
}
OUTCOMES = ("advice-followed", "referred", "not-reached")


def _label(attachment: AttachmentJson, t: Catalogue) -> str:
    label = attachment["label"]
    return t.label("key_population", label) if attachment["kind"] == "follow_up" else label


def _lines(text: object) -> str:
    """A message as its writer broke it into lines (CR LF from the platform too), each line cleaned."""
    return "\n".join(clean(line) for line in str(text if text is not None else "").splitlines())


class ConsultRequestScreen(ClinicScreen):
    """A new consultation request about one resident."""

    TITLE_KEY = "consultation.request_title"
    DEFAULT_CSS = """
    ConsultRequestScreen #consult-choices { height: auto; }
    ConsultRequestScreen #consult-choices > .field { width: 1fr; height: auto; }
    ConsultRequestScreen #attachments { height: 1fr; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        Binding("ctrl+s", "send", "key.send", priority=True),
        Binding("space", "toggle_attachment", "key.toggle_attachment"),
    ]

    def __init__(
        self, resident_id: str, resident_name: str = "", *, readings: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__()
        self.resident_id = resident_id
        self.resident_name = resident_name
        # the file's readings (from the file under this screen): an attached one is shown as the file shows it
        self.readings = {str(r["id"]): r for r in readings or []}
        self.attachments: list[AttachmentJson] = []
        self.left_out: set[str] = set()
        self.targets: list[TargetJson] = []
        self.baseline: tuple[object, ...] | None = None  # the form as it was once loaded: what a change is
        self.restored: dict[str, Any] | None = None  # a draft kept at the last lock, put back once loaded

    def body(self) -> Iterable[Widget]:
        yield Static(id="consult-who")
        yield Field("consultation.question", name="question", hint="consultation.question_hint")
        with Horizontal(id="consult-choices"):
            yield SelectField("consultation.phrase", name="phrase", value_set="consult_phrase")
            yield SelectField("consultation.urgency", name="urgency", value_set="consult_urgency", value="routine")
            with Vertical(classes="field", id="f-target"):
                yield Tr("consultation.target", classes="field-label")
                yield Select[str]([], id="i-target", prompt="—", allow_blank=True, compact=True)
        yield Tr("consultation.attached", classes="heading", id="consult-attached", n="…")
        yield PagedTable(id="attachments", page_size=6)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-question").focus()
        self.load()

    @work(group="consult")
    async def load(self) -> None:
        """Whom one may ask, and the suggested attachments."""
        targets: ConsultTargetsReply | None = await self.call("consult.targets")
        if targets is not None:
            self.targets = list(targets["targets"])
            select = self.query_one("#i-target", Select)
            select.set_options([(clean(t["name"]) or clean(t["target"]), str(t["target"])) for t in self.targets])
            if len(self.targets) == 1:
                select.value = str(self.targets[0]["target"])
            if not self.targets:
                self.say("consultation.no_targets", severity="warning", timeout=15)
        found: ConsultAttachmentsReply | None = await self.call(
            "consult.attachments", {"resident_id": self.resident_id}
        )
        if found is not None:
            self.attachments = list(found["attachments"])
            self._show()
        self.baseline = self._values(question="")  # what was typed while it loaded is a change
        if self.restored is not None:
            self._restore(self.restored)
            self.restored = None

    def _restore(self, values: dict[str, Any]) -> None:
        """Put a draft's values back (a service no longer offered, or a record gone, is left out)."""
        self.query_one("#f-question", Field).value = str(values.get("question") or "")
        self.query_one("#f-urgency", SelectField).value = str(values.get("urgency") or "routine")
        target = values.get("target")
        if any(t["target"] == target for t in self.targets):
            self.query_one("#i-target", Select).value = str(target)
        refs = {a["ref"] for a in self.attachments}
        self.left_out = {str(r) for r in values.get("left_out") or [] if r in refs}
        self._show()

    def draft(self) -> dict[str, Any] | None:
        """The request as a draft for the lock to keep (encrypted by the daemon), or None when nothing changed."""
        if not self.changed:
            return None
        question, urgency, target, _ = self._values()
        return {
            "form": "consult",
            "args": {"resident_id": self.resident_id, "resident_name": self.resident_name},
            "values": {"question": question, "urgency": urgency, "target": target, "left_out": sorted(self.left_out)},
        }

    def _values(self, **given: object) -> tuple[object, ...]:
        """What the doctor may change: the question, the urgency, whom to ask, what is left out."""
        target = self.query_one("#i-target", Select).value
        values: dict[str, object] = {
            "question": self.query_one("#f-question", Field).value.strip(),
            "urgency": self.query_one("#f-urgency", SelectField).value or "routine",
            "target": target if isinstance(target, str) else "",
            "left_out": frozenset(self.left_out),
        }
        values.update(given)
        return tuple(values.values())

    @property
    def changed(self) -> bool:
        """Whether anything was typed, chosen or left out since the form opened."""
        if self.baseline is None:
            return bool(self.query_one("#f-question", Field).value.strip() or self.left_out)
        return self._values() != self.baseline

    def _show(self) -> None:
        t = self.t
        who = self.query_one("#consult-who", Static)
        who.update(Text(t("consultation.about", name=clean(self.resident_name)), style="bold"))
        rows: list[Row] = [
            (
                str(a["ref"]),
                [
                    Text(
                        "✗" if a["ref"] in self.left_out else "✓", style="dim" if a["ref"] in self.left_out else "green"
                    ),
                    t(f"consultation.kind.{a['kind']}"),
                    *self._label_and_detail(a),
                    when(a["at"]) if a["at"] and "T" in a["at"] else clean(a["at"]),
                ],
            )
            for a in self.attachments
        ]
        table = self.query_one("#attachments", PagedTable)
        table.empty_text, table.page_text = t("consultation.nothing_to_attach"), t("table.page")
        # the item attached (高血压, 青霉素), not a person's name: "姓名" over it misread as whose it is
        columns = [
            "",
            t("consultation.col_kind"),
            t("consultation.col_item"),
            t("consultation.col_detail"),
            t("col.time"),
        ]
        table.set_rows(columns, rows, keep_page=True)
        chosen = len(self.attachments) - len(self.left_out)
        self.query_one("#consult-attached", Tr).set_key("consultation.attached", n=chosen)

    def _label_and_detail(self, attachment: AttachmentJson) -> list[Text]:
        """What an attachment is and its values: a reading of the file in the doctor's words ("血压 146/92 脉搏 76"),
        not the device's English name and the units' codes the daemon's plain description carries."""
        t = self.t
        kind, _, record_id = attachment["ref"].partition(":")
        reading = self.readings.get(record_id) if kind == "reading" else None
        if reading is not None:
            return [Text(""), lit(summary(reading, t, short=True), cells=30)]
        return [lit(_label(attachment, t), cells=18), lit(attachment["detail"], cells=24)]

    @on(Select.Changed, "#i-phrase")
    def _phrase(self, event: Select.Changed) -> None:
        if not isinstance(event.value, str):
            return
        phrase = self.t.label("consult_phrase", event.value)
        question = self.query_one("#f-question", Field)
        question.value = f"{question.value} {phrase}".strip() if question.value else phrase
        # the phrase is in the question now; shown in its narrow box too, it wrapped over three lines
        self.query_one("#f-phrase", SelectField).value = None

    def action_toggle_attachment(self) -> None:
        """Leave the attachment under the cursor out, or take it back."""
        key = self.query_one("#attachments", PagedTable).current_key
        if key is None:
            return
        self.left_out ^= {key}
        self._show()

    def _missing(self, params: dict[str, Any]) -> tuple[str, Widget] | None:
        """What the request still lacks, in the doctor's language, and where to put the cursor (None: complete).

        The daemon refuses the same (its reason is English only); said here, the doctor reads it in
        the language in force and the cursor goes where the answer is typed."""
        if not params["question"]:
            return "consultation.needs_question", self.query_one("#i-question")
        if not params["target"]:
            return "consultation.needs_target", self.query_one("#i-target")
        if not params["attachments"]:
            return "consultation.needs_attachment", self.query_one("#attachments", PagedTable).table
        return None

    @work(group="send", exclusive=True)
    async def action_send(self) -> None:
        """Send the request (Ctrl+S): refused with the reason when something is missing."""
        target = self.query_one("#i-target", Select).value
        urgency = self.query_one("#f-urgency", SelectField).value or "routine"
        params = {
            "resident_id": self.resident_id,
            "question": self.query_one("#f-question", Field).value,
            "urgency": urgency,
            "target": target if isinstance(target, str) else "",
            "attachments": [a["ref"] for a in self.attachments if a["ref"] not in self.left_out],
        }
        missing = self._missing(params)
        if missing is not None:
            key, where = missing
            self.say(key, severity="error")
            where.focus()
            return
        made = await self.call("consult.request", params)
        if made is not None:
            self.say("consultation.requested")
            self.app.pop_screen()

    def action_back(self) -> None:
        """Back without sending; if something was typed or chosen, ask first."""
        if self.changed:
            self._ask_to_discard()
        else:
            self.app.pop_screen()

    @work(group="discard", exclusive=True)
    async def _ask_to_discard(self) -> None:
        from tui.screens.confirm import ConfirmScreen

        if await self.app.push_screen_wait(ConfirmScreen("confirm.discard")) and self.app.screen is self:
            self.app.pop_screen()

    def translate_body(self) -> None:
        self._show()


class ConsultInboxScreen(ClinicScreen):
    """Every consultation with its state; the chosen one's question and answers."""

    TITLE_KEY = "consultation.inbox_title"
    DEFAULT_CSS = """
    ConsultInboxScreen #consultations { height: 1fr; }
    ConsultInboxScreen #consult-detail { height: auto; max-height: 8; padding: 0 1; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        Binding("a", "add", "key.add_information"),
        Binding("w", "withdraw", "key.withdraw"),
        Binding("1", "outcome('advice-followed')", "key.outcome_followed"),
        Binding("2", "outcome('referred')", "key.outcome_referred"),
        Binding("3", "outcome('not-reached')", "key.outcome_not_reached"),
        Binding("f5", "reload", "key.reload"),
    ]

    def __init__(self, resident_id: str | None = None, *, chosen: str | None = None) -> None:
        super().__init__()
        self.resident_id = resident_id
        self.chosen = chosen  # the request to open on (home's consultation panel)
        self.consultations: list[dict[str, Any]] = []
        self.current: dict[str, Any] | None = None

    def body(self) -> Iterable[Widget]:
        yield PagedTable(id="consultations", page_size=7)
        yield Static(id="consult-detail")

    def on_mount(self) -> None:
        super().on_mount()
        self.load()

    @work(group="consult", exclusive=True)
    async def load(self) -> None:
        """The inbox, newest first."""
        params = {"resident_id": self.resident_id} if self.resident_id else {}
        found = await self.call("consult.list", params)
        if found is None:
            return
        self.consultations = list(found.get("consultations") or [])
        keep = self.current.get("id") if self.current else self.chosen
        self.current = next((c for c in self.consultations if c["id"] == keep), None) or (
            self.consultations[0] if self.consultations else None
        )
        self._show()
        if self.consultations:
            table = self.query_one("#consultations", PagedTable)
            self.auto_focus(table.table)
            if self.current is not None:
                table.move_to(str(self.current["id"]))

    def _show(self) -> None:
        t = self.t
        rows: list[Row] = [
            (
                str(c["id"]),
                [
                    when(c.get("requested_at")),
                    lit(c.get("resident_name"), "bold", cells=8),
                    t.label("consult_urgency", c.get("urgency")),
                    lit(c.get("target_name") or c.get("target"), cells=14),
                    Text(t(f"consultation.state.{c['state']}"), style=STATE_STYLE.get(str(c["state"]), "")),
                ],
            )
            for c in self.consultations
        ]
        table = self.query_one("#consultations", PagedTable)
        table.empty_text, table.page_text = t("consultation.none"), t("table.page")
        columns = [
            t("col.time"),
            t("col.name"),
            t("consultation.urgency"),
            t("consultation.target"),
            t("consultation.state"),
        ]
        table.set_rows(columns, rows, keep_page=True)
        self._show_detail()

    def _show_detail(self) -> None:
        t = self.t
        detail = Text()
        c = self.current
        if c is not None:
            state = t(f"consultation.state.{c['state']}")
            if c.get("closed_because"):
                state += " · " + t(f"consultation.closed.{c['closed_because']}")
            detail.append(state + "\n", style=STATE_STYLE.get(str(c["state"]), ""))
            detail.append(t("consultation.asked") + " ", style="bold")
            detail.append(_lines(c.get("question")))
            if c.get("author"):  # the clinic's other PCs' requests come down too: who asked
                detail.append("  " + t("consultation.asked_by", name=clean(c["author"])), style="dim")
            detail.append("\n")
            for added in c.get("added") or []:
                detail.append(t("consultation.added") + " ", style="bold")
                detail.append(_lines(added) + "\n")
            for answer in c.get("answers") or []:
                detail.append(t("consultation.answer") + " ", style="bold green")
                detail.append(_lines(answer) + "\n")
            for reply in c.get("unreadable") or []:  # a PDF alone: set aside by the pull, never dropped
                detail.append(t("consultation.unreadable", reply=clean(reply)) + "\n", style="yellow")
            if c.get("made_here") is False:
                detail.append(t("consultation.made_elsewhere") + "\n", style="dim")
            outcome = c.get("outcome")
            if outcome:
                detail.append(t("consultation.outcome") + " ", style="bold")
                detail.append(t(f"consultation.outcome.{outcome.get('outcome')}"))
                if outcome.get("text"):
                    detail.append("  " + _lines(outcome["text"]))
                detail.append("\n")
            if c.get("state") == "waiting":
                detail.append(t("consultation.only_here") + "\n", style="yellow")
        self.query_one("#consult-detail", Static).update(detail)

    @on(PagedTable.Highlighted, "#consultations")
    def _highlighted(self, event: PagedTable.Highlighted) -> None:
        self.current = next((c for c in self.consultations if c["id"] == event.key), self.current)
        self._show_detail()

    def action_add(self) -> None:
        """Add information to the chosen request (a line the specialist reads with the question)."""
        c = self.current
        if c is None:
            return
        if c.get("state") == "closed":
            self.say("consultation.add_closed", severity="warning")
            return

        def added(done: Any) -> None:
            if done:
                self.say("consultation.information_added")
                self.load()

        self.app.push_screen(ConsultAddScreen(str(c["id"]), str(c.get("question") or "")), added)

    @work(group="act", exclusive=True)
    async def action_withdraw(self) -> None:
        """Withdraw the chosen request, once the doctor confirms (the specialist's side sees it cancelled)."""
        from tui.screens.confirm import ConfirmScreen

        chosen = self.current
        if chosen is None:
            return
        if chosen.get("state") == "closed":
            self.say("consultation.withdraw_closed", severity="warning")
            return
        asked = lit(chosen.get("question"), cells=40).plain
        if not await self.app.push_screen_wait(ConfirmScreen("consultation.confirm_withdraw", asked=asked)):
            return
        done = await self.call("consult.withdraw", {"id": chosen["id"]})
        if done is not None:
            self.say("consultation.withdrawn")
            self.load()

    def action_outcome(self, outcome: str) -> None:
        """Record what was done with the answer, once the doctor confirms it (with a note, if any).

        The dialog is pushed here, not from a worker, so an Enter typed right behind the outcome key confirms it.
        """
        chosen = self.current
        if chosen is None:
            return

        def confirmed(note: str | None) -> None:
            if note is not None:
                self.record_outcome(str(chosen["id"]), outcome, note)

        self.app.push_screen(ConsultOutcomeScreen(outcome), confirmed)

    @work(group="act", exclusive=True)
    async def record_outcome(self, consultation_id: str, outcome: str, note: str) -> None:
        """Send the outcome and its note to the daemon (it goes to the platform with the next sync)."""
        params = {"id": consultation_id, "outcome": outcome, **({"text": note} if note else {})}
        done = await self.call("consult.outcome", params)
        if done is not None:
            self.say("consultation.outcome_recorded")
            self.load()

    def action_back(self) -> None:
        """Back."""
        self.app.pop_screen()

    def action_reload(self) -> None:
        """Read the inbox again."""
        self.load()

    def on_daemon_event(self, event: DaemonEvent) -> None:
        if event.name in ("consult.answer", "sync.state"):
            self.load()

    def translate_body(self) -> None:
        self._show()


class ConsultAddScreen(ClinicModal):
    """More information for a request already made: one text, sent with Enter or Ctrl+S; Esc drops it."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        Binding("ctrl+s", "send", "key.send", priority=True),
    ]

    def __init__(self, consultation_id: str, question: str) -> None:
        super().__init__()
        self.consultation_id = consultation_id
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Tr("consultation.add_title", classes="question")
            yield Static(lit(self.question, cells=50), id="consult-add-question")
            yield Field("consultation.add_text", name="text", hint="consultation.add_hint")
        yield KeyHints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-text").focus()

    @on(Input.Submitted, "#i-text")
    def _submitted(self) -> None:
        self.action_send()

    @work(group="send", exclusive=True)
    async def action_send(self) -> None:
        """Send it: refused with the reason when empty (the daemon says why)."""
        text = self.query_one("#f-text", Field).value
        done = await self.call("consult.add", {"id": self.consultation_id, "text": text})
        if done is not None:
            self.dismiss(True)

    def action_back(self) -> None:
        """Back without adding anything."""
        self.dismiss(False)


class ConsultOutcomeScreen(ClinicModal):
    """The outcome named, to confirm with Enter (or Ctrl+S), and a short note that goes with it (optional); Esc drops
    it."""

    NOTE_LENGTH = 200  # a line or two: what was agreed, not a letter
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "back", "key.back"),
        # Enter in the note records too (the note's own Enter hides a binding of it from the hints)
        Binding("ctrl+s", "record", "key.record", priority=True),
    ]

    def __init__(self, outcome: str) -> None:
        super().__init__()
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog confirm"):
            yield Tr("consultation.outcome_confirm", classes="question", id="outcome-question")
            yield Field("consultation.outcome_note", name="note", hint="consultation.outcome_hint")
        yield KeyHints()

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#i-note", Input).max_length = self.NOTE_LENGTH
        self.query_one("#i-note").focus()

    def translate_body(self) -> None:
        outcome = self.t(f"consultation.outcome.{self.outcome}")
        self.query_one("#outcome-question", Tr).set_key("consultation.outcome_confirm", outcome=outcome)

    @on(Input.Submitted, "#i-note")
    def _submitted(self) -> None:
        self.action_record()

    def action_record(self) -> None:
        """Record it, with the note as typed (without surrounding spaces)."""
        self.dismiss(self.query_one("#f-note", Field).value)

    def action_back(self) -> None:
        """Back: nothing recorded."""
        self.dismiss(None)
