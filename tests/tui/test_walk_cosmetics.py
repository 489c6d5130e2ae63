"""A first user's walk through the TUI: what the stream, Approvals, Evals and section keys show."""

from __future__ import annotations

import io
import json
from typing import Any

from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import DataTable

from tests.tui.conftest import settle
from tests.tui.seed import NOW, ROOT
from workbench.config import Settings
from workbench.mesh.events import Event

S_EDITED = "ed17ed00" + "0" * 23 + "1"
LONG_BODY = ("Hello Acme team, thanks for your patience: the PDF export fix ships tonight, and "
             "we will confirm once it is live on your account.")


def _seed(settings: Settings, events: list[tuple]) -> str:
    """A stored support-triage session holding `events` (kind, agent, to, content, data)."""
    from workbench.store.db import Store

    settings.ensure_home()
    store = Store(settings.database_url)
    text = (ROOT / "crews" / "support-triage.yaml").read_text(encoding="utf-8")
    snap = store.snapshot_crew("support-triage", "crews/support-triage.yaml", text)
    start = NOW - 20
    store.create_session(
        id=S_EDITED, crew_name="support-triage", crew_snapshot_id=snap, engine="autogen",
        topology="network", task="Triage an escalated customer incident", started_at=start,
        ended_at=start + 3, status="completed", turns=1, prompt_tokens=10,
        completion_tokens=5, cost_usd=0.0, cost_unknown_calls=0,
        policy_hash="4e06ad7a4edaf736")
    store.insert_events([
        {"session_id": S_EDITED, "seq": i + 1, "ts": start + i * 0.2, "kind": kind,
         "agent": agent, "to_agent": to, "content": content,
         "data": json.dumps(data) if data else None}
        for i, (kind, agent, to, content, data) in enumerate(events)])
    store.close()
    return S_EDITED


ASKED = {"to": "it@acme.example.com", "subject": "Your PDF export issue"}
EDITED = {"to": "help@acme.example.com", "subject": "Your PDF export issue"}
EDITED_EVENTS: list[tuple] = [
    ("run.started", None, None, "Triage an escalated customer incident",
     {"crew": "support-triage", "engine": "autogen", "topology": "network"}),
    ("tool.requested", "liaison", None, None,
     {"tool": "send_email", "args": {**ASKED, "body": LONG_BODY}, "call_id": "c1"}),
    ("approval.requested", "liaison", None, "Email leaving the company needs a reviewer",
     {"approval_id": "a1b2c3d4e5f6", "tool": "send_email", "args": ASKED,
      "rule_ids": ["external-email-needs-approval"], "expires_at": NOW + 900}),
    ("approval.decided", "liaison", None, "", {"approval_id": "a1b2c3d4e5f6",
                                               "decision": "approved", "reviewer": "rita",
                                               "tool": "send_email", "args": EDITED,
                                               "always": True}),
    ("run.completed", None, None, "Sent.", {"status": "completed", "turns": 1}),
]


def _stream_lines(app: Any) -> list[str]:
    """The stream's rows as drawn (each cut to the view's width)."""
    from workbench.tui.widgets.stream import StreamView

    stream = app.screen.query_one(StreamView)
    stream.scroll_to(y=0, animate=False)
    count = len(stream.model.visible) if stream.model else 0
    return [stream.render_line(y).text for y in range(min(count, stream.size.height))]


async def _replay(pilot: Pilot, session_id: str) -> None:
    await settle(pilot)
    pilot.app.open_replay(session_id)
    await settle(pilot)


