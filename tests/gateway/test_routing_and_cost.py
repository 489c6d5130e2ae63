"""Per-agent models reach their own endpoints; cost is totalled per agent, domain and session,
with unknown prices marked unknown; a provider failure inside an engine fails the session
with the provider's own message."""

from __future__ import annotations

import asyncio
import io
import sqlite3
import threading
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.support import make_context
from workbench.cli.printer import RunPrinter
from workbench.config import Settings
from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest
from workbench.mesh.context import RunAborted
from workbench.mesh.session import Session, prepare
from workbench.spec.loader import parse_crew
from workbench.store.db import Store

CREW = """\
name: two-vendors
model: scripted/demo
models:
  left: {{model: openai/gpt-4o-mini, api_base: "{left}", backoff: 0.01, num_retries: 0}}
  right: {{model: openai/right-model, api_base: "{right}", backoff: 0.01, num_retries: 0}}
topology: {{kind: network, max_turns: 4}}
agents:
  - {{name: analyst, role: Analyst, goal: Compute the answer, model: left, domain: finance}}
  - {{name: critic, role: Critic, goal: Check the answer, model: right, domain: legal}}
"""


def _engine(name: str) -> None:
    """Load the engine up front: an engine that fails to import fails the test, naming why."""
    from workbench.engines import load_engine

    load_engine(name)


async def test_each_agent_reaches_its_own_endpoint_and_cost_is_split(tmp_path: Path) -> None:
    with FakeProvider(responder=lambda p: Reply(content="42")) as left, \
            FakeProvider(responder=lambda p: Reply(content="checked")) as right:
        spec = parse_crew(CREW.format(left=left.api_base, right=right.api_base), "c.yaml")
        ctx, events = make_context(spec, tmp_path)
        for agent in ("analyst", "critic", "analyst"):
            a = ctx.agent(agent)
            await ctx.complete(ModelRequest(agent, spec.model_for(a),
                                            [{"role": "user", "content": "go"}],
                                            api_base=spec.api_base_for(a)))
    assert [r["model"] for r in left.requests] == ["gpt-4o-mini", "gpt-4o-mini"]
    assert [r["model"] for r in right.requests] == ["right-model"]
    calls = [e for e in events if e.kind == "model.call"]
    assert [(c.agent, c.data["model"], c.data["requested"]) for c in calls] == [
        ("analyst", "openai/gpt-4o-mini", "left"),
        ("critic", "openai/right-model", "right"),
        ("analyst", "openai/gpt-4o-mini", "left"),
    ]
    t = ctx.totals
    by_agent, by_domain = t.cost_by("agent"), t.cost_by("domain")
    assert by_agent["analyst"]["cost_usd"] > 0 and by_agent["analyst"]["unknown_calls"] == 0
    assert by_agent["critic"] == {"cost_usd": 0.0, "unknown_calls": 1}
    assert by_domain["finance"]["cost_usd"] == by_agent["analyst"]["cost_usd"]
    assert by_domain["legal"]["unknown_calls"] == 1
    assert t.cost_unknown_calls == 1 and not t.cost_known
    assert calls[1].data["cost_usd"] is None  # unknown, not zero


def _session(tmp_path: Path, text: str, engine: str) -> tuple[Session, io.StringIO, Store]:
    crew = tmp_path / "crew.yaml"
    crew.write_text(text)
    settings = Settings(home=tmp_path / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    out = io.StringIO()
    session = Session(prepare(crew, engine=engine, task="What is six times seven?"),
                      settings, store, subscribers=[RunPrinter(out=out, color=False)])
    return session, out, store


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_crew_on_two_providers_runs_through_an_engine(tmp_path: Path, engine: str) -> None:
    _engine(engine)
    with FakeProvider(responder=lambda p: Reply(content="The answer is 42.")) as left, \
            FakeProvider(responder=lambda p: Reply(content="Checked: 42. TERMINATE")) as right:
        text = CREW.format(left=left.api_base, right=right.api_base)
        session, out, store = _session(tmp_path, text, engine)
        outcome = asyncio.run(session.execute())
    assert outcome.status == "completed", outcome.error
    assert left.requests and {r["model"] for r in left.requests} == {"gpt-4o-mini"}
    assert right.requests and {r["model"] for r in right.requests} == {"right-model"}
    printed = out.getvalue()
    assert "cost by agent: analyst $" in printed and "critic cost unknown" in printed
    assert "cost by domain: finance $" in printed and "legal cost unknown" in printed
    row = store.list_sessions()[0]
    assert row["cost_usd"] > 0 and row["cost_unknown_calls"] >= 1
    done = [e for e in store.iter_events(row["id"]) if e["kind"] == "run.completed"][0]
    assert set(done["data"]["cost_by_agent"]) == {"analyst", "critic"}
    assert set(done["data"]["cost_by_domain"]) == {"finance", "legal"}


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_failing_provider_fails_the_session_with_its_own_words(tmp_path: Path,
                                                                 engine: str) -> None:
    _engine(engine)
    with FakeProvider(responder=lambda p: Reply(content="The answer is 42.")) as left, \
            FakeProvider(responder=lambda p: Reply(status=503)) as right:
        text = CREW.format(left=left.api_base, right=right.api_base)
        session, out, store = _session(tmp_path, text, engine)
        outcome = asyncio.run(session.execute())
    assert outcome.status == "failed"
    assert outcome.error.startswith("provider openai: ServiceUnavailableError 503"), outcome.error
    assert "gave up after 1 attempt on right" in outcome.error
    assert "Traceback" not in outcome.error and "Traceback" not in out.getvalue()
    con = sqlite3.connect(tmp_path / "home" / "workbench.db")
    status, error = con.execute("select status, error from session").fetchone()
    assert status == "failed" and error == outcome.error
    assert f"reason: {outcome.error}" in out.getvalue()


async def test_the_context_keeps_the_provider_message_and_records_the_failed_call(
        tmp_path: Path) -> None:
    with FakeProvider(responder=lambda p: Reply(status=500)) as fp:
        spec = parse_crew(CREW.format(left=fp.api_base, right=fp.api_base), "c.yaml")
        ctx, events = make_context(spec, tmp_path)
        with pytest.raises(ProviderError) as info:
            await ctx.complete(ModelRequest("analyst", "left", [{"role": "user", "content": "x"}]))
    assert ctx.failure == str(info.value) and ctx.stopped.is_set()
    failed = [e for e in events if e.kind == "model.call"][-1]
    assert failed.data["ok"] is False and failed.data["error"] == str(info.value)
    assert ctx.totals.model_calls == 0


async def test_cancelling_the_run_stops_an_in_flight_call(tmp_path: Path) -> None:
    release = threading.Event()

    def never_answers(payload: dict) -> Reply:
        release.wait(120)  # the reply comes only after the test is over
        return Reply(content="late")

    with FakeProvider(responder=never_answers) as fp:
        try:
            spec = parse_crew(CREW.format(left=fp.api_base, right=fp.api_base), "c.yaml")
            ctx, _ = make_context(spec, tmp_path)
            ctx.loop = asyncio.get_running_loop()
            call = asyncio.ensure_future(ctx.complete(
                ModelRequest("analyst", "left", [{"role": "user", "content": "x"}])))
            while not fp.requests:
                await asyncio.sleep(0.02)
            ctx.cancel()
            # a cancel that waited for the call would wait for a reply that never comes:
            # the generous deadline only turns that hang into a failure
            with pytest.raises(RunAborted):
                await asyncio.wait_for(call, 30)
        finally:
            release.set()

