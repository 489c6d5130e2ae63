"""Sessions, the home screen: past runs to search, replay (or follow) and export, with the
crew version each one ran and the files it wrote; two marked sessions open side by side."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.timer import Timer
from textual.widgets import DataTable, Input, Static

from workbench.tui.background import in_thread
from workbench.tui.screens.base import SectionScreen

STATUS_MARK = {"completed": ("✔", "green"), "failed": ("✘", "red"), "cancelled": ("■", "yellow"),
               "running": ("▶", "cyan"), "interrupted": ("⊘", "magenta")}
COLUMNS = ("Crew", "Status", "Started", "Turns", "Tokens", "Cost", "⏸", "Engine", "Topology")
#: While the screen is shown, the list is re-read this often (other processes add runs).
REFRESH_S = 3.0


@dataclass
class SessionsLoaded(Message):
    rows: list[dict[str, Any]]


@dataclass
class Exported(Message):
    path: Any


@dataclass
class SnapshotLoaded(Message):
    session_id: str
    view: Any


@dataclass
class FilesLoaded(Message):
    session_id: str
    files: Any


def status_text(status: str) -> Text:
    mark, colour = STATUS_MARK.get(status, ("?", ""))
    text = Text(mark, colour)
    text.append(f" {status}")
    return text


def crew_cell(row: dict[str, Any], mark: str = "") -> Text:
    """The crew and the version of its file the session ran: `market-entry v2` (v1 is the
    first version this database saw; `v` shows the file), after its compare mark (A or B)."""
    text = Text(f"{mark}", "bold reverse") + Text(" ") if mark else Text()
    text.append(row["crew_name"][:24])
    if row.get("version"):
        text.append(f" v{row['version']}", "dim")
    return text


def format_cost(row: dict[str, Any]) -> str:
    cost = row.get("cost_usd") or 0.0
    if row.get("cost_unknown_calls"):
        return f"${cost:.4f}+?" if cost else "unknown"
    return f"${cost:.4f}"


class SessionsTable(DataTable[Any]):
    """The sessions list; enter replays the highlighted session (and says so in the footer)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "select_cursor", "Replay", id="sessions.table.open",
                tooltip="Replay the selected session's traffic in the run view (a running "
                        "one is followed live)"),
    ]


