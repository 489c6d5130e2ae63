"""Evals: stored eval runs with their pass rate, cost and time; a run's cases and each
check's outcome (a judge's score and reasoning); two runs compared, regressions first; and
the pass rate of each crew version over time.

The data is `workbench eval`'s (store.evals, mesh.evaluate), read through the services in
workers; this screen only shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.coordinate import Coordinate
from textual.message import Message
from textual.widgets import ContentSwitcher, DataTable, Static

from workbench.mesh.format import format_cost
from workbench.tui.background import in_thread
from workbench.tui.screens.base import SectionScreen

OUTCOME = {"passed": ("✔", "green"), "failed": ("✘", "red"), "error": ("!", "red"),
           "not_scored": ("?", "yellow"), "cancelled": ("■", "yellow"),
           "running": ("▶", "cyan"), "completed": ("✔", "green"),
           "interrupted": ("⊘", "magenta")}
CHANGE_STYLE = {"regressed": "bold red", "removed": "red", "new": "cyan",
                "improved": "green", "unchanged": "dim"}
SPARKS = "▁▂▃▄▅▆▇█"
RUN_COLUMNS = ("Eval", "Crew", "Started", "Passed", "Cost", "Time", "Status")
CASE_COLUMNS = ("Case", "Run", "Status", "Checks", "Cost", "Time", "Session")
CHECK_COLUMNS = ("", "Check", "Score")
VERSION_COLUMNS = ("Crew", "Version", "Evals", "Latest", "Trend", "Last run")
#: While the section is shown, the runs are re-read this often (an eval may be running).
REFRESH_S = 3.0
COMPARE_COLUMNS = ("Change", "Case", "E1", "E2", "Checks that changed")


@dataclass
class EvalsLoaded(Message):
    rows: list[dict[str, Any]]


@dataclass
class EvalLoaded(Message):
    data: dict[str, Any]


@dataclass
class EvalsCompared(Message):
    view: Any


@dataclass
class HistoryLoaded(Message):
    rows: list[dict[str, Any]]


def outcome_text(status: str) -> Text:
    mark, colour = OUTCOME.get(status, ("?", ""))
    return Text(f"{mark} {status}", colour)


def pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def sparkline(rates: list[float | None]) -> str:
    """Pass rates as bars, oldest first (`·` for an eval that ran nothing)."""
    return "".join("·" if r is None else SPARKS[min(len(SPARKS) - 1, int(r * len(SPARKS)))]
                   for r in rates)


def by_version(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Finished evals (oldest first) grouped per crew and crew version, newest version first
    within a crew: evals, the latest pass rate, the rates in order, the last run's time."""
    groups: dict[tuple[str, int], dict[str, Any]] = {}
    for r in history:
        key = (r["crew_name"], r["version"])
        g = groups.setdefault(key, {"crew": r["crew_name"], "version": r["version"],
                                    "digest": r["digest"], "rates": [], "last": 0.0})
        g["rates"].append(r["pass_rate"])
        g["last"] = max(g["last"], r["started_at"])
    return sorted(groups.values(), key=lambda g: (g["crew"], -g["version"]))


def _money(row: dict[str, Any]) -> str:
    return format_cost(row["cost_usd"], not row["cost_unknown_calls"])


def _elapsed(row: dict[str, Any]) -> str:
    if not row.get("ended_at"):
        return "-"
    return f"{row['ended_at'] - row['started_at']:.1f} s"


