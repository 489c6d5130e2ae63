"""CrewAI as the registry knows it: name, topologies and a line about it (no CrewAI import)."""

from workbench.engines.base import EngineInfo

ENGINE = EngineInfo(
    name="crewai",
    topologies=frozenset({"star", "layered", "network"}),
    description="CrewAI crews: a hierarchical manager, or tasks in sequence with context",
    engine="workbench.engines.crewai.engine:CrewAIEngine",
)
