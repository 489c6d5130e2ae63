"""The AutoGen engine: runs the team and translates its stream into normalized events."""

from __future__ import annotations

import asyncio
import logging

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import (
    HandoffMessage,
    TextMessage,
    ThoughtEvent,
    ToolCallSummaryMessage,
)
from autogen_core import CancellationToken

from workbench.engines.autogen.meta import ENGINE
from workbench.engines.autogen.teams import build_agents, build_team, layered_order
from workbench.errors import UserInputError
from workbench.mesh import events as ev
from workbench.mesh.context import RunAborted, RunContext

# AutoGen logs a participant's failure with a traceback before reporting it to the caller;
# the run reports it once, in its own words.
for _name in ("autogen_core", "autogen_agentchat"):
    logging.getLogger(_name).setLevel(logging.CRITICAL + 1)


class AutoGenEngine:
    name = ENGINE.name
    topologies = ENGINE.topologies

    async def run(self, ctx: RunContext) -> str:
        if ctx.topology.kind not in self.topologies:
            raise UserInputError(f"autogen does not offer topology {ctx.topology.kind!r}")
        agents = build_agents(ctx)
        team = build_team(ctx, agents)
        hub = ctx.topology.hub
        thoughts: dict[str, str] = {}
        final = ""
        #: Each agent's last message: a layered crew's answer is its last task's (see below).
        last_of: dict[str, str] = {}
        token = CancellationToken()
        ctx.on_stop(token.cancel)
        try:
            async for item in team.run_stream(task=ctx.task, cancellation_token=token):
                if isinstance(item, TaskResult):
                    break
                if item.source == "user":
                    continue
                if isinstance(item, ThoughtEvent):
                    thoughts[item.source] = item.content
                elif isinstance(item, HandoffMessage):
                    said = thoughts.pop(item.source, "") or item.content
                    ctx.emit(ev.HANDOFF, item.source, item.target, said)
                    ctx.message(item.source, said, to=[item.target])
                elif isinstance(item, TextMessage | ToolCallSummaryMessage):
                    # A summary is the tool output the agent hands the team (already judged
                    # as a message by the agent): the team sees it, so the stream shows it.
                    thoughts.pop(item.source, None)
                    to: list[str] | str | None = None
                    if ctx.topology.kind == "star" and item.source == hub:
                        to = "all"
                    elif ctx.topology.kind == "graph":
                        # only the agents whose edge condition held for this message
                        to = ctx.topology.routed(item.source, item.content)
                    ctx.message(item.source, item.content, to=to)
                    final = last_of[item.source] = item.content
                if ctx.stopped.is_set():
                    break
        except RunAborted:
            raise
        except asyncio.CancelledError:
            if ctx.stopped.is_set():
                raise RunAborted(ctx.failure or "cancelled") from None
            raise
        except Exception as exc:
            if ctx.stopped.is_set():
                raise RunAborted(ctx.failure or "cancelled") from None
            raise RuntimeError(f"AutoGen team failed: {exc}") from exc
        ctx.check_running()
        if ctx.topology.kind == "layered":
            # Parallel executors finish in any order; the answer is the last turn's in the
            # crew's order (the reviewer's, else the last executor's: CrewAI's last task),
            # not whoever ended last.
            final = last_of.get(layered_order(ctx)[-1], final)
        return final
