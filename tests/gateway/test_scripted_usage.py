"""The scripted model's prompt tokens: the prompt's text over four, each message measured once
per conversation however long its history."""

from __future__ import annotations

from typing import Any

from workbench.gateway.scripted import ScriptedModel, ScriptPlayer
from workbench.gateway.types import ModelRequest


def _expected(messages: list[dict[str, Any]]) -> int:
    # the estimate as it has always been defined: the contents joined by newlines, over four
    parts: list[str] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return max(1, len("\n".join(parts)) // 4)


def _message(i: int) -> dict[str, Any]:
    shapes: list[dict[str, Any]] = [
        {"role": "user", "content": f"Turn {i}: a finding" * (i % 5)},
        {"role": "assistant", "content": None, "tool_calls": []},
        {"role": "user", "content": [{"type": "text", "text": f"part {i}"}, "ignored",
                                     {"type": "image_url"}]},
        {"role": "tool", "tool_call_id": "c", "content": ""},
    ]
    return shapes[i % len(shapes)]


def _tokens(model: ScriptedModel, agent: str, messages: list[dict[str, Any]]) -> int:
    request = ModelRequest(agent=agent, model="scripted/demo", messages=messages)
    return model.respond(request).usage.prompt_tokens


def test_prompt_tokens_are_the_prompt_text_over_four_as_the_history_grows() -> None:
    model = ScriptedModel(ScriptPlayer([]))
    messages: list[dict[str, Any]] = []
    assert _tokens(model, "a", []) == 1
    for i in range(30):
        messages.append(_message(i))
        assert _tokens(model, "a", list(messages)) == _expected(messages)
        # another agent's conversation is its own
        assert _tokens(model, "b", messages[: i // 2 + 1]) == _expected(messages[: i // 2 + 1])


def test_a_changed_history_is_measured_again() -> None:
    model = ScriptedModel(ScriptPlayer([]))
    messages = [_message(i) for i in range(12)]
    _tokens(model, "a", messages)
    edited = list(messages)
    edited[0] = {"role": "user", "content": "x" * 400}
    assert _tokens(model, "a", edited) == _expected(edited)
    assert _tokens(model, "a", messages[:2]) == _expected(messages[:2])
