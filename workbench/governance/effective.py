"""The rules that apply to a domain: the central ones (which of them it lifts), then its own."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar


class RuleLike(Protocol):
    """What lifting reads of a rule (a loaded `policy.Rule`, or a row a screen shows)."""

    @property
    def id(self) -> str: ...
    @property
    def on(self) -> str: ...
    @property
    def effect(self) -> str: ...
    @property
    def overridable(self) -> bool: ...


R = TypeVar("R", bound=RuleLike)


@dataclass(frozen=True, slots=True)
class EffectiveRule(Generic[R]):
    """A rule as it applies to a domain; `lifted_by` names the domain's `allow` rules that
    lift it where they match (only an overridable central rule can be lifted)."""

    rule: R
    central: bool
    lifted_by: tuple[str, ...] = ()
    note: str = ""


def lifters(rule: RuleLike, local: Sequence[RuleLike]) -> tuple[str, ...]:
    """The domain rules that lift the central `rule` when they match the same action: its
    `allow` rules on that action, if `rule` is overridable (as the policy gate decides)."""
    if not rule.overridable:
        return ()
    return tuple(d.id for d in local if d.effect == "allow" and d.on == rule.on)


def effective_rules(central: Sequence[R], local: Sequence[R] | None) -> list[EffectiveRule[R]]:
    """The central rules, then the domain's own; `local` None is the central view (no
    domain), where a note only says which central rules a domain may lift."""
    if local is None:
        return [EffectiveRule(r, True, (), "overridable" if r.overridable else "")
                for r in central]
    out: list[EffectiveRule[R]] = []
    for r in central:
        lifted_by = lifters(r, local)
        if lifted_by:
            note = f"lifted where {', '.join(lifted_by)} matches"
        elif r.overridable:
            note = "overridable; this domain does not lift it"
        else:
            note = ""
        out.append(EffectiveRule(r, True, lifted_by, note))
    out.extend(EffectiveRule(r, False) for r in local)
    return out
