"""The scripted offline model: plays a crew file's `script`, deterministically, with no network."""

from __future__ import annotations

import json
import re
import threading
from collections import deque
from itertools import count

from workbench.gateway.tokens import PromptTokens
from workbench.gateway.types import ModelRequest, ModelResponse, ToolCall, Usage
from workbench.spec.schema import ScriptEntry

TERMINATE = "TERMINATE"
#: The marketplace's tool (mesh/market.py): a script's `post` entry calls it.
POST_TOOL = "post_task"


def _estimate_tokens(text: str) -> int:
    return max(1, len(text) // 4)


class ScriptPlayer:
    """Hands each agent its next script entry; shared by all agents of one run.

    Thread-safe, because CrewAI calls models from worker threads.
    """

    def __init__(self, script: list[ScriptEntry]) -> None:
        self._order: deque[ScriptEntry] = deque(script)
        self._by_agent: dict[str, deque[ScriptEntry]] = {}
        for entry in script:
            self._by_agent.setdefault(entry.agent, deque()).append(entry)
        self._lock = threading.Lock()
        self._ids = count(1)

    def next_for(self, agent: str) -> ScriptEntry | None:
        with self._lock:
            queue = self._by_agent.get(agent)
            if not queue:
                return None
            entry = queue.popleft()
            self._order.remove(entry)
            return entry

    def next_is(self, agent: str, action: str) -> bool:
        """Whether the script's next entry is `agent`'s and does `action` (posts run on)."""
        with self._lock:
            return bool(self._order) and self._order[0].agent == agent and \
                self._order[0].action == action

    def peek_speaker(self, candidates: list[str]) -> str | None:
        """The agent whose entry comes next in the script, among `candidates`."""
        with self._lock:
            for entry in self._order:
                if not candidates or entry.agent in candidates:
                    return entry.agent
            return None

    @property
    def exhausted(self) -> bool:
        with self._lock:
            return not self._order

    def call_id(self) -> str:
        return f"call_{next(self._ids)}"


class ScriptedModel:
    """The `scripted/...` provider: text, tool calls, handoffs and speaker choices from a script."""

    provider = "scripted"

    def __init__(self, player: ScriptPlayer) -> None:
        self.player = player
        self._rr = 0
        #: Set to a list to keep every request (what each agent was sent); off by default,
        #: since a long run's requests hold its whole history many times over.
        self.requests: list[ModelRequest] | None = None
        #: Each conversation's last prompt and its text size: a conversation's next prompt
        #: is the last one and a message or two, and only those are measured.
        self._sizes = PromptTokens()

    def respond(self, request: ModelRequest) -> ModelResponse:
        if self.requests is not None:
            self.requests.append(request)
        if request.purpose == "selector":
            content = self._select(request)
            return self._response(request, content)
        posted = _post_result(request)
        if posted is not None and not self.player.next_is(request.agent, "post"):
            # a hub that posted a task waits for the winner's report: its turn ends here
            return self._response(request, posted)
        entry = self.player.next_for(request.agent)
        if entry is None:
            return self._response(request, self._generic(request))
        if entry.action == "post" and entry.post is not None:
            args = {"task": entry.post.task, "capability": entry.post.capability}
            if not any(t.get("function", {}).get("name") == POST_TOOL for t in request.tools):
                return self._response(request, f"(no marketplace to post to) {entry.post.task}")
            return self._response(request, "", tool_calls=[
                ToolCall(self.player.call_id(), POST_TOOL, args)], finish="tool_calls")
        if entry.action == "call":
            tool_call = ToolCall(self.player.call_id(), _offered_name(request, entry.call or ""),
                                 dict(entry.args))
            return self._response(request, "", tool_calls=[tool_call], finish="tool_calls")
        if entry.action == "handoff":
            target = entry.handoff or ""
            text = entry.say or f"Handing over to {target}."
            calls = []
            tool_name = _offered_transfer(request, target)
            if tool_name:
                calls = [ToolCall(self.player.call_id(), tool_name, {})]
            return self._response(
                request, text, tool_calls=calls, handoff=target,
                finish="tool_calls" if calls else "stop",
            )
        return self._response(request, entry.say or "")

    def _select(self, request: ModelRequest) -> str:
        choice = self.player.peek_speaker(request.candidates)
        if choice is None and request.candidates:
            choice = request.candidates[self._rr % len(request.candidates)]
            self._rr += 1
        return choice or ""

    def _generic(self, request: ModelRequest) -> str:
        last_tool = next(
            (m for m in reversed(request.messages) if m.get("role") == "tool"), None
        )
        if request.messages and request.messages[-1].get("role") == "tool" and last_tool:
            summary = str(last_tool.get("content", ""))[:200]
            return f"Done. The tool reported: {summary}"
        if self.player.exhausted:
            return f"{request.agent}: nothing further from me; the work is complete. {TERMINATE}"
        return f"{request.agent}: no further input from me on this; passing on."

    def _prompt_tokens(self, request: ModelRequest) -> int:
        """The estimate of the prompt's tokens (gateway/tokens.py), at least 1."""
        return max(1, self._sizes.count(request))

    def _response(
        self,
        request: ModelRequest,
        content: str,
        tool_calls: list[ToolCall] | None = None,
        handoff: str | None = None,
        finish: str = "stop",
    ) -> ModelResponse:
        prompt_tokens = self._prompt_tokens(request)
        completion = content + "".join(json.dumps(c.arguments) for c in tool_calls or [])
        return ModelResponse(
            content=content,
            tool_calls=tool_calls or [],
            usage=Usage(prompt_tokens, _estimate_tokens(completion) if completion else 0),
            cost_usd=0.0,
            model=request.model,
            provider=self.provider,
            finish_reason=finish,
            handoff=handoff,
        )


def _post_result(request: ModelRequest) -> str | None:
    """The marketplace's answers, when the messages end with the agent's own `post_task`
    calls and their results (None otherwise): what the hub says once it has posted."""
    messages = request.messages
    if not messages or messages[-1].get("role") != "tool":
        return None
    results: list[str] = []
    for m in reversed(messages):
        if m.get("role") == "tool":
            results.append(str(m.get("content") or ""))
        elif m.get("role") == "assistant" and m.get("tool_calls"):
            if any((c.get("function") or {}).get("name") != POST_TOOL for c in m["tool_calls"]):
                return None
        else:
            break
    return "\n".join(reversed(results)) or None


def _offered_transfer(request: ModelRequest, target: str) -> str | None:
    """The transfer tool to `target` among those offered, as the engine spells its name
    (AutoGen lowercases it, CrewAI also splits camelCase): None if there is none."""
    want = re.sub(r"[^a-z0-9]", "", f"transfer_to_{target}".lower())
    for t in request.tools:
        name = t.get("function", {}).get("name") or ""
        if re.sub(r"[^a-z0-9]", "", name.lower()) == want:
            return name
    return None


def _offered_name(request: ModelRequest, call: str) -> str:
    """A script may name a custom tool by its import path (`module:function`); the model
    calls it by the name it was offered under (the function's)."""
    offered = {t.get("function", {}).get("name") for t in request.tools}
    if call in offered or ":" not in call:
        return call
    short = call.rsplit(":", 1)[-1]
    return short if short in offered else call
