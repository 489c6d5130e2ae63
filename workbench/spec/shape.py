"""A topology's shape: its kind and who plays which role, as one light type (no pydantic).

The spec's resolved `Topology` is this shape with routing added, the `run.started` event
carries it as `to_dict()`, and the TUI draws it before pydantic is ever imported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

#: Every topology a crew may name; each engine offers some of them (see the engine registry).
TOPOLOGY_KINDS: tuple[str, ...] = ("star", "layered", "network", "graph")


class Edge(NamedTuple):
    """A graph edge: messages from `source` go to `target` when `when` holds (None: always)."""

    source: str
    target: str
    when: str | None = None


@dataclass(slots=True)
class TopologyShape:
    """The roles of a topology: hub and spokes, planner, executors and reviewer, or edges."""

    kind: str
    agents: list[str]
    hub: str | None = None
    spokes: list[str] = field(default_factory=list)
    planner: str | None = None
    executors: list[str] = field(default_factory=list)
    reviewer: str | None = None
    edges: list[Edge] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The form stored in a run's first event (spokes follow from agents and hub)."""
        return {"topology": self.kind, "agents": list(self.agents), "hub": self.hub,
                "planner": self.planner, "executors": list(self.executors),
                "reviewer": self.reviewer,
                "edges": [{"from": e.source, "to": e.target, "when": e.when}
                          for e in self.edges]}

    @classmethod
    def from_dict(cls, data: dict[str, Any], kind: str | None = None) -> TopologyShape:
        """Read `to_dict()`'s form back; `kind` stands in for a missing topology name."""
        agents = [str(a) for a in data.get("agents") or []]
        hub = data.get("hub")
        return cls(
            data.get("topology") or kind or "network", agents, hub,
            [a for a in agents if a != hub] if hub else [],
            data.get("planner"), list(data.get("executors") or []), data.get("reviewer"),
            [Edge(e.get("from"), e.get("to"), e.get("when")) for e in data.get("edges") or []
             if isinstance(e, dict)],
        )

    @classmethod
    def of(cls, shape: TopologyShape) -> TopologyShape:
        """A plain copy of the roles of `shape` (a resolved `Topology` is a shape too)."""
        return cls(shape.kind, list(shape.agents), shape.hub, list(shape.spokes),
                   shape.planner, list(shape.executors), shape.reviewer,
                   [Edge(e.source, e.target, e.when) for e in shape.edges])

    @classmethod
    def guess(cls, kind: str, agents: list[str]) -> TopologyShape:
        """Without the crew file: the defaults a crew gets (its first agent leads)."""
        if kind == "star" and agents:
            return cls(kind, agents, hub=agents[0], spokes=agents[1:])
        if kind == "layered" and agents:
            return cls(kind, agents, planner=agents[0], executors=agents[1:])
        return cls(kind or "network", agents)
