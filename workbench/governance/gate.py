"""The gate's contract: what it is asked, and the decision it gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

Effect = Literal["allow", "deny", "require_approval", "redact"]
Action = Literal["model_call", "tool_call", "message", "task_bid", "task_award"]

#: Most restrictive first: the winner among matching effects.
SEVERITY: dict[str, int] = {"deny": 3, "require_approval": 2, "redact": 1, "allow": 0}


@dataclass(slots=True)
class Decision:
    effect: Effect
    action: Action
    rule_ids: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    policy_hash: str = ""
    #: For `redact`: the names of what was redacted (never the values).
    redactions: list[str] = field(default_factory=list)
    #: Overridable central rules that a domain `allow` lifted.
    lifted: list[str] = field(default_factory=list)
    #: The run must stop (a budget is exhausted), not just skip this action.
    stop_run: bool = False

    @property
    def allowed(self) -> bool:
        return self.effect in ("allow", "redact")

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons) or self.effect

    def to_dict(self) -> dict[str, Any]:
        return {
            "effect": self.effect,
            "action": self.action,
            "rule_ids": self.rule_ids,
            "reasons": self.reasons,
            "policy_hash": self.policy_hash,
            "redactions": self.redactions,
            "lifted": self.lifted,
        }


class Gate(Protocol):
    """Judges one action given its CEL activation (agent, tool, args, model, message, session)."""

    policy_hash: str

    def decide(self, action: Action, activation: dict[str, Any]) -> Decision: ...


class OpenGate:
    """Allows everything; used where no policy set is loaded (tests of the bare spine)."""

    policy_hash = "none"
    #: The names its conditions use: none.
    names_used: frozenset[str] = frozenset()

    def decide(self, action: Action, activation: dict[str, Any]) -> Decision:
        return Decision("allow", action, policy_hash=self.policy_hash)