async def test_an_edited_approval_reads_in_the_stream_as_the_cli_prints_it(
        seeded, make_app) -> None:
    from workbench.cli.printer import RunPrinter

    _seed(seeded, EDITED_EVENTS)
    printer = RunPrinter(out=io.StringIO(), color=False)
    printed = [printer.render(Event(k, a, t, c, d)) for k, a, t, c, d in EDITED_EVENTS]
    cli = next(p for p in printed if p and "approval a1b2c3d4e5f6 approved" in p).strip()
    assert cli == ("▶ approval a1b2c3d4e5f6 approved by rita (always for this session) "
                   "with edited arguments: to='help@acme.example.com'")
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await _replay(pilot, S_EDITED)
        line = next(x for x in _stream_lines(app) if "approval a1b2c3d4e5f6 approved" in x)
        # the same words as `workbench run`, after the row's time of day
        assert line.rstrip().endswith(cli)


async def test_a_cut_argument_shows_one_ellipsis_at_any_width(seeded, make_app) -> None:
    _seed(seeded, EDITED_EVENTS)
    app = make_app()
    async with app.run_test(size=(80, 30)) as pilot:
        await _replay(pilot, S_EDITED)
        cut = 0
        for width in range(70, 150):
            await pilot.resize_terminal(width, 30)
            await pilot.pause()
            tool = next(x for x in _stream_lines(app) if "send_email(" in x)
            assert "……" not in tool, (width, tool)
            cut += tool.rstrip().endswith("…")
        assert cut  # the row was cut at some widths: the check saw cut rows


async def test_a_task_report_that_names_its_task_says_it_once(seeded, make_app) -> None:
    from tests.tui.market_seed import seed_market

    session_id = seed_market(seeded)
    app = make_app()
    async with app.run_test(size=(160, 40)) as pilot:
        await _replay(pilot, session_id)
        done = [x for x in _stream_lines(app) if "done by" in x]
        assert any("T2 done by edith: proofread; fixed the spacing" in x for x in done), done
        assert not any("T2 done:" in x or "T1 done:" in x for x in done), done


async def test_the_time_left_of_a_pending_request_clears_the_border_at_80x24(
        seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        table = app.screen.query_one("#approvals-table", DataTable)
        end = 0
        for column in table.ordered_columns:
            end += column.get_render_width(table)
            if column.label.plain == "Left":
                break
        assert end <= table.scrollable_content_region.width


def _footer_actions(app: Any) -> set[str]:
    return {b.binding.action for b in app.screen.active_bindings.values()
            if b.binding.show and b.enabled}


async def test_the_history_offers_no_keys_that_decide(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("4")
        await settle(pilot)
        deciding = {"approve", "approve_always", "edit", "reject"}
        assert deciding <= _footer_actions(app)
        await pilot.press("h")
        await settle(pilot)
        assert app.screen.history
        assert not deciding & _footer_actions(app)
        await pilot.press("a")  # no effect in the history: nothing asks for a decision
        await settle(pilot)
        assert app.screen.history and len(app.screen_stack) == 1
        await pilot.press("h")
        await settle(pilot)
        assert deciding <= _footer_actions(app)


async def test_the_cases_title_is_whole_at_80x24(seeded, make_app) -> None:
    from tests.tui.seed import seed_designer

    seed_designer(seeded)
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("7", "enter"):
            await pilot.press(key)
            await settle(pilot)
        table = app.screen.query_one("#evals-cases", DataTable)
        title = str(table.border_title)
        assert title.startswith("Cases · ") and title.endswith(" passed")
        border = table.render_lines(Region(0, 0, table.outer_size.width, 1))[0].text
        assert title in border and "…" not in border


async def test_a_section_key_in_its_own_section_goes_back_to_its_list(
        seeded, make_app) -> None:
    from workbench.tui.screens.run import RunScreen
    from workbench.tui.screens.sessions import SessionsScreen

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for key in ("down", "enter"):
            await pilot.press(key)
            await settle(pilot)
        replay = app.screen
        assert isinstance(replay, RunScreen) and replay.replay_id
        # from another section, the key of Sessions brings back what was left there
        await pilot.press("2")
        await settle(pilot)
        await pilot.press("1")
        await settle(pilot)
        assert app.screen is replay
        # pressed in Sessions itself, it shows the list
        await pilot.press("1")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)
        assert app.current_mode == "sessions" and len(app.screen_stack) == 1
