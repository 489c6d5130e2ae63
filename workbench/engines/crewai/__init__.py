"""CrewAI adapter: LLM over the gateway, governed tools, crews per topology."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.engines.crewai.engine import CrewAIEngine

__all__ = ["CrewAIEngine"]


def __getattr__(name: str) -> Any:
    # the registry reads meta.py through this package: CrewAI loads only with the engine
    if name == "CrewAIEngine":
        from workbench.engines.crewai.engine import CrewAIEngine

        return CrewAIEngine
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
