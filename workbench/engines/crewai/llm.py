"""A CrewAI LLM over the workbench gateway: every CrewAI model call goes through it."""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from crewai.llms.base_llm import BaseLLM
from pydantic import PrivateAttr

from workbench.errors import ProviderError
from workbench.gateway.types import ModelRequest
from workbench.mesh.context import RunContext

if TYPE_CHECKING:
    from workbench.engines.crewai.crews import Floor

#: AutoGen's words for a handoff that carries no message of its own.
TRANSFERRED = "Transferred to {target}, adopting the role of {target} immediately."


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


def _key(name: str) -> str:
    # a transfer tool's name as either framework spells it: AutoGen lowercases it, CrewAI
    # also splits camelCase with underscores
    return re.sub(r"[^a-z0-9]", "", name.lower())


class GatewayLLM(BaseLLM):
    """One per agent, so the gate, the budget and the events can name the agent.

    Native function calling: tool calls go back to CrewAI's executor as OpenAI-style dicts,
    and it runs them through our governed tools. A text reply is the agent's answer, and is
    recorded as its message to the agents the topology addresses; what the model says with a
    transfer call is kept for the transfer tool, which records the handoff.
    """

    llm_type: str = "workbench"
    _ctx: RunContext = PrivateAttr()
    _agent: str = PrivateAttr()
    _api_base: str | None = PrivateAttr(default=None)
    _floor: Any = PrivateAttr(default=None)
    _transfers: dict[str, str] = PrivateAttr(default_factory=dict)

    @classmethod
    def for_agent(cls, ctx: RunContext, agent: str, floor: Floor | None = None) -> GatewayLLM:
        spec = ctx.spec.agent(agent)
        llm = cls(model=ctx.spec.model_for(spec), provider="workbench")
        llm._ctx = ctx
        llm._agent = agent
        llm._api_base = ctx.spec.api_base_for(spec)
        llm._floor = floor
        topo = ctx.topology
        if topo.kind == "star" and agent == topo.hub:
            llm._transfers = {_key(f"transfer_to_{s}"): s for s in topo.spokes}
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
            # a task with human_input: a person reviews its answer (mesh/human.py)
            human_input=(id(from_task) in self._floor.reviewed
                         if self._floor is not None and from_task is not None else None),
        )
        try:
            response = ctx.run_sync(ctx.complete(request))
        except ProviderError as exc:
            # CrewAI re-wraps errors raised inside an agent; keep the provider's own words.
            ctx.fail(str(exc))
            raise
        calls = [(c.id, c.name, c.arguments) for c in response.tool_calls]
        if calls:
            transfers = [(cid, name) for cid, name, _ in calls if _key(name) in self._transfers]
            if transfers:
                # only the first transfer counts, as on AutoGen; the others are not run
                first_id = transfers[0][0]
                calls = [c for c in calls
                         if _key(c[1]) not in self._transfers or c[0] == first_id]
                if self._floor is not None:
                    # said with the transfer: the transfer tool records it as the handoff's
                    self._floor.with_transfer[self._agent] = response.content
            return [
                {"id": cid, "type": "function",
                 "function": {"name": name, "arguments": json.dumps(args)}}
                for cid, name, args in calls
            ]
        text = response.content
        if text:
            topo = ctx.topology
            # the hub's own word goes to the whole team (as the AutoGen adapter shows it)
            to = "all" if topo.kind == "star" and self._agent == topo.hub else None
            ctx.message(self._agent, text, to=to)
            if self._floor is not None:
                self._floor.said(self._agent, text)
        return text

    async def acall(self, *args: Any, **kwargs: Any) -> str | Any:
        import asyncio

        return await asyncio.to_thread(self.call, *args, **kwargs)

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
