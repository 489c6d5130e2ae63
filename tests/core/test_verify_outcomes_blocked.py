"""A run whose model calls were all blocked fails (exit 1, run.failed with the reason) also
when the blocked model comes through a routed alias or a fork; a run with some blocked
calls completes and its summary says so, in the CLI and in the TUI's stream."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "policies"
ENGINES = ["autogen", "crewai"]

ROUTED = """\
models:
  bad: nosuch/model
  smart:
    route:
      - {when: 'agent.name == "nobody"', use: scripted/demo}
      - {use: bad}
"""


def _events(out: str) -> list[dict]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("engine", ENGINES)
def test_a_routed_alias_whose_every_call_is_blocked_fails_the_run(
        engine: str, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    home.mkdir(parents=True)
    (home / "models.yaml").write_text(ROUTED)
    code = main(["--policies", str(POLICIES), "run", "support-triage", "--engine", engine,
                 "--model", "smart", "--approvals", "deny", "--json"])
    out, err = capsys.readouterr()
    assert code == 1
    last = _events(out)[-1]
    assert last["kind"] == "run.failed"
    assert last["content"].startswith("every model call was blocked by policy")
    assert "Only vetted model providers may be used" in err


def test_a_fork_whose_every_live_call_is_blocked_fails(
        home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--policies", str(POLICIES), "run", "market-entry", "--approvals", "deny",
                 "--json"]) == 0
    session = _events(capsys.readouterr().out)[0]["session_id"]
    code = main(["--policies", str(POLICIES), "run", "market-entry", "--from",
                 f"{session}@5", "--model", "nosuch/model", "--approvals", "deny"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "✘ failed" in out and "✔ completed" not in out
    assert "every model call was blocked by policy" in err


PARTLY_BLOCKED = """\
name: partly-blocked
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - {name: lead, role: Lead, goal: Decide}
  - {name: outsider, role: Outsider, goal: Comment, model: nosuch/model}
script:
  - {agent: lead, say: "Decided."}
"""


@pytest.mark.parametrize("engine", ENGINES)
def test_some_blocked_calls_are_in_the_summary_of_the_cli_and_the_tui(
        engine: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.config import Settings
    from workbench.store.db import Store
    from workbench.tui.clock import Clock
    from workbench.tui.feed import RunModel
    from workbench.tui.render import entry_detail, entry_line

    crew = tmp_path / "crew.yaml"
    crew.write_text(PARTLY_BLOCKED)
    assert main(["--policies", str(POLICIES), "run", str(crew), "--engine", engine,
                 "--approvals", "deny"]) == 0
    out = capsys.readouterr().out
    summary = next(line for line in out.splitlines() if line.startswith("✔ completed"))
    assert "1 blocked by policy" in summary
    store = Store(Settings(home=home).database_url)
    session = store.list_sessions()[0]["id"]
    replay = RunModel(live=False)
    replay.apply_all(store.iter_events(session))
    ended = replay.entries[-1]
    assert ended.kind == "run.completed"
    assert "1 model call blocked by policy" in entry_line(ended, replay, Clock()).plain
    from rich.console import Console

    console = Console(width=120, record=True)
    console.print(entry_detail(ended, replay, Clock()))
    assert "1 blocked by policy" in console.export_text()
    store.close()
