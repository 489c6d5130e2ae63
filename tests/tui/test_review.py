"""A reviewer's and an analyst's journeys: who decides, what they see before deciding, a
session's crew version and files, following a run another process started, and quitting."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, OptionList, Static, TextArea

from tests.tui.conftest import settle, wait_for
from tests.tui.seed import PENDING_ID, ROOT, S_DONE, S_WAITING
from workbench.tui.screens.approvals import ApprovalsScreen, ReviewerModal
from workbench.tui.screens.files import FilesModal, SnapshotModal
from workbench.tui.screens.modals import ConfirmModal
from workbench.tui.screens.run import RunScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets.stream import StreamView


def shown(renderable: object) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


def request_pane(app) -> str:
    return shown(app.screen.query_one("#approvals-context", Static).content)


def cells(table: DataTable) -> list[list[str]]:
    return [[str(c) for c in table.get_row_at(r)] for r in range(table.row_count)]


async def select_session(pilot, session_id: str) -> SessionsScreen:
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, SessionsScreen)
    await wait_for(pilot, lambda: session_id in getattr(screen, "_ids", []),
                   what=f"session {session_id[:8]} in the list")
    screen.query_one(DataTable).move_cursor(row=screen._ids.index(session_id), animate=False)
    await settle(pilot)
    return screen


# -- the crew version a session ran, and its files ----------------------------------------


def _second_version(settings, text: str) -> str:
    """A later session of market-entry that ran an edited crew file; returns its id."""
    from workbench.store.db import Store

    store = Store(settings.database_url)
    snapshot = store.snapshot_crew("market-entry", "crews/market-entry.yaml", text)
    sid = "5e55a0d0" + "0" * 23 + "9"
    store.create_session(id=sid, crew_name="market-entry", crew_snapshot_id=snapshot,
                         engine="autogen", topology="star", task="Size the Finnish market",
                         started_at=1795515600.0 - 3600, ended_at=1795515600.0 - 3590,
                         status="completed", turns=3)
    store.close()
    return sid


async def test_each_session_shows_the_crew_version_it_ran_and_opens_it(seeded,
                                                                      make_app) -> None:
    shipped = (ROOT / "crews" / "market-entry.yaml").read_text(encoding="utf-8")
    later = _second_version(seeded, shipped.replace("max_turns:", "# edited\n  max_turns:", 1))
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        screen = await select_session(pilot, S_DONE)
        table = screen.query_one(DataTable)
        crews = {sid: str(table.get_row_at(i)[0]) for i, sid in enumerate(screen._ids)}
        # v1 is the first version of a crew this database saw, whichever run used it
        assert (crews[S_DONE], crews[later]) == ("market-entry v1", "market-entry v2")
        assert "crew v1" in str(screen.query_one("#sessions-detail", Static).render())
        await pilot.press("v")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, SnapshotModal)
        assert modal.query_one(TextArea).text == shipped
        assert "market-entry v1 (of 2)" in str(modal.query_one(".dialog-title").render())
        origin = str(modal.query_one("#snapshot-origin", Static).render())
        assert "the shipped market-entry is still this version" in origin
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        await select_session(pilot, later)
        await pilot.press("v")
        await settle(pilot)
        assert "# edited" in app.screen.query_one(TextArea).text
        origin = str(app.screen.query_one("#snapshot-origin", Static).render())
        assert "the shipped market-entry has changed since" in origin


async def test_the_crew_version_says_when_the_crew_file_changed_since(seeded,
                                                                     make_app) -> None:
    (Path.cwd() / "crews").mkdir()
    edited = (ROOT / "crews" / "market-entry.yaml").read_text().replace(
        "max_turns:", "max_turns: 3\n  # edited\n  old_max_turns:", 1)
    (Path.cwd() / "crews" / "market-entry.yaml").write_text(edited)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select_session(pilot, S_DONE)
        await pilot.press("v")
        await settle(pilot)
        origin = str(app.screen.query_one("#snapshot-origin", Static).render())
        assert "has changed since" in origin


async def test_a_sessions_files_open_from_its_row(seeded, make_app) -> None:
    folder = seeded.session_dir(S_DONE)
    (folder / "workspace" / "notes").mkdir(parents=True)
    (folder / "workspace" / "sizing.md").write_text("# Sizing\n25 MEUR a year\n")
    (folder / "workspace" / "notes" / "raw.bin").write_bytes(b"\x00\x01\x02")
    (folder / "outbox").mkdir()
    (folder / "outbox" / "go.eml").write_bytes(
        b"From: workbench@localhost\nTo: board@example.com\nSubject: GO\n"
        b"Content-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: "
        b"quoted-printable\n\nEnter Sweden first, then Norw=\nay.\n")
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select_session(pilot, S_DONE)
        await pilot.press("o")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, FilesModal)
        listing = modal.query_one(OptionList)
        names = [listing.get_option_at_index(i).id for i in range(listing.option_count)]
        assert names == ["workspace/notes/raw.bin", "workspace/sizing.md", "outbox/go.eml"]
        text = modal.query_one("#files-text", TextArea)
        await wait_for(pilot, lambda: "binary file" in text.text, what="the first file")
        await pilot.press("down")
        await wait_for(pilot, lambda: "25 MEUR a year" in text.text, what="sizing.md")
        await pilot.press("down")
        # an outbox message reads decoded, as its recipient would read it
        await wait_for(pilot, lambda: "then Norway." in text.text, what="the email")
        assert "Subject: GO" in text.text
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)


async def test_a_session_without_files_says_so(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await select_session(pilot, S_DONE)
        await pilot.press("o")
        await settle(pilot)
        assert isinstance(app.screen, FilesModal)
        assert "wrote no files" in app.screen.query_one("#files-text", TextArea).text


def test_a_session_file_outside_its_folders_is_refused(seeded) -> None:
    from workbench.errors import UserInputError
    from workbench.tui.services import Services

    (seeded.home / "secret.txt").write_text("not a session file")
    services = Services(seeded)
    with pytest.raises(UserInputError):
        services.read_session_file(S_DONE, "workspace", "../../../secret.txt")
    with pytest.raises(UserInputError):
        services.read_session_file(S_DONE, "..", "secret.txt")


# -- the reviewer -------------------------------------------------------------------------


async def test_the_reviewer_is_shown_settable_and_named_on_the_decision(seeded,
                                                                       make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        detail = app.screen.query_one("#approvals-detail")
        assert "deciding as dana" in str(detail.border_subtitle)
        await pilot.press("n")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ReviewerModal)
        modal.query_one("#reviewer").value = "  "
        await pilot.press("enter")
        assert "required" in str(modal.query_one("#problem", Static).render())
        modal.query_one("#reviewer").value = "Erin Example"
        await pilot.press("enter")
        await settle(pilot)
        assert "deciding as Erin Example" in str(detail.border_subtitle)
        await pilot.press("r")
        await settle(pilot)
        await pilot.press(*"wrong customer", "enter")
        await settle(pilot)
    a = next(a for a in app.services.approvals(pending_only=False) if a.id == PENDING_ID)
    assert a.status == "rejected" and a.reviewer == "Erin Example"


def test_review_takes_the_reviewer_from_the_flag_the_env_or_the_os(settings,
                                                                  monkeypatch) -> None:
    from workbench.cli import build_parser
    from workbench.governance.reviewer import os_user
    from workbench.tui.launch import make_app

    parser = build_parser()
    app = make_app(parser.parse_args(["review", "--reviewer", "erin"]), review=True)
    assert app.services.reviewer == "erin"
    app = make_app(parser.parse_args(["--reviewer", "fran"]))
    assert app.services.reviewer == "fran"
    monkeypatch.setenv("WORKBENCH_REVIEWER", "gus")
    assert make_app(parser.parse_args(["review"]), review=True).services.reviewer == "gus"
    monkeypatch.delenv("WORKBENCH_REVIEWER")
    assert make_app(parser.parse_args(["review"]), review=True).services.reviewer == os_user()


async def test_the_request_shows_the_crew_and_the_task(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        pane = request_pane(app)
        assert "crew support-triage" in pane
        assert "task Triage an escalated customer incident" in pane
        assert "acts outside the workbench" in pane


async def test_history_rows_show_time_outcome_and_session(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("h")
        await settle(pilot)
        table = app.screen.query_one(DataTable)
        assert [str(c.label) for c in table.ordered_columns] == [
            "Time", "Outcome", "Session", "Agent", "Tool", "By"]
        rows = cells(table)
        # newest first; the frozen "now" is 10:20 UTC on the day of both requests
        assert rows[0] == ["10:19", "pending", S_WAITING[:8], "liaison", "send_email", ""]
        assert rows[1] == ["08:20", "approved", S_DONE[:8], "writer", "send_email", "dana"]
        await pilot.press("down")
        await settle(pilot)
        assert "approved by dana · 2026-11-24 08:20" in request_pane(app)
        await pilot.press("h")
        await settle(pilot)
        assert [str(c.label) for c in table.ordered_columns][:3] == ["Agent", "Tool", "Left"]


async def test_approving_an_external_action_asks_first(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "external" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        a = next(a for a in app.services.approvals() if a.id == PENDING_ID)
        assert a.status == "pending"
        await pilot.press("A")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "every later call" in app.screen.question
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: app.pending == 0, what="the badge to clear")
    a = next(a for a in app.services.approvals(pending_only=False) if a.id == PENDING_ID)
    assert a.status == "approved" and a.always and a.reviewer == "dana"


async def test_approving_an_internal_action_does_not_ask(seeded, make_app) -> None:
    from sqlalchemy import text

    store = make_app().services.store
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE approval SET tool = 'write_file', args = :args "
                          "WHERE id = :id"),
                     {"args": json.dumps({"path": "a.md", "content": "x"}), "id": PENDING_ID})
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        assert "acts outside" not in request_pane(app)
        await pilot.press("a")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        await wait_for(pilot, lambda: app.pending == 0, what="the badge to clear")


async def test_the_review_window_opens_the_requests_session(seeded, make_app) -> None:
    app = make_app(review=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("o")
        await settle(pilot)
        run = app.screen
        assert isinstance(run, RunScreen) and run.replay_id == S_WAITING
        await wait_for(pilot, lambda: run.model is not None, what="the session to load")
        assert any(e.kind == "approval.requested" for e in run.model.entries)
        await pilot.press("a")  # back to the queue, the only section of this window
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        await pilot.press("o")
        await settle(pilot)
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)


# -- following a run that another process started ------------------------------------------


def _start_elsewhere(settings) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(settings.home)}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=Path.cwd())


async def test_a_run_in_another_process_is_followed_live_and_decided_here(settings,
                                                                         make_app) -> None:
    proc = _start_elsewhere(settings)
    try:
        app = make_app(frozen_clock=False)
        async with app.run_test(size=(120, 40)) as pilot:
            sessions = app.screen
            assert isinstance(sessions, SessionsScreen)
            await wait_for(pilot, lambda: any(r["status"] == "running"
                                              for r in sessions._rows),
                           timeout=90, what="the other process's session in the list")
            sid = next(r["id"] for r in sessions._rows if r["status"] == "running")
            await select_session(pilot, sid)
            await pilot.press("enter")
            await settle(pilot)
            run = app.screen
            assert isinstance(run, RunScreen) and run.replay_id == sid
            await wait_for(pilot, lambda: run.model is not None, what="the session to open")
            await wait_for(pilot, lambda: run.following, what="following to start")
            # events arrive while the view is open, up to the request for approval (and
            # everything after the decision below can only come by following)
            await wait_for(pilot, lambda: any(e.kind == "approval.requested"
                                              for e in run.model.entries),
                           timeout=90, what="the approval request to arrive")
            assert run.model.status == "running" and run.live
            await pilot.press("a")  # the approvals section
            await settle(pilot)
            queue = app.screen
            assert isinstance(queue, ApprovalsScreen)
            await wait_for(pilot, lambda: queue.query_one(DataTable).row_count == 1,
                           what="the request in the queue")
            await pilot.press("a", "y")  # send_email is external: it asks first
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=60,
                           what="the other run to finish")
            await pilot.press("1")  # back to the followed run, where it was left
            await settle(pilot)
            assert app.screen is run
            await wait_for(pilot, lambda: run.model.status == "completed", timeout=30,
                           what="the followed run to show it completed")
            await wait_for(pilot, lambda: not run.following, what="following to stop")
            kinds = [e.kind for e in run.model.entries]
            assert "approval.decided" in kinds and kinds[-1] == "run.completed"
            assert run.query_one(StreamView).selected is run.model.entries[-1]
            assert "completed" in str(run.query_one("#run-totals", Static).render())
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    decided = [json.loads(line) for line in out.splitlines()
               if json.loads(line)["kind"] == "approval.decided"]
    assert decided[0]["data"]["decision"] == "approved"
    assert decided[0]["data"]["reviewer"] == "dana"
    # the waiting run's terminal said how to decide
    assert "workbench review" in err and f"approvals approve {decided[0]['data']['approval_id']}" \
        in err


async def test_a_followed_run_whose_process_dies_ends_as_interrupted(settings,
                                                                     make_app) -> None:
    proc = _start_elsewhere(settings)
    try:
        app = make_app(frozen_clock=False)
        async with app.run_test(size=(120, 40)) as pilot:
            sessions = app.screen
            await wait_for(pilot, lambda: any(r["status"] == "running"
                                              for r in sessions._rows),
                           timeout=90, what="the other process's session in the list")
            sid = next(r["id"] for r in sessions._rows if r["status"] == "running")
            await select_session(pilot, sid)
            await pilot.press("enter")
            run = app.screen
            await wait_for(pilot, lambda: run.following, what="following to start")
            await wait_for(pilot, lambda: any(e.kind == "approval.requested"
                                              for e in run.model.entries),
                           timeout=90, what="the approval request to arrive")
            proc.kill()
            proc.wait(timeout=30)  # gone, not a zombie that still answers for its pid
            await wait_for(pilot, lambda: not run.following, timeout=30,
                           what="following to notice the run is gone")
            assert run.model.status == "interrupted"
            assert "interrupted" in str(run.query_one("#run-totals", Static).render())
    finally:
        if proc.poll() is None:
            proc.kill()


# -- quitting during a live run -----------------------------------------------------------


async def test_ctrl_q_during_a_live_run_asks_first(settings, make_app) -> None:
    from tests.tui.test_journeys import open_crew

    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.pending == 1, what="the approval request")
        run = app.screen
        assert isinstance(run, RunScreen) and run.running
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert "run is in progress" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is run and run.running and app.return_code is None
        await pilot.press("ctrl+q")
        await settle(pilot)
        await pilot.press("y")
        await wait_for(pilot, lambda: run.handle.stop_requested, what="the stop request")
    assert app.return_code == 0


async def test_ctrl_q_without_a_live_run_quits_at_once(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+q")
        await pilot.pause()
    assert app.return_code == 0


# -- how a run's end reads in the TUI -----------------------------------------------------


def _end_line(kind: str, content: str, **data) -> str:
    from workbench.tui.clock import FrozenClock
    from workbench.tui.feed import RunModel
    from workbench.tui.render import entry_line

    model = RunModel()
    model.apply({"kind": kind, "seq": 1, "ts": 0.0, "content": content,
                 "data": {"turns": 1, "prompt_tokens": 1, "completion_tokens": 0,
                          "elapsed_s": 0.5, **data}})
    return entry_line(model.entries[-1], model, FrozenClock(0.0)).plain


def test_the_stream_line_of_a_runs_end_agrees_in_number() -> None:
    assert "· 1 turn · 1 token" in _end_line("run.completed", "done", status="completed")
    line = _end_line("run.completed", "done", status="completed", turns=3, prompt_tokens=9)
    assert "· 3 turns · 9 tokens" in line


def test_the_stream_line_of_a_cancelled_run_says_it_once() -> None:
    assert _end_line("run.failed", "cancelled", status="cancelled").count("cancelled") == 1
    line = _end_line("run.failed", "cancelled by the user", status="cancelled")
    assert "■ cancelled by the user in" in line and line.count("cancelled") == 1


async def test_a_stopped_run_is_announced_without_repeating_itself(settings,
                                                                   make_app) -> None:
    from tests.tui.test_journeys import open_crew

    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.pending == 1, what="the approval request")
        run = app.screen
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: run.model.status == "cancelled", what="cancellation")
        await settle(pilot)
        said = [n.message for n in app._notifications if n.title == "Run finished"]
    assert said and said[-1].startswith("support-triage cancelled")
    assert said[-1].count("cancelled") == 1, said


# -- snapshots of the new dialogs and views, at both sizes --------------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


def keys(*pressed: str) -> Callable[[Pilot], Awaitable[None]]:
    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_crew_version_dialog(seeded, make_app, snap_compare, size) -> None:
    import hashlib

    from sqlalchemy import text

    # a crew file of the test's own, so the picture does not change with the shipped crew
    crew = ("name: market-entry\ndescription: Size a market and recommend go / no-go\n"
            "model: scripted/demo\ntopology: {kind: star, hub: lead}\nagents:\n"
            "  - {name: lead, role: Research lead, goal: Decide}\n"
            "  - {name: analyst, role: Market analyst, goal: Size the market}\n")
    (Path.cwd() / "crews").mkdir()
    (Path.cwd() / "crews" / "market-entry.yaml").write_text(crew)
    store = make_app().services.store
    with store.engine.begin() as conn:
        conn.execute(text("UPDATE crew_snapshot SET text = :t, digest = :d "
                          "WHERE name = 'market-entry'"),
                     {"t": crew, "d": hashlib.sha256(crew.encode()).hexdigest()})
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("down", "v"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_session_files_dialog(seeded, make_app, snap_compare, size,
                                       monkeypatch) -> None:
    # the folder is shown under ~: let ~ be this test's folder, so the picture is stable
    monkeypatch.setenv("HOME", str(seeded.home.parent))
    folder = seeded.session_dir(S_DONE)
    (folder / "workspace").mkdir(parents=True)
    (folder / "workspace" / "sizing.md").write_text(
        "# Sizing\n\n1.2M SMEs x 6% adoption x 348 EUR a year = about 25 MEUR a year.\n")
    (folder / "outbox").mkdir()
    (folder / "outbox" / "20261124-081958-GO.eml").write_text(
        "From: workbench@localhost\nTo: board@example.com\nSubject: GO\n\nEnter Sweden first.\n")
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("down", "o"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_reviewer_dialog(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4", "n"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_external_approval_question(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4", "a"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_approvals_history(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4", "h", "down"))