class EvalsScreen(SectionScreen):
    SECTION = "evals"
    CSS_PATH = Path(__file__).with_name("evals.tcss")
    AUTO_FOCUS = "#evals-runs"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("o", "open_session", "Open session", id="evals.open_session",
                tooltip="Replay the selected case's session in the run view"),
        Binding("space", "mark", "Mark", id="evals.mark",
                tooltip="Mark the selected eval run for comparing (E1, then E2)"),
        Binding("c", "compare", "Compare", id="evals.compare",
                tooltip="Compare the two marked eval runs, regressions first (one marked: "
                        "with the selected one; none: the selected run with the one before "
                        "it of the same crew)"),
        Binding("v", "versions", "Versions", id="evals.versions",
                tooltip="The pass rate of each crew version over time"),
        Binding("r", "refresh", "Refresh", id="evals.refresh", tooltip="Read the evals again"),
        Binding("escape", "cases", "Cases", show=False, id="evals.cases",
                tooltip="Back to the selected run's cases"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.runs: list[dict[str, Any]] = []
        self.detail: dict[str, Any] | None = None
        self.marks: list[str] = []
        self.compared: Any = None
        self._case_runs: list[dict[str, Any]] = []
        self._loading: str | None = None
        self._shown: tuple[Any, ...] | None = None

    def compose_body(self) -> ComposeResult:
        runs = DataTable(id="evals-runs", cursor_type="row", zebra_stripes=True,
                         classes="panel")
        runs.border_title = "Eval runs"
        yield runs
        with ContentSwitcher(initial="evals-cases-view", id="evals-views"):
            with Horizontal(id="evals-cases-view"):
                cases = DataTable(id="evals-cases", cursor_type="row", zebra_stripes=True,
                                  classes="panel")
                cases.border_title = "Cases"
                yield cases
                with Vertical(id="evals-checks-box"):
                    checks = DataTable(id="evals-checks", cursor_type="row", classes="panel")
                    checks.border_title = "Checks"
                    yield checks
                    detail = Static("", id="evals-check-detail", classes="panel")
                    detail.border_title = "Check"
                    yield detail
            with Vertical(id="evals-compare-view"):
                yield Static("", id="evals-compare-summary")
                table = DataTable(id="evals-compare", cursor_type="row", zebra_stripes=True,
                                  classes="panel")
                table.border_title = "E1 → E2, regressions first"
                yield table
            versions = DataTable(id="evals-versions", cursor_type="row", zebra_stripes=True,
                                 classes="panel")
            versions.border_title = "Pass rate per crew version (oldest → newest)"
            yield versions
        yield Static("", id="evals-hint", classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        for selector, columns in (("#evals-runs", RUN_COLUMNS), ("#evals-cases", CASE_COLUMNS),
                                  ("#evals-checks", CHECK_COLUMNS),
                                  ("#evals-versions", VERSION_COLUMNS),
                                  ("#evals-compare", COMPARE_COLUMNS)):
            table = self.query_one(selector, DataTable)
            for name in columns:
                table.add_column(name, key=name or "mark")
        self.query_one("#evals-runs", DataTable).loading = True
        self.wb.after_first_frame(self.action_refresh)
        self.set_interval(REFRESH_S, self._refresh_if_shown)

    def _refresh_if_shown(self) -> None:
        if self.is_current and self._shown is not None:
            self.action_refresh()

    # -- eval runs ----------------------------------------------------------------------

    def action_refresh(self) -> None:
        in_thread(self, self.wb.services.list_evals, done=EvalsLoaded, what="loading evals",
                  group="evals-load")

    def on_evals_loaded(self, message: EvalsLoaded) -> None:
        table = self.query_one("#evals-runs", DataTable)
        table.loading = False
        shown = tuple((r["id"], r["status"], r["runs"], r["passed"], r["cost_usd"])
                      for r in message.rows)
        if self.detail is not None:
            row = next((r for r in message.rows if r["id"] == self.detail["id"]), None)
            if row is None or row["status"] == "running" or (
                    (row["status"], row["runs"]) != (self.detail["status"],
                                                     self.detail["runs"])):
                # the eval moved on, is still running (its cases arrive one by one) or
                # is gone: read it again
                self.detail = None
        if shown == self._shown:
            self._load_detail()
            return  # no run changed: the table and its cursor stay as they are
        self._shown = shown
        selected = self._run_id()
        self.runs = message.rows
        table.clear()
        clock = self.wb.clock
        for r in self.runs:
            rate = r["passed"] / r["runs"] if r["runs"] else None
            table.add_row(self._id_cell(r["id"]), self._crew_cell(r),
                          Text(clock.short(r["started_at"])),
                          Text(f"{r['passed']}/{r['runs']} {pct(rate):>4}", justify="right"),
                          Text(_money(r), justify="right"),
                          Text(_elapsed(r), justify="right"), outcome_text(r["status"]))
        ids = [r["id"] for r in self.runs]
        if selected in ids:
            table.move_cursor(row=ids.index(selected), animate=False)
        if not self.runs:
            self._hint("No evals yet. Run one from the command line: workbench eval "
                       "market-entry --cases crews/cases/market-entry.yaml")
        self._load_detail()

    def _id_cell(self, eval_id: str) -> Text:
        mark = self._mark_of(eval_id)
        text = Text(mark, "bold reverse") + Text(" ") if mark else Text()
        text.append(eval_id[:8])
        return text

    @staticmethod
    def _crew_cell(row: dict[str, Any]) -> Text:
        text = Text(row["crew_name"][:20])
        if row.get("version"):
            text.append(f" v{row['version']}", "dim")
        return text

    def _run_id(self) -> str | None:
        table = self.query_one("#evals-runs", DataTable)
        if not self.runs or not 0 <= table.cursor_row < len(self.runs):
            return None
        return self.runs[table.cursor_row]["id"]

    def _hint(self, text: str) -> None:
        self.query_one("#evals-hint", Static).update(text)

    @on(DataTable.RowHighlighted, "#evals-runs")
    def _run_highlighted(self) -> None:
        self._load_detail()

    @on(DataTable.RowSelected, "#evals-runs")
    def _run_selected(self) -> None:
        self.action_cases()
        self.query_one("#evals-cases", DataTable).focus()

    def _load_detail(self) -> None:
        eval_id = self._run_id()
        if eval_id is None or eval_id == self._loading or (
                self.detail is not None and self.detail["id"] == eval_id):
            return
        self._loading = eval_id
        in_thread(self, self.wb.services.eval_detail, eval_id, done=EvalLoaded,
                  what="reading the eval", group="evals-detail")

    # -- cases and checks ---------------------------------------------------------------

    def on_eval_loaded(self, message: EvalLoaded) -> None:
        self._loading = None
        table = self.query_one("#evals-cases", DataTable)
        # the same run read again (it is running): the case cursor stays where it was
        again = bool(self._case_runs) and self._case_runs[0]["eval_id"] == message.data["id"]
        row = table.cursor_row if again else 0
        data = self.detail = message.data
        table.clear()
        self._case_runs = data["case_runs"]
        repeat = data["repeat"] > 1
        for r in self._case_runs:
            table.add_row(Text(r["case_id"][:24]),
                          Text(f"#{r['attempt']}" if repeat else "1", justify="right"),
                          outcome_text(r["status"]),
                          Text(f"{r['checks_passed']}/{r['checks_total']}", justify="right"),
                          Text(_money(r), justify="right"),
                          Text(f"{r['elapsed_s']:.1f} s", justify="right"),
                          Text(r["session_id"][:8] if r["session_id"] else "-"))
        # the rate is in the runs table just above: the title fits the panel at 80 columns
        table.border_title = f"Cases · {data['id'][:8]} · {data['passed']}/{data['runs']} passed"
        from rich.markup import escape

        from workbench.tui.services import display_path

        self._hint(f"[b]{data['id'][:12]}[/b] · cases file "
                   f"{escape(display_path(data['cases_path']))} · repeat "
                   f"{data['repeat']} · concurrency {data['concurrency']}"
                   + (f" · model {data['model']}" if data.get("model") else ""))
        if 0 < row < table.row_count:
            table.move_cursor(row=row, animate=False)
        self._show_checks()
        if self._run_id() != data["id"]:
            self._load_detail()  # the cursor moved on while this one was read

    def _case_run(self) -> dict[str, Any] | None:
        table = self.query_one("#evals-cases", DataTable)
        if not self._case_runs or not 0 <= table.cursor_row < len(self._case_runs):
            return None
        return self._case_runs[table.cursor_row]

    @on(DataTable.RowHighlighted, "#evals-cases")
    def _case_highlighted(self) -> None:
        self._show_checks()

    @on(DataTable.RowSelected, "#evals-cases")
    def _case_selected(self) -> None:
        self.query_one("#evals-checks", DataTable).focus()

    def _show_checks(self) -> None:
        table = self.query_one("#evals-checks", DataTable)
        table.clear()
        case = self._case_run()
        checks = case["checks"] if case else []
        for c in checks:
            mark, colour = OUTCOME.get(c["outcome"], ("?", ""))
            table.add_row(Text(mark, colour), Text(c["label"]),
                          Text("-" if c["score"] is None else f"{c['score']:.2f}",
                               justify="right"))
        table.border_title = f"Checks · {case['case_id']}" if case else "Checks"
        self._show_check()

    @on(DataTable.RowHighlighted, "#evals-checks")
    def _check_highlighted(self) -> None:
        self._show_check()

    def _check(self) -> dict[str, Any] | None:
        case = self._case_run()
        table = self.query_one("#evals-checks", DataTable)
        if case is None or not 0 <= table.cursor_row < len(case["checks"]):
            return None
        return case["checks"][table.cursor_row]

    def _show_check(self) -> None:
        detail = self.query_one("#evals-check-detail", Static)
        check = self._check()
        if check is None:
            case = self._case_run()
            error = case.get("error") if case else None
            detail.update(Text(error, "red") if error else
                          Text("Select a check to see its outcome.", "dim"))
            return
        text = outcome_text(check["outcome"])
        text.append(f" · {check['kind']}", "dim")
        if check["score"] is not None:
            text.append(f" · score {check['score']:.2f}", "bold")
        text.append(f"\n{check['detail']}")
        if check.get("reason"):
            text.append("\njudge's reasoning: ", "bold")
            text.append(check["reason"])
        if check.get("judge_session_id"):
            text.append(f"\njudge session {check['judge_session_id'][:12]}", "dim")
        detail.update(text)

    def action_open_session(self) -> None:
        case = self._case_run()
        if case is None:
            self.notify("No case selected", severity="warning")
            return
        if not case["session_id"]:
            self.notify(f"Case {case['case_id']} ran no session (it failed before)",
                        severity="warning")
            return
        self.wb.open_replay(case["session_id"])

    # -- comparing two runs -------------------------------------------------------------

    def _mark_of(self, eval_id: str) -> str:
        return ("E1", "E2")[self.marks.index(eval_id)] if eval_id in self.marks else ""

    def action_mark(self) -> None:
        eval_id = self._run_id()
        if eval_id is None:
            self.notify("No eval selected", severity="warning")
            return
        before = list(self.marks)
        if eval_id in self.marks:
            self.marks.remove(eval_id)
        else:
            self.marks = [*self.marks, eval_id][-2:]
        table = self.query_one("#evals-runs", DataTable)
        ids = [r["id"] for r in self.runs]
        for changed in {*before, *self.marks}:
            if changed in ids:
                table.update_cell_at(Coordinate(ids.index(changed), 0), self._id_cell(changed))

    def _pair(self) -> tuple[str, str] | None:
        """What `c` compares: the marks; a mark and the selected run; or the selected run
        and the run of the same crew just before it."""
        selected = self._run_id()
        if len(self.marks) == 2:
            return self.marks[0], self.marks[1]
        if len(self.marks) == 1 and selected and selected != self.marks[0]:
            return self.marks[0], selected
        if not self.marks and selected:
            row = next(r for r in self.runs if r["id"] == selected)
            older = [r for r in self.runs if r["crew_name"] == row["crew_name"]
                     and r["started_at"] < row["started_at"]]
            if older:
                return max(older, key=lambda r: r["started_at"])["id"], selected
        return None

    def action_compare(self) -> None:
        pair = self._pair()
        if pair is None:
            self.notify("Mark two eval runs with space, then press c", severity="warning")
            return
        in_thread(self, self.wb.services.compare_evals, *pair, done=EvalsCompared,
                  what="comparing the evals", group="evals-compare")

    def on_evals_compared(self, message: EvalsCompared) -> None:
        view = self.compared = message.view
        a, b = view.first, view.second
        summary = Text()
        for tag, e in (("E1", a), ("E2", b)):
            rate = e["passed"] / e["runs"] if e["runs"] else None
            summary.append(f" {tag} ", "bold reverse")
            summary.append(f" {e['id'][:8]} {e['crew_name'][:20]} · {e['passed']}/{e['runs']} "
                           f"passed ({pct(rate)}) · {_money(e)} · {_elapsed(e)}\n")
        if view.crew_diff:
            summary.append("crew changed: ", "bold yellow")
            changed = [line[1:].strip() for line in view.crew_diff
                       if line[:1] in "+-" and not line.startswith(("+++", "---"))]
            summary.append(" | ".join(changed)[:300], "yellow")
        else:
            summary.append("crew: the same file", "dim")
        self.query_one("#evals-compare-summary", Static).update(summary)
        table = self.query_one("#evals-compare", DataTable)
        table.clear()
        for d in view.deltas:
            checks = "; ".join(f"{label} {pct(x)}→{pct(y)}" for label, (x, y)
                               in d.checks.items())
            table.add_row(Text(d.change, CHANGE_STYLE.get(d.change, "")), Text(d.case_id),
                          Text(pct(d.before), justify="right"),
                          Text(pct(d.after), justify="right"), Text(checks))
        regressed = sum(1 for d in view.deltas if d.change in ("regressed", "removed"))
        table.border_title = (f"E1 {a['id'][:8]} → E2 {b['id'][:8]} · "
                              f"{regressed} regressed · regressions first")
        self.query_one(ContentSwitcher).current = "evals-compare-view"
        table.focus()

    # -- the pass rate per crew version ---------------------------------------------------

    def action_versions(self) -> None:
        in_thread(self, self.wb.services.eval_history, done=HistoryLoaded,
                  what="reading the eval history", group="evals-history")

    def on_history_loaded(self, message: HistoryLoaded) -> None:
        table = self.query_one("#evals-versions", DataTable)
        table.clear()
        for g in by_version(message.rows):
            version = f"v{g['version']} · {g['digest'][:8]}" if g["version"] else "-"
            table.add_row(Text(g["crew"][:24]), Text(version),
                          Text(str(len(g["rates"])), justify="right"),
                          Text(pct(g["rates"][-1]), justify="right"),
                          Text(sparkline(g["rates"]), "cyan"),
                          Text(self.wb.clock.short(g["last"])))
        self.query_one(ContentSwitcher).current = "evals-versions"
        table.focus()

    def action_cases(self) -> None:
        self.query_one(ContentSwitcher).current = "evals-cases-view"
