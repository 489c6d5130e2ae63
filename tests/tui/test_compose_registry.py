"""Compose adds an agent from the capability registry (by `use:` or as a copy), and lists a
crew's MCP tools beside the built-in ones once the user starts its servers (real
mcp-server-time)."""

from __future__ import annotations

import sys
from pathlib import Path

import yaml
from textual.widgets import Input, OptionList, SelectionList, Static

from tests.tui.conftest import settle, wait_for
from tests.tui.test_compose import compose, type_into, valid
from tests.tui.test_journeys import open_crew, plain
from workbench.spec.loader import load_crew
from workbench.tui.screens.compose_modals import AgentPickerModal, ToolsModal

TIME = str(Path(sys.executable).parent / "mcp-server-time")


async def _picker(pilot) -> AgentPickerModal:
    await pilot.press("ctrl+b")
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, AgentPickerModal),
                   what="the registry picker")
    await settle(pilot)
    return pilot.app.screen


async def test_an_agent_from_the_registry_is_used_or_copied(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        screen = compose(app)

        picker = await _picker(pilot)
        refs = [a.ref for a in picker.shown]
        assert "market-entry/analyst" in refs and "contract-review/legal" in refs
        assert not any(r.startswith("support-triage/") for r in refs)  # its own agents
        await type_into(pilot, picker.query_one("#registry-filter", Input),
                        "cap:market-sizing")
        assert [a.ref for a in picker.shown] == ["market-entry/analyst"]
        assert picker.query_one("#registry-agents", OptionList).option_count == 1
        await pilot.press("enter")  # Use
        await settle(pilot)
        assert app.screen is screen
        assert screen.draft.agents()[-1] == {"use": "market-entry/analyst", "name": "analyst"}
        await valid(pilot)
        assert "4 agents" in plain(screen.query_one("#compose-validation", Static))
        # the form says where it comes from, and shows its taken fields greyed
        assert "use: market-entry/analyst" in plain(screen.query_one("#agent-uses", Static))
        await wait_for(pilot, lambda: screen.query_one("#agent-role", Input).placeholder
                       == "Market analyst", what="the taken role as the hint")
        assert screen.query_one("#agent-role", Input).value == ""

        picker = await _picker(pilot)
        await type_into(pilot, picker.query_one("#registry-filter", Input), "board paper")
        assert [a.ref for a in picker.shown] == ["market-entry/writer"]
        await pilot.press("ctrl+o")  # Copy
        await settle(pilot)
        copied = screen.draft.agents()[-1]
        assert "use" not in copied and copied["role"] == "Business writer"
        assert copied["tools"] == ["write_file", "send_email"]
        assert screen.query_one("#agent-role", Input).value == "Business writer"
        assert not screen.query_one("#agent-uses", Static).display
        await valid(pilot)

        # a second analyst by reference gets a name of its own
        picker = await _picker(pilot)
        await type_into(pilot, picker.query_one("#registry-filter", Input), "analyst")
        await pilot.press("ctrl+u")
        await settle(pilot)
        assert screen.draft.agents()[-1] == {"use": "market-entry/analyst",
                                             "name": "analyst2"}
        await valid(pilot)
        await pilot.press("ctrl+s")
        await settle(pilot)
        await wait_for(pilot, lambda: (settings.crews_dir / "support-triage.yaml").exists(),
                       what="the save")

    path = settings.crews_dir / "support-triage.yaml"
    saved = yaml.safe_load(path.read_text())
    assert {"use": "market-entry/analyst", "name": "analyst"} in saved["agents"]
    spec = load_crew(path)
    assert spec.agent("analyst2").role == "Market analyst"
    assert spec.agent("writer").domain == "communications"


def _clock_crew(settings, extra_server: str = "") -> None:
    settings.crews_dir.mkdir(parents=True, exist_ok=True)
    (settings.crews_dir / "clock.yaml").write_text(f"""\
name: clock
description: Tell the time
model: scripted/demo
mcp_servers:
  time: {{command: {TIME}, args: [--local-timezone, UTC]}}
{extra_server}agents:
  - {{name: keeper, role: Timekeeper, goal: Tell the time, tools: [calculator]}}
""")


async def test_mcp_tools_are_discovered_and_picked_beside_the_built_ins(settings,
                                                                        make_app) -> None:
    broken = (f"  broken: {{command: {sys.executable}, args: [-c, 'raise SystemExit(3)']}}\n")
    _clock_crew(settings, broken)
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "clock")
        screen = compose(app)
        mcp = screen.query_one("#compose-mcp", Static)
        assert "ctrl+f starts them" in plain(mcp) and "time, broken" in plain(mcp)

        # before discovery the picker offers the built-ins and each server as a whole
        screen.query_one("#agent-tools", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsModal), what="the picker")
        offered = [ref for ref, _ in app.screen.choices()]
        assert offered[:2] == ["calculator", "write_file"] or "calculator" in offered
        assert "mcp:time" in offered and not any(o.startswith("mcp:time/") for o in offered)
        await pilot.press("escape")
        await settle(pilot)

        await pilot.press("ctrl+f")
        await wait_for(pilot, lambda: "time: 2 tools" in plain(mcp), timeout=90,
                       what="the time server's tools")
        summary = plain(mcp)
        assert "broken:" in summary  # the server that failed is named, with why
        assert set(screen.mcp.tools) == {"time"} and set(screen.mcp.errors) == {"broken"}
        assert {n for n, _ in screen.mcp.tools["time"]} == {"get_current_time",
                                                           "convert_time"}

        screen.query_one("#agent-tools", Input).focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ToolsModal), what="the picker")
        modal = app.screen
        offered = [ref for ref, _ in modal.choices()]
        assert "mcp:time/get_current_time" in offered and "send_email" in offered
        assert "MCP server broken:" in plain(modal.query_one("#tools-note", Static))
        choices = modal.query_one(SelectionList)
        assert choices.selected == ["calculator"]
        choices.select("mcp:time/get_current_time")
        await pilot.click("#ok")
        await settle(pilot)
        assert screen.query_one("#agent-tools", Input).value == \
            "calculator, mcp:time/get_current_time"
        assert screen.draft.agents()[0]["tools"] == ["calculator", "mcp:time/get_current_time"]
        await valid(pilot)


