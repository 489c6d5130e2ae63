"""The prompt designer's loop in the TUI: two sessions compared side by side, the Evals
section, and a fork from a replayed step into Compose and a run."""

from __future__ import annotations

import asyncio
import itertools
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import ContentSwitcher, DataTable, Static

from tests.fakeprovider import FakeProvider, Reply
from tests.tui.conftest import settle, wait_for
from tests.tui.seed import E_FIRST, E_SECOND, E_ZERO, NOW, S_DONE, S_FORK, seed_designer
from tests.tui.test_journeys import open_crew, plain
from workbench.config import Settings
from workbench.tui.fork import fork_point
from workbench.tui.screens.compare import ONLY_A, ONLY_B, ComparePane, CompareScreen, word_diff
from workbench.tui.screens.compose import ComposeScreen
from workbench.tui.screens.evals import EvalsScreen, by_version, sparkline
from workbench.tui.screens.modals import ConfirmModal
from workbench.tui.screens.run import RunScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets.stream import StreamView


@pytest.fixture
def designer(seeded: Settings) -> Settings:
    seed_designer(seeded)
    return seeded


def cell_text(table: DataTable, row: int, column: int) -> str:
    return str(table.get_cell_at((row, column)))


async def open_compare(pilot) -> CompareScreen:
    """Sessions lists S_WAITING, S_FORK, S_DONE, ...: mark S_DONE (A) and S_FORK (B)."""
    app = pilot.app
    await settle(pilot)
    await wait_for(pilot, lambda: bool(getattr(app.screen, "_rows", None)), what="sessions")
    await pilot.press("down", "down", "space", "up", "space")
    screen = app.screen
    assert isinstance(screen, SessionsScreen)
    assert screen.marks == [S_DONE, S_FORK]
    table = screen.query_one(DataTable)
    assert cell_text(table, 2, 0).startswith("A market-entry")
    assert cell_text(table, 1, 0).startswith("B market-entry")
    assert not cell_text(table, 0, 0).startswith(("A ", "B "))
    await pilot.press("c")
    await settle(pilot)
    compare = app.screen
    assert isinstance(compare, CompareScreen)
    await wait_for(pilot, lambda: bool(compare._starts), what="the comparison")
    await settle(pilot)
    return compare


async def test_two_marked_sessions_open_side_by_side_and_scroll_in_step(designer,
                                                                        make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        compare = await open_compare(pilot)
        c = compare.comparison
        assert (c.a.id, c.b.id) == (S_DONE, S_FORK)
        # the first two turns agree; the lead's third differs (GO against NO-GO)
        assert c.first_divergence == 2 and compare.row == 2
        summary = plain(compare.query_one("#compare-summary", Static))
        assert "diverges at turn 3: lead, message · 3/5 turns differ" in summary
        assert "crew changed +1 −1" in summary
        a, b = compare.query(ComparePane)
        assert "market-entry v1" in str(a.border_title)
        assert "market-entry v2" in str(b.border_title)
        # the divergence is at the top of both panes, marked on both sides
        start = compare._starts[2]
        assert a.scroll_y == b.scroll_y == start > 0
        for pane in (a, b):
            assert "▶ first divergence: message" in pane.strips[start].text
            assert pane.cursor_lines.start == start
        assert "one-page go" in "".join(s.text for s in a.strips[start:start + 4])
        assert "no-go" in "".join(s.text for s in b.strips[start:start + 4])
        # a row of A and its row of B always take the same lines
        assert len(a.strips) == len(b.strips)
        # scrolling either side scrolls the other: keys, then the other pane by itself
        await pilot.press("pagedown")
        await settle(pilot)
        assert a.scroll_y == b.scroll_y and compare.row > 2
        b.scroll_to(y=1, animate=False, immediate=True)
        await settle(pilot)
        assert a.scroll_y == b.scroll_y == 1
        await pilot.press("home")
        await settle(pilot)
        assert compare.row == 0 and a.scroll_y == b.scroll_y == 0
        await pilot.press("n")
        await settle(pilot)
        assert compare.row == 2
        # the crew change and the per-agent totals
        await pilot.press("d")
        await settle(pilot)
        assert compare.query_one(ContentSwitcher).current == "compare-crew"
        diff = plain(compare.query_one("#compare-crew-diff", Static))
        assert "-    role: Research lead" in diff and "+    role: Cautious research lead" in diff
        await pilot.press("g")
        await settle(pilot)
        agents = compare.query_one("#compare-agents-table", DataTable)
        assert [cell_text(agents, i, 0) for i in range(agents.row_count)] == [
            "whole session", "lead", "analyst", "writer"]
        # the writer asked for one tool in A and none in B
        assert cell_text(agents, 3, 4) == "1 → 0"
        results = plain(compare.query_one("#compare-results", Static))
        assert "Decision: GO. Enter Sweden first." in results and "NO-GO" in results
        # back to the turns: laid out again at the panes' width, on the same turn
        await pilot.press("t")
        await settle(pilot)
        assert compare.query_one(ContentSwitcher).current == "compare-turns"
        assert a.strips and len(a.strips) == len(b.strips) and compare.row == 2
        assert a.scroll_y == b.scroll_y
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)


