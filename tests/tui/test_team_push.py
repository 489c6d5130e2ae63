"""Team mode in the TUI, on SQLite and on a real PostgreSQL: the reviewer's queue and the
Run view of a session started elsewhere take what other processes write as it lands
(pushed by PostgreSQL, polled on SQLite)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import uuid
from types import SimpleNamespace

import pytest
from textual.widgets import DataTable, Static

import workbench.tui.app as app_module
import workbench.tui.screens.approvals as approvals_screen
import workbench.tui.screens.run as run_screen
from tests.pg import Backend
from tests.pg import wait_for as wait_in_test
from tests.tui.conftest import settle, wait_for
from tests.tui.seed import ROOT
from workbench.config import Settings
from workbench.tui.screens.approvals import ApprovalsScreen
from workbench.tui.screens.run import RunScreen

#: Polls that never come during a test: on PostgreSQL only a push can explain a change.
NEVER_S = 3600.0


@pytest.fixture
def team(settings: Settings, backend: Backend) -> Settings:
    """The TUI's settings on the test's database (a SQLite file or a fresh PostgreSQL one)."""
    settings.db_url = backend.url
    settings.ensure_home()
    return settings


def _store(backend: Backend):
    from workbench.store.db import Store

    return Store(backend.url)


def _request(store, session_id: str):
    """A pending approval stored as a run in another process would store it."""
    from workbench.governance import approvals

    decision = SimpleNamespace(rule_ids=["external-email-needs-approval"],
                               reason="Email leaving the company")
    return approvals.create(store, session_id, "liaison", "send_email",
                            {"to": "it@acme.example.com", "subject": "PDF export"}, decision,
                            [], timeout_s=600)


async def _until(pilot, condition, timeout: float = 30.0, start: float | None = None
                 ) -> float:
    """Seconds (since `start`, else now) until `condition` holds, checked between UI turns
    every 5 ms."""
    start = time.monotonic() if start is None else start
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"not seen within {timeout} s")
        await pilot.pause(0.005)
    return time.monotonic() - start


async def test_a_request_and_a_decision_from_elsewhere_reach_the_queue(
        team: Settings, backend: Backend, make_app, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """On PostgreSQL with every poll an hour apart, a request stored by another connection
    appears in the reviewer's queue, and leaves it when decided elsewhere, at once: pushed.
    On SQLite the queue's poll brings them."""
    if backend.is_postgres:
        monkeypatch.setattr(approvals_screen, "REFRESH_S", NEVER_S)
        monkeypatch.setattr(app_module, "POLL_S", NEVER_S)
    store = _store(backend)
    sid = uuid.uuid4().hex
    store.create_session(id=sid, crew_name="support-triage", engine="autogen",
                         topology="network", task="Triage an incident")
    try:
        app = make_app(review=True, frozen_clock=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            queue = app.screen
            assert isinstance(queue, ApprovalsScreen)
            table = queue.query_one(DataTable)
            if backend.is_postgres:
                await wait_for(pilot, lambda: queue.pushed > 0, what="listening to begin")
            assert table.row_count == 0
            seen = queue.pushed
            start = time.monotonic()
            approval = await asyncio.to_thread(_request, store, sid)
            arrived = await _until(pilot, lambda: table.row_count == 1, start=start)
            assert str(table.get_row_at(0)[-1]) == approval.id[:8]
            await _until(pilot, lambda: app.pending == 1)  # the badge too

            from workbench.governance.approvals import decide

            start = time.monotonic()
            await asyncio.to_thread(decide, store, approval.id, "rejected", "erin",
                                    "not to customers")
            left = await _until(pilot, lambda: table.row_count == 0, start=start)
            await _until(pilot, lambda: app.pending == 0)
            if backend.is_postgres:
                assert queue.pushed >= seen + 2  # the request and the decision, pushed
        with capsys.disabled():
            print(f"\n[{backend.kind}] request -> queue {arrived * 1000:.0f} ms, "
                  f"decision -> queue {left * 1000:.0f} ms")
    finally:
        store.close()


def _start_elsewhere(settings: Settings, backend: Backend) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(settings.home), "WORKBENCH_DB": backend.url}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=ROOT)


