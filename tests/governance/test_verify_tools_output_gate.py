"""Tool output that reaches another agent passes the message gate whatever the tool is: a
custom module:function tool, a crew file's function (an imported FunctionTool), an MCP
server's tool (its command a virtualenv's python, a symlink), a marketplace winner's tool;
and a peer on an external model gets it redacted.
Real sessions on both engines; the scripted gateway records what each agent's model got."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.config import Settings
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.redact import redact
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

ENGINES = ["autogen", "crewai"]
MARKER = "MARKER-5512"
EMAIL = "dana.smith@acme.example.com"
#: AutoGen hands the tool output itself to the team once an agent's tool loop runs out.
CALLS = 10
CUSTOM = "tests.governance.test_verify_tools_output_gate:leak"

MCP_SERVER = f'''
from mcp.server.fastmcp import FastMCP

server = FastMCP("leaks", log_level="WARNING")


@server.tool()
def leak(n: int = 0) -> str:
    """Returns note n."""
    return f"MCP note {{n}} {MARKER}: call {EMAIL}"


server.run()
'''


def leak(n: int = 0) -> str:
    """Returns note n (a custom tool)."""
    return f"custom note {n} {MARKER}: call {EMAIL}"


def _policies(tmp_path: Path, rules: list[dict[str, Any]]) -> Path:
    folder = tmp_path / "policies"
    (folder / "domains").mkdir(parents=True)
    (folder / "central.yaml").write_text(yaml.safe_dump(
        {"version": 1, "default": "allow", "rules": rules}))
    return folder


DENY_MARKER = [{"id": "guard", "on": "message", "when": f'message.text.contains("{MARKER}")',
                "effect": "deny", "reason": "not for other agents"}]


def _run(tmp_path: Path, engine: str, crew: dict[str, Any], policies: Path):
    path = tmp_path / "crew.yaml"
    path.write_text(yaml.safe_dump(crew))
    settings = Settings(home=tmp_path / "home", policies=policies)
    settings.ensure_home()
    events: list[Any] = []
    session = Session(prepare(path, engine=engine, task="Read the notes"), settings,
                      Store(settings.database_url), subscribers=[events.append],
                      gate=PolicyGate(load_policies(policies)), redactor=redact)
    session.ctx.gateway.scripted.requests = []
    outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome
    return session.ctx.gateway.scripted.requests, events


def _seen_by(requests: list[Any], agent: str) -> str:
    return "\n".join(json.dumps(r.messages) for r in requests if r.agent == agent)


def _clerk_and_reader(engine: str, tool: str, call: str) -> dict[str, Any]:
    return {
        "name": "leaky", "engine": engine, "model": "scripted/demo",
        "topology": {"kind": "network", "max_turns": 3},
        "agents": [{"name": "clerk", "role": "Clerk", "goal": "Read", "tools": [tool]},
                   {"name": "reader", "role": "Reader", "goal": "Act on the notes"}],
        # different arguments each time: CrewAI stops an agent repeating the very same call
        "script": [*({"agent": "clerk", "call": call, "args": {"n": i}} for i in range(CALLS)),
                   {"agent": "reader", "say": "Noted. TERMINATE"}],
    }


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["custom", "mcp", "function"])
def test_a_peer_never_gets_a_tool_output_the_message_gate_denies(
        tmp_path: Path, engine: str, kind: str) -> None:
    if kind == "custom":
        crew = _clerk_and_reader(engine, CUSTOM, CUSTOM)
    elif kind == "function":  # as `workbench import` keeps an AutoGen FunctionTool
        crew = _clerk_and_reader(engine, "function:leak", "leak")
        crew["functions"] = {"leak": {"trusted": True, "source_code": (
            "def leak(n: int = 0) -> str:\n"
            f"    return f'function note {{n}} {MARKER}: call {EMAIL}'\n")}}
    else:
        script = tmp_path / "leaks.py"
        script.write_text(MCP_SERVER)
        crew = _clerk_and_reader(engine, "mcp:leaks", "leak")
        # the virtualenv's python by its own path (a symlink): it finds the mcp package
        crew["mcp_servers"] = {"leaks": {"command": sys.executable, "args": [str(script)]}}
    requests, events = _run(tmp_path, engine, crew, _policies(tmp_path, DENY_MARKER))
    results = [e for e in events if e.kind == "tool.result"]
    assert len(results) == CALLS and all(MARKER in (e.content or "") for e in results)
    seen = _seen_by(requests, "reader")
    assert seen, "the reader never got a turn"
    assert MARKER not in seen and EMAIL not in seen
    if engine == "autogen":  # the tool output itself was the clerk's message: withheld
        assert "withheld by policy" in seen
    for e in events:
        if e.kind == "message":
            assert MARKER not in (e.content or "")


@pytest.mark.parametrize("engine", ENGINES)
def test_a_marketplace_winners_tool_output_reaches_the_hub_through_the_gate(
        tmp_path: Path, engine: str) -> None:
    crew = {
        "name": "market", "engine": engine, "model": "scripted/demo",
        "topology": {"kind": "star", "hub": "lead", "allocation": "marketplace",
                     "max_turns": 6},
        "agents": [{"name": "lead", "role": "Lead", "goal": "Get the notes read"},
                   {"name": "clerk", "role": "Clerk", "goal": "Read", "tools": [CUSTOM],
                    "capabilities": ["reading"]}],
        "script": [{"agent": "lead", "post": {"task": "Read the notes", "capability": "reading"}},
                   *({"agent": "clerk", "call": CUSTOM, "args": {"n": i}} for i in range(CALLS)),
                   {"agent": "lead", "say": "Thanks. TERMINATE"}],
    }
    requests, events = _run(tmp_path, engine, crew, _policies(tmp_path, DENY_MARKER))
    assert [e.data["winner"] for e in events if e.kind == "task.awarded"] == ["clerk"]
    assert any(e.kind == "task.done" for e in events)
    leaked = [e for e in events if e.kind == "tool.result" and MARKER in (e.content or "")]
    assert len(leaked) == CALLS
    after = [r for r in requests if r.agent == "lead"][1:]  # the hub's turns after the post
    assert after, "the hub never spoke after its task was done"
    seen = "\n".join(json.dumps(r.messages) for r in after)
    assert MARKER not in seen and "withheld by policy" in seen


@pytest.mark.parametrize("engine", ENGINES)
def test_tool_output_reaches_a_peer_on_an_external_model_redacted(
        tmp_path: Path, engine: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """No message rule at all: the peer's provider is external, so its prompt (the tool
    output the clerk handed over included) is redacted before it leaves."""
    from tests.fakeprovider import FakeProvider, text

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-a-key")
    rules = [{"id": "external-redacted", "on": "model_call",
              "when": 'model.provider != "scripted"', "effect": "redact",
              "reason": "personal data never leaves"}]
    with FakeProvider(responder=lambda _: text("Noted. TERMINATE")) as fp:
        crew = _clerk_and_reader(engine, CUSTOM, CUSTOM)
        crew["agents"][1].update(model="openai/gpt-4o-mini", api_base=fp.api_base)
        _, events = _run(tmp_path, engine, crew, _policies(tmp_path, rules))
    assert fp.requests, "the reader's model was never called"
    sent = json.dumps(fp.requests)
    assert MARKER in sent  # the tool output did reach the peer ...
    assert EMAIL not in sent and "[REDACTED:email]" in sent  # ... redacted
