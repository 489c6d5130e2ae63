"""CrewAI adapter: LLM over the gateway, governed tools, crews per topology."""

from workbench.engines.crewai.engine import CrewAIEngine

__all__ = ["CrewAIEngine"]