async def test_the_run_view_follows_a_run_driven_by_another_process_to_its_end(
        team: Settings, backend: Backend, make_app, monkeypatch: pytest.MonkeyPatch) -> None:
    """A run in another process, opened here while it waits for a decision: everything it
    stores after the decision (made by a third party) reaches the view, which then says
    the run completed. On PostgreSQL the view's poll and liveness checks are an hour apart,
    so only pushed changes can bring them."""
    if backend.is_postgres:
        monkeypatch.setattr(run_screen, "FOLLOW_POLL_S", NEVER_S)
        monkeypatch.setattr(run_screen, "REAP_S", NEVER_S)
    proc = _start_elsewhere(team, backend)
    store = _store(backend)
    try:
        def pending() -> tuple[str, str] | None:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended early: {proc.communicate()[1]}")
            rows = backend.sql("select id, session_id from approval where status = 'pending'")
            return rows[0] if rows else None

        approval_id, sid = wait_in_test(pending, timeout=120)
        app = make_app(frozen_clock=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            app.open_replay(sid)
            await settle(pilot)
            run = app.screen
            assert isinstance(run, RunScreen)
            await wait_for(pilot, lambda: run.following, timeout=30, what="following to start")
            assert any(e.kind == "approval.requested" for e in run.model.entries)
            assert run.model.status == "running"
            stored_before = len(run.model.entries)

            from workbench.governance.approvals import decide

            await asyncio.to_thread(decide, store, approval_id, "approved", "erin")
            await wait_for(pilot, lambda: not run.following, timeout=90,
                           what="the view to see the run end")
            assert run.model.status == "completed"
            kinds = [e.kind for e in run.model.entries]
            assert len(kinds) > stored_before
            assert "approval.decided" in kinds and kinds[-1] == "run.completed"
            assert "completed" in str(run.query_one("#run-totals", Static).render())
            stored = [r[0] for r in backend.sql(
                "select seq from event where session_id = :sid and kind = 'message' "
                "order by seq", {"sid": sid})]
            assert [e.seq for e in run.model.entries if e.kind == "message"] == stored
        out, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
    finally:
        if proc.poll() is None:
            proc.kill()
        store.close()



async def test_every_section_works_on_the_teams_database(team: Settings, backend: Backend,
                                                          frozen: None, make_app,
                                                          monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    """Each section reads its data, a stored session replays and the session search finds
    what it should, with no error shown: the TUI's own queries hold on PostgreSQL too."""
    from tests.tui.seed import PENDING_ID, S_DONE, seed
    from workbench.tui.screens.sessions import SessionsScreen

    seed(team)
    app = make_app()
    errors: list[tuple[str, BaseException]] = []
    monkeypatch.setattr(app, "show_error", lambda what, error: errors.append((what, error)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        for key in "2345671":
            await pilot.press(key)
            await settle(pilot)
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        assert S_DONE in sessions._ids
        found = await asyncio.to_thread(app.services.list_sessions, "MARKET-entry")
        assert {r["crew_name"] for r in found} == {"market-entry"}
        app.action_go("approvals")
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, ApprovalsScreen)
        await wait_for(pilot, lambda: [i.approval.id for i in queue.items] == [PENDING_ID],
                       what="the seeded request in the queue")
        app.open_replay(S_DONE)
        await settle(pilot)
        run = app.screen
        assert isinstance(run, RunScreen)
        await wait_for(pilot, lambda: run.model is not None, what="the replay to load")
        assert run.model.entries[-1].kind == "run.completed" and not run.following
    assert errors == []


def test_the_queue_is_watched_only_where_changes_are_pushed(team: Settings,
                                                            backend: Backend) -> None:
    """Services.watch_approvals: on PostgreSQL it reports each change until stopped; on
    SQLite, and on a PostgreSQL it cannot LISTEN on (no server there), it returns at once,
    leaving the screen to its poll."""
    import threading

    from tests.pg import free_port
    from workbench.tui.services import Services

    stop = threading.Event()
    changes: list[float] = []
    services = Services(team, reviewer="dana")
    if not backend.is_postgres:
        assert services.watch_approvals(lambda: changes.append(1), stop) is False
        return
    watcher = threading.Thread(target=services.watch_approvals,
                               args=(lambda: changes.append(1), stop))
    watcher.start()
    try:
        wait_in_test(lambda: changes, timeout=30)  # listening: the first look is asked for
        store = _store(backend)
        sid = uuid.uuid4().hex
        store.create_session(id=sid, crew_name="support-triage", engine="autogen",
                             topology="network", task="Triage")
        _request(store, sid)
        wait_in_test(lambda: len(changes) >= 2, timeout=30)
        store.close()
    finally:
        stop.set()
        watcher.join(timeout=30)
    assert not watcher.is_alive()
    services.close()
    # a server that cannot be listened on: nothing to watch, the poll remains
    team.db_url = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/x"
    nowhere = Services(team, reviewer="dana")
    nowhere._store = SimpleNamespace(engine=_engine(team.db_url))
    gave_up: list[bool] = []
    never = threading.Event()
    watcher = threading.Thread(target=lambda: gave_up.append(
        nowhere.watch_approvals(lambda: changes.append(1), never)), daemon=True)
    watcher.start()
    watcher.join(timeout=20)
    never.set()
    assert gave_up == [False]


def _engine(url: str):
    from sqlalchemy import create_engine

    return create_engine(url)