class SessionsScreen(SectionScreen):
    SECTION = "sessions"
    CSS_PATH = Path(__file__).with_name("sessions.tcss")
    AUTO_FOCUS = "#sessions-table"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "open", "Replay", id="sessions.open",
                tooltip="Replay the selected session's traffic in the run view (a running "
                        "one is followed live)"),
        Binding("v", "crew_version", "Crew version", id="sessions.crew_version",
                tooltip="Show the crew file exactly as the selected session ran it"),
        Binding("o", "files", "Files", id="sessions.files",
                tooltip="Open the files the selected session wrote (workspace and outbox)"),
        Binding("space", "mark", "Mark", id="sessions.mark",
                tooltip="Mark the selected session for comparing (A, then B; again unmarks)"),
        Binding("c", "compare", "Compare", id="sessions.compare",
                tooltip="Open the two marked sessions side by side (or the marked one and "
                        "the selected one)"),
        Binding("slash", "search", "Search", id="sessions.search",
                tooltip="Search sessions by crew, task, status or id"),
        Binding("m", "export('md')", "Export MD", id="sessions.export_md",
                tooltip="Export the selected session as Markdown into the exports folder"),
        Binding("j", "export('json')", "Export JSON", id="sessions.export_json",
                tooltip="Export the selected session as JSON into the exports folder"),
        Binding("r", "refresh", "Refresh", id="sessions.refresh",
                tooltip="Read the sessions again"),
        Binding("n", "app.go('compose')", "New run", id="sessions.new",
                tooltip="Compose a crew and run it"),
        Binding("escape", "leave_search", "List", show=False, id="sessions.leave_search",
                tooltip="Leave the search box for the list"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[dict[str, Any]] = []
        self._shown: tuple[Any, ...] | None = None
        self._debounce: Timer | None = None
        #: Sessions marked for comparing, A first.
        self.marks: list[str] = []

    def compose_body(self) -> ComposeResult:
        yield Input(placeholder="search crew, task, status (e.g. failed) or id  (/)",
                    id="sessions-search")
        table = SessionsTable(id="sessions-table", cursor_type="row", zebra_stripes=True)
        table.border_title = "Sessions"
        table.add_class("panel")
        yield table
        yield Static("", id="sessions-detail", classes="hint")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in COLUMNS:
            table.add_column(name, key=name)
        table.loading = True
        self.set_interval(REFRESH_S, self._refresh_if_shown)
        self.watch(self.app, "pending", lambda _count: self.action_refresh(), init=False)
        # the database (and sqlalchemy's import) waits until the first frame is on screen
        self.wb.after_first_frame(self.action_refresh)

    def on_screen_resume(self) -> None:
        if self._shown is not None:
            self.action_refresh()

    def _refresh_if_shown(self) -> None:
        if self.is_current:
            self.action_refresh()

    # -- loading ------------------------------------------------------------------------

    def action_refresh(self) -> None:
        search = self.query_one("#sessions-search", Input).value.strip()
        in_thread(self, self.wb.services.list_sessions, search, done=SessionsLoaded,
                  what="loading sessions", group="sessions-load")

    def on_sessions_loaded(self, message: SessionsLoaded) -> None:
        table = self.query_one(DataTable)
        table.loading = False
        if self.focused is None:
            table.focus()  # a loading table cannot take the focus the screen gave it
        clock = self.wb.clock
        rows = message.rows
        shown = tuple((r["id"], r["status"], r["turns"], r["pending"], r["cost_usd"],
                       r["prompt_tokens"] + r["completion_tokens"], r.get("version"))
                      for r in rows)
        self._rows = rows
        if shown == self._shown:
            return
        self._shown = shown
        selected = self._selected_id()
        table.clear()
        # Text cells, not strings: a string cell is parsed as markup, and a time's ":" sends
        # Rich looking for emoji codes
        table.add_rows(
            [
                crew_cell(r, self._mark_of(r["id"])),
                status_text(r["status"]),
                Text(clock.short(r["started_at"])),
                Text(str(r["turns"]), justify="right"),
                Text(f"{r['prompt_tokens'] + r['completion_tokens']:,}", justify="right"),
                Text(format_cost(r), justify="right"),
                Text(str(r["pending"]), "bold yellow") if r["pending"] else Text(""),
                Text(r["engine"]),
                Text(r["topology"]),
            ]
            for r in rows
        )
        # add_rows keys rows by position; keep our own id list to map back
        self._ids = [r["id"] for r in rows]
        if selected in self._ids:
            table.move_cursor(row=self._ids.index(selected), animate=False)
        self._show_detail()
        self.query_one("#sessions-detail", Static).set_class(not rows, "empty")

    def _selected_id(self) -> str | None:
        table = self.query_one(DataTable)
        ids = getattr(self, "_ids", [])
        if not ids or table.cursor_row is None or not 0 <= table.cursor_row < len(ids):
            return None
        return ids[table.cursor_row]

    def _selected(self) -> dict[str, Any] | None:
        sid = self._selected_id()
        return next((r for r in self._rows if r["id"] == sid), None)

    def _show_detail(self) -> None:
        detail = self.query_one("#sessions-detail", Static)
        row = self._selected()
        if row is None:
            search = self.query_one("#sessions-search", Input).value.strip()
            if self._rows:
                detail.update("")
            elif search:
                detail.update(f"No sessions match [b]{escape(search)}[/b].")
            else:
                detail.update("No sessions yet. Compose a crew ([b]2[/b]) and run it, "
                              "or run one from the command line: workbench run market-entry")
            return
        task = " ".join((row.get("task") or "").split())
        # the status is in its column: a reason that only says it again is not repeated
        reason = " ".join((row.get("error") or "").split())
        extra = (f" · [red]{escape(reason)}[/]"
                 if reason and reason.lower() != str(row.get("status", "")).lower() else "")
        started = self.wb.clock.date_time(row["started_at"])
        version = (f" · crew v{row['version']} ([b]v[/b] shows it)"
                   if row.get("version") else "")
        detail.update(f"[b]{row['id'][:12]}[/b] · {started}{version} · {escape(task[:200])}"
                      f"{extra}")

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    @on(DataTable.RowSelected)
    def _selected_row(self) -> None:
        self.action_open()

    # -- filters ------------------------------------------------------------------------

    @on(Input.Changed, "#sessions-search")
    def _search_changed(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.25, self.action_refresh)

    @on(Input.Submitted, "#sessions-search")
    def _search_done(self) -> None:
        self.query_one(DataTable).focus()

    def action_leave_search(self) -> None:
        self.query_one(DataTable).focus()

    def action_search(self) -> None:
        self.query_one("#sessions-search", Input).focus()

    # -- actions ------------------------------------------------------------------------

    def action_open(self) -> None:
        sid = self._selected_id()
        if sid is None:
            self.notify("No session selected", severity="warning")
            return
        self.wb.open_replay(sid)

    def action_crew_version(self) -> None:
        sid = self._selected_id()
        if sid is None:
            self.notify("No session selected", severity="warning")
            return
        services = self.wb.services

        def load() -> tuple[str, Any]:
            return sid, services.crew_snapshot(sid)

        in_thread(self, load, done=lambda r: SnapshotLoaded(*r),
                  what="reading the session's crew file", group="sessions-snapshot")

    def on_snapshot_loaded(self, message: SnapshotLoaded) -> None:
        from workbench.tui.screens.files import SnapshotModal

        self.app.push_screen(SnapshotModal(message.session_id, message.view, self.wb.clock))

    def action_files(self) -> None:
        sid = self._selected_id()
        if sid is None:
            self.notify("No session selected", severity="warning")
            return
        services = self.wb.services

        def load() -> tuple[str, Any]:
            return sid, services.session_files(sid)

        in_thread(self, load, done=lambda r: FilesLoaded(*r), what="listing the session's files",
                  group="sessions-files")

    def on_files_loaded(self, message: FilesLoaded) -> None:
        from workbench.tui.screens.files import FilesModal

        self.app.push_screen(FilesModal(message.session_id, message.files, self.wb.services))

    def action_export(self, fmt: str) -> None:
        sid = self._selected_id()
        if sid is None:
            self.notify("No session selected", severity="warning")
            return
        in_thread(self, self.wb.services.export_session, sid, fmt, done=Exported,
                  what="exporting the session", group="sessions-export")

    # -- comparing ----------------------------------------------------------------------

    def _mark_of(self, session_id: str) -> str:
        return "AB"[self.marks.index(session_id)] if session_id in self.marks else ""

    def action_mark(self) -> None:
        sid = self._selected_id()
        if sid is None:
            self.notify("No session selected", severity="warning")
            return
        before = list(self.marks)
        if sid in self.marks:
            self.marks.remove(sid)
        else:
            self.marks.append(sid)
            # a third mark replaces the oldest: A and B are always the last two marked
            self.marks = self.marks[-2:]
        from textual.coordinate import Coordinate

        table = self.query_one(DataTable)
        for changed in {*before, *self.marks}:
            if changed in self._ids:
                row = next(r for r in self._rows if r["id"] == changed)
                table.update_cell_at(Coordinate(self._ids.index(changed), 0),
                                     crew_cell(row, self._mark_of(changed)))

    def action_compare(self) -> None:
        from workbench.tui.screens.compare import CompareScreen

        pair = list(self.marks)
        selected = self._selected_id()
        if len(pair) == 1 and selected is not None and selected != pair[0]:
            pair.append(selected)
        if len(pair) != 2:
            self.notify("Mark two sessions with space (or one, and select the other), then "
                        "press c", severity="warning")
            return
        self.app.push_screen(CompareScreen(pair[0], pair[1]))

    def on_exported(self, message: Exported) -> None:
        from workbench.tui.services import display_path

        self.notify(f"Exported to {display_path(message.path)}", title="Export")
