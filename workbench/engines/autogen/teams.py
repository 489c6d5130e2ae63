"""One AutoGen team per topology, built from the crew spec."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Sequence
from typing import Any

from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.base import Response, TerminationCondition
from autogen_agentchat.conditions import MaxMessageTermination, TextMentionTermination
from autogen_agentchat.messages import (
    BaseAgentEvent,
    BaseChatMessage,
    HandoffMessage,
    TextMessage,
    ToolCallSummaryMessage,
)
from autogen_agentchat.teams import (
    DiGraphBuilder,
    GraphFlow,
    RoundRobinGroupChat,
    SelectorGroupChat,
)
from autogen_core import CancellationToken
from autogen_core.models import FunctionExecutionResult, FunctionExecutionResultMessage

from workbench.engines.autogen.client import GatewayChatClient
from workbench.engines.autogen.tools import GovernedWorkbench
from workbench.gateway.scripted import TERMINATE
from workbench.mesh.context import RunContext
from workbench.spec.edges import EdgeCondition, loop_edges

#: A turn may chain this many tool calls before the agent must answer.
MAX_TOOL_ITERATIONS = 10


def system_prompt(ctx: RunContext, name: str) -> str:
    spec = ctx.spec
    agent = spec.agent(name)
    topo = ctx.topology
    lines = [f"You are {agent.role}. {agent.backstory}".strip(), f"Your goal: {agent.goal}"]
    others = [f"{a.name} ({a.role})" for a in spec.agents if a.name != name]
    if others:
        lines.append(f"You work in a {topo.kind} team with: {', '.join(others)}.")
    if name in (topo.hub, topo.planner):
        registry = "; ".join(f"{n}: {', '.join(c) or 'general'}"
                             for n, c in spec.capability_registry().items() if n != name)
        lines.append(f"Capabilities of your team, for routing work: {registry}.")
    if topo.kind == "star" and name == topo.hub and ctx.market is not None:
        lines.append("Post each piece of work with the post_task tool (the task and the "
                     "capability it needs): the team bids, the best bid wins and reports back "
                     f"to you. When the work is done, give the final answer and end it with "
                     f"{TERMINATE}.")
    elif topo.kind == "star" and name == topo.hub:
        lines.append("Hand work to a specialist with the matching transfer tool; when the "
                     f"work is done, give the final answer and end it with {TERMINATE}.")
    else:
        lines.append(f"When the team's work is complete, end your final message with {TERMINATE}.")
    return "\n".join(lines)


class GovernedAgent(AssistantAgent):
    """An AssistantAgent whose tool output reaches its peers only through the message gate.

    Model replies are judged as messages by the run context when they are made; a tool's
    result is not a model reply, yet AutoGen hands it to the team in two ways: as the turn's
    ToolCallSummaryMessage (when the tool loop ends without a text answer) and inside a
    HandoffMessage's context (tools called together with a transfer). Both are judged here,
    before the group chat broadcasts the response to the other agents.
    """

    def __init__(self, ctx: RunContext, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._ctx = ctx

    async def on_messages_stream(
        self, messages: Sequence[BaseChatMessage], cancellation_token: CancellationToken
    ) -> AsyncGenerator[BaseAgentEvent | BaseChatMessage | Response, None]:
        market = self._ctx.market
        task = market.assignment(self.name) if market is not None else None
        if task is not None:
            # the winner of a marketplace task is told its task by the hub
            messages = [*messages, TextMessage(source=task.hub, content=market.brief(task))]
        async for item in super().on_messages_stream(messages, cancellation_token):
            if isinstance(item, Response):
                item = Response(chat_message=self._govern(item.chat_message),
                                inner_messages=item.inner_messages)
            yield item

    def _judge(self, result: FunctionExecutionResult) -> FunctionExecutionResult:
        return result.model_copy(update={"content": self._ctx._gate_message(self.name,
                                                                            result.content)})

    def _govern(self, message: BaseChatMessage) -> BaseChatMessage:
        if isinstance(message, ToolCallSummaryMessage):
            results = [self._judge(r) for r in message.results]
            # The summary is the results joined (the default "{result}" format).
            return message.model_copy(update={
                "results": results, "content": "\n".join(r.content for r in results)})
        if isinstance(message, HandoffMessage) and message.context:
            context = [
                m.model_copy(update={"content": [self._judge(r) for r in m.content]})
                if isinstance(m, FunctionExecutionResultMessage) else m
                for m in message.context
            ]
            return message.model_copy(update={"context": context})
        return message


def build_agents(ctx: RunContext) -> dict[str, AssistantAgent]:
    topo = ctx.topology
    agents: dict[str, AssistantAgent] = {}
    for spec in ctx.spec.agents:
        # a marketplace hub allocates by posting tasks, not by handing over by name
        handoffs = (list(topo.spokes) if topo.kind == "star" and spec.name == topo.hub
                    and ctx.market is None else [])
        agents[spec.name] = GovernedAgent(
            ctx,
            spec.name,
            model_client=GatewayChatClient(ctx, spec.name),
            workbench=GovernedWorkbench(ctx, spec.name),
            handoffs=handoffs,
            description=f"{spec.role}: {spec.goal}. Capabilities: "
                        f"{', '.join(spec.capabilities) or 'general'}",
            system_message=system_prompt(ctx, spec.name),
            max_tool_iterations=MAX_TOOL_ITERATIONS,
            reflect_on_tool_use=False,
        )
    return agents


def layered_order(ctx: RunContext) -> list[str]:
    """A layered crew's turns, cut to `max_turns`: the planner, the executors in the crew's
    order, the reviewer. Fixed before the run, as CrewAI's tasks are: GraphFlow counts only
    the last of a parallel fan-out's messages towards a termination condition, so a count
    there would let every executor (and the reviewer) run whatever the limit."""
    topo = ctx.topology
    planner = topo.planner or topo.agents[0]
    return [planner, *topo.executors, *([topo.reviewer] if topo.reviewer else [])][
        :max(1, topo.max_turns)]


def _termination(ctx: RunContext) -> TerminationCondition:
    # +1: the task message counts as a message too.
    return TextMentionTermination(TERMINATE) | MaxMessageTermination(ctx.topology.max_turns + 1)


def _on_message(condition: EdgeCondition) -> Callable[[BaseChatMessage], bool]:
    """A crew's CEL `when` as GraphFlow's edge condition (called with the message sent)."""

    def holds(message: BaseChatMessage) -> bool:
        return condition(message.to_model_text(), message.source)

    return holds


def build_team(ctx: RunContext, agents: dict[str, AssistantAgent]):
    topo = ctx.topology
    termination = _termination(ctx)
    if topo.kind == "star":
        hub = topo.hub or ctx.spec.agents[0].name

        def select(messages: Sequence[BaseAgentEvent | BaseChatMessage]) -> str | None:
            # Specialists always report back to the hub; the hub's handoff names who goes
            # next; otherwise the hub's model chooses (a selector call through the gateway).
            last = next((m for m in reversed(messages) if isinstance(m, BaseChatMessage)), None)
            if last is None or last.source == "user":
                return hub
            # marketplace: the winners of open tasks work them in the order they were awarded
            worker = ctx.market.next_worker() if ctx.market is not None else None
            if worker in agents:
                return worker
            if isinstance(last, HandoffMessage) and last.target in agents:
                return last.target
            if last.source != hub:
                return hub
            return None

        order = [hub, *topo.spokes]
        return SelectorGroupChat(
            [agents[n] for n in order],
            model_client=GatewayChatClient(ctx, hub, purpose="selector", candidates=order),
            selector_func=select,
            termination_condition=termination,
            allow_repeated_speaker=True,
        )
    if topo.kind == "network":
        return RoundRobinGroupChat([agents[n] for n in topo.agents],
                                   termination_condition=termination)
    builder = DiGraphBuilder()
    if topo.kind == "layered":
        used = layered_order(ctx)
        planner, executors = used[0], [n for n in used if n in topo.executors]
        reviewer = topo.reviewer if topo.reviewer in used else None
        for name in used:
            builder.add_node(agents[name])
        for name in executors:
            builder.add_edge(agents[planner], agents[name])
            if reviewer:
                builder.add_edge(agents[name], agents[reviewer])
        builder.set_entry_point(agents[planner])
    else:  # graph
        used = [n for n in topo.agents
                if any(n in (e.source, e.target) for e in topo.edges)]
        for name in used:
            builder.add_node(agents[name])
        looping = loop_edges([(e.source, e.target) for e in topo.edges])
        for i, edge in enumerate(topo.edges):
            kwargs: dict[str, Any] = {}
            condition = topo.condition(i)
            if condition is not None:
                kwargs["condition"] = _on_message(condition)
            if i in looping:
                # An edge back into a loop wakes its target on its own; the target's other
                # incoming edges (a join) still wait for each other.
                kwargs["activation_group"] = f"loop:{edge.source}"
            builder.add_edge(agents[edge.source], agents[edge.target], **kwargs)
        if not any(n not in {e.target for e in topo.edges} for n in used):
            # the start is on a loop: GraphFlow finds no agent without a predecessor
            builder.set_entry_point(agents[topo.entry()])
    return GraphFlow([agents[n] for n in used], graph=builder.build(),
                     termination_condition=MaxMessageTermination(topo.max_turns + 1))
