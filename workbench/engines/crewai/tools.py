"""Governed CrewAI tools: the real tool only ever runs inside the run context's gate."""

from __future__ import annotations

import itertools
from typing import Any

from crewai.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, create_model

from workbench.mesh.context import RunContext
from workbench.tools.base import Tool

_JSON_TO_PY: dict[str, Any] = {"string": str, "integer": int, "number": float,
                               "boolean": bool, "array": list, "object": dict}
_ids = itertools.count(1)


def args_model(tool: Tool) -> type[BaseModel]:
    """A pydantic model from the tool's JSON schema, so arguments reach it by name."""
    props = tool.parameters.get("properties", {})
    required = set(tool.parameters.get("required", []))
    fields: dict[str, Any] = {}
    for name, schema in props.items():
        py = _JSON_TO_PY.get(schema.get("type", "string"), Any)
        desc = schema.get("description", "")
        if name in required:
            fields[name] = (py, Field(..., description=desc))
        else:
            fields[name] = (py | None, Field(None, description=desc))
    return create_model(f"{tool.name.title().replace('_', '')}Args",
                        __config__=ConfigDict(extra="allow"), **fields)


class GovernedTool(BaseTool):
    """Fail-closed by construction: `_run` asks the gate first (CrewAI's hooks fail open)."""

    _ctx: RunContext = PrivateAttr()
    _agent: str = PrivateAttr()

    @classmethod
    def wrap(cls, ctx: RunContext, agent: str, tool: Tool) -> GovernedTool:
        # Never CrewAI's `result_as_answer`: a tool's raw output would become the task's
        # answer, handed to the next agent without passing the message gate.
        governed = cls(name=tool.name, description=tool.description,
                       args_schema=args_model(tool), result_as_answer=False)
        governed._ctx = ctx
        governed._agent = agent
        return governed

    def _run(self, **kwargs: Any) -> str:
        args = {k: v for k, v in kwargs.items() if v is not None}
        outcome = self._ctx.run_sync(
            self._ctx.call_tool(self._agent, self.name, args, f"crewai_{next(_ids)}")
        )
        # The model reads what AutoGen's agents read for the same call: the outcome's own
        # words ("denied by policy: ...", "no such file ..."), which say what went wrong.
        return outcome.output
