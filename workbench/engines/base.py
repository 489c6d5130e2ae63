"""The engine protocol, and what the workbench knows of an engine before importing it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import import_module
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


@dataclass(frozen=True, slots=True)
class EngineInfo:
    """An engine as registered: its name, the topologies it offers, a line about it, and
    where its class is. Reading this imports no framework; `load()` does, when a run starts.

    An engine package declares one in a light module (its `meta.py`) and names it under the
    `workbench.engines` entry-point group, e.g. `autogen = "workbench.engines.autogen.meta:ENGINE"`.
    """

    name: str
    topologies: frozenset[str]
    description: str
    #: "module:Class" of the engine; the class is instantiated without arguments.
    engine: str

    def load(self) -> Engine:
        """Import the engine's module (its framework with it) and make the engine."""
        module, _, attr = self.engine.partition(":")
        return getattr(import_module(module), attr)()
