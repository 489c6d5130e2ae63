"""One event vocabulary: kinds are the stored strings, every event a run emits carries its
kind's payload, and the run, its live view, a replay and the session's row count alike."""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import pytest

from tests.governance.test_policies import write_policies
from workbench.cli.printer import RunPrinter
from workbench.config import Settings
from workbench.governance.setup import governed
from workbench.mesh import events as ev
from workbench.mesh.events import Event, Kind, payload_problems
from workbench.mesh.session import Session, prepare
from workbench.mesh.totals import Totals
from workbench.store.db import Store
from workbench.tui.feed import Feed, RunModel

# One tool that runs and fails, one that runs, one a reviewer rejects (it never runs), and
# a model call without a price: every rule of the totals is exercised.
CREW = """\
name: counted
model: scripted/demo
topology: {kind: network, max_turns: 6}
agents:
  - name: clerk
    role: Records clerk
    goal: Keep the records
    tools: [read_file, write_file, send_email]
    domain: records
  - name: reader
    role: Reader
    goal: Read the records
script:
  - {agent: clerk, call: read_file, args: {path: missing.md}}
  - {agent: clerk, call: write_file, args: {path: notes.md, content: "kept"}}
  - {agent: clerk, call: send_email, args: {to: "x@partner.com", subject: s, body: b}}
  - {agent: clerk, say: "Filed. TERMINATE"}
"""
CENTRAL = """\
version: 1
rules:
  - {id: mail-needs-approval, on: tool_call, when: 'tool.name == "send_email"',
     effect: require_approval, reason: mail leaves the company}
"""


def test_kinds_are_the_stored_strings() -> None:
    assert [str(k) for k in Kind] == [
        "run.started", "message", "message.delta", "handoff", "model.call", "tool.requested",
        "policy.decision", "approval.requested", "approval.decided", "tool.result",
        "human.requested", "human.answered", "human.skipped", "fork.diverged",
        "task.posted", "task.bid", "task.awarded", "task.done",
        "run.completed", "run.failed"]
    assert ev.MESSAGE is Kind.MESSAGE and Kind.MESSAGE == "message"
    # a kind read back from the store is a plain string: it finds the same handlers
    assert {Kind.TOOL_RESULT: 1}["tool.result"] == 1 and Kind("model.call") is ev.MODEL_CALL
    event = Event(ev.MESSAGE, "a", "b", "hi", {"turn": 1}, "s", 3, 1.5)
    assert json.dumps(event.to_dict()) == (
        '{"session_id": "s", "seq": 3, "ts": 1.5, "kind": "message", "agent": "a", '
        '"to": "b", "content": "hi", "data": {"turn": 1}}')
    assert type(event.to_dict()["kind"]) is str
    assert set(ev.PAYLOADS) == set(Kind)


def test_payload_problems_name_unknown_and_missing_keys() -> None:
    assert payload_problems("tool.result", {"tool": "t", "call_id": "", "ok": True,
                                            "args": {}}) == []
    assert payload_problems("tool.result", {"tool": "t", "ok": True, "args": {}, "x": 1}) == [
        "tool.result: unexpected key 'x'", "tool.result: missing key 'call_id'"]
    assert payload_problems("no.such", {}) == ["unknown event kind 'no.such'"]


def _run(tmp_path: Path, engine: str, stream: bool = False):
    crew = tmp_path / "crew.yaml"
    crew.write_text(CREW)
    settings = Settings(home=tmp_path / "home",
                        policies=write_policies(tmp_path / "policies", CENTRAL))
    settings.ensure_home()
    store = Store(settings.database_url)
    seen: list[Event] = []
    feed = Feed()
    out = io.StringIO()
    session = Session(prepare(crew, engine=engine, task="File the records"), settings, store,
                      subscribers=[seen.append, feed.put, RunPrinter(out=out, color=False)],
                      stream=stream, **governed(settings, store, "deny").session_kwargs())
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    return store, outcome, seen, feed, out.getvalue()


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_every_event_carries_its_kinds_payload(tmp_path: Path, engine: str) -> None:
    store, outcome, seen, _, _ = _run(tmp_path, engine, stream=True)
    kinds = {e.kind for e in seen}
    assert {"run.started", "message", "message.delta", "model.call", "tool.requested",
            "tool.result", "policy.decision", "approval.requested", "approval.decided",
            "run.completed"} <= kinds
    problems = [p for e in seen for p in payload_problems(e.kind, e.data)]
    assert problems == []
    stored = list(store.iter_events(outcome.session_id))
    assert [p for e in stored for p in payload_problems(e["kind"], e["data"])] == []
    store.close()


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_the_run_its_live_view_a_replay_and_the_row_count_alike(tmp_path: Path,
                                                                engine: str) -> None:
    store, outcome, seen, feed, printed = _run(tmp_path, engine)
    results = [e for e in seen if e.kind == ev.TOOL_RESULT]
    # read_file failed but ran, write_file ran, send_email was rejected and never ran
    assert [(e.data["tool"], e.data["ok"], e.data.get("ran", True)) for e in results] == [
        ("read_file", False, True), ("write_file", True, True), ("send_email", False, False)]
    run = outcome.totals
    assert run.tool_calls == 2 and run.model_calls >= 4 and run.turns >= 1

    def figures(t: Totals) -> tuple:
        return (t.turns, t.prompt_tokens, t.completion_tokens, round(t.cost_usd, 6),
                t.cost_unknown_calls > 0, t.model_calls, t.tool_calls)

    # the live view, just before the run's summary arrives (it would overwrite its counts)
    live = RunModel(live=True)
    feed.drain(live)
    before_end = RunModel(live=True)
    before_end.apply_all(e for e in seen if e.kind not in ev.END_KINDS)
    replay = RunModel()
    replay.apply_all(store.iter_events(outcome.session_id))
    folded = Totals()
    for e in seen:
        if e.kind not in ev.END_KINDS:
            folded.apply(e)
    row = store.get_session(outcome.session_id)
    row_totals = Totals(**{k: row[k] for k in Totals().as_row()})
    expected = figures(run)
    assert figures(before_end.totals) == expected
    assert figures(folded) == expected
    assert figures(live.totals) == expected
    assert figures(replay.totals) == expected
    assert figures(row_totals) == expected
    assert folded.cost_by("agent") == run.cost_by("agent")
    assert folded.cost_by("domain") == run.cost_by("domain") and "records" in run.cost_by(
        "domain")
    # the printer was fed from its own thread, and had printed everything when the run ended
    assert any(line.startswith("✔ completed") for line in printed.splitlines()[-3:])
    assert "2 tool calls" in printed
    store.close()
