"""AutoGen as the registry knows it: name, topologies and a line about it (no AutoGen import)."""

from workbench.engines.base import EngineInfo

ENGINE = EngineInfo(
    name="autogen",
    topologies=frozenset({"star", "layered", "network", "graph"}),
    description="AutoGen AgentChat teams: selector chat, round robin, GraphFlow",
    engine="workbench.engines.autogen.engine:AutoGenEngine",
)
