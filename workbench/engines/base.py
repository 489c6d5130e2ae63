"""The engine protocol: build a framework team from the crew spec and run it in a context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from workbench.mesh.context import RunContext


class Engine(Protocol):
    name: str
    topologies: frozenset[str]

    async def run(self, ctx: RunContext) -> str:
        """Run the crew on `ctx.task` in `ctx.topology`; returns the final answer text.

        Every model call goes through `ctx.complete`, every tool call through
        `ctx.call_tool`, every message between agents is recorded with `ctx.message`
        (handoffs with `ctx.emit("handoff", ...)`). Stops when `ctx.stopped` is set.
        """
        ...
