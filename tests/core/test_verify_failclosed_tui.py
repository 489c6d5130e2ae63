"""A run started in the TUI whose events cannot be stored (the database refuses inserts, as
on a full disk) stops at once and shows as failed, with the reason, in the run view."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from textual.widgets import Static

from tests.conftest import MemoryKeyring
from tests.tui.conftest import CATALOG, fresh_settings, wait_for
from tests.tui.test_journeys import open_crew
from workbench.config import Settings
from workbench.store.db import Store
from workbench.tui.app import WorkbenchApp
from workbench.tui.screens.run import RunScreen
from workbench.tui.services import Services


@pytest.fixture
def tui_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                 memory_keyring: MemoryKeyring) -> Settings:
    return fresh_settings(tmp_path, monkeypatch)


async def test_a_tui_run_whose_events_cannot_be_stored_shows_failed(
        tui_settings: Settings) -> None:
    settings = tui_settings
    settings.ensure_home()
    db = settings.home / "workbench.db"
    Store(f"sqlite:///{db}").close()
    con = sqlite3.connect(db)
    con.execute("CREATE TRIGGER disk_full BEFORE INSERT ON event WHEN NEW.seq > 4 "
                "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    con.commit()
    services = Services(settings, reviewer="dana", catalog=lambda: list(CATALOG))
    app = WorkbenchApp(settings, services=services, cursor_blink=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the run view")
        run = app.screen
        await wait_for(pilot, lambda: run.model is not None
                       and run.model.status not in ("starting", "running", "waiting"),
                       what="the run to end")
        assert run.model.status == "failed"
        assert run.model.entries[-1].kind == "run.failed"
        assert "the run's events could not be stored" in run.model.entries[-1].text
        assert "failed" in str(run.query_one("#run-totals", Static).render())
        # it never reached the email that needs a reviewer
        assert app.pending == 0
    status, error = con.execute("select status, error from session").fetchone()
    assert status == "failed" and "database or disk is full" in error
    con.close()
