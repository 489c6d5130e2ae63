"""What a tool is: a name, a JSON schema for its arguments, tags for policies, and a function."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ToolError(Exception):
    """A tool failed in a way the agent should be told about (not a crash of the run)."""


@dataclass(slots=True)
class ToolContext:
    """Where a tool may act: the session's workspace and outbox folders."""

    session_id: str
    workspace: Path
    outbox: Path


ToolFn = Callable[..., Any] | Callable[..., Awaitable[Any]]


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: ToolFn
    tags: frozenset[str] = field(default_factory=frozenset)
    #: Built-in tools take the ToolContext as their first argument; custom tools do not.
    wants_context: bool = False

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema offered to models."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    async def invoke(self, ctx: ToolContext, args: dict[str, Any]) -> str:
        """Run the tool; returns its output as text, raises ToolError on a failure to report."""
        try:
            call_args = (ctx,) if self.wants_context else ()
            if inspect.iscoroutinefunction(self.fn):
                result = await self.fn(*call_args, **args)
            elif self.wants_context:
                result = self.fn(*call_args, **args)
            else:  # a custom function may block: keep it off the event loop
                result = await asyncio.to_thread(self.fn, *call_args, **args)
        except ToolError:
            raise
        except TypeError as exc:
            raise ToolError(f"bad arguments for {self.name}: {exc}") from exc
        except Exception as exc:  # a tool's own failure goes back to the agent, never up
            raise ToolError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        return result if isinstance(result, str) else str(result)
