"""A run's running totals, folded from its events by one rule (`Totals.apply`): the run's
context, its live view and the session's row all count the same way.

Light on purpose (no framework, no database): the TUI imports it before anything heavy.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from workbench.mesh.events import Kind


@dataclass(slots=True)
class Totals:
    """What a run used so far.

    The rules (`apply`): a turn is a message; a model call is one that answered (a call
    that failed for good is not counted, and has no usage); a call without a price counts
    as unknown, never as zero; a tool call counts when the tool ran, whatever its outcome
    (one denied, rejected or unknown did not run). A run's end carries its own summary,
    which wins: a viewer that missed events still ends with the run's figures.
    """

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
    #: Each agent's governance domain (from the crew, or from `run.started`), for the cost
    #: per domain; an agent not in it counts in "default".
    domains: dict[str, str] = field(default_factory=dict)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def cost_known(self) -> bool:
        return self.cost_unknown_calls == 0

    def apply(self, event: Any) -> None:
        """Fold one event (a bus `Event`, or anything with `kind`, `agent` and `data`)."""
        self.apply_fields(event.kind, event.agent, event.data)

    def apply_fields(self, kind: str, agent: str | None, data: dict[str, Any]) -> None:
        """`apply` for an event given as its fields (a stored row)."""
        fold = _FOLDS.get(kind)
        if fold is not None:
            fold(self, agent or "", data)

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


# -- the rules, one per kind that counts ---------------------------------------------------

def _started(t: Totals, agent: str, d: dict[str, Any]) -> None:
    for a in d.get("agents") or []:
        if a.get("name"):
            t.domains.setdefault(a["name"], a.get("domain") or "default")


def _message(t: Totals, agent: str, d: dict[str, Any]) -> None:
    t.turns += 1


def _model_call(t: Totals, agent: str, d: dict[str, Any]) -> None:
    if d.get("ok") is False:  # failed for good: no answer, no usage
        return
    t.model_calls += 1
    t.prompt_tokens += d.get("prompt_tokens") or 0
    t.completion_tokens += d.get("completion_tokens") or 0
    t.add_cost(agent, t.domains.get(agent, "default"), d.get("cost_usd"))


def _tool_result(t: Totals, agent: str, d: dict[str, Any]) -> None:
    # `ran` is only written when the tool did not run (denied, rejected, unknown)
    if d.get("ran", True):
        t.tool_calls += 1


def _ended(t: Totals, agent: str, d: dict[str, Any]) -> None:
    t.turns = d.get("turns", t.turns)
    t.prompt_tokens = d.get("prompt_tokens", t.prompt_tokens)
    t.completion_tokens = d.get("completion_tokens", t.completion_tokens)
    t.cost_usd = d.get("cost_usd", t.cost_usd) or 0.0
    if "cost_known" in d:
        t.cost_unknown_calls = 0 if d["cost_known"] else max(1, t.cost_unknown_calls)
    t.model_calls = d.get("model_calls", t.model_calls)
    t.tool_calls = d.get("tool_calls", t.tool_calls)
    for what, costs, unknown in (("agent", t.per_agent_cost, t.per_agent_unknown),
                                 ("domain", t.per_domain_cost, t.per_domain_unknown)):
        for name, share in (d.get(f"cost_by_{what}") or {}).items():
            costs[name] = share.get("cost_usd") or 0.0
            unknown[name] = share.get("unknown_calls") or 0


_FOLDS: dict[str, Callable[[Totals, str, dict[str, Any]], None]] = {
    Kind.RUN_STARTED: _started,
    Kind.MESSAGE: _message,
    Kind.MODEL_CALL: _model_call,
    Kind.TOOL_RESULT: _tool_result,
    Kind.RUN_COMPLETED: _ended,
    Kind.RUN_FAILED: _ended,
}
