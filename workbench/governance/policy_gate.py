"""The policy gate: central plus domain rules, most restrictive wins, budgets, fail-closed."""

from __future__ import annotations

from typing import Any

from workbench.governance.gate import SEVERITY, Action, Decision
from workbench.governance.policy import PolicySet, Rule

_BUDGET_ACTIVATION = {"cost_usd": "cost_usd", "tokens": "tokens", "turns": "turns"}


class PolicyGate:
    """Judges an action by the central rules and the acting agent's domain rules.

    The most restrictive matching effect wins (deny > require_approval > redact > allow),
    except that a matching domain `allow` lifts matching central rules marked overridable.
    No match: the central default. A rule whose condition cannot be evaluated counts as a
    deny by that rule: the action does not happen.
    """

    def __init__(self, policy: PolicySet) -> None:
        import cel

        self._cel_context = cel.Context
        self.policy = policy
        self.policy_hash = policy.hash
        self._central: dict[str, list[Rule]] = {a: [] for a in ("model_call", "tool_call",
                                                                "message")}
        self._domain: dict[tuple[str, str], list[Rule]] = {}
        for rule in policy.central:
            self._central[rule.on].append(rule)
        for domain, rules in policy.domains.items():
            for rule in rules:
                self._domain.setdefault((rule.on, domain), []).append(rule)

    def decide(self, action: Action, activation: dict[str, Any]) -> Decision:
        if action == "model_call" and self.policy.budgets:
            over = self._over_budget(activation.get("session", {}))
            if over:
                return Decision("deny", action, [f"budget.session.{over[0]}"], [over[1]],
                                self.policy_hash, stop_run=True)
        domain = activation.get("agent", {}).get("domain", "default")
        central = self._central[action]
        local = self._domain.get((action, domain), ())
        if not central and not local:
            return Decision(self.policy.default, action, policy_hash=self.policy_hash)  # type: ignore[arg-type]
        context = self._cel_context(activation)
        errors: list[Rule] = []
        matched_central = [r for r in central if self._matches(r, context, errors)]
        matched_local = [r for r in local if self._matches(r, context, errors)]
        if errors:
            return Decision("deny", action, [r.id for r in errors],
                            [f"policy rule {r.id!r} could not be evaluated" for r in errors],
                            self.policy_hash)
        lifted: list[str] = []
        if any(r.effect == "allow" for r in matched_local):
            lifted = [r.id for r in matched_central if r.overridable]
            matched_central = [r for r in matched_central if not r.overridable]
        matched = matched_central + matched_local
        if not matched:
            return Decision(self.policy.default, action, policy_hash=self.policy_hash,  # type: ignore[arg-type]
                            lifted=lifted)
        effect = max((r.effect for r in matched), key=SEVERITY.__getitem__)
        return Decision(
            effect,  # type: ignore[arg-type]
            action,
            [r.id for r in matched],
            [r.reason for r in matched if r.effect == effect],
            self.policy_hash,
            lifted=lifted,
        )

    @staticmethod
    def _matches(rule: Rule, context: Any, errors: list[Rule]) -> bool:
        try:
            return rule.program.execute(context) is True
        except Exception:  # a condition that cannot be evaluated must not let the action pass
            errors.append(rule)
            return False

    def _over_budget(self, session: dict[str, Any]) -> tuple[str, str] | None:
        for key, limit in self.policy.budgets.items():
            used = session.get(_BUDGET_ACTIVATION[key], 0) or 0
            if used >= limit:
                shown = f"${used:.4f} of ${limit:.2f}" if key == "cost_usd" else \
                    f"{used:g} of {limit:g}"
                return key, f"session budget exhausted: {key} {shown}"
        return None
