"""A graph crew as a user runs it: a review loop runs to its exit on AutoGen, is refused on
CrewAI (which offers no graph) at validation with exit 2, and a message routed to no one
(the graph's end, or no edge's `when` held) is shown as such, never as sent to all."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from workbench.cli import main

LOOP = """\
name: review-loop
model: scripted/demo
topology:
  kind: graph
  max_turns: 10
  edges:
    - {from: writer, to: critic}
    - {from: critic, to: writer, when: 'message.text.contains("REVISE")'}
    - {from: critic, to: publisher, when: 'message.text.contains("APPROVE")'}
agents:
  - {name: writer, role: Writer, goal: Write}
  - {name: critic, role: Critic, goal: Critique}
  - {name: publisher, role: Publisher, goal: Publish}
script:
  - {agent: writer, say: "Draft 1"}
  - {agent: critic, say: "REVISE please"}
  - {agent: writer, say: "Draft 2"}
  - {agent: critic, say: "%s"}
  - {agent: publisher, say: "Published."}
"""


def _crew(tmp_path: Path, last_word: str = "APPROVE") -> Path:
    crew = tmp_path / "loop.yaml"
    crew.write_text(LOOP % last_word)
    return crew


def test_the_loop_runs_to_its_exit_and_the_end_goes_to_no_one(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = _crew(tmp_path)
    assert main(["run", str(crew), "--approvals", "deny"]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if "→" in line]
    assert lines == ["writer → critic: Draft 1", "critic → writer: REVISE please",
                     "writer → critic: Draft 2", "critic → publisher: APPROVE",
                     "publisher → no one: Published."]
    assert "→ all" not in out
    # the stored event names no recipient; the export says so in words
    assert main(["run", str(crew), "--approvals", "deny", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    last = [e for e in events if e["kind"] == "message"][-1]
    assert last["agent"] == "publisher" and last["to"] is None
    md = tmp_path / "s.md"
    assert main(["sessions", "export", last["session_id"], "--format", "md",
                 "-o", str(md)]) == 0
    text = md.read_text()
    assert "**publisher → no one**" in text and "→ all" not in text


def test_when_no_condition_holds_the_message_goes_to_no_one_and_the_run_ends(
        tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = _crew(tmp_path, "Hmm.")
    assert main(["run", str(crew), "--approvals", "deny"]) == 0
    out = capsys.readouterr().out
    assert "critic → no one: Hmm." in out
    assert "publisher" not in [line.split(" ")[0] for line in out.splitlines()]


@pytest.mark.parametrize("command", ["validate", "run"])
def test_crewai_refuses_a_graph_before_it_runs(command: str, tmp_path: Path, home: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    crew = _crew(tmp_path)
    argv = (["crews", "validate", str(crew), "--engine", "crewai"] if command == "validate"
            else ["run", str(crew), "--engine", "crewai"])
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "engine 'crewai' does not offer topology 'graph'; use --engine autogen" in err
    assert "Traceback" not in err


def test_the_tui_stream_shows_no_one_for_a_message_routed_nowhere() -> None:
    from workbench.tui.feed import RunModel
    from workbench.tui.render import _recipients

    model = RunModel(live=False)
    assert _recipients(model, None).plain == "no one"
    assert _recipients(model, "").plain == "no one"
    assert _recipients(model, "writer,critic").plain == "writer,critic"
