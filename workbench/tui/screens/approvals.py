"""The approvals queue: flagged tool calls with their context, decided here for any process,
under the reviewer's name; decided requests stay in the history."""

from __future__ import annotations

import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, Static

from workbench.tui.background import in_thread
from workbench.tui.clock import duration
from workbench.tui.screens.base import SectionScreen
from workbench.tui.screens.modals import Dialog

log = logging.getLogger("workbench.tui")

#: While shown, the queue is re-read this often (requests come from any process; on
#: PostgreSQL each change is also pushed, and the queue is re-read the moment it lands).
REFRESH_S = 1.0


@dataclass
class ApprovalsLoaded(Message):
    items: list[Any]


class QueueChanged(Message):
    """The database pushed a change to the approvals (a request, a decision, an expiry)."""


@dataclass
class Decided(Message):
    approval: Any


@dataclass
class ReviewerNamed(Message):
    name: str


#: How each outcome reads in the history, and its colour.
OUTCOME_STYLE = {"approved": "green", "rejected": "red", "expired": "dim", "pending": "yellow"}
#: The keys that decide the selected request: not offered while the history shows.
DECIDING_ACTIONS = frozenset({"approve", "approve_always", "edit", "reject"})
PENDING_COLUMNS = ("Agent", "Tool", "Left", "Rule", "ID")
HISTORY_COLUMNS = ("Time", "Outcome", "Session", "Agent", "Tool", "By")
#: Below the app's wide breakpoint (80 columns) the history's table cannot show all six:
#: the tool comes right after when and what became of it, so those three stay in view.
NARROW_HISTORY_COLUMNS = ("Time", "Outcome", "Tool", "Session", "Agent", "By")
#: Fixed widths: the columns stay put as requests come and go (an auto-sized column is
#: measured only when the table is next idle, so a queue read just before would draw every
#: column as wide as its header); longer text is cut, and the request pane shows it whole.
COLUMN_WIDTHS = {"Agent": 10, "Tool": 12, "Left": 7, "Rule": 30, "ID": 12, "Time": 11,
                 "Outcome": 8, "Session": 8, "By": 10}


def approval_context(item: Any, clock: Any) -> RenderableType:
    """Who asks, for what, in which run of which crew, why it was flagged, and the
    conversation just before it."""
    a = item.approval
    head = Text()
    head.append(f"{a.agent}", "bold")
    head.append(" wants to call ")
    head.append(a.tool, "bold")
    head.append(f"   approval {a.id}", "dim")
    parts: list[RenderableType] = [head]
    run = Text("crew ", "dim")
    run.append(item.crew or "?", "bold")
    run.append(f" · session {a.session_id[:12]}", "dim")
    if item.session_status:
        run.append(f" ({item.session_status})", "dim")
    parts.append(run)
    # said here too: at 80 columns the footer has no room for the key
    parts.append(Text("o opens the session in the run view", "dim"))
    if item.task:
        task = Text("task ", "dim")
        task.append(" ".join(item.task.split())[:400])
        parts.append(task)
    flagged = Text("flagged by ", "dim")
    flagged.append(", ".join(a.rule_ids) or "policy", "yellow")
    flagged.append(f": {a.reason}")
    parts.append(flagged)
    if a.status == "pending" and item.external:
        parts.append(Text("acts outside the workbench (tagged external): approving asks once "
                          "more" if item.tags is not None else "its tool's tags are unknown: "
                          "approving asks once more", "yellow"))
    if a.status == "pending":
        left = a.expires_at - clock.now()
        parts.append(Text(f"expires in {duration(max(0.0, left))} (then it counts as rejected)",
                          "dim"))
    else:
        decided = Text(f"{a.status}", "bold green" if a.status == "approved" else "bold red")
        decided.append(f" by {a.reviewer or '?'} · {clock.date_time(a.decided_at)}", "dim")
        if a.always:
            decided.append(" · always for this session", "dim")
        if a.decision_reason:
            decided.append(f": {a.decision_reason}")
        parts.append(decided)
    parts.append(Text("\narguments", "dim"))
    parts.append(Text(json.dumps(a.args, indent=2, ensure_ascii=False, default=str)))
    if a.edited_args is not None:
        parts.append(Text("ran with (edited)", "dim"))
        parts.append(Text(json.dumps(a.edited_args, indent=2, ensure_ascii=False, default=str)))
    if a.context:
        parts.append(Text("\nthe last messages before it", "dim"))
        for m in a.context:
            line = Text()
            line.append(str(m.get("agent") or "?"), "bold")
            line.append(f" → {m.get('to') or 'no one'}: ", "dim")
            line.append(" ".join(str(m.get("content") or "").split())[:500])
            parts.append(line)
    return Group(*parts)


