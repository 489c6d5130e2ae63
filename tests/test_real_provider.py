"""The real provider path: crews on `openai/<name>` with an api_base reach a loopback
OpenAI-compatible server, on both engines, streaming and not, with tool calls."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.fakeprovider import FakeProvider, Reply
from workbench.config import Settings
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

TASK = "Estimate the answer to the ultimate question"
CREW = """\
name: loopback
model: openai/loopback-model
api_base: {api_base}
topology: {{kind: network, max_turns: 6}}
agents:
  - name: analyst
    role: Quantitative analyst
    goal: Compute the answer
    tools: [calculator]
  - name: critic
    role: Sceptical critic
    goal: Check the answer
"""


class Model:
    """A stand-in for a real model: calls the calculator once, then answers, then ends."""

    def __init__(self) -> None:
        self.roles_seen: set[str] = set()
        self.lock = threading.Lock()

    def __call__(self, payload: dict[str, Any]) -> Reply:
        messages = payload.get("messages", [])
        system = " ".join(str(m.get("content")) for m in messages if m.get("role") == "system")
        with self.lock:
            for role in ("Quantitative analyst", "Sceptical critic"):
                if f"You are {role}" in system:
                    self.roles_seen.add(role)
            both = len(self.roles_seen) == 2
        tools = [t["function"]["name"] for t in payload.get("tools") or []]
        if "calculator" in tools and not any(m.get("role") == "tool" for m in messages):
            return Reply(tool_calls=[{"name": "calculator", "arguments": {"expression": "6*7"}}])
        if both:
            return Reply(content="Checked: the answer is 42. TERMINATE")
        return Reply(content="The calculator says 42.")


def _run(tmp_path: Path, engine: str, stream: bool) -> tuple[FakeProvider, Any, list]:
    model = Model()
    with FakeProvider(responder=model) as fp:
        crew = tmp_path / "loopback.yaml"
        crew.write_text(CREW.format(api_base=fp.api_base))
        settings = Settings(home=tmp_path / "home")
        settings.ensure_home()
        store = Store(settings.database_url)
        seen: list = []
        session = Session(prepare(crew, engine=engine, task=TASK), settings, store,
                          subscribers=[seen.append], stream=stream)
        outcome = asyncio.run(session.execute())
    return fp, outcome, seen


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "streaming"])
def test_crew_on_a_loopback_provider(tmp_path: Path, engine: str, stream: bool) -> None:
    fp, outcome, events = _run(tmp_path, engine, stream)
    assert outcome.status == "completed", outcome.error
    requests = fp.requests
    assert requests and all(r["model"] == "loopback-model" for r in requests)
    assert all(bool(r.get("stream")) == stream for r in requests)
    systems = [" ".join(str(m.get("content")) for m in r["messages"] if m["role"] == "system")
               for r in requests]
    assert any("You are Quantitative analyst" in s for s in systems)
    assert any("You are Sceptical critic" in s for s in systems)
    offered = [{t["function"]["name"] for t in r.get("tools") or []} for r in requests]
    assert any("calculator" in names for names in offered)
    conversation = [str(m.get("content")) for r in requests for m in r["messages"]]
    assert any(TASK in c for c in conversation), "the task never reached the model"
    assert any(m.get("role") == "tool" and "42" in str(m.get("content"))
               for r in requests for m in r["messages"]), "the tool result was not sent back"
    kinds = [e.kind for e in events]
    assert kinds.count("model.call") == len(requests)
    results = [e for e in events if e.kind == "tool.result"]
    assert results and results[0].content == "42" and results[0].data["ok"]
    speakers = {e.agent for e in events if e.kind == "message"}
    assert speakers == {"analyst", "critic"}
    assert outcome.totals.tokens > 0
    assert not outcome.totals.cost_known, "a model with no price must be unknown, not free"
    if stream:
        assert "message.delta" in kinds
