"""The marketplace in the run view: bids and the award drawn on the topology, live and in a
replay, and the bid table in the detail pane."""

from __future__ import annotations

import io
from typing import Any

from rich.console import Console

from tests.tui.conftest import settle, wait_for
from tests.tui.market_seed import seed_market
from tests.tui.test_journeys import open_crew
from workbench.tui.screens.run import RunScreen
from workbench.tui.widgets.detail import DetailView
from workbench.tui.widgets.stream import StreamView
from workbench.tui.widgets.topology import TopologyView


def shown(renderable: Any) -> str:
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(renderable)
    return console.export_text()


async def select(pilot: Any, screen: RunScreen, entry: Any) -> None:
    """Move the stream's cursor to `entry` with the arrow keys, as a person would."""
    stream = screen.query_one(StreamView)
    row = screen.model.visible.index(entry.index)
    key = "up" if row < stream.cursor else "down"
    for _ in range(abs(row - stream.cursor)):
        await pilot.press(key)
    await settle(pilot)
    assert stream.selected is entry


async def test_a_live_marketplace_run_draws_its_bids_and_the_award(settings, make_app) -> None:
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "translation-desk")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the run view")
        run = app.screen
        await wait_for(pilot, lambda: run.model.status == "completed", what="the run to end")
        await settle(pilot)
        topology = run.query_one(TopologyView)
        # the latest task, proofreading, went to edith, the only proofreader
        assert topology.market is run.market and run.market.task_id == "T3"
        assert run.market.winner == "edith" and "T3" in run.market.done
        drawn = shown(topology.render())
        assert "★$0 L0 50%" in drawn and "T3 [proofreading]" in drawn
        assert "done by edith" in drawn
        # the second translation: lina had the first open, so marco won it
        award = next(e for e in run.model.entries
                     if e.kind == "task.awarded" and e.data["task_id"] == "T2")
        await select(pilot, run, award)
        detail = shown(run.query_one(DetailView).renderable)
        assert "bids (2)" in detail and "★ marco" in detail
        table = detail[detail.index("bids (2)"):]
        assert table.index("marco") < table.index("lina")
        assert "score" in table and "winner" in table


async def test_a_replayed_award_shows_its_bids_barred_ones_too(seeded, make_app) -> None:
    session_id = seed_market(seeded)
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.open_replay(session_id)
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen)
        await wait_for(pilot, lambda: screen.model is not None
                       and screen.model.status == "completed", what="the replay")
        topology = screen.query_one(TopologyView)
        assert topology.market is not None and topology.market.task_id == "T2"
        first = next(e for e in screen.model.entries if e.kind == "task.awarded")
        await select(pilot, screen, first)
        # the topology follows the selected award: T1's bids, lina's barred
        assert topology.market.task_id == "T1"
        drawn = shown(topology.render())
        assert "barred" in drawn and "★$0.0003" in drawn
        detail = shown(screen.query_one(DetailView).renderable)
        assert "barred by policy: Lina is on leave" in detail
        assert "★ marco" in detail and "75%" in detail
