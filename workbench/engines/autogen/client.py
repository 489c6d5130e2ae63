"""A ChatCompletionClient over the workbench gateway: every AutoGen model call goes through it."""

from __future__ import annotations

import json
import weakref
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any

from autogen_core import CancellationToken, FunctionCall, Image
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    FunctionExecutionResultMessage,
    LLMMessage,
    ModelCapabilities,
    ModelInfo,
    RequestUsage,
    SystemMessage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema

from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest, Purpose
from workbench.mesh.context import RunContext

#: `vision`: images reach this client and become `<image>` here (`_text`), as AutoGen's
#: `remove_images` would make them; told there is no vision, AutoGen rebuilds every
#: agent's whole history on every call to do the same, a cost that grows with the run.
MODEL_INFO = ModelInfo(
    vision=True,
    function_calling=True,
    json_output=False,
    family="unknown",
    structured_output=False,
    multiple_system_messages=True,
)


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        # an image is never sent: its place is marked, as AutoGen's remove_images does
        return "\n".join(c if isinstance(c, str) else "<image>" if isinstance(c, Image)
                         else str(c) for c in content)
    return str(content)


#: The last conversion of each conversation, by the identity of its first message (held
#: weakly: the entry goes with the agent's history). AutoGen only appends to an agent's
#: conversation, so a call converts just the messages added since the one before.
_CONVERTED: dict[int, tuple[weakref.ref[Any], list[LLMMessage], list[dict[str, Any]]]] = {}


def to_openai(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    """AutoGen's message types as OpenAI chat messages (a new list; its dicts are shared
    with earlier calls and must not be changed in place: copy to change one)."""
    if not messages:
        return []
    head, rest = messages[0], list(messages[1:])
    key = id(head)
    last = _CONVERTED.get(key)
    if last is not None and last[0]() is head:
        ref, seen, converted = last
        # the same message objects compare by identity (cheap); others by value
        if len(seen) <= len(rest) and rest[:len(seen)] == seen:
            if len(seen) < len(rest):
                converted = converted + _convert(rest[len(seen):])
                _CONVERTED[key] = (ref, rest, converted)
            return list(converted)
    converted = _convert(messages)
    try:
        ref = weakref.ref(head, lambda _, key=key: _CONVERTED.pop(key, None))
    except TypeError:  # not weakly referable: never kept
        return converted
    _CONVERTED[key] = (ref, rest, converted)
    return list(converted)


def _convert(messages: Sequence[LLMMessage]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for m in messages:
        if isinstance(m, SystemMessage):
            out.append({"role": "system", "content": m.content})
        elif isinstance(m, UserMessage):
            msg: dict[str, Any] = {"role": "user", "content": _text(m.content)}
            if m.source and m.source != "user":
                msg["name"] = m.source
            out.append(msg)
        elif isinstance(m, AssistantMessage):
            if isinstance(m.content, str):
                out.append({"role": "assistant", "content": m.content})
            else:
                out.append({
                    "role": "assistant",
                    "content": m.thought or None,
                    "tool_calls": [
                        {"id": c.id, "type": "function",
                         "function": {"name": c.name, "arguments": c.arguments}}
                        for c in m.content
                    ],
                })
        elif isinstance(m, FunctionExecutionResultMessage):
            for r in m.content:
                out.append({"role": "tool", "tool_call_id": r.call_id, "content": r.content})
    return out


def tool_schemas(tools: Sequence[Tool | ToolSchema]) -> list[dict[str, Any]]:
    out = []
    for t in tools:
        schema: Mapping[str, Any] = t.schema if isinstance(t, Tool) else t
        out.append({
            "type": "function",
            "function": {
                "name": schema["name"],
                "description": schema.get("description", ""),
                "parameters": schema.get("parameters", {"type": "object", "properties": {}}),
            },
        })
    return out


class GatewayChatClient(ChatCompletionClient):
    """One per agent (and one for speaker selection): knows whose call it is, so the gate,
    the budget and the events can name the agent."""

    component_type = "model"

    def __init__(self, ctx: RunContext, agent: str, purpose: Purpose = "agent",
                 candidates: list[str] | None = None) -> None:
        self._ctx = ctx
        self._agent = agent
        self._purpose = purpose
        self._candidates = candidates or []
        spec = ctx.spec.agent(agent)
        self._model = ctx.spec.model_for(spec)
        self._api_base = ctx.spec.api_base_for(spec)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._last = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006 (the base class's signature)
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        request = ModelRequest(
            agent=self._agent,
            model=self._model,
            messages=to_openai(messages),
            tools=tool_schemas(tools),
            api_base=self._api_base,
            purpose=self._purpose,
            candidates=self._candidates,
        )
        try:
            response = await self._ctx.complete(request)
        except ProviderError as exc:
            # AutoGen reports a participant's exception as text; keep the provider's own words.
            self._ctx.fail(str(exc))
            raise
        usage = RequestUsage(prompt_tokens=response.usage.prompt_tokens,
                             completion_tokens=response.usage.completion_tokens)
        self._last = usage
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + usage.completion_tokens,
        )
        if response.tool_calls:
            calls = [FunctionCall(id=c.id, name=c.name, arguments=json.dumps(c.arguments))
                     for c in response.tool_calls]
            return CreateResult(finish_reason="function_calls", content=calls, usage=usage,
                                cached=False, thought=response.content or None)
        finish = "stop" if response.finish_reason not in ("length", "content_filter") else \
            response.finish_reason
        return CreateResult(finish_reason=finish, content=response.content, usage=usage,
                            cached=False)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = (),
        tool_choice: Any = "auto",
        json_output: Any = None,
        extra_create_args: Mapping[str, Any] = {},  # noqa: B006
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        # Tokens are streamed to the UI by the run context; AutoGen gets the whole reply.
        yield await self.create(messages, tools=tools, json_output=json_output,
                                extra_create_args=extra_create_args,
                                cancellation_token=cancellation_token)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._last

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *,
                     tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return sum(len(str(m.get("content") or "")) for m in to_openai(messages)) // 4

    def remaining_tokens(self, messages: Sequence[LLMMessage], *,
                         tools: Sequence[Tool | ToolSchema] = ()) -> int:
        return max(0, 128_000 - self.count_tokens(messages, tools=tools))

    @property
    def capabilities(self) -> ModelCapabilities:  # type: ignore[override]
        return MODEL_INFO  # type: ignore[return-value]

    @property
    def model_info(self) -> ModelInfo:
        return MODEL_INFO
