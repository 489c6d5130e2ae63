"""Evals at 80x24: the line about the selected run (cases file, repeat, concurrency) is whole."""

from __future__ import annotations

import pytest
from textual.widgets import Static

from tests.tui.conftest import settle, wait_for
from tests.tui.seed import seed_designer
from workbench.config import Settings


@pytest.fixture
def evals(seeded: Settings) -> Settings:
    seed_designer(seeded)
    return seeded


async def test_the_eval_run_hint_is_whole_at_80x24(evals, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await settle(pilot)
        hint = app.screen.query_one("#evals-hint", Static)
        await wait_for(pilot, lambda: "concurrency" in str(hint.render()), what="the hint")
        await settle(pilot)
        text = str(hint.render())
        assert len(text) > hint.content_size.width  # it needs two lines at 80 columns
        assert hint.content_size.height == 2
        assert "concurrency" in app.export_screenshot()
