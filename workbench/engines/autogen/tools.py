"""Governed tools for AutoGen: the model sees our schemas; calls run only through the gate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool, StaticWorkbench, TextResultContent, ToolResult, ToolSchema
from pydantic import BaseModel, ConfigDict

from workbench.mesh.context import RunAborted, RunContext
from workbench.tools.base import Tool


class _AnyArgs(BaseModel):
    model_config = ConfigDict(extra="allow")


class SchemaTool(BaseTool[_AnyArgs, str]):
    """Offers a workbench tool's exact JSON schema; never runs on its own."""

    def __init__(self, tool: Tool) -> None:
        super().__init__(_AnyArgs, str, tool.name, tool.description)
        self._parameters = tool.parameters

    @property
    def schema(self) -> ToolSchema:
        return ToolSchema(name=self.name, description=self.description,
                          parameters=self._parameters, strict=False)  # type: ignore[typeddict-item]

    async def run(self, args: _AnyArgs, cancellation_token: CancellationToken) -> str:
        raise RuntimeError("workbench tools run only through the governed workbench")


class GovernedWorkbench(StaticWorkbench):
    """Every tool call of one agent goes to the run context: gate, approval, tool, events.

    AutoGen's intervention handlers see a call only after it ran, so the gate sits here.
    """

    def __init__(self, ctx: RunContext, agent: str) -> None:
        super().__init__([SchemaTool(t) for t in ctx.agent_tools(agent)])
        self._ctx = ctx
        self._agent = agent

    async def call_tool(
        self,
        name: str,
        arguments: Mapping[str, Any] | None = None,
        cancellation_token: CancellationToken | None = None,
        call_id: str | None = None,
    ) -> ToolResult:
        try:
            outcome = await self._ctx.call_tool(self._agent, name, dict(arguments or {}),
                                                call_id or "")
        except RunAborted as exc:
            # AutoGen's agent waits forever for a tool task that raises (its result queue is
            # never closed), so a stopped run answers the tool call and ends at the agent's
            # next model call instead, where the gateway refuses to go on.
            return ToolResult(name=name, result=[TextResultContent(content=f"run stopped: {exc}")],
                              is_error=True)
        return ToolResult(name=name, result=[TextResultContent(content=outcome.output)],
                          is_error=not outcome.ok)
