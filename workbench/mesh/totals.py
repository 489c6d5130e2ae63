"""A run's running totals: kept by the run's context, folded again from events by viewers.

Light on purpose (no framework, no database): the TUI imports it before anything heavy.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class Totals:
    turns: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    model_calls: int = 0
    tool_calls: int = 0
    per_agent_cost: dict[str, float] = field(default_factory=dict)
    per_agent_unknown: dict[str, int] = field(default_factory=dict)
    per_domain_cost: dict[str, float] = field(default_factory=dict)
    per_domain_unknown: dict[str, int] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        return self.cost_unknown_calls == 0

    def add_cost(self, agent: str, domain: str, cost: float | None) -> None:
        if cost is None:
            self.cost_unknown_calls += 1
            self.per_agent_unknown[agent] = self.per_agent_unknown.get(agent, 0) + 1
            self.per_domain_unknown[domain] = self.per_domain_unknown.get(domain, 0) + 1
            self.per_agent_cost.setdefault(agent, 0.0)
            self.per_domain_cost.setdefault(domain, 0.0)
            return
        self.cost_usd += cost
        self.per_agent_cost[agent] = self.per_agent_cost.get(agent, 0.0) + cost
        self.per_domain_cost[domain] = self.per_domain_cost.get(domain, 0.0) + cost

    def cost_by(self, what: str) -> dict[str, dict[str, float | int]]:
        """Cost per "agent" or per "domain": {name: {cost_usd, unknown_calls}}; a call with
        no price counts as unknown, never as zero."""
        costs, unknown = (
            (self.per_agent_cost, self.per_agent_unknown) if what == "agent"
            else (self.per_domain_cost, self.per_domain_unknown)
        )
        return {name: {"cost_usd": round(cost, 6), "unknown_calls": unknown.get(name, 0)}
                for name, cost in costs.items()}

    def as_row(self) -> dict[str, Any]:
        """The session record's totals columns."""
        return dict(turns=self.turns, prompt_tokens=self.prompt_tokens,
                    completion_tokens=self.completion_tokens, cost_usd=self.cost_usd,
                    cost_unknown_calls=self.cost_unknown_calls, model_calls=self.model_calls,
                    tool_calls=self.tool_calls)
