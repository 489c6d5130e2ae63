"""The Run section before any run, at 80x24: its hint is whole, wrapped, not cut."""

from __future__ import annotations

from tests.tui.conftest import settle
from workbench.tui.widgets.stream import StreamView


async def test_the_no_run_hint_wraps_whole_at_80x24(settings, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("3")
        await settle(pilot)
        stream = app.screen.query_one(StreamView)
        assert stream.empty_text.endswith("replay a session from Sessions (1).")
        width = stream.scrollable_content_region.width
        assert len(stream.empty_text) > width  # too long for one line at 80 columns
        shown = " ".join(stream.render_line(y).text.strip() for y in range(3)).strip()
        assert shown == stream.empty_text