async def test_compare_needs_two_sessions(designer, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await wait_for(pilot, lambda: bool(getattr(app.screen, "_rows", None)),
                       what="sessions")
        await pilot.press("c")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        # one mark and another selected session: those two
        await pilot.press("space", "down", "c")
        await settle(pilot)
        assert isinstance(app.screen, CompareScreen)
        assert app.screen.ids == (app.screen.ids[0], S_FORK)


def test_word_diff_marks_what_only_one_side_says() -> None:
    a, b = word_diff("Decision: GO. Enter Sweden first.", "Decision: NO-GO. Revisit next year.")
    assert a.plain == "Decision: GO. Enter Sweden first."
    only_a = {a.plain[s.start:s.end] for s in a.spans if s.style == ONLY_A}
    only_b = {b.plain[s.start:s.end] for s in b.spans if s.style == ONLY_B}
    assert "GO." in only_a and "NO-GO." in only_b
    assert not any("Decision" in t for t in only_a | only_b)
    same, _ = word_diff("the same words", "the same words")
    assert not same.spans


async def test_evals_run_case_check_session_and_compare(designer, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, EvalsScreen)
        await wait_for(pilot, lambda: screen.detail is not None, what="the eval")
        runs = screen.query_one("#evals-runs", DataTable)
        assert [r["id"] for r in screen.runs] == [E_SECOND, E_FIRST, E_ZERO]
        assert cell_text(runs, 0, 3).split() == ["2/3", "67%"]
        # open the newest run: its cases; the failed case's checks
        await pilot.press("enter")
        await settle(pilot)
        cases = screen.query_one("#evals-cases", DataTable)
        assert screen.focused is cases
        assert [cell_text(cases, i, 0) for i in range(cases.row_count)] == [
            "nordics", "denmark", "budget"]
        assert "failed" in cell_text(cases, 0, 2)
        await pilot.press("enter")
        await settle(pilot)
        checks = screen.query_one("#evals-checks", DataTable)
        assert screen.focused is checks and checks.row_count == 3
        await pilot.press("down", "down")
        await settle(pilot)
        detail = plain(screen.query_one("#evals-check-detail", Static))
        assert "failed" in detail and "score 0.40" in detail
        assert "judge's reasoning: The no-go cites a thin margin" in detail
        # the case's session, in the run view's replay
        await pilot.press("o")
        await settle(pilot)
        run = app.screen
        assert isinstance(run, RunScreen) and run.replay_id == S_FORK
        await wait_for(pilot, lambda: run.model is not None, what="the replay")
        assert "NO-GO" in run.model.entries[-1].text
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        # c with nothing marked: the selected run against the crew's run before it
        runs.focus()
        await pilot.press("c")
        await settle(pilot)
        compared = screen.compared
        assert (compared.first["id"], compared.second["id"]) == (E_FIRST, E_SECOND)
        table = screen.query_one("#evals-compare", DataTable)
        assert screen.query_one(ContentSwitcher).current == "evals-compare-view"
        rows = [(cell_text(table, i, 0), cell_text(table, i, 1)) for i in range(table.row_count)]
        assert rows == [("regressed", "nordics"), ("improved", "budget"),
                        ("unchanged", "denmark")]
        assert cell_text(table, 0, 2) == "100%" and cell_text(table, 0, 3) == "0%"
        summary = plain(screen.query_one("#evals-compare-summary", Static))
        assert "Cautious research lead" in summary
        # marked runs: E1 and E2 as marked
        await pilot.press("escape")
        runs.focus()
        await pilot.press("down", "down", "space", "up", "up", "space", "c")
        await settle(pilot)
        assert cell_text(runs, 2, 0).startswith("E1 ")
        assert cell_text(runs, 0, 0).startswith("E2 ")
        assert (screen.compared.first["id"], screen.compared.second["id"]) == (E_ZERO,
                                                                              E_SECOND)
        # the pass rate per crew version over time
        await pilot.press("v")
        await settle(pilot)
        versions = screen.query_one("#evals-versions", DataTable)
        assert [(cell_text(versions, i, 1)[:2], cell_text(versions, i, 2),
                 cell_text(versions, i, 4)) for i in range(versions.row_count)] == [
            ("v2", "1", "▆"), ("v1", "2", "▃▆")]


async def test_an_eval_stored_meanwhile_shows_while_evals_is_open(designer, make_app) -> None:
    from workbench.store.db import Store
    from workbench.store.evals import add_case_result, create_eval, finish_eval

    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        screen = app.screen
        await wait_for(pilot, lambda: len(screen.runs) == 3, what="the evals")
        # another process evaluates the crew while the section is open
        store = Store(designer.database_url)
        new = "e3" + "0" * 30

        def case(case_id: str, position: int) -> dict[str, Any]:
            return {"case_id": case_id, "position": position, "attempt": 1,
                    "session_id": None, "status": "passed", "task": "t", "checks_passed": 0,
                    "checks_total": 0, "turns": 1, "tokens": 1, "cost_usd": 0.0,
                    "cost_unknown_calls": 0, "elapsed_s": 0.1}

        create_eval(store, new, crew_name="market-entry",
                    cases_path="crews/cases/market-entry.yaml", cases_digest="c0ffee",
                    repeat=1, concurrency=1, started_at=NOW)
        add_case_result(store, new, case("nordics", 0), [])
        await wait_for(pilot, lambda: len(screen.runs) == 4, what="the new eval")
        runs = screen.query_one("#evals-runs", DataTable)
        cases = screen.query_one("#evals-cases", DataTable)
        runs.move_cursor(row=0)
        await wait_for(pilot, lambda: cases.row_count == 1, what="the running eval's case")
        assert "running" in cell_text(runs, 0, 6)
        # its cases show as they are stored, while it runs
        add_case_result(store, new, case("denmark", 1), [])
        await wait_for(pilot, lambda: cases.row_count == 2, what="the next case")
        finish_eval(store, new, "completed")
        store.close()
        await wait_for(pilot, lambda: "completed" in cell_text(runs, 0, 6), what="the end")
        await settle(pilot)
        assert cell_text(runs, 0, 0) == "e3000000"
        assert cell_text(runs, 0, 3).split() == ["2/2", "100%"]


def test_pass_rates_grouped_per_crew_version() -> None:
    history = [
        {"crew_name": "c", "version": 1, "digest": "d1", "pass_rate": 0.0, "started_at": 1},
        {"crew_name": "c", "version": 2, "digest": "d2", "pass_rate": 1.0, "started_at": 2},
        {"crew_name": "c", "version": 1, "digest": "d1", "pass_rate": 0.5, "started_at": 3},
        {"crew_name": "c", "version": 1, "digest": "d1", "pass_rate": None, "started_at": 4},
    ]
    groups = by_version(history)
    assert [(g["version"], g["rates"], g["last"]) for g in groups] == [
        (2, [1.0], 2), (1, [0.0, 0.5, None], 4)]
    assert sparkline([0.0, 0.5, None, 1.0]) == "▁▅·█"


async def test_evals_section_without_evals_says_how_to_make_one(seeded, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("7")
        await settle(pilot)
        hint = plain(app.screen.query_one("#evals-hint", Static))
        assert "workbench eval" in hint
        await pilot.press("c")  # nothing to compare: a warning, no crash
        await settle(pilot)
        assert isinstance(app.screen, EvalsScreen)


# -- fork from a replayed step into Compose, and run -----------------------------------------

FORK_CREW = """\
name: forky
model: openai/fake-model
api_base: {api_base}
topology: {{kind: network, max_turns: 6}}
agents:
  - {{name: a, role: Analyst, goal: Size the market}}
  - {{name: b, role: Critic, goal: Doubt the sizing}}
"""


def _events(home: Path, sid: str, kind: str) -> list[dict[str, Any]]:
    with sqlite3.connect(home / "workbench.db") as db:
        rows = db.execute("select seq, agent, content, data from event where session_id = ? "
                          "and kind = ? order by seq", (sid, kind)).fetchall()
    return [{"seq": r[0], "agent": r[1], "content": r[2],
             "data": json.loads(r[3]) if r[3] else {}} for r in rows]


async def test_fork_a_replayed_step_into_compose_and_run_it(seeded, make_app,
                                                           tmp_path: Path) -> None:
    from workbench.cli.app import main

    n = itertools.count(1)
    with FakeProvider(responder=lambda p: Reply(content=f"answer {next(n)}")) as fp:
        crew = tmp_path / "forky.yaml"
        crew.write_text(FORK_CREW.format(api_base=fp.api_base), encoding="utf-8")
        # the command line runs its own event loop: in a thread, beside this test's
        assert await asyncio.to_thread(main, [
            "--home", str(seeded.home), "run", str(crew), "--approvals", "deny",
            "--task", "Size it"]) == 0
        recorded = len(fp.requests)
        with sqlite3.connect(seeded.home / "workbench.db") as db:
            source = db.execute("select id from session where crew_name = 'forky'").fetchone()[0]
        calls = _events(seeded.home, source, "model.call")
        messages = _events(seeded.home, source, "message")
        assert recorded == len(calls) >= 4
        app = make_app(frozen_clock=False, poll=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            sessions = app.screen
            await wait_for(pilot, lambda: bool(getattr(sessions, "_rows", None)),
                           what="sessions")
            sessions.query_one(DataTable).move_cursor(row=sessions._ids.index(source))
            await pilot.press("enter")
            await settle(pilot)
            run = app.screen
            assert isinstance(run, RunScreen)
            await wait_for(pilot, lambda: run.model is not None, what="the replay")
            # select the third message: the step to redo
            stream = run.query_one(StreamView)
            third = messages[2]
            row = next(i for i, idx in enumerate(run.model.visible)
                       if run.model.entries[idx].seq == third["seq"])
            stream.follow = False
            stream._move(row)
            await settle(pilot)
            await pilot.press("F")
            await settle(pilot)
            compose = app.screen
            assert isinstance(compose, ComposeScreen)
            await wait_for(pilot, lambda: compose.fork is not None, what="the fork in Compose")
            # the model call that produced the third message is where the fork goes live
            step = max(c["seq"] for c in calls if c["seq"] < third["seq"]
                       and c["agent"] == third["agent"])
            assert (compose.fork.fork.session_id, compose.fork.fork.seq) == (source, step)
            assert f"forking from {source[:12]}@{step}" in str(
                compose.query_one("#compose-form").border_title)
            assert compose.query_one("#crew-name").value == "forky"
            assert compose.query_one("#crew-task").value == "Size it"
            await wait_for(pilot, lambda: compose.check is not None
                           and compose.check.problem is None, what="the crew to validate")
            await pilot.press("ctrl+r")
            await settle(pilot)
            live = app.screen
            assert isinstance(live, RunScreen)
            await wait_for(pilot, lambda: live.model is not None
                           and live.model.status == "completed", what="the fork to finish")
        with sqlite3.connect(seeded.home / "workbench.db") as db:
            fork = db.execute("select id from session where crew_name = 'forky' and id != ? ",
                              (source,)).fetchone()[0]
        started = _events(seeded.home, fork, "run.started")[0]["data"]
        assert started["forked_from"]["session_id"] == source
        assert started["forked_from"]["seq"] == step
        replayed = [c for c in _events(seeded.home, fork, "model.call")
                    if c["data"].get("replayed")]
        before = [c for c in calls if c["seq"] < step]
        assert len(replayed) == len(before) == 2
        # only the calls from the step on reached the provider
        assert len(fp.requests) - recorded == len(_events(seeded.home, fork, "model.call")) - 2
        assert [m["content"] for m in _events(seeded.home, fork, "message")][:2] == [
            m["content"] for m in messages[:2]]


def test_a_step_forks_at_the_model_call_that_produced_it(seeded, make_app) -> None:
    from workbench.tui.screens.run import build_replay

    model = build_replay(make_app().services, S_DONE)[0]
    at = {e.seq: e for e in model.entries}
    # seeded S_DONE: 4, 7 analyst's calls (a calculator call between), 8 its message;
    # 9 the lead's call, 11 its message, 19 the lead's last message (no call of its own)
    assert fork_point(model, at[8]) == 7
    assert fork_point(model, at[5]) == 4  # the tool call: the call that asked for it
    assert fork_point(model, at[7]) == 7
    assert fork_point(model, at[11]) == 9
    assert fork_point(model, at[19]) == 19
    assert fork_point(model, at[1]) == 1  # the run's start: everything live


async def test_a_fork_over_unsaved_edits_in_compose_asks_first(seeded, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        compose = app.screen
        compose.query_one("#agent-role").value = "Very careful triage lead"
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        sessions = app.screen
        await wait_for(pilot, lambda: bool(getattr(sessions, "_ids", None)), what="sessions")
        sessions.query_one(DataTable).move_cursor(row=sessions._ids.index(S_DONE))
        await pilot.press("enter")
        await settle(pilot)
        run = app.screen
        await wait_for(pilot, lambda: run.model is not None, what="the replay")
        await pilot.press("F")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert compose.fork is None  # nothing replaced yet
        await pilot.press("y")
        await settle(pilot)
        assert app.screen is compose
        assert compose.fork is not None and compose.fork.fork.session_id == S_DONE
        assert compose.query_one("#crew-name").value == "market-entry"
        assert "forking from" in str(compose.query_one("#compose-form").border_title)
        # opening another crew from the list drops the fork
        compose._open(0)
        await settle(pilot)
        assert compose.fork is None


async def test_the_selected_turn_keeps_its_differences_highlighted(designer, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        compare = await open_compare(pilot)
        a, b = compare.query(ComparePane)
        line = compare._starts[2] - int(a.scroll_y) + 2  # the message's first line
        for pane, word, style in ((a, "go", ONLY_A), (b, "no-go", ONLY_B)):
            drawn = pane.render_line(line)
            cursor = pane.get_component_rich_style("compare--cursor").bgcolor
            marked = [seg for seg in drawn if seg.text.strip() == word]
            assert marked and marked[0].style.bgcolor == style.bgcolor
            plain_words = [seg for seg in drawn if seg.text.startswith("Writer")]
            assert plain_words and plain_words[0].style.bgcolor == cursor
