"""A tool's output that reaches another agent is judged like a message, on both engines."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from tests.support import make_context
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.redact import redact
from workbench.spec.schema import CrewSpec

ENGINES = ["autogen", "crewai"]
MARKER = "MARKER-7731"
EMAIL = "dana.smith@acme.example.com"
#: AutoGen hands the tool output itself to the team when an agent's tool loop runs out
#: (ten calls in a row) without a text answer; CrewAI's agent answers in its own words.
CALLS = 10


def _crew() -> CrewSpec:
    # different files: CrewAI stops an agent that repeats the very same call
    script = [{"agent": "clerk", "call": "read_file", "args": {"path": f"note{i}.md"}}
              for i in range(CALLS)]
    script.append({"agent": "reader", "say": "Noted. TERMINATE"})
    return CrewSpec.model_validate(yaml.safe_load(yaml.safe_dump({
        "name": "leaky-tools",
        "model": "scripted/demo",
        "topology": {"kind": "network", "max_turns": 3},
        "agents": [
            {"name": "clerk", "role": "Clerk", "goal": "Read the note", "tools": ["read_file"]},
            {"name": "reader", "role": "Reader", "goal": "Act on the note"},
        ],
        "script": script,
    })))


def _gate(tmp_path: Path, effect: str, when: str) -> PolicyGate:
    folder = tmp_path / "policies"
    (folder / "domains").mkdir(parents=True)
    (folder / "central.yaml").write_text(yaml.safe_dump({
        "version": 1, "default": "allow",
        "rules": [{"id": "guard-messages", "on": "message", "when": when, "effect": effect,
                   "reason": "not for other agents"}],
    }))
    return PolicyGate(load_policies(folder))


def _run(tmp_path: Path, engine: str, gate: PolicyGate):
    ctx, events = make_context(_crew(), tmp_path, gate=gate, redactor=redact)
    for i in range(CALLS):
        (ctx.tool_ctx.workspace / f"note{i}.md").write_text(
            f"Internal note {i} {MARKER}: call {EMAIL} about the invoice.\n")
    ctx.gateway.scripted.requests = []
    if engine == "autogen":
        from workbench.engines.autogen import AutoGenEngine

        asyncio.run(AutoGenEngine().run(ctx))
    else:
        from workbench.engines.crewai import CrewAIEngine

        asyncio.run(CrewAIEngine().run(ctx))
    sent = [r for r in ctx.gateway.scripted.requests if r.agent == "reader"]
    return sent, events


def _text(requests) -> str:
    return "\n".join(str(m.get("content") or "") for r in requests for m in r.messages)


@pytest.mark.parametrize("engine", ENGINES)
def test_tool_output_denied_as_a_message_never_reaches_a_peer(tmp_path: Path,
                                                               engine: str) -> None:
    gate = _gate(tmp_path, "deny", f'message.text.contains("{MARKER}")')
    sent, events = _run(tmp_path, engine, gate)
    results = [e for e in events if e.kind == "tool.result"]
    assert len(results) == CALLS and all(MARKER in e.content for e in results)
    assert sent, "the reader never got a turn"
    assert MARKER not in _text(sent)
    clerk = [e for e in events if e.kind == "message" and e.agent == "clerk"]
    assert any("withheld by policy" in e.content for e in clerk)
    assert "withheld by policy" in _text(sent)
    for e in events:
        if e.kind == "message":
            assert MARKER not in (e.content or "")


@pytest.mark.parametrize("engine", ENGINES)
def test_tool_output_redacted_as_a_message_reaches_a_peer_redacted(tmp_path: Path,
                                                                   engine: str) -> None:
    gate = _gate(tmp_path, "redact", 'message.text.contains("@")')
    sent, events = _run(tmp_path, engine, gate)
    assert sent, "the reader never got a turn"
    assert EMAIL not in _text(sent)
    clerk = [e for e in events if e.kind == "message" and e.agent == "clerk"]
    assert any("[REDACTED:email]" in e.content for e in clerk)
    assert "[REDACTED:email]" in _text(sent)


@pytest.mark.parametrize("engine", ENGINES)
def test_tool_output_in_a_handoff_context_is_judged_before_the_peer_sees_it(
        tmp_path: Path, engine: str) -> None:
    """A model that calls a tool and transfers in one reply: AutoGen passes the tool's result
    to the next agent inside the handoff (CrewAI keeps it in the hub's own turn)."""
    from tests.fakeprovider import FakeProvider, Reply, text
    from workbench.engines.autogen import AutoGenEngine
    from workbench.engines.crewai import CrewAIEngine

    both = Reply(tool_calls=[{"name": "read_file", "arguments": {"path": "note0.md"}},
                             {"name": "transfer_to_reader", "arguments": {}}])
    with FakeProvider([both, text("Noted. TERMINATE")]) as fp:
        spec = CrewSpec.model_validate({
            "name": "handoff-leak", "model": "openai/loopback", "api_base": fp.api_base,
            "topology": {"kind": "star", "hub": "clerk", "max_turns": 3},
            "agents": [
                {"name": "clerk", "role": "Clerk", "goal": "Read", "tools": ["read_file"]},
                {"name": "reader", "role": "Reader", "goal": "Act"},
            ],
        })
        gate = _gate(tmp_path, "deny", f'message.text.contains("{MARKER}")')
        ctx, events = make_context(spec, tmp_path, gate=gate, redactor=redact)
        (ctx.tool_ctx.workspace / "note0.md").write_text(f"Internal note {MARKER}.\n")
        asyncio.run((AutoGenEngine() if engine == "autogen" else CrewAIEngine()).run(ctx))
    assert [e.agent for e in events if e.kind == "handoff"] == ["clerk"]
    result = next(e for e in events if e.kind == "tool.result")
    assert MARKER in result.content
    assert len(fp.requests) == 2
    to_reader = json.dumps(fp.requests[1]["messages"])
    assert MARKER not in to_reader
    if engine == "autogen":
        assert "withheld by policy" in to_reader
