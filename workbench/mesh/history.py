"""Work a growing conversation would redo on every model call, done once per message: the
prompt digests of the audit, and the redaction of the history sent to external providers."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Hashable
from typing import Any

#: The prompt's canonical JSON: `json.dumps(messages, default=str, sort_keys=True)`.
_CANONICAL = json.JSONEncoder(default=str, sort_keys=True)


def prompt_digest(messages: list[Any]) -> str:
    """SHA-256 of the prompt's canonical JSON: what `PromptDigests.digest` returns, in one go."""
    return hashlib.sha256(_CANONICAL.encode(messages).encode()).hexdigest()


class _Hashed:
    """A prompt already hashed: its messages, and the hash state after the last of them."""

    __slots__ = ("messages", "state")

    def __init__(self, messages: list[Any], state: Any) -> None:
        self.messages = messages
        self.state = state


class PromptDigests:
    """`prompt_digest(messages)` for successive prompts, without re-encoding their history.

    A conversation's next prompt is usually its last one with messages added at the end. The
    digest is the SHA-256 of `[m1, m2, ...]` as canonical JSON, so the hash state after the
    messages already hashed is kept (per conversation `key`) and only the new ones are
    encoded. The old messages must still be there: each the same object or an equal one
    (a message is a value: it is replaced, never changed in place, once sent; the run
    context copies a message to redact it). Anything else (a message replaced by a
    different one, a shorter prompt) is hashed from the start, so the digest is always that
    of what was sent. Stored states are never changed, so concurrent calls are safe.
    """

    def __init__(self) -> None:
        self._last: dict[Hashable, _Hashed] = {}

    def digest(self, key: Hashable, messages: list[Any]) -> str:
        last = self._last.get(key)
        seen = len(last.messages) if last is not None else 0
        # a C-level comparison: by identity for the same objects, by value for others
        if last is not None and seen <= len(messages) and messages[:seen] == last.messages:
            state = last.state.copy()
        else:
            state, seen = hashlib.sha256(b"["), 0
        if seen < len(messages):
            # a list's JSON is its items' joined by ", ": the new items' is the rest of it
            items = _CANONICAL.encode(messages[seen:])[1:-1]
            state.update(f", {items}".encode() if seen else items.encode())
        self._last[key] = _Hashed(list(messages), state)
        final = state.copy()
        final.update(b"]")
        return final.hexdigest()


Redactor = Callable[[str], tuple[str, list[str]]]


class MemoRedactor:
    """A redactor that redacts each distinct text once in a run.

    A model call to an external provider sends the whole history, redacted; redacting it
    afresh on every call would cost more each turn. The redactor is a function of the text
    alone, so its answer for a text is kept for the run (the history is kept anyway).
    """

    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._done: dict[str, tuple[str, list[str]]] = {}

    def __call__(self, text: str) -> tuple[str, list[str]]:
        done = self._done.get(text)
        if done is None:
            done = self._done[text] = self.redactor(text)
        return done[0], list(done[1])
