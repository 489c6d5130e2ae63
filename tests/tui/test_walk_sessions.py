"""A first user's Sessions: the hint shown before any run is whole at 80x24, not cut."""

from __future__ import annotations

from textual.widgets import Static

from tests.tui.conftest import settle


async def test_the_no_sessions_hint_is_whole_at_80x24(settings, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        detail = app.screen.query_one("#sessions-detail", Static)
        assert detail.has_class("empty")
        assert str(detail.render()).endswith("workbench run market-entry")
        # the hint wraps to two lines at 80 columns: both are on screen, its end included
        assert detail.content_size.height >= 2
        assert "market-entry" in app.export_screenshot()
