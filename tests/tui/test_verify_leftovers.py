"""The TUI's leftovers of the governance and first-user issues: a run started from the TUI
says what `workbench run` says before it starts (policy notes, the run's warnings), in the
stream and in a notification; the dialogs without a snapshot get one; the approvals history
fits its columns."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.tui.conftest import settle, wait_for
from workbench.config import Settings
from workbench.governance.setup import governed, run_notes
from workbench.mesh.session import prepare
from workbench.tui.feed import NOTE
from workbench.tui.render import entry_line
from workbench.tui.screens.run import RunScreen

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]

ODD_DOMAIN = """\
name: odd-domain
description: One agent in a domain without policies
model: scripted/demo
topology:
  kind: network
  max_turns: 2
agents:
  - name: scout
    role: Scout
    goal: Look around
    domain: astrology
script:
  - agent: scout
    say: "All quiet. TERMINATE"
"""


def _function_crew(tmp_path: Path) -> Path:
    """A crew whose agent lists an untrusted function: the run warns that it does not run."""
    data = {
        "name": "fn-crew", "description": "Uses a function from the file",
        "model": "scripted/demo", "topology": {"kind": "network", "max_turns": 2},
        "agents": [{"name": "assistant", "role": "Assistant", "goal": "Compute",
                    "domain": "astrology", "tools": ["function:calc"]}],
        "functions": {"calc": {"description": "Add two numbers", "trusted": False,
                               "source_code": "def calc(a: float, b: float) -> str:\n"
                                              "    return str(a + b)\n"}},
        "script": [{"agent": "assistant", "say": "Nothing to compute. TERMINATE"}],
    }
    path = tmp_path / "fn.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def _toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def _run_to_end(app, pilot, crew: Path) -> RunScreen:
    await app.start_run(prepare(crew))
    run = next(s for s in app.screen_stack if isinstance(s, RunScreen))
    await wait_for(pilot, lambda: run.model is not None and run.model.status == "completed",
                   timeout=90, what="the run to end")
    await settle(pilot)
    return run


async def test_a_run_from_the_tui_shows_the_unknown_domain_note(settings: Settings, make_app,
                                                                 tmp_path: Path) -> None:
    crew = tmp_path / "odd.yaml"
    crew.write_text(ODD_DOMAIN)
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await _run_to_end(app, pilot, crew)
        # the very text `workbench run` prints after "workbench: warning: "
        note = ("domain 'astrology' (agent scout) has no policy file in "
                f"{Path('policies').resolve()}/domains: only the central rules apply to it")
        assert run.model.notes == [note]
        # the first row of the stream, before the run's own first row
        first = run.model.entries[0]
        assert first.kind == NOTE and first.text == note
        assert run.model.entries[1].kind == "run.started"
        line = entry_line(first, run.model, app.clock).plain
        assert line.endswith(f"⚠ warning: {note}")
        # and told in a notification when the run starts, once
        told = [t for t in _toasts(app) if note in t]
        assert len(told) == 1


async def test_the_runs_own_warnings_show_with_the_policy_notes(settings: Settings, make_app,
                                                                 tmp_path: Path) -> None:
    crew = _function_crew(tmp_path)
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await _run_to_end(app, pilot, crew)
        # the same lines, from the same source, as the CLI's warnings
        policy = governed(settings, run.wb.services.store, "deny").policy
        spec = prepare(crew).spec
        expected = run_notes(policy, spec)
        started = next(e for e in run.model.entries if e.kind == "run.started")
        warnings = started.data["warnings"]
        assert any("function 'calc' is not trusted" in w for w in warnings)
        assert run.model.notes == expected + warnings
        rows = [e.text for e in run.model.entries if e.kind == NOTE]
        assert rows == expected + warnings
        # one notification names them all
        told = [t for t in _toasts(app) if "function 'calc' is not trusted" in t]
        assert len(told) == 1 and all(n in told[0] for n in expected)


async def test_a_replayed_session_shows_the_warnings_it_started_with(
        settings: Settings, make_app, tmp_path: Path) -> None:
    crew = _function_crew(tmp_path)
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        run = await _run_to_end(app, pilot, crew)
        session_id = run.model.session_id
        app.open_replay(session_id)
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen)
                       and app.screen.replay_id == session_id and app.screen.model is not None,
                       what="the replay")
        replay = app.screen
        assert any("function 'calc' is not trusted" in n for n in replay.model.notes)


# -- the dialogs that had no picture, drawn at both sizes -----------------------------------

CONTEXT = [
    {"agent": "assistant", "to": "user_proxy",
     "content": "Here is a draft plan: size the Nordic SME market, compare three "
                "competitors on price, and recommend where to enter first. Shall I go on?"},
]


def _keys(*pressed: str):
    async def run_before(pilot) -> None:
        await settle(pilot)
        for key in pressed:
            await pilot.press(key)
            await settle(pilot)

    return run_before


def _pushed(make_screen, *pressed: str):
    """Go to a section (keys), then open the dialog `make_screen()` builds over it."""

    async def run_before(pilot) -> None:
        await _keys(*pressed)(pilot)
        pilot.app.push_screen(make_screen())
        await settle(pilot)

    return run_before


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_human_turn_dialog(seeded, make_app, snap_compare, size) -> None:
    from workbench.governance.brokers import HumanQuestion
    from workbench.tui.screens.human import Asked, HumanModal

    asked = HumanQuestion("q-7f3a", "s" * 32, "user_proxy", "turn", CONTEXT[0]["content"],
                          CONTEXT)
    dialog = lambda: HumanModal(Asked(asked.id, asked.agent, asked.kind,  # noqa: E731
                                      asked.prompt, asked.text, asked.context))
    assert snap_compare(make_app(), terminal_size=size, run_before=_pushed(dialog, "3"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_questions_for_a_person_dialog(seeded, make_app, snap_compare, size) -> None:
    from tests.tui.seed import NOW, S_WAITING
    from workbench.governance.human import Question
    from workbench.tui.screens.human import QuestionsModal

    questions = [
        Question("q-7f3a", S_WAITING, "user_proxy", "turn", CONTEXT[0]["content"], CONTEXT,
                 "pending", None, None, None, None, NOW - 30, None, NOW + 3570),
        Question("q-2b91", S_WAITING, "writer", "feedback",
                 "Draft: enter Sweden first; Norway a year later.", [],
                 "pending", None, None, None, None, NOW - 90, None, NOW + 3510),
    ]
    assert snap_compare(make_app(review=True), terminal_size=size,
                        run_before=_pushed(lambda: QuestionsModal(questions)))


TOPIC_CREW = """\
name: topic-crew
description: Write about a topic for an audience
model: scripted/demo
topology: {kind: network, max_turns: 1}
inputs: {topic: "", audience: ""}
agents:
  - name: writer
    role: Writer on {topic}
    goal: Write for {audience}
