"""A growing history costs the same per call: prompt digests are kept per conversation (the
same SHA-256 of the canonical JSON of the whole prompt, each message encoded once), and a
history redacted for an external provider has each text redacted once."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

from tests.support import make_context
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.redact import redact
from workbench.mesh.history import PromptDigests, prompt_digest
from workbench.spec.loader import parse_crew


def _whole(messages: list[Any]) -> str:
    # what the audit's prompt_sha256 has always been: the prompt's canonical JSON, hashed
    return hashlib.sha256(json.dumps(messages, default=str, sort_keys=True).encode()).hexdigest()


def _message(i: int) -> dict[str, Any]:
    shapes: list[dict[str, Any]] = [
        {"role": "user", "content": f"Turn {i}: ünïcode — \"quoted\" \n new line", "name": "scout"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": f"call_{i}", "type": "function",
             "function": {"name": "write_file", "arguments": json.dumps({"n": i})}}]},
        {"role": "tool", "tool_call_id": f"call_{i}", "content": f"wrote {i}"},
        {"role": "assistant", "content": f"Answer {i}"},
    ]
    return shapes[i % len(shapes)]


def test_a_growing_conversation_has_the_digest_of_its_whole_prompt() -> None:
    digests = PromptDigests()
    messages: list[dict[str, Any]] = [{"role": "system", "content": "You are the scout."}]
    assert digests.digest("a", []) == _whole([]) == prompt_digest([])
    for i in range(40):
        messages.append(_message(i))
        if i % 7 == 3:  # a call that added two messages
            messages.append(_message(i + 100))
        assert digests.digest("a", messages) == _whole(messages)


def test_a_changed_history_changes_the_digest() -> None:
    digests = PromptDigests()
    messages = [{"role": "system", "content": "S"}] + [_message(i) for i in range(10)]
    before = digests.digest("a", messages)
    # an earlier message replaced by a different one: hashed again from the start
    edited = list(messages)
    edited[4] = {**edited[4], "content": "something else"}
    assert digests.digest("a", edited) == _whole(edited) != before
    # an equal copy in its place is the same prompt
    copied = [dict(m) for m in edited]
    assert digests.digest("a", copied) == _whole(edited)
    # a shorter prompt, and a prompt of another conversation
    assert digests.digest("a", messages[:3]) == _whole(messages[:3])
    assert digests.digest("b", messages) == before


class _Counted:
    """A value the JSON encoder must turn into text (default=str): counts its encodings."""

    encoded = 0

    def __str__(self) -> str:
        _Counted.encoded += 1
        return "counted"


def test_each_message_is_encoded_once_however_long_the_history() -> None:
    digests = PromptDigests()
    messages: list[dict[str, Any]] = []
    _Counted.encoded = 0
    for i in range(200):
        messages.append({"role": "user", "content": f"m{i}", "extra": _Counted()})
        digests.digest("a", messages)
    assert _Counted.encoded == 200  # hashing the whole prompt each call made 20,100


def _network_crew(turns: int = 12):
    agents = [{"name": n, "role": n.title(), "goal": f"Do {n} work"} for n in ("a", "b", "c")]
    script = [{"agent": "abc"[i % 3], "say": f"Turn {i}: a finding."} for i in range(turns)]
    return parse_crew(yaml.safe_dump({
        "name": "digests", "model": "scripted/demo", "agents": agents, "script": script,
        "topology": {"kind": "network", "max_turns": turns},
    }), "crew.yaml")


def test_a_runs_model_calls_carry_the_digest_of_what_the_model_was_sent(tmp_path: Path) -> None:
    from workbench.engines.autogen import AutoGenEngine

    ctx, events = make_context(_network_crew(), tmp_path)
    ctx.gateway.scripted.requests = []
    asyncio.run(AutoGenEngine().run(ctx))
    sent = [r.messages for r in ctx.gateway.scripted.requests]
    calls = [e for e in events if e.kind == "model.call"]
    assert len(calls) == len(sent) == 12
    assert [e.data["prompt_sha256"] for e in calls] == [_whole(m) for m in sent]
    # every call but the first of each agent carries its history: the digests all differ
    assert len({e.data["prompt_sha256"] for e in calls}) == 12


def test_a_redacted_history_has_each_text_redacted_once(tmp_path: Path) -> None:
    from tests.governance.test_policies import write_policies
    from workbench.engines.autogen import AutoGenEngine

    seen: list[str] = []

    def counting(text: str) -> tuple[str, list[str]]:
        seen.append(text)
        return redact(text)

    # the scripted model stands in for an external provider: every prompt to it is redacted
    policies = write_policies(tmp_path / "p", """\
version: 1
rules:
  - {id: redact-all, on: model_call, effect: redact, reason: external, when: 'true'}
""")
    gate = PolicyGate(load_policies(policies))
    ctx, _ = make_context(_network_crew(), tmp_path, task="Mail jane.doe@acme.com the brief",
                          gate=gate, redactor=counting)
    ctx.gateway.scripted.requests = []
    asyncio.run(AutoGenEngine().run(ctx))
    sent = [r.messages for r in ctx.gateway.scripted.requests]
    assert len(sent) == 12
    assert all("Mail [REDACTED:email] the brief" in json.dumps(m) for m in sent)
    assert all("acme.com" not in json.dumps(m) for m in sent)
    # each distinct text once, not the whole history again on every call
    assert sorted(seen) == sorted(set(seen))
    assert len(seen) < sum(len(m) for m in sent) / 3
