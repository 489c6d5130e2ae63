"""A fork opened from a replay is not an edit: Compose does not call it edited, nor does
quitting ask about unsaved edits, until the user changes something."""

from __future__ import annotations

from textual.widgets import DataTable

from tests.tui.conftest import settle, wait_for
from tests.tui.seed import S_DONE


async def test_a_fork_just_opened_has_no_unsaved_edits(seeded, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
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
        compose = app.screen
        assert compose.fork is not None and compose.fork.task
        # the session's task is on the form, and the crew it would run carries it
        assert compose.query_one("#crew-task").value == compose.fork.task
        assert compose.data.get("task") == compose.fork.task
        title = str(compose.query_one("#compose-form").border_title)
        assert "forking from" in title and "edited" not in title
        assert compose.unsaved_edits() is None
        # a change of the user's own is an edit as ever
        compose.query_one("#agent-role").value = "Very careful lead"
        await settle(pilot)
        assert "edited" in str(compose.query_one("#compose-form").border_title)
        assert compose.unsaved_edits() is not None
