"""Fallbacks are governed like primaries: every target of a chain is judged for its own
provider before anything is sent to it, and gets the prompt redacted as its decision says."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.fakeprovider import FakeProvider, Reply
from tests.gateway.conftest import FAST
from tests.governance.test_policies import write_policies
from tests.support import make_context
from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.redact import redact
from workbench.spec.loader import parse_crew

pytestmark = pytest.mark.usefixtures("warm_litellm")

#: A local server's provider is trusted with the raw prompt; openai is external (redacted);
#: anything else is unvetted (denied).
POLICY = """\
version: 1
rules:
  - {id: redact-external, on: model_call, effect: redact, reason: external providers see no personal data,
     when: 'model.provider != "hosted_vllm"'}
  - {id: vetted-only, on: model_call, effect: deny, reason: only vetted providers,
     when: '!(model.provider in ["hosted_vllm", "openai"])'}
"""
CREW = """\
name: chained
model: main
models:
  main: {{model: "{primary}", api_base: "{primary_base}", fallbacks: [backup], {fast}}}
  backup: {{model: "{fallback}", api_base: "{fallback_base}", {fast}}}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: writer, role: Writer, goal: Write}}
"""
FAST_TEXT = ", ".join(f"{k}: {v}" for k, v in {**FAST, "num_retries": 0}.items())
PLANTED = ("jane.doe@acme.com", "sk-proj-ABCDEFGHIJKLMNOPQRSTUV123456")
ASK = [{"role": "user", "content": f"Mail {PLANTED[0]} the key {PLANTED[1]}."}]


def _closed_port_base() -> str:
    """An address where nothing listens: connections are refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def _context(tmp_path: Path, primary: str, primary_base: str, fallback: str,
             fallback_base: str):
    spec = parse_crew(CREW.format(primary=primary, primary_base=primary_base,
                                  fallback=fallback, fallback_base=fallback_base,
                                  fast=FAST_TEXT), "chained.yaml")
    gate = PolicyGate(load_policies(write_policies(tmp_path / "p", POLICY)))
    return make_context(spec, tmp_path, gate=gate, redactor=redact)


def _ask() -> ModelRequest:
    return ModelRequest("writer", "main", [dict(m) for m in ASK])


async def test_a_local_primary_that_is_down_falls_back_redacted(tmp_path: Path) -> None:
    with FakeProvider(responder=lambda p: Reply(content="sent")) as backup:
        ctx, events = _context(tmp_path, "hosted_vllm/local-model", _closed_port_base(),
                               "openai/gpt-4o-mini", backup.api_base)
        response = await ctx.complete(_ask())
    assert response.content == "sent"
    received = json.dumps(backup.requests)
    assert backup.requests and "[REDACTED:email]" in received
    assert "[REDACTED:api_key]" in received
    for planted in PLANTED:
        assert planted not in received
    call = next(e for e in events if e.kind == "model.call")
    assert call.data["model"] == "openai/gpt-4o-mini" and call.data["fallback_from"] == "main"
    assert [(d["target"], d["effect"]) for d in call.data["decisions"]] == [
        ("main", "allow"), ("backup", "redact")]


async def test_each_target_gets_what_its_own_decision_allows(tmp_path: Path) -> None:
    """The local primary sees the prompt as it is; the external fallback sees it redacted."""
    with FakeProvider(responder=lambda p: Reply(status=503)) as local, \
            FakeProvider(responder=lambda p: Reply(content="sent")) as external:
        ctx, _ = _context(tmp_path, "hosted_vllm/local-model", local.api_base,
                          "openai/gpt-4o-mini", external.api_base)
        await ctx.complete(_ask())
    assert PLANTED[0] in json.dumps(local.requests)
    assert external.requests and PLANTED[0] not in json.dumps(external.requests)


async def test_a_denied_fallback_receives_nothing(tmp_path: Path) -> None:
    with FakeProvider(responder=lambda p: Reply(content="sent")) as unvetted:
        ctx, events = _context(tmp_path, "hosted_vllm/local-model", _closed_port_base(),
                               "mistral/mistral-small", unvetted.api_base)
        with pytest.raises(ProviderError) as info:
            await ctx.complete(_ask())
    assert unvetted.requests == []
    assert "not tried (blocked by policy): backup" in str(info.value)
    assert any(e.kind == "policy.decision" and "vetted-only" in e.data["rule_ids"]
               and e.data["effect"] == "deny" for e in events)
    failed = next(e for e in events if e.kind == "model.call")
    assert failed.data["ok"] is False
    assert [(d["target"], d["effect"]) for d in failed.data["decisions"]] == [
        ("main", "allow"), ("backup", "deny")]


async def test_a_denied_primary_is_skipped_for_an_allowed_fallback(tmp_path: Path) -> None:
    with FakeProvider(responder=lambda p: Reply(content="unvetted")) as unvetted, \
            FakeProvider(responder=lambda p: Reply(content="vetted")) as vetted:
        ctx, events = _context(tmp_path, "mistral/mistral-small", unvetted.api_base,
                               "openai/gpt-4o-mini", vetted.api_base)
        response = await ctx.complete(_ask())
    assert unvetted.requests == [] and response.content == "vetted"
    assert PLANTED[0] not in json.dumps(vetted.requests)
    call = next(e for e in events if e.kind == "model.call")
    assert call.data["blocked"] == ["main: only vetted providers"]


async def test_a_chain_blocked_everywhere_asks_no_provider(tmp_path: Path) -> None:
    with FakeProvider() as first, FakeProvider() as second:
        ctx, events = _context(tmp_path, "mistral/mistral-small", first.api_base,
                               "groq/llama-3", second.api_base)
        response = await ctx.complete(_ask())
    assert first.requests == [] and second.requests == []
    assert response.finish_reason == "blocked"
    assert response.content == "[model call blocked by policy: only vetted providers]"
    assert not [e for e in events if e.kind == "model.call"]
    assert ctx.blocked_calls == 1 and ctx.totals.model_calls == 0
