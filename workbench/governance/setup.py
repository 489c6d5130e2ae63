"""One path from settings to a governed session: policy gate, redactor, approvals, audit."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from workbench.config import Settings
from workbench.governance.approvals import DatabaseApprovals, DenyAllApprovals, PromptApprovals
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

    def session_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for `Session(...)`."""
        return {"gate": self.gate, "approvals": self.approvals, "redactor": self.redactor,
                "writers": self.writers}


def default_mode() -> str:
    """`prompt` when a person is at the terminal, else `wait` (DESIGN.md)."""
    return "prompt" if sys.stdin.isatty() else "wait"


def governed(settings: Settings, store: Store, mode: str | None = None,
             reviewer: str | None = None) -> Governance:
    """Load the policy set (a broken one raises PolicyError: the run must not start)."""
    policy = load_policies(settings.policy_dir())
    mode = mode or default_mode()
    timeout = settings.approval_timeout_s
    if mode == "deny":
        approvals: Any = DenyAllApprovals(store, timeout)
    elif mode == "prompt":
        approvals = PromptApprovals(store, timeout, reviewer)
    else:
        approvals = DatabaseApprovals(store, timeout)
    return Governance(policy, PolicyGate(policy), approvals,
                      writers=[AuditWriter(store, redact)])
