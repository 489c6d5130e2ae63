"""The policy gate: central plus domain rules, most restrictive wins, budgets, fail-closed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.governance.activation import domain_key
from workbench.governance.condition import FUNCTIONS
from workbench.governance.gate import SEVERITY, Action, Decision
from workbench.governance.policy import ACTIONS, PolicySet, Rule

_BUDGET_ACTIVATION = {"cost_usd": "cost_usd", "tokens": "tokens", "turns": "turns"}


@dataclass(slots=True)
class _Plan:
    """The rules that judge one action for one domain, and what of the activation they read."""

    central: list[Rule]
    local: list[Rule]
    #: (name, fields or None for all of it): only these are handed to CEL, because
    #: converting a value for CEL costs microseconds each and most rules read two or three.
    needs: tuple[tuple[str, tuple[str, ...] | None], ...]
    functions: dict[str, Any] | None


def _plan(central: list[Rule], local: list[Rule]) -> _Plan:
    needs: dict[str, set[str] | None] = {}
    for rule in (*central, *local):
        for name, fields in rule.needs.items():
            if fields is None or (name in needs and needs[name] is None):
                needs[name] = None
            else:
                needs.setdefault(name, set()).update(fields)  # type: ignore[union-attr]
    uses = any(r.uses_functions for r in (*central, *local))
    return _Plan(central, local,
                 tuple((n, None if f is None else tuple(sorted(f))) for n, f in needs.items()),
                 FUNCTIONS if uses else None)


class PolicyGate:
    """Judges an action by the central rules and the acting agent's domain rules.

    The most restrictive matching effect wins (deny > require_approval > redact > allow),
    except that a matching domain `allow` lifts matching central rules marked overridable.
    No match: the central default. A rule whose condition cannot be evaluated, or gives
    anything but true or false, counts as a deny by that rule: the action does not happen.
    """

    def __init__(self, policy: PolicySet) -> None:
        import cel

        self._cel_context = cel.Context
        self.policy = policy
        self.policy_hash = policy.hash
        #: Every name a condition uses: what the run need not compute for any other.
        self.names_used = frozenset(
            name for rule in (*policy.central, *(r for rules in policy.domains.values()
                                                 for r in rules))
            for name in rule.variables)
        central: dict[str, list[Rule]] = {a: [] for a in ACTIONS}
        for rule in policy.central:
            central[rule.on].append(rule)
        self._central = {a: _plan(rules, []) for a, rules in central.items()}
        self._domain: dict[tuple[str, str], _Plan] = {}
        for domain, rules in policy.domains.items():
            for action in ACTIONS:
                local = [r for r in rules if r.on == action]
                if local:
                    self._domain[(action, domain_key(domain))] = _plan(central[action], local)

    def decide(self, action: Action, activation: dict[str, Any]) -> Decision:
        if action == "model_call" and self.policy.budgets:
            over = self._over_budget(activation.get("session", {}))
            if over:
                return Decision("deny", action, [f"budget.session.{over[0]}"], [over[1]],
                                self.policy_hash, stop_run=True)
        domain = activation.get("agent", {}).get("domain") or "default"
        plan = self._domain.get((action, domain)) or self._domain.get(
            (action, domain_key(domain))) or self._central[action]
        if not plan.central and not plan.local:
            return Decision(self.policy.default, action, policy_hash=self.policy_hash)  # type: ignore[arg-type]
        context = self._cel_context(_project(activation, plan.needs), plan.functions)
        errors: list[tuple[Rule, str]] = []
        matched_central = [r for r in plan.central if self._matches(r, context, errors)]
        matched_local = [r for r in plan.local if self._matches(r, context, errors)]
        if errors:
            return Decision("deny", action, [r.id for r, _ in errors],
                            [why for _, why in errors], self.policy_hash)
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
    def _matches(rule: Rule, context: Any, errors: list[tuple[Rule, str]]) -> bool:
        try:
            result = rule.program.execute(context)
        except Exception:  # a condition that cannot be evaluated must not let the action pass
            errors.append((rule, f"policy rule {rule.id!r} could not be evaluated"))
            return False
        if result is True or result is False:
            return result
        # a condition is a yes or no: anything else is a broken rule, and broken rules deny
        errors.append((rule, f"policy rule {rule.id!r} gave {type(result).__name__}, "
                             "not true or false"))
        return False

    def _over_budget(self, session: dict[str, Any]) -> tuple[str, str] | None:
        for key, limit in self.policy.budgets.items():
            used = session.get(_BUDGET_ACTIVATION[key], 0) or 0
            if used >= limit:
                shown = f"${used:.4f} of ${limit:.2f}" if key == "cost_usd" else \
                    f"{used:g} of {limit:g}"
                return key, f"session budget exhausted: {key} {shown}"
        return None


def _project(activation: dict[str, Any],
             needs: tuple[tuple[str, tuple[str, ...] | None], ...]) -> dict[str, Any]:
    """The part of the activation the rules read. A name or field the activation lacks stays
    out, so a rule that reads it fails to evaluate (and denies), as with the whole."""
    out: dict[str, Any] = {}
    for name, fields in needs:
        value = activation.get(name)
        if value is None:
            continue
        if fields is None or not isinstance(value, dict):
            out[name] = value
        else:
            out[name] = {f: value[f] for f in fields if f in value}
    return out
