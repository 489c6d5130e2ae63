"""A crew's topology resolved to its roles: hub and spokes, layers, peers, or graph edges."""

from __future__ import annotations

from dataclasses import dataclass, field

from workbench.spec.edges import EdgeCondition, compile_when, graph_entry
from workbench.spec.schema import CrewSpec
from workbench.spec.shape import Edge, TopologyShape


@dataclass(slots=True)
class Topology(TopologyShape):
    """The shape of a validated crew, with how messages travel in it."""

    max_turns: int = 12
    #: Edge index -> its compiled `when` (compiled once, on first use).
    _conditions: dict[int, EdgeCondition] = field(default_factory=dict, repr=False)

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

    def condition(self, index: int) -> EdgeCondition | None:
        """The compiled `when` of edge `index` (None: the edge always carries messages)."""
        when = self.edges[index].when
        if when is None:
            return None
        found = self._conditions.get(index)
        if found is None:
            found = self._conditions[index] = compile_when(when)
        return found

    def routed(self, source: str, text: str) -> list[str]:
        """Graph: the agents a message from `source` actually goes to (their edge's `when`
        holds for it); other topologies: its recipients."""
        if self.kind != "graph":
            return self.recipients(source)
        out: list[str] = []
        for i, edge in enumerate(self.edges):
            if edge.source != source or edge.target in out:
                continue
            condition = self.condition(i)
            if condition is None or condition(text, source):
                out.append(edge.target)
        return out

    def starts(self) -> list[str]:
        """The agents who speak first (a graph may start with several)."""
        if self.kind == "graph" and self.edges:
            return graph_entry([(e.source, e.target) for e in self.edges])
        return [self.entry()]

    def entry(self) -> str:
        """The agent who speaks first."""
        if self.kind == "star" and self.hub:
            return self.hub
        if self.kind == "layered" and self.planner:
            return self.planner
        if self.kind == "graph" and self.edges:
            return self.starts()[0]
        return self.agents[0]


def resolve(spec: CrewSpec, kind: str | None = None) -> Topology:
    """Resolve the topology (optionally overridden to `kind`); assumes a validated spec."""
    t = spec.topology
    kind = kind or t.kind
    names = spec.agent_names
    topo = Topology(kind=kind, agents=names, max_turns=t.max_turns,
                    edges=[Edge(e.source, e.target, e.when) for e in t.edges])
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
