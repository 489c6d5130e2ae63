"""Every screen at 80x24 and 120x40, from fixed data, a frozen clock and no blinking cursor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from textual.pilot import Pilot

from tests.tui.conftest import settle

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
def test_sessions_screen(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys())


@pytest.mark.parametrize("size", SIZES)
def test_compose_screen_with_a_shipped_crew(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("2"))


@pytest.mark.parametrize("size", SIZES)
def test_compose_screen_shows_the_validation_error(seeded, make_app, snap_compare,
                                                   size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await keys("2")(pilot)
        pilot.app.screen.query_one("#agent-goal").value = ""
        await checked(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def checked(pilot: Pilot) -> None:
    """Compose has checked what it shows (the check runs 0.15 s after the last edit): the
    last check is of the text on screen, never a sleep that hopes the timer fired."""
    from tests.tui.conftest import wait_for

    await settle(pilot)  # the edit has reached the form's data
    screen = pilot.app.screen
    await wait_for(pilot, lambda: screen.check is not None
                   and screen.check.text == screen.current_text(), what="the check")
    await settle(pilot)


@pytest.mark.parametrize("size", SIZES)
def test_compose_yaml_view_marks_the_error_line(seeded, make_app, snap_compare,
                                                size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await keys("2")(pilot)
        await checked(pilot)
        await pilot.press("ctrl+y")
        editor = pilot.app.screen.query_one("#compose-yaml")
        editor.text = editor.text.replace("reviewer: critic", "reviewer: nobody")
        await checked(pilot)
        await pilot.press("ctrl+g")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compose_layered_pickers(seeded, make_app, snap_compare, size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await keys("2")(pilot)
        await checked(pilot)
        pilot.app.screen.query_one("#role-executors").focus()
        await pilot.press("end", "space")
        await checked(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compose_graph_edges(seeded, make_app, snap_compare, size) -> None:
    async def run_before(pilot: Pilot) -> None:
        await keys("2")(pilot)
        await checked(pilot)
        screen = pilot.app.screen
        screen.query_one("#crew-topology").value = "graph"
        await checked(pilot)
        for _ in range(3):
            screen.query_one("#edge-add").press()
            await settle(pilot)
        rows = list(screen.query(".edge-row"))
        rows[-1].query_one(".edge-when").value = 'message.text.contains("APPROVE")'
        await checked(pilot)
        screen.query_one("#compose-form").focus()
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_run_screen_replaying_a_session(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=keys("down", "enter", "up", "up", "up"))


@pytest.mark.parametrize("size", SIZES)
def test_run_screen_before_any_run(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("3"))


@pytest.mark.parametrize("size", SIZES)
def test_approvals_screen_with_a_pending_request(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4"))


@pytest.mark.parametrize("size", SIZES)
def test_review_app(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(review=True), terminal_size=size, run_before=keys())


@pytest.mark.parametrize("size", SIZES)
def test_models_screen_keys(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("5"))


@pytest.mark.parametrize("size", SIZES)
def test_models_screen_catalog(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("5", "c"))


@pytest.mark.parametrize("size", SIZES)
def test_policies_screen_for_a_domain(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=keys("6", "down", "down", "down", "down", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_reject_dialog(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4", "r"))


@pytest.mark.parametrize("size", SIZES)
def test_edit_arguments_dialog(seeded, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("4", "e"))


@pytest.mark.parametrize("size", SIZES)
def test_compose_registry_picker(seeded, make_app, snap_compare, size) -> None:
    """ctrl+b in Compose: the registry's agents with a capability, Use or Copy."""
    async def run_before(pilot: Pilot) -> None:
        await keys("2", "ctrl+b")(pilot)
        for key in "cap:communication":
            await pilot.press(key)
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_compose_mcp_tools_picker(seeded, make_app, snap_compare, size) -> None:
    """ctrl+f started the crew's MCP server (the real mcp-server-time); enter in the Tools
    field offers its tools beside the built-ins."""
    from tests.tui.conftest import wait_for
    from tests.tui.test_compose_registry import _clock_crew

    _clock_crew(seeded)

    async def run_before(pilot: Pilot) -> None:
        await keys("2")(pilot)
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.path is not None and screen.path.stem == "clock",
                       what="the clock crew")
        await checked(pilot)
        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: bool(screen.mcp.tools), timeout=90, what="discovery")
        screen.query_one("#agent-tools").focus()
        await keys("enter")(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_run_screen_marketplace_bid_table(seeded, make_app, snap_compare, size) -> None:
    """A replayed marketplace session with its first award selected: the bids on the
    topology (one barred by policy) and the bid table in the detail pane."""
    from tests.tui.market_seed import seed_market

    session_id = seed_market(seeded)

    async def run_before(pilot: Pilot) -> None:
        await settle(pilot)
        pilot.app.open_replay(session_id)
        await settle(pilot)
        screen = pilot.app.screen
        award = next(e for e in screen.model.entries if e.kind == "task.awarded")
        stream = screen.query_one("#run-stream")
        for _ in range(stream.cursor - screen.model.visible.index(award.index)):
            await pilot.press("up")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


# -- the designer's loop: two sessions compared, evals ---------------------------------------


@pytest.fixture
def designer(seeded):
    """The seed plus a second version of a run and three evals (tests/tui/seed.py)."""
    from tests.tui.seed import seed_designer

    seed_designer(seeded)
    return seeded


def compared(*pressed: str) -> Callable[[Pilot], Awaitable[None]]:
    """Mark S_DONE (A) and S_FORK (B) in Sessions, open them side by side, then `pressed`."""

    async def run_before(pilot: Pilot) -> None:
        from tests.tui.conftest import wait_for

        await keys("down", "down", "space", "up", "space", "c")(pilot)
        await wait_for(pilot, lambda: bool(getattr(pilot.app.screen, "_starts", None)),
                       what="the comparison")
        await keys(*pressed)(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen_at_the_first_divergence(designer, make_app, snap_compare,
                                                size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=compared())


@pytest.mark.parametrize("size", SIZES)
def test_compare_screen_per_agent(designer, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=compared("g"))


@pytest.mark.parametrize("size", SIZES)
def test_evals_screen_judge_check(designer, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size,
                        run_before=keys("7", "enter", "enter", "down", "down"))


@pytest.mark.parametrize("size", SIZES)
def test_evals_screen_two_runs_compared(designer, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("7", "c"))


@pytest.mark.parametrize("size", SIZES)
def test_evals_screen_pass_rate_per_version(designer, make_app, snap_compare, size) -> None:
    assert snap_compare(make_app(), terminal_size=size, run_before=keys("7", "v"))
