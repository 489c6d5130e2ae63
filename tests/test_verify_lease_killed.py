"""A run killed with -9 while it waits for a reviewer: whoever looks next (the command line,
the review window, the sessions list) finds it interrupted, with all it did on its row, and
its request can no longer be approved."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from textual.widgets import DataTable

from tests.conftest import MemoryKeyring
from tests.tui.conftest import CATALOG, fresh_settings, settle, wait_for
from tests.tui.seed import ROOT
from workbench.cli import main
from workbench.config import Settings
from workbench.mesh.totals import Totals
from workbench.store.db import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.approvals import ApprovalsScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.services import Services

TOTALS = ("turns", "prompt_tokens", "completion_tokens", "model_calls", "tool_calls")


def _start(home: Path) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(home)}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def _row(store: Store, sid: str) -> dict:
    return store.get_session(sid)


def _folded(store: Store, sid: str) -> dict:
    """The session's totals as its stored events count them (the run's own rule)."""
    t = Totals()
    for e in store.iter_events(sid):
        t.apply_fields(e["kind"], e["agent"], e["data"])
    return {k: getattr(t, k) for k in TOTALS}


def _waiting(home: Path, proc: subprocess.Popen, timeout: float = 90) -> tuple[str, str]:
    """Until the run waits for a reviewer with its request stored; its session and request."""
    store = Store(f"sqlite:///{home / 'workbench.db'}")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"the run ended: {proc.communicate()[1][-2000:]}")
            if (home / "workbench.db").exists():
                from workbench.governance import approvals

                pending = [a for a in approvals.list_approvals(store) if a.status == "pending"]
                if pending and any(e["kind"] == "approval.requested"
                                   for e in store.iter_events(pending[0].session_id)):
                    return pending[0].session_id, pending[0].id
            time.sleep(0.1)
    finally:
        store.close()
    raise AssertionError("the run never asked for a reviewer")


def test_a_killed_runs_row_keeps_its_turns_and_tokens(tmp_path: Path, capsys) -> None:
    home = tmp_path / "home"
    proc = _start(home)
    try:
        sid, approval = _waiting(home, proc)
        store = Store(f"sqlite:///{home / 'workbench.db'}")
        folded = _folded(store, sid)
        assert folded["model_calls"] > 0 and folded["turns"] > 0
        # a run that waits for a person has all it did on its row (no more to come)
        deadline = time.monotonic() + 10
        while {k: _row(store, sid)[k] for k in TOTALS} != folded:
            assert time.monotonic() < deadline, (_row(store, sid), folded)
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    capsys.readouterr()
    assert main(["--home", str(home), "sessions", "list", "--json"]) == 0
    [row] = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert row["status"] == "interrupted"
    assert {k: row[k] for k in TOTALS} == folded
    assert main(["--home", str(home), "approvals", "approve", approval]) == 2
    assert "is interrupted, so nothing waits for a decision" in capsys.readouterr().err


@pytest.fixture
def tui_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 memory_keyring: MemoryKeyring) -> Settings:
    return fresh_settings(tmp_path, monkeypatch)


async def test_the_review_window_refuses_a_killed_runs_request(tui_settings: Settings) -> None:
    """The reviewer saw the request before the run died; approving it afterwards is refused
    (nothing is sent), the queue empties, and the sessions list shows the run interrupted."""
    settings = tui_settings
    proc = _start(settings.home)
    try:
        services = Services(settings, reviewer="dana", catalog=lambda: list(CATALOG))
        app = WorkbenchApp(settings, review=True, services=services, cursor_blink=False)
        async with app.run_test(size=(120, 40)) as pilot:
            queue = app.screen
            assert isinstance(queue, ApprovalsScreen)
            table = queue.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, timeout=90,
                           what="the run's request in the queue")
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            await pilot.press("a", "y")  # send_email is external: approving asks once more
            await settle(pilot)
            await wait_for(pilot, lambda: app.pending == 0, what="the queue to empty")
            [request] = services.approvals(pending_only=False)
            assert request.status == "expired", request
            assert "interrupted" in (request.decision_reason or "")
        # the workbench opened afterwards lists the run as interrupted
        app = WorkbenchApp(settings, services=services, cursor_blink=False)
        async with app.run_test(size=(120, 40)) as pilot:
            sessions = app.screen
            assert isinstance(sessions, SessionsScreen)
            await wait_for(pilot, lambda: [r["status"] for r in sessions._rows]
                           == ["interrupted"], what="the run listed as interrupted")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert not list((settings.home / "sessions").glob("*/outbox/*.eml"))


async def test_the_sessions_list_is_the_first_to_notice_a_killed_run(
        tui_settings: Settings) -> None:
    settings = tui_settings
    proc = _start(settings.home)
    try:
        _waiting(settings.home, proc)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        proc.kill()
    services = Services(settings, reviewer="dana", catalog=lambda: list(CATALOG))
    app = WorkbenchApp(settings, services=services, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        await wait_for(pilot, lambda: [r["status"] for r in sessions._rows]
                       == ["interrupted"], what="the run listed as interrupted")
        await wait_for(pilot, lambda: app.pending == 0, what="no request left to decide")
    [request] = services.approvals(pending_only=False)
    assert request.status == "expired"
