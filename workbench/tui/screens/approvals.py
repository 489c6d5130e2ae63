"""The approvals queue: flagged tool calls with their context, decided here for any process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from workbench.tui.background import in_thread
from workbench.tui.clock import duration
from workbench.tui.screens.base import SectionScreen

#: While shown, the queue is re-read this often (requests come from any process).
REFRESH_S = 1.0


class ApprovalsLoaded(Message):
    def __init__(self, items: list[Any]) -> None:
        super().__init__()
        self.items = items


class Decided(Message):
    def __init__(self, approval: Any) -> None:
        super().__init__()
        self.approval = approval


def approval_context(a: Any, clock: Any) -> RenderableType:
    """Who asks, for what, why it was flagged, and the conversation just before it."""
    head = Text()
    head.append(f"{a.agent}", "bold")
    head.append(" wants to call ")
    head.append(a.tool, "bold")
    head.append(f"   approval {a.id} · session {a.session_id[:12]}", "dim")
    parts: list[RenderableType] = [head]
    flagged = Text("flagged by ", "dim")
    flagged.append(", ".join(a.rule_ids) or "policy", "yellow")
    flagged.append(f": {a.reason}")
    parts.append(flagged)
    if a.status == "pending":
        left = a.expires_at - clock.now()
        parts.append(Text(f"expires in {duration(max(0.0, left))} (then it counts as rejected)",
                          "dim"))
    else:
        decided = Text(f"{a.status}", "bold green" if a.status == "approved" else "bold red")
        decided.append(f" by {a.reviewer or '?'}", "dim")
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
            line.append(f" → {m.get('to') or 'all'}: ", "dim")
            line.append(" ".join(str(m.get("content") or "").split())[:500])
            parts.append(line)
    return Group(*parts)


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
                tooltip="Replay the session the request belongs to"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.items: list[Any] = []
        self.history = False
        self._shown: tuple[Any, ...] | None = None

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="approvals-body"):
            table: DataTable[Any] = DataTable(id="approvals-table", cursor_type="row",
                                              classes="panel")
            table.border_title = "Pending approvals"
            yield table
            with VerticalScroll(id="approvals-detail", classes="panel") as detail:
                detail.border_title = "Request"
                yield Static("", id="approvals-context")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        # what a reviewer needs first comes first: at 80 columns the id (also in the request
        # pane) is what scrolls out of view
        for name in ("Agent", "Tool", "Left", "Rule", "ID"):
            table.add_column(name, key=name)
        self.set_interval(REFRESH_S, self._refresh_if_shown)
        self.watch(self.app, "pending", lambda _count: self.action_refresh(), init=False)
        self.action_refresh()

    def on_screen_resume(self) -> None:
        self.action_refresh()

    def _refresh_if_shown(self) -> None:
        if self.is_current:
            self.action_refresh()

    def action_refresh(self) -> None:
        in_thread(self, self.wb.services.approvals, not self.history, done=ApprovalsLoaded,
                  what="reading the approvals queue", group="approvals-load")

    def on_approvals_loaded(self, message: ApprovalsLoaded) -> None:
        clock = self.wb.clock
        items = message.items
        shown = tuple((a.id, a.status, int(a.expires_at - clock.now())) for a in items)
        if shown == self._shown:
            return
        self._shown = shown
        selected = self._selected()
        self.items = items
        table = self.query_one(DataTable)
        table.border_title = ("All approvals" if self.history else
                              f"Pending approvals ({len(items)})")
        table.clear()
        for a in items:
            if a.status == "pending":
                left = duration(max(0.0, a.expires_at - clock.now()))
            else:
                left = {"approved": "[green]approved[/]", "rejected": "[red]rejected[/]",
                        "expired": "[dim]expired[/]"}.get(a.status, a.status)
            table.add_row(a.agent, a.tool, left, (a.rule_ids or ["-"])[0], a.id[:8], key=a.id)
        if selected is not None and any(a.id == selected.id for a in items):
            table.move_cursor(row=table.get_row_index(selected.id), animate=False)
        self._show_context()

    def _selected(self) -> Any:
        table = self.query_one(DataTable)
        if not self.items or table.cursor_row is None or table.row_count == 0:
            return None
        try:
            key = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            return None
        return next((a for a in self.items if a.id == key), None)

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_context()

    def _show_context(self) -> None:
        body = self.query_one("#approvals-context", Static)
        a = self._selected()
        if a is None:
            body.update(Text(
                "Nothing waits for a decision. Flagged tool calls from runs in this window or "
                "in any other process on this database appear here.", "dim")
                if not self.history else Text("No approvals yet.", "dim"))
            return
        body.update(approval_context(a, self.wb.clock))

    # -- decisions ------------------------------------------------------------------------

    def _pending_selected(self) -> Any:
        a = self._selected()
        if a is None:
            self.notify("No request selected", severity="warning")
            return None
        if a.status != "pending":
            self.notify(f"Approval {a.id} was already {a.status}", severity="warning")
            return None
        return a

    def action_approve(self) -> None:
        a = self._pending_selected()
        if a is not None:
            self._send(a, "approved")

    def action_approve_always(self) -> None:
        a = self._pending_selected()
        if a is not None:
            self._send(a, "approved", always=True)

    def action_edit(self) -> None:
        a = self._pending_selected()
        if a is None:
            return
        from workbench.tui.screens.modals import ArgsModal

        def edited(args: dict[str, Any] | None) -> None:
            if args is not None:
                self._send(a, "approved", args=args)

        self.app.push_screen(ArgsModal(a.tool, a.args), edited)

    def action_reject(self) -> None:
        a = self._pending_selected()
        if a is None:
            return
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

    def action_toggle_history(self) -> None:
        self.history = not self.history
        self._shown = None
        self.action_refresh()

    def action_open_session(self) -> None:
        a = self._selected()
        if a is None:
            self.notify("No request selected", severity="warning")
            return
        if self.wb.review:
            self.notify("The review window shows the queue only; open the session in "
                        "`workbench`", severity="warning")
            return
        self.wb.open_replay(a.session_id)

