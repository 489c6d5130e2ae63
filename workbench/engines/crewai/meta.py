"""CrewAI as the registry knows it: name, topologies and a line about it (no CrewAI import)."""

from workbench.engines.base import EngineInfo

ENGINE = EngineInfo(
    name="crewai",
    topologies=frozenset({"star", "layered", "network"}),
    description="CrewAI: each turn a real CrewAI task and crew, conducted by the topology",
    engine="workbench.engines.crewai.engine:CrewAIEngine",
)
