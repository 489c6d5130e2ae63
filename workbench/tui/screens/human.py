"""A person's turn in the TUI: the run view asks in a dialog when a live run's human agent
speaks next (or an answer waits for review), and the review window lists every question
waiting for a person, from any process, to answer one.

The run waits for the answer in the database (governance/human.py), so an answer given
here, in `workbench review` or with `workbench approvals answer` all count; the first wins.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Button, Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from workbench.mesh import events as ev
from workbench.tui.background import in_thread
from workbench.tui.screens.modals import Dialog


@dataclass
class Asked:
    """A question as the dialog shows it."""

    id: str
    agent: str
    ask: str  # turn | feedback
    prompt: str
    text: str
    context: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class HumanAsked(Message):
    """A live run asks a person (posted from the run's thread)."""

    asked: Asked


@dataclass
class HumanSettled(Message):
    """A question was answered or skipped (here or elsewhere): its dialog closes."""

    question_id: str


@dataclass
class Answered(Message):
    note: str


def watcher(target: Any) -> Callable[[Any], None]:
    """A bus subscriber telling `target` (a screen) about a live run's questions. It only
    posts messages (thread-safe); the screen opens the dialog."""

    def on_event(e: Any) -> None:
        if e.kind == ev.HUMAN_REQUESTED:
            d = e.data
            target.post_message(HumanAsked(Asked(
                str(d.get("question_id") or ""), e.agent or "?", str(d.get("ask") or "turn"),
                str(d.get("prompt") or ""), e.content or "", list(d.get("context") or []))))
        elif e.kind in (ev.HUMAN_ANSWERED, ev.HUMAN_SKIPPED):
            target.post_message(HumanSettled(str(e.data.get("question_id") or "")))

    return on_event


def _context_text(asked: Asked) -> Text:
    out = Text()
    for m in asked.context[-4:]:
        out.append(f"{m.get('agent') or '?'}", "bold")
        out.append(f" → {m.get('to') or 'no one'}: ", "dim")
        out.append(" ".join(str(m.get("content") or "").split())[:400] + "\n")
    if asked.text and (asked.ask == "feedback" or not asked.context):
        out.append("answer to review: " if asked.ask == "feedback" else "asked: ", "dim")
        out.append(" ".join(asked.text.split())[:1500])
    return out


class HumanModal(Dialog):
    """Answer for a human agent (enter), skip its turn, or answer later (escape: the
    question stays open for a reviewer until it expires). For feedback: send it (enter), or
    accept the answer as it is."""

    def __init__(self, asked: Asked) -> None:
        super().__init__()
        self.asked = asked

    def compose_dialog(self) -> ComposeResult:
        a = self.asked
        feedback = a.ask == "feedback"
        with Vertical(classes="dialog wide", id="human-dialog"):
            yield Label(f"👤 {a.prompt}", classes="dialog-title")
            with VerticalScroll(id="human-context"):
                yield Static(_context_text(a))
            yield Input(placeholder=("feedback for " + a.agent) if feedback else
                        f"your answer as {a.agent}", id="human-answer")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Send feedback" if feedback else "Answer", variant="primary",
                             id="ok")
                yield Button("Accept as is" if feedback else "Skip turn", id="skip")
                yield Button("Later", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one("#human-answer", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one("#human-answer", Input).value.strip()
        if not text:
            self.show_problem("type an answer, or choose " + (
                "Accept as is" if self.asked.ask == "feedback" else "Skip turn"))
            return
        self.dismiss(("answer", text))

    @on(Button.Pressed, "#skip")
    def _skip(self) -> None:
        self.dismiss(("accept", "") if self.asked.ask == "feedback" else ("skip", ""))


def send_answer(services: Any, question_id: str, choice: tuple[str, str]) -> str:
    """Store a dialog's choice (in a worker thread); what happened, in words."""
    from workbench.governance import human

    how, text = choice
    who = services.reviewer
    if how == "skip":
        human.skip(services.store, question_id, f"{who} skipped the turn")
        return "Turn skipped"
    q = human.answer(services.store, question_id, text, who, "tui")
    if q.kind == "feedback" and not text:
        return f"{q.agent}'s answer accepted"
    return f"Answered for {q.agent}" if q.kind == "turn" else f"Feedback sent to {q.agent}"


class HumanDesk(Widget):
    """Kept (unseen) in the run view: asks a live run's questions one at a time. A question
    that arrives while a dialog is open waits its turn; one settled elsewhere first (by a
    reviewer) is not asked, and its open dialog closes."""

    DEFAULT_CSS = "HumanDesk { display: none; }"

    def __init__(self) -> None:
        super().__init__(id="human-desk")
        self.waiting: list[Asked] = []
        self.showing: HumanModal | None = None

    def on_human_asked(self, message: HumanAsked) -> None:
        self.waiting.append(message.asked)
        self._next()

    def on_human_settled(self, message: HumanSettled) -> None:
        self.waiting = [a for a in self.waiting if a.id != message.question_id]
        if self.showing is not None and self.showing.asked.id == message.question_id \
                and self.showing.is_attached:
            self.showing.dismiss(None)

    def on_answered(self, message: Answered) -> None:
        self.notify(message.note, title="Human turn")

    def _next(self) -> None:
        if self.showing is not None or not self.waiting:
            return
        asked = self.waiting.pop(0)
        asked.context = asked.context or self._recent()
        modal = HumanModal(asked)
        self.showing = modal

        def chosen(choice: tuple[str, str] | None) -> None:
            self.showing = None
            if choice is not None:
                in_thread(self, send_answer, self.app.services, asked.id, choice,
                          done=Answered, what=f"answering for {asked.agent}",
                          group=f"human-{asked.id}")
            self._next()

        self.app.push_screen(modal, chosen)

    def _recent(self) -> list[dict[str, Any]]:
        """The last messages of the live run, as the run view has them."""
        model = getattr(self.screen, "model", None)
        out: list[dict[str, Any]] = []
        for entry in list(getattr(model, "entries", []))[-40:]:
            if entry.kind == ev.MESSAGE:
                out.append({"agent": entry.agent, "to": entry.to, "content": entry.text})
        return out[-4:]


class QuestionsModal(Dialog):
    """Every question waiting for a person (from any process): pick one and answer it."""

    # CSS, not DEFAULT_CSS: it must win over the dialogs' own sheet (modals.tcss)
    CSS = """
    /* the list and what was said scroll; the answer and the buttons stay on screen */
    #questions-dialog { height: 90%; }
    #questions { height: auto; max-height: 35%; }
    #question-context-scroll { height: 1fr; min-height: 1; }
    /* rows are few at 80x24: the list's border and the problem line are the gaps */
    #questions-dialog .dialog-title { margin-bottom: 0; }
    #questions-dialog .dialog-buttons { margin-top: 0; }
    """

    def __init__(self, questions: list[Any]) -> None:
        super().__init__()
        self.questions = questions

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog wide", id="questions-dialog"):
            yield Label(f"👤 Questions for a person ({len(self.questions)})",
                        classes="dialog-title")
            yield OptionList(*[Option(f"{q.prompt}  · session {q.session_id[:8]} · {q.id}",
                                      id=q.id) for q in self.questions], id="questions")
            with VerticalScroll(id="question-context-scroll"):
                yield Static("", id="question-context")
            yield Input(placeholder="your answer", id="human-answer")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Answer", variant="primary", id="ok")
                yield Button("Close", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        if self.questions:
            self.query_one(OptionList).highlighted = 0
            self._show(0)
        self.query_one("#human-answer", Input).focus()

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._show(event.option_index)

    def _show(self, index: int) -> None:
        q = self.questions[index]
        asked = Asked(q.id, q.agent, q.kind, q.prompt, q.question, q.context)
        self.query_one("#question-context", Static).update(_context_text(asked))
        self.query_one("#human-answer", Input).placeholder = (
            f"feedback for {q.agent} (empty: accept the answer)" if q.kind == "feedback"
            else f"your answer as {q.agent}")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        index = self.query_one(OptionList).highlighted
        if index is None or not self.questions:
            self.show_problem("no question selected")
            return
        q = self.questions[index]
        text = self.query_one("#human-answer", Input).value.strip()
        if not text and q.kind == "turn":
            self.show_problem(f"an answer is needed: {q.agent} speaks with it")
            return
        self.dismiss((q.id, text))


def pending_questions(services: Any) -> list[Any]:
    from workbench.governance.human import list_questions

    return list_questions(services.store)


@dataclass
class QuestionsLoaded(Message):
    questions: list[Any]


@dataclass
class QuestionsCounted(Message):
    questions: list[Any]


def answer_question(services: Any, question_id: str, text: str) -> str:
    from workbench.governance.human import answer

    q = answer(services.store, question_id, text, services.reviewer, "reviewer")
    if q.kind == "feedback" and not text:
        return f"{q.agent}'s answer accepted"
    return f"Answered for {q.agent}" if q.kind == "turn" else f"Feedback sent to {q.agent}"


class QuestionDesk(Static):
    """A line in the approvals queue while runs (of any process) wait for a person's answer;
    `open()` (the screen's q) lists the questions to answer one."""

    DEFAULT_CSS = """
    QuestionDesk { height: auto; display: none; padding: 0 1; color: $warning; }
    QuestionDesk.-waiting { display: block; }
    """
    POLL_S = 1.0

    def __init__(self) -> None:
        super().__init__("", id="questions-desk")
        self._seen: set[str] = set()

    def on_mount(self) -> None:
        self.set_interval(self.POLL_S, self._poll)
        self._poll()

    def _poll(self) -> None:
        if self.screen.is_current:
            in_thread(self, pending_questions, self.app.services, done=QuestionsCounted,
                      what="reading the questions for a person", group="questions-poll")

    def on_questions_counted(self, message: QuestionsCounted) -> None:
        questions = message.questions
        new = {q.id for q in questions} - self._seen
        if new:
            first = next(q for q in questions if q.id in new)
            self.notify(first.prompt, title="A person is asked", severity="warning")
        self._seen = {q.id for q in questions}
        n = len(questions)
        self.set_class(bool(n), "-waiting")
        self.update(f"👤 {n} question{'s' if n != 1 else ''} for a person: press q to answer"
                    if n else "")

    def open(self) -> None:
        in_thread(self, pending_questions, self.app.services, done=QuestionsLoaded,
                  what="reading the questions for a person", group="questions-load")

    def on_questions_loaded(self, message: QuestionsLoaded) -> None:
        if not message.questions:
            self.notify("No question waits for a person", severity="information")
            return

        def chosen(choice: tuple[str, str] | None) -> None:
            if choice is not None:
                question_id, text = choice
                in_thread(self, answer_question, self.app.services, question_id, text,
                          done=Answered, what="answering a question",
                          group=f"answer-{question_id}")

        self.app.push_screen(QuestionsModal(message.questions), chosen)

    def on_answered(self, message: Answered) -> None:
        self.notify(message.note, title="Human turn")
        self._poll()