script:
  - agent: writer
    say: "Done. TERMINATE"
"""


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_missing_inputs_dialog(seeded, make_app, snap_compare, size) -> None:
    from tests.tui.test_journeys import open_crew

    folder = seeded.home / "crews"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topic-crew.yaml").write_text(TOPIC_CREW)

    async def run_before(pilot) -> None:
        from workbench.tui.screens.inputs import InputsModal

        await open_crew(pilot, "topic-crew")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, InputsModal),
                       what="the dialog asking for the inputs")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_error_dialog(seeded, make_app, snap_compare, size, monkeypatch) -> None:
    # the log file is shown under ~: let ~ be this test's folder, so the picture is stable
    monkeypatch.setenv("HOME", str(seeded.home.parent))

    async def run_before(pilot) -> None:
        await settle(pilot)
        pilot.app.show_error("opening the session",
                             RuntimeError("database disk image is malformed"))
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


# -- the approvals history: its columns fit ------------------------------------------------


def _fits(table, names: list[str]) -> bool:
    """The named columns (the first ones) are whole within the table's visible width."""
    columns = table.ordered_columns
    assert [str(c.label) for c in columns[:len(names)]] == names
    used = sum(c.get_render_width(table) for c in columns[:len(names)])
    return used <= table.scrollable_content_region.width


async def test_the_history_shows_every_column_whole_at_120x40(seeded, make_app) -> None:
    from textual.widgets import DataTable

    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await _keys("4", "h")(pilot)
        table = app.screen.query_one(DataTable)
        assert _fits(table, ["Time", "Outcome", "Session", "Agent", "Tool", "By"])
        # narrowed to 80 columns: when, what became of it and the tool stay in view
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        assert _fits(table, ["Time", "Outcome", "Tool"])
        rows = [[str(c) for c in table.get_row_at(r)][:3] for r in range(table.row_count)]
        assert rows == [["10:19", "pending", "send_email"], ["08:20", "approved", "send_email"]]
        # and back
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        assert _fits(table, ["Time", "Outcome", "Session", "Agent", "Tool", "By"])
        # the pending queue keeps its own columns and width
        await _keys("h")(pilot)
        assert [str(c.label) for c in table.ordered_columns][:3] == ["Agent", "Tool", "Left"]
        assert not table.has_class("-history")


async def test_the_history_at_80x24_keeps_time_outcome_and_tool_in_view(seeded,
                                                                        make_app) -> None:
    from textual.widgets import DataTable

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await _keys("4", "h")(pilot)
        table = app.screen.query_one(DataTable)
        assert _fits(table, ["Time", "Outcome", "Tool"])
