"""Governance speed: a policy decision on the shipped policy set, and audit verification."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from workbench.config import SHIPPED_POLICIES
from workbench.governance.policy import load_policies
from workbench.governance.policy_gate import PolicyGate
from workbench.store.audit import AuditChain, AuditRecord
from workbench.store.db import Store

TARGET_DECISION_MS = 0.2
TARGET_VERIFY_PER_S = 500_000


def _activations() -> list[tuple[str, dict]]:
    def act(domain: str, provider: str = "scripted", **extra) -> dict:
        base = {
            "agent": {"name": "analyst", "role": "Market analyst", "domain": domain,
                      "model": f"{provider}/m"},
            "model": {"provider": provider, "name": "m", "host": "", "local": False},
            "session": {"cost_usd": 0.12, "tokens": 4000, "turns": 6},
            "crew": {"name": "market-entry"},
            "tool": {"name": "", "tags": []},
            "args": {},
            "message": {"text": "", "from": "analyst", "to": "lead"},
        }
        base.update(extra)
        return base

    return [
        ("model_call", act("research", "openai")),
        ("tool_call", act("support", tool={"name": "send_email", "tags": ["external"]},
                          args={"to": "it@acme.example.com", "subject": "s", "body": "b"})),
        ("tool_call", act("finance", tool={"name": "write_file", "tags": ["writes"]},
                          args={"path": "costs.md", "content": "x"})),
        ("message", act("support", message={"text": "Call Dana on +44 20 7946 0958",
                                            "from": "triager", "to": "engineer"})),
        ("tool_call", act("default", tool={"name": "http_get", "tags": ["external"]},
                          args={"url": "https://pastebin.com/raw/x"})),
    ]


def _decisions(n: int = 100_000) -> dict:
    gate = PolicyGate(load_policies(SHIPPED_POLICIES))
    cases = _activations()
    for action, activation in cases:
        gate.decide(action, activation)
    started = time.perf_counter()
    for i in range(n):
        action, activation = cases[i % len(cases)]
        gate.decide(action, activation)
    per_ms = (time.perf_counter() - started) / n * 1000
    return {"decisions": n, "decision_ms": round(per_ms, 4),
            "decision_target_ms": TARGET_DECISION_MS,
            "decision_meets_target": per_ms <= TARGET_DECISION_MS}


def _verify(n: int = 250_000) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(f"sqlite:///{Path(tmp) / 'audit.db'}")
        chain = AuditChain(store)
        batch = 10_000
        for start in range(0, n, batch):
            chain.append([AuditRecord("bench-session", "analyst", "tool.result",
                                      {"tool": "write_file", "ok": True, "call_id": f"c{i}",
                                       "result_sha256": "ab" * 32})
                          for i in range(start, start + batch)])
        result = chain.verify()  # in ranges, on every core
        serial = chain.verify(workers=1)
        store.close()
    rate = result.entries / result.seconds
    return {"audit_entries": result.entries, "verify_s": round(result.seconds, 3),
            "verify_entries_per_s": round(rate),
            "verify_one_core_entries_per_s": round(serial.entries / serial.seconds),
            "verify_target_per_s": TARGET_VERIFY_PER_S,
            "verify_meets_target": result.ok and rate >= TARGET_VERIFY_PER_S}


def measure() -> dict:
    return {**_decisions(), **_verify()}


if __name__ == "__main__":
    print(measure())