async def test_a_crew_that_does_not_validate_is_not_started(settings, make_app) -> None:
    _clock_crew(settings)
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "clock")
        screen = compose(app)
        await type_into(pilot, screen.query_one("#agent-goal", Input), "")
        await wait_for(pilot, lambda: "✘" in plain(screen.query_one("#compose-validation",
                                                                      Static)),
                       what="the problem")
        await pilot.press("ctrl+f")
        await settle(pilot)
        assert not screen.mcp.tools and "ctrl+f starts them" in plain(
            screen.query_one("#compose-mcp", Static))


def test_discovery_says_which_server_it_is_starting_and_which_failed(settings) -> None:
    """The worker's own account, as Compose receives it: one progress line per server, in
    turn, then each server's tools or its error."""
    from workbench.tui.screens.compose_mcp import McpProgress, discover

    _clock_crew(settings, f"  broken: {{command: {sys.executable}, args: [-c, 'raise "
                          "SystemExit(3)']}\n")
    text = (settings.crews_dir / "clock.yaml").read_text()

    class Inbox:
        def __init__(self) -> None:
            self.messages: list = []

        def post_message(self, message) -> bool:
            self.messages.append(message)
            return True

    inbox = Inbox()
    found = discover(inbox, text, "clock.yaml")  # type: ignore[arg-type]
    progress = [m.text for m in inbox.messages if isinstance(m, McpProgress)]
    assert len(progress) == 2
    assert "starting time (1 of 2)" in progress[0] and "starting broken (2 of 2)" in progress[1]
    assert [n for n, _ in found.tools["time"]] == ["get_current_time", "convert_time"]
    assert list(found.errors) == ["broken"] and found.errors["broken"]
    assert "broken:" in found.summary() and "time: 2 tools" in found.summary()
