"""The approvals queue: flagged actions with their context; approve, edit, or reject."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from workbench.tui.screens.modals import ArgsModal, ReasonModal


class ApprovalsScreen(Screen):
    CSS_PATH = "approvals.tcss"
    BINDINGS = [
        Binding("y", "approve", "Approve once", id="approvals.approve"),
        Binding("A", "approve_always", "Approve always", id="approvals.always"),
        Binding("e", "edit", "Edit & approve", id="approvals.edit"),
        Binding("r", "reject", "Reject", id="approvals.reject"),
        Binding("escape", "back", "Back", id="approvals.back"),
    ]

    class Loaded(Message):
        def __init__(self, items: list[Any]) -> None:
            super().__init__()
            self.items = items

    def __init__(self, standalone: bool = False) -> None:
        super().__init__()
        self.standalone = standalone
        self.items: list[Any] = []

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="approvals-body"):
            yield DataTable(id="queue", cursor_type="row")
            with VerticalScroll(id="request-box"):
                yield Static("No pending approvals.", id="request")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "approvals" + (" · reviewer" if self.standalone else "")
        table = self.query_one(DataTable)
        for col in ("ID", "Agent", "Tool", "Rule", "Waiting"):
            table.add_column(col)
        table.focus()
        self.refresh_queue()
        self.set_interval(1.0, self.refresh_queue)

    @work(thread=True, exclusive=True, group="approvals", exit_on_error=False)
    def refresh_queue(self) -> None:
        from workbench.governance.approvals import list_approvals

        self.post_message(self.Loaded(list_approvals(self.app.services.store)))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        ids = [a.id for a in message.items]
        if ids == [a.id for a in self.items]:
            self._waiting_times(message.items)
            return
        table = self.query_one(DataTable)
        keep = self._current().id if self._current() else None
        self.items = message.items
        table.clear()
        now = time.time()
        table.add_rows([(a.id[:8], a.agent, a.tool, ", ".join(a.rule_ids),
                         f"{int(now - a.created_at)}s") for a in self.items])
        if keep in ids:
            table.move_cursor(row=ids.index(keep))
        self._show_request()

    def _waiting_times(self, items: list[Any]) -> None:
        table = self.query_one(DataTable)
        now = time.time()
        for row, a in enumerate(items):
            if row < table.row_count:
                table.update_cell_at((row, 4), f"{int(now - a.created_at)}s")

    def _current(self) -> Any:
        table = self.query_one(DataTable)
        if not self.items or not 0 <= table.cursor_row < len(self.items):
            return None
        return self.items[table.cursor_row]

    @on(DataTable.RowHighlighted)
    def _show_request(self) -> None:
        self.query_one("#request", Static).update(request_text(self._current()))

    # -- decisions ------------------------------------------------------------------------

    def action_approve(self) -> None:
        if (a := self._current()) is not None:
            self._decide(a.id, "approved")

    def action_approve_always(self) -> None:
        if (a := self._current()) is not None:
            self._decide(a.id, "approved", always=True)

    def action_edit(self) -> None:
        a = self._current()
        if a is None:
            return

        def done(args: dict[str, Any] | None) -> None:
            if args is not None:
                self._decide(a.id, "approved", args=args)

        self.app.push_screen(ArgsModal(a.args), done)

    def action_reject(self) -> None:
        a = self._current()
        if a is None:
            return

        def done(reason: str | None) -> None:
            if reason:
                self._decide(a.id, "rejected", reason=reason)

        self.app.push_screen(ReasonModal(f"Reject {a.agent} → {a.tool}? The agent is told why."),
                             done)

    @work(thread=True, group="decide", exit_on_error=False)
    def _decide(self, approval_id: str, decision: str, reason: str | None = None,
                args: dict[str, Any] | None = None, always: bool = False) -> None:
        from workbench.governance.approvals import decide, os_user

        a = decide(self.app.services.store, approval_id, decision, os_user(), reason=reason,
                   args=args, always=always)
        self.app.call_from_thread(self.notify, f"{a.status} {a.agent} → {a.tool}",
                                  title="approval")
        self.refresh_queue()
        self.app.call_from_thread(self.app.poll_pending)

    def action_back(self) -> None:
        if self.standalone:
            self.app.exit()
        else:
            self.app.pop_screen()


def request_text(a: Any) -> Text:
    if a is None:
        return Text("No pending approvals. Flagged actions of any run on this database appear "
                    "here as they happen.", style="dim")
    out = Text()
    out.append(f"{a.agent}", style="bold")
    out.append(" wants to call ", style="dim")
    out.append(f"{a.tool}\n", style="bold")
    out.append(json.dumps(a.args, indent=2, ensure_ascii=False) + "\n")
    out.append("flagged by ", style="dim")
    out.append(", ".join(a.rule_ids), style="bold yellow")
    out.append(f": {a.reason}\n", style="yellow")
    left = max(0, int(a.expires_at - time.time()))
    out.append(f"session {a.session_id[:12]} · expires in {left}s\n", style="dim")
    if a.context:
        out.append("\nbefore it:\n", style="bold dim")
        for m in a.context:
            out.append(f"{m.get('agent')} → {m.get('to') or 'all'}: ", style="bold")
            out.append(" ".join(str(m.get("content") or "").split())[:300] + "\n")
    return out
