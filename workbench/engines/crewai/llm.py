"""A CrewAI LLM over the workbench gateway: every CrewAI model call goes through it."""

from __future__ import annotations

import json
from typing import Any

from crewai.llms.base_llm import BaseLLM
from pydantic import PrivateAttr

from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest
from workbench.mesh import events as ev
from workbench.mesh.context import RunContext

DELEGATE = "delegate_work_to_coworker"


def _to_openai(messages: Any) -> list[dict[str, Any]]:
    if isinstance(messages, str):
        return [{"role": "user", "content": messages}]
    out = []
    for m in messages:
        msg = {k: m[k] for k in ("role", "content", "tool_calls", "tool_call_id", "name")
               if k in m and m[k] is not None}
        if not isinstance(msg.get("content", ""), str):
            msg["content"] = str(msg["content"])
        out.append(msg)
    return out


def _tool_name(tool: dict[str, Any]) -> str:
    return tool.get("function", {}).get("name", "")


class GatewayLLM(BaseLLM):
    """One per agent, so the gate, the budget and the events can name the agent.

    Native function calling: tool calls go back to CrewAI's executor as OpenAI-style dicts,
    and it runs them through our governed tools. A text reply is the agent's answer, and is
    recorded as its message to the agents the topology addresses.
    """

    llm_type: str = "workbench"
    _ctx: RunContext = PrivateAttr()
    _agent: str = PrivateAttr()
    _api_base: str | None = PrivateAttr(default=None)
    _role_to_name: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def for_agent(cls, ctx: RunContext, agent: str) -> GatewayLLM:
        spec = ctx.spec.agent(agent)
        llm = cls(model=ctx.spec.model_for(spec), provider="workbench")
        llm._ctx = ctx
        llm._agent = agent
        llm._api_base = ctx.spec.api_base_for(spec)
        llm._role_to_name = {a.role.strip().lower(): a.name for a in ctx.spec.agents}
        return llm

    def call(
        self,
        messages: Any,
        tools: list[dict[str, Any]] | None = None,
        callbacks: list[Any] | None = None,
        available_functions: dict[str, Any] | None = None,
        from_task: Any = None,
        from_agent: Any = None,
        response_model: Any = None,
    ) -> str | Any:
        ctx = self._ctx
        request = ModelRequest(
            agent=self._agent,
            model=self.model,
            messages=_to_openai(messages),
            tools=list(tools or []),
            api_base=self._api_base,
        )
        try:
            response = ctx.run_sync(ctx.complete(request))
        except ProviderError as exc:
            # CrewAI re-wraps errors raised inside an agent; keep the provider's own words.
            ctx.fail(str(exc))
            raise
        offered = {_tool_name(t) for t in request.tools}
        calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
        if not calls and response.handoff and DELEGATE in offered:
            target = ctx.spec.agent(response.handoff)
            task = response.content or f"Take over: {ctx.task}"
            calls = [(f"call_delegate_{ctx.bus.last_seq}", DELEGATE,
                      {"task": task, "context": ctx.task, "coworker": target.role})]
        if calls:
            for _, name, args in calls:
                if name == DELEGATE:
                    self._record_delegation(args)
            return [
                {"id": cid, "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args in calls
            ]
        text = response.content
        if text:
            ctx.message(self._agent, text)
        return text

    async def acall(self, *args: Any, **kwargs: Any) -> str | Any:
        import asyncio

        return await asyncio.to_thread(self.call, *args, **kwargs)

    def _record_delegation(self, args: dict[str, Any]) -> None:
        role = str(args.get("coworker", "")).strip().lower()
        target = self._role_to_name.get(role, role or "?")
        task = str(args.get("task", ""))
        self._ctx.emit(ev.HANDOFF, self._agent, target, task)
        self._ctx.message(self._agent, task, to=[target])

    def get_input_tokens_count(self, messages: Any, tools: Any = None,
                               response_model: Any = None) -> int:
        text = messages if isinstance(messages, str) else " ".join(
            str(m.get("content") or "") for m in messages)
        return (len(text) + 3) // 4

    def supports_function_calling(self) -> bool:
        return True

    def supports_stop_words(self) -> bool:
        return False

    def get_context_window_size(self) -> int:
        return 128_000
