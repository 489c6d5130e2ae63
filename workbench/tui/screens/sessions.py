"""Sessions (home): past runs in a table, searchable; open one to replay it, or export it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Static

COLUMNS = ("ID", "Crew", "Engine", "Topology", "Status", "Started", "Turns", "Tokens", "Cost",
           "Pending")


def format_started(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"


class SessionsScreen(Screen):
    CSS_PATH = "sessions.tcss"
    BINDINGS = [
        Binding("enter", "open", "Open", id="sessions.open"),
        Binding("slash", "search", "Search", id="sessions.search"),
        Binding("x", "export('md')", "Export md", id="sessions.export_md"),
        Binding("X", "export('json')", "Export json", id="sessions.export_json"),
        Binding("ctrl+r", "reload", "Reload", id="sessions.reload"),
    ]

    class Loaded(Message):
        def __init__(self, rows: list[dict[str, Any]]) -> None:
            super().__init__()
            self.rows = rows

    def compose(self) -> ComposeResult:
        yield Header()
        yield Input(placeholder="search crew, task, status or id  (/)", id="search")
        yield DataTable(id="sessions", cursor_type="row", zebra_stripes=True)
        yield Static("loading sessions…", id="sessions-hint")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "sessions"
        table = self.query_one(DataTable)
        for col in COLUMNS:
            table.add_column(col, key=col.lower())
        table.focus()
        self.reload()

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def reload(self, search: str = "") -> None:
        store = self.app.services.store
        rows = store.list_sessions(limit=500, search=search)
        pending = _pending_by_session(store)
        for r in rows:
            r["pending"] = pending.get(r["id"], 0)
        self.post_message(self.Loaded(rows))

    @on(Loaded)
    def _show(self, message: Loaded) -> None:
        table = self.query_one(DataTable)
        table.clear()
        table.add_rows(
            [(r["id"][:8], r["crew_name"], r["engine"], r["topology"], r["status"],
              format_started(r["started_at"]), str(r["turns"]),
              f"{r['prompt_tokens'] + r['completion_tokens']:,}",
              f"${r['cost_usd']:.4f}" + ("+?" if r["cost_unknown_calls"] else ""),
              str(r["pending"] or "")) for r in message.rows]
        )
        self._ids = [r["id"] for r in message.rows]
        hint = self.query_one("#sessions-hint", Static)
        hint.update(f"{len(message.rows)} sessions · enter opens · n starts a new run"
                    if message.rows else "No sessions yet: press n to compose and run a crew.")

    @on(Input.Changed, "#search")
    def _search(self, event: Input.Changed) -> None:
        self.reload(event.value.strip())

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_reload(self) -> None:
        self.reload(self.query_one("#search", Input).value.strip())

    def _selected(self) -> str | None:
        table = self.query_one(DataTable)
        ids = getattr(self, "_ids", [])
        if not ids or table.cursor_row < 0 or table.cursor_row >= len(ids):
            return None
        return ids[table.cursor_row]

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        session_id = self._selected()
        if session_id:
            from workbench.tui.screens.run import RunScreen

            self.app.push_screen(RunScreen(session_id=session_id))

    def action_export(self, fmt: str) -> None:
        session_id = self._selected()
        if session_id:
            self._export(session_id, fmt)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, session_id: str, fmt: str) -> None:
        import json

        from workbench.store.export import session_json, session_markdown

        services = self.app.services
        folder = services.settings.home / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"session-{session_id[:12]}.{fmt}"
        if fmt == "json":
            text = json.dumps(session_json(services.store, session_id), indent=2, default=str)
        else:
            text = session_markdown(services.store, session_id)
        path.write_text(text + "\n", encoding="utf-8")
        self.app.call_from_thread(self.notify, f"exported to {path}", title="export")


def _pending_by_session(store: Any) -> dict[str, int]:
    from sqlalchemy import text

    with store.engine.connect() as conn:
        return dict(conn.execute(text(
            "SELECT session_id, count(*) FROM approval WHERE status = 'pending' "
            "GROUP BY session_id")).all())
