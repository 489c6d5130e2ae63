"""A crew's topology resolved to its roles: hub and spokes, layers, peers, or graph edges."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.spec.schema import CrewSpec, EdgeSpec

#: What each engine offers; anything else is a clear error naming who does offer it.
ENGINE_TOPOLOGIES: dict[str, frozenset[str]] = {
    "autogen": frozenset({"star", "layered", "network", "graph"}),
    "crewai": frozenset({"star", "layered", "network"}),
}


@dataclass(slots=True)
class Topology:
    kind: str
    agents: list[str]
    hub: str | None = None
    spokes: list[str] = field(default_factory=list)
    planner: str | None = None
    executors: list[str] = field(default_factory=list)
    reviewer: str | None = None
    edges: list[EdgeSpec] = field(default_factory=list)
    max_turns: int = 12

    def recipients(self, source: str | None) -> list[str]:
        """Whom a message from `source` is addressed to, by the shape of the topology."""
        if source is None:
            return list(self.agents)
        if self.kind == "star":
            return list(self.spokes) if source == self.hub else [self.hub or ""]
        if self.kind == "layered":
            if source == self.planner:
                return list(self.executors)
            if source in self.executors:
                return [self.reviewer] if self.reviewer else [self.planner or ""]
            return [a for a in self.agents if a != source]
        if self.kind == "graph":
            return [e.target for e in self.edges if e.source == source]
        return [a for a in self.agents if a != source]

    def entry(self) -> str:
        """The agent who speaks first."""
        if self.kind == "star" and self.hub:
            return self.hub
        if self.kind == "layered" and self.planner:
            return self.planner
        if self.kind == "graph" and self.edges:
            targets = {e.target for e in self.edges}
            roots = [a for a in self.agents if a not in targets]
            return roots[0] if roots else self.edges[0].source
        return self.agents[0]


def resolve(spec: CrewSpec, kind: str | None = None) -> Topology:
    """Resolve the topology (optionally overridden to `kind`); assumes a validated spec."""
    t = spec.topology
    kind = kind or t.kind
    names = spec.agent_names
    topo = Topology(kind=kind, agents=names, max_turns=t.max_turns, edges=list(t.edges))
    if kind == "star":
        topo.hub = t.hub or names[0]
        topo.spokes = [n for n in names if n != topo.hub]
    elif kind == "layered":
        topo.planner = t.planner or names[0]
        topo.reviewer = t.reviewer
        if t.executors is not None:
            topo.executors = list(t.executors)
        else:
            topo.executors = [n for n in names if n not in (topo.planner, topo.reviewer)]
    return topo