class ReviewerModal(Dialog):
    """The name this window's decisions are recorded under."""

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Your name on the decisions made here", classes="dialog-title")
            yield Input(self.current, placeholder="reviewer name", id="reviewer")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use this name", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        name = " ".join(self.query_one("#reviewer", Input).value.split())
        if not name:
            self.show_problem("a name is required: every decision names its reviewer")
            return
        if len(name) > 64:
            self.show_problem("at most 64 characters")
            return
        self.dismiss(name)


class ApprovalsScreen(SectionScreen):
    SECTION = "approvals"
    CSS_PATH = Path(__file__).with_name("approvals.tcss")
    AUTO_FOCUS = "#approvals-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("a", "approve", "Approve once", id="approvals.approve",
                tooltip="Let this one call run"),
        Binding("A", "approve_always", "Always", id="approvals.approve_always",
                tooltip="Approve, and let this agent call this tool freely for the session"),
        Binding("e", "edit", "Edit args", id="approvals.edit",
                tooltip="Edit the call's arguments as JSON, then approve"),
        Binding("r", "reject", "Reject", id="approvals.reject",
                tooltip="Reject with a reason; the agent is told why"),
        Binding("h", "toggle_history", "History", id="approvals.history",
                tooltip="Show decided requests too"),
        Binding("o", "open_session", "Open session", id="approvals.open_session",
                tooltip="Open the request's session in the run view (followed live while "
                        "it runs)"),
        Binding("n", "reviewer", "Reviewer", id="approvals.reviewer",
                tooltip="Set the name your decisions are recorded under"),
        # shown by the line that says questions wait, not in the footer
        Binding("q", "questions", "Questions for a person", show=False,
                id="approvals.questions",
                tooltip="Answer a question a run asks a person (a human agent's turn)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []
        self.history = False
        self._shown: tuple[Any, ...] | None = None
        self._columns: tuple[str, ...] = ()
        self._watch_stop = threading.Event()
        #: Changes the database pushed (the first one says listening has begun).
        self.pushed = 0

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="approvals-body"):
            table: DataTable[Any] = DataTable(id="approvals-table", cursor_type="row",
                                              classes="panel")
            table.border_title = "Pending approvals"
            yield table
            with VerticalScroll(id="approvals-detail", classes="panel") as detail:
                detail.border_title = "Request"
                yield Static("", id="approvals-context")
        from workbench.tui.screens.human import QuestionDesk

        yield QuestionDesk()  # seen only while a run waits for a person's answer

    def on_mount(self) -> None:
        self._set_columns(PENDING_COLUMNS)
        self._show_reviewer()
        self.set_interval(REFRESH_S, self._refresh_if_shown)
        self.watch(self.app, "pending", lambda _count: self.action_refresh(), init=False)
        self.action_refresh()
        self._watch_pushed()

    def on_unmount(self) -> None:
        self._watch_stop.set()

    def _watch_pushed(self) -> None:
        """On PostgreSQL, listen for approval changes in a thread and re-read the queue the
        moment one lands; on SQLite the thread ends at once and the poll above remains."""
        services, stop = self.wb.services, self._watch_stop

        def body() -> None:
            try:
                services.watch_approvals(lambda: self.post_message(QueueChanged()), stop)
            except Exception:  # reading the queue reports a database that cannot be used
                log.warning("listening for approval changes failed; polling", exc_info=True)

        # the live-run group: it works as long as the screen lives, and whoever waits for
        # the UI to be idle does not wait for it
        self.run_worker(body, name="listening for approval changes", group="live-run",
                        exclusive=False, thread=True, exit_on_error=False)

    def on_queue_changed(self, message: QueueChanged) -> None:
        self.pushed += 1
        self.wb.poll_pending()  # the badge, on every screen
        if self.is_current:
            self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def _refresh_if_shown(self) -> None:
        if self.is_current:
            self.action_refresh()

    def _set_columns(self, columns: tuple[str, ...]) -> None:
        """Pending requests lead with what a reviewer needs first (at 80 columns the id, also
        in the request pane, is what scrolls out of view); the history with when, what
        became of it and in which session."""
        if columns == self._columns:
            return
        self._columns = columns
        table = self.query_one(DataTable)
        table.clear(columns=True)
        for name in columns:
            table.add_column(name, key=name, width=COLUMN_WIDTHS[name])

    def _show_reviewer(self) -> None:
        detail = self.query_one("#approvals-detail")
        # the name is known without the database: reading it opens nothing
        detail.border_subtitle = f"deciding as {self.wb.services.reviewer} (n)"

    def action_refresh(self) -> None:
        in_thread(self, self.wb.services.review_queue, not self.history, done=ApprovalsLoaded,
                  what="reading the approvals queue", group="approvals-load")

    def on_approvals_loaded(self, message: ApprovalsLoaded) -> None:
        clock = self.wb.clock
        items = message.items
        shown = tuple((i.approval.id, i.approval.status, int(i.approval.expires_at - clock.now()))
                      for i in items)
        if shown == self._shown:
            return
        self._shown = shown
        selected = self._selected()
        self.items = items
        table = self.query_one(DataTable)
        table.border_title = ("History (newest first)" if self.history else
                              f"Pending approvals ({len(items)})")
        self._fill_table(selected)
        self._show_context()

    def _fill_table(self, selected: Any = None) -> None:
        """The rows of `self.items`, under the columns the mode (and width) asks for."""
        clock = self.wb.clock
        table = self.query_one(DataTable)
        # the history's six columns need more room than the queue's (approvals.tcss)
        table.set_class(self.history, "-history")
        if self.history:
            self._set_columns(NARROW_HISTORY_COLUMNS if self.has_class("-narrow")
                              else HISTORY_COLUMNS)
        else:
            self._set_columns(PENDING_COLUMNS)
        table.clear()
        for item in self.items:
            a = item.approval
            if self.history:
                cells: dict[str, Any] = {
                    "Time": clock.short(a.decided_at or a.created_at),
                    "Outcome": Text(a.status, OUTCOME_STYLE.get(a.status, "")),
                    "Session": a.session_id[:8], "Agent": a.agent, "Tool": a.tool,
                    "By": a.reviewer or ""}
            else:
                cells = {"Agent": a.agent, "Tool": a.tool,
                         "Left": duration(max(0.0, a.expires_at - clock.now())),
                         "Rule": (a.rule_ids or ["-"])[0], "ID": a.id[:8]}
            table.add_row(*(cells[name] for name in self._columns), key=a.id)
        if selected is not None and any(i.approval.id == selected.approval.id
                                        for i in self.items):
            table.move_cursor(row=table.get_row_index(selected.approval.id), animate=False)

    def on_resize(self) -> None:
        # across the wide breakpoint the history's columns change order: once the screen's
        # breakpoint class is set
        if self.history:
            self.call_after_refresh(lambda: self._fill_table(self._selected()))

    def _selected(self) -> Any:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row is None or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return next((i for i in self.items if i.approval.id == key), None)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_context()

    def _show_context(self) -> None:
        body = self.query_one("#approvals-context", Static)
        item = self._selected()
        if item is None:
            body.update(Text(
                "Nothing waits for a decision. Flagged tool calls from runs in this window or "
                "in any other process on this database appear here.", "dim")
                if not self.history else Text("No approvals yet.", "dim"))
            return
        body.update(approval_context(item, self.wb.clock))

    # -- decisions ------------------------------------------------------------------------

    def _pending_selected(self) -> Any:
        item = self._selected()
        if item is None:
            self.notify("No request selected", severity="warning")
            return None
        a = item.approval
        if a.status != "pending":
            self.notify(f"Approval {a.id} was already {a.status}", severity="warning")
            return None
        return item

    def action_approve(self) -> None:
        item = self._pending_selected()
        if item is not None:
            self._confirm_then_send(item, always=False)

    def action_approve_always(self) -> None:
        item = self._pending_selected()
        if item is not None:
            self._confirm_then_send(item, always=True)

    def _confirm_then_send(self, item: Any, always: bool,
                           args: dict[str, Any] | None = None) -> None:
        """An action that reaches outside the workbench (a tool tagged `external`: email,
        the network) is approved only after a second yes: one stray key must not send it,
        whether it is approved as asked or with edited arguments."""
        a = item.approval
        if not item.external:
            self._send(a, "approved", always=always, args=args)
            return
        from workbench.tui.screens.modals import ConfirmModal

        why = ("acts outside the workbench (tagged external)" if item.tags is not None
               else "may act outside the workbench (its tags are unknown)")
        scope = " and every later call of it in this session" if always else ""
        question = f"{a.tool} {why}. Approve {a.agent} → {a.tool}{scope}?"

        def answered(yes: bool | None) -> None:
            if yes:
                self._send(a, "approved", always=always, args=args)

        self.app.push_screen(ConfirmModal(question, "Approve"), answered)

    def action_edit(self) -> None:
        item = self._pending_selected()
        if item is None:
            return
        a = item.approval
        from workbench.tui.screens.modals import ArgsModal

        def edited(args: dict[str, Any] | None) -> None:
            if args is not None:
                self._confirm_then_send(item, always=False, args=args)

        self.app.push_screen(ArgsModal(a.tool, a.args), edited)

    def action_reject(self) -> None:
        item = self._pending_selected()
        if item is None:
            return
        a = item.approval
        from workbench.tui.screens.modals import ReasonModal

        def reasoned(reason: str | None) -> None:
            if reason:
                self._send(a, "rejected", reason=reason)

        self.app.push_screen(ReasonModal(f"Reject {a.agent} → {a.tool}?"), reasoned)

    def _send(self, a: Any, decision: str, reason: str | None = None,
              args: dict[str, Any] | None = None, always: bool = False) -> None:
        services = self.wb.services

        def decide() -> Any:
            return services.decide(a.id, decision, reason=reason, args=args, always=always)

        in_thread(self, decide, done=Decided, what=f"deciding approval {a.id}",
                  group=f"decide-{a.id}")

    def on_decided(self, message: Decided) -> None:
        a = message.approval
        how = " (always for this session)" if a.always else ""
        self.notify(f"{a.agent} → {a.tool}: {a.status}{how}", title=f"Approval {a.id}")
        self._shown = None
        self.action_refresh()
        self.wb.poll_pending()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # the history shows decided requests: deciding keys leave the footer while it shows
        if action in DECIDING_ACTIONS:
            return not self.history
        return True

    def action_toggle_history(self) -> None:
        self.history = not self.history
        self._shown = None
        self.refresh_bindings()
        self.action_refresh()

    def action_open_session(self) -> None:
        item = self._selected()
        if item is None:
            self.notify("No request selected", severity="warning")
            return
        self.wb.open_replay(item.approval.session_id)

    def action_questions(self) -> None:
        from workbench.tui.screens.human import QuestionDesk

        self.query_one(QuestionDesk).open()

    def action_reviewer(self) -> None:
        def named(name: str | None) -> None:
            if name:
                self.post_message(ReviewerNamed(name))

        self.app.push_screen(ReviewerModal(self.wb.services.reviewer), named)

    def on_reviewer_named(self, message: ReviewerNamed) -> None:
        from workbench.errors import UserInputError

        try:
            self.wb.services.reviewer = message.name
        except UserInputError as exc:
            self.notify(str(exc), severity="error")
            return
        self._show_reviewer()
        self.notify(f"Decisions made here are recorded as {self.wb.services.reviewer}",
                    title="Reviewer")

