"""The estimate of a prompt's tokens (its text / 4), measured incrementally per agent.

One definition for the scripted model's usage and for routing's `request.prompt_tokens`.
"""

from __future__ import annotations

from typing import Any


def text_size(messages: list[dict[str, Any]]) -> tuple[int, int]:
    """The characters and the parts of the messages' text: contents, text parts and tool
    calls' arguments."""
    chars = parts = 0
    for m in messages:
        content = m.get("content")
        if isinstance(content, str):
            chars += len(content)
            parts += 1
        elif isinstance(content, list):
            for p in content:
                if isinstance(p, dict):
                    chars += len(str(p.get("text", "")))
                    parts += 1
        calls = m.get("tool_calls")
        if calls:
            for call in calls:
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict):
                    chars += len(str(function.get("arguments") or ""))
    return chars, parts


def from_size(chars: int, parts: int) -> int:
    """Tokens of text whose parts are joined by newlines (one fewer than there are parts)."""
    return (chars + max(parts - 1, 0)) // 4


def estimate_tokens(messages: list[dict[str, Any]]) -> int:
    return from_size(*text_size(messages))


class PromptTokens:
    """Each call's prompt tokens, measured incrementally: an agent's history grows by a
    message or two a call, so only what is new is counted."""

    def __init__(self) -> None:
        self._last: dict[tuple[str, str], tuple[list[dict[str, Any]], int, int]] = {}

    def count(self, request: Any) -> int:
        messages, key = request.messages, (request.agent, str(request.purpose))
        last = self._last.get(key)
        # the same message objects compare by identity (cheap), others by value
        if last is not None and len(last[0]) <= len(messages) and \
                messages[:len(last[0])] == last[0]:
            chars, parts = text_size(messages[len(last[0]):])
            chars, parts = chars + last[1], parts + last[2]
        else:
            chars, parts = text_size(messages)
        self._last[key] = (list(messages), chars, parts)
        return from_size(chars, parts)
