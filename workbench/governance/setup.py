"""One path from settings to a governed session: policy gate, redactor, approvals, audit."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from workbench.config import Settings
from workbench.governance.approvals import broker_for
from workbench.governance.policy import PolicySet, load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.governance.redact import redact
from workbench.store.audit import AuditWriter
from workbench.store.db import Store

APPROVAL_MODES = ("wait", "prompt", "deny")


@dataclass
class Governance:
    policy: PolicySet
    gate: PolicyGate
    approvals: Any
    redactor: Any = redact
    writers: list[Any] = field(default_factory=list)
    #: Who answers human turns (governance/human.py).
    humans: Any = None

    def session_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Session(...)`."""
        return {"gate": self.gate, "approvals": self.approvals, "redactor": self.redactor,
                "writers": self.writers, "humans": self.humans}

    def notes(self, spec: Any) -> list[str]:
        """What a user should know before `spec` runs under this policy set: policy files
        that are not read, and agents whose domain has no policy file."""
        return run_notes(self.policy, spec)


def run_notes(policy: PolicySet, spec: Any) -> list[str]:
    """Notes for a run of `spec`: unread policy files, domains without a policy file."""
    notes = list(policy.notes)
    by_domain: dict[str, list[str]] = {}
    for agent in spec.agents:
        if policy.unknown_domains([agent.domain]):
            by_domain.setdefault(agent.domain, []).append(agent.name)
    for domain, agents in by_domain.items():
        who = ", ".join(agents)
        notes.append(f"domain {domain!r} (agent {who}) has no policy file in "
                     f"{policy.source}/domains: only the central rules apply to it")
    return notes


def default_mode() -> str:
    """`prompt` when a person is at the terminal, else `wait` (DESIGN.md)."""
    return "prompt" if sys.stdin.isatty() else "wait"


def governed(settings: Settings, store: Store, mode: str | None = None,
             reviewer: str | None = None, human_default: str | None = None) -> Governance:
    """Load the policy set (a broken one raises PolicyError: the run must not start).

    Human turns are asked as approvals are (`mode`): at the terminal, or of a reviewer when
    `wait` is given; else `human_default` answers them, or they are skipped.
    """
    from workbench.governance.human import responder

    policy = load_policies(settings.policy_dir())
    humans = responder(store, settings.approval_timeout_s, mode, reviewer, human_default)
    approvals = broker_for(mode or default_mode(), store, settings.approval_timeout_s, reviewer)
    return Governance(policy, PolicyGate(policy), approvals,
                      writers=[AuditWriter(store, redact)], humans=humans)
