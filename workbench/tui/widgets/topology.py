"""The topology view: agents as nodes, the edges of the crew's shape, lit as messages pass."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

LIT_FOR_S = 2.0


class TopologyView(Static):
    """Draws star, layered, network and graph crews with box characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("", **kwargs)
        self.shape: dict[str, Any] = {}
        self.agent_colors: dict[str, str] = {}
        self._lit: dict[tuple[str, str], float] = {}
        self._now = 0.0

    def set_shape(self, shape: dict[str, Any], colors: dict[str, str]) -> None:
        self.shape = shape
        self.agent_colors = colors
        self.update(self._draw())

    def message_passed(self, source: str, targets: list[str], ts: float) -> None:
        for t in targets:
            self._lit[(source, t)] = ts
        self._now = max(self._now, ts)

    def tick(self, now: float | None = None) -> None:
        if now is not None:
            self._now = max(self._now, now)
        if self.shape:
            self.update(self._draw())

    def _lit_edge(self, a: str, b: str) -> bool:
        return any(self._now - self._lit.get(k, -1e9) <= LIT_FOR_S for k in ((a, b), (b, a)))

    def _node(self, name: str) -> Text:
        return Text(f"●{name}", style=f"bold {self.agent_colors.get(name, 'white')}")

    def _edge(self, a: str, b: str, glyph: str) -> Text:
        return Text(glyph, style="bold #ffd75f" if self._lit_edge(a, b) else "#585858")

    def _draw(self) -> Text:
        s = self.shape
        kind = s.get("topology", "network")
        agents: list[str] = s.get("agents", [])
        out = Text(f"{kind} · {len(agents)} agents\n", style="bold")
        if kind == "star" and s.get("hub"):
            hub = s["hub"]
            out.append_text(self._node(hub))
            out.append(" (hub)\n", style="dim")
            spokes = [a for a in agents if a != hub]
            for i, spoke in enumerate(spokes):
                out.append_text(self._edge(hub, spoke, "└─▶ " if i == len(spokes) - 1
                                           else "├─▶ "))
                out.append_text(self._node(spoke))
                out.append("\n")
        elif kind == "layered" and s.get("planner"):
            planner, reviewer = s["planner"], s.get("reviewer")
            executors = s.get("executors") or []
            out.append_text(self._node(planner))
            out.append(" plans\n", style="dim")
            for e in executors:
                out.append_text(self._edge(planner, e, " ├─▶ "))
                out.append_text(self._node(e))
                if reviewer:
                    out.append_text(self._edge(e, reviewer, " ─┐"))
                out.append("\n")
            if reviewer:
                out.append_text(self._edge(executors[-1] if executors else planner, reviewer,
                                           " └──────▶ "))
                out.append_text(self._node(reviewer))
                out.append(" reviews\n", style="dim")
        elif kind == "graph":
            for edge in s.get("edges", []):
                a, b = edge.get("from"), edge.get("to")
                out.append_text(self._node(a))
                out.append_text(self._edge(a, b, " ──▶ "))
                out.append_text(self._node(b))
                if edge.get("when"):
                    out.append(f" if {edge['when']!r}", style="dim")
                out.append("\n")
        else:
            for i, a in enumerate(agents):
                out.append_text(self._node(a))
                peers = [b for b in agents if b != a]
                lit = any(self._lit_edge(a, b) for b in peers)
                out.append(" ◆ peers with all" if i == 0 else "", style="dim")
                out.append(" ⇄" if lit else "", style="bold #ffd75f")
                out.append("\n")
        return out
