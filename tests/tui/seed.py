"""A database with fixed sessions, events, approvals and audit entries, for stable screens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from workbench.config import Settings

ROOT = Path(__file__).resolve().parents[2]
#: "Now" for every frozen screen: 2026-11-24 10:20:00 UTC.
NOW = 1795515600.0
S_DONE = "5e55a0d0" + "0" * 23 + "1"
S_WAITING = "5e55a0d0" + "0" * 23 + "2"
S_FAILED = "5e55a0d0" + "0" * 23 + "3"
S_CANCELLED = "5e55a0d0" + "0" * 23 + "4"
PENDING_ID = "a1b2c3d4e5f6"

STAR_SHAPE = {"topology": "star", "agents": ["lead", "analyst", "writer"], "hub": "lead",
              "planner": None, "executors": [], "reviewer": None, "edges": []}
NETWORK_SHAPE = {"topology": "network", "agents": ["triager", "engineer", "liaison"],
                 "hub": None, "planner": None, "executors": [], "reviewer": None, "edges": []}


def _agents(names_roles: list[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"name": n, "role": r, "model": "scripted/demo", "domain": d, "tools": [],
             "capabilities": []} for n, r, d in names_roles]


def _model_call(agent: str, prompt: int, completion: int, latency: float) -> dict[str, Any]:
    return {"model": "scripted/demo", "provider": "scripted", "purpose": "agent",
            "prompt_tokens": prompt, "completion_tokens": completion, "cost_usd": 0.0,
            "latency_ms": latency, "tool_calls": []}


def done_events(start: float) -> list[tuple]:
    """(kind, agent, to, content, data) of a finished star run with a tool call and a decision."""
    return [
        ("run.started", None, None, "Size the Nordic market and recommend go / no-go",
         {"crew": "market-entry", "engine": "autogen", "topology": "star",
          "agents": _agents([("lead", "Research lead", "research"),
                             ("analyst", "Market analyst", "research"),
                             ("writer", "Business writer", "communications")]),
          "shape": STAR_SHAPE, "policy_hash": "4e06ad7a4edaf736"}),
        ("model.call", "lead", None, None, _model_call("lead", 180, 24, 3.1)),
        ("message", "lead", "analyst", "Analyst, size the Nordic SME invoicing market: number "
         "of SMEs, adoption, price.", {"turn": 1}),
        ("model.call", "analyst", None, None, _model_call("analyst", 240, 18, 2.4)),
        ("tool.requested", "analyst", None, None,
         {"tool": "calculator", "args": {"expression": "1200000 * 0.06 * 348"},
          "call_id": "call-1"}),
        ("tool.result", "analyst", None, "25056000",
         {"tool": "calculator", "call_id": "call-1", "ok": True,
          "args": {"expression": "1200000 * 0.06 * 348"}}),
        ("model.call", "analyst", None, None, _model_call("analyst", 300, 40, 2.8)),
        ("message", "analyst", "lead", "Serviceable market is about 25 million EUR a year "
         "(1.2M SMEs x 6% x 348 EUR).", {"turn": 2}),
        ("model.call", "lead", None, None, _model_call("lead", 410, 30, 2.2)),
        ("handoff", "lead", "writer", "Writer, draft the recommendation.", {}),
        ("message", "lead", "writer", "Writer, draft a one-page go recommendation and send it "
         "to the board.", {"turn": 3}),
        ("model.call", "writer", None, None, _model_call("writer", 520, 36, 3.4)),
        ("tool.requested", "writer", None, None,
         {"tool": "send_email", "args": {"to": "board@example.com", "subject": "GO"},
          "call_id": "call-2"}),
        ("policy.decision", "writer", None, "Research results are sent out only after a review",
         {"action": "tool_call", "effect": "require_approval",
          "rule_ids": ["research-no-email"],
          "reasons": ["Research results are sent out only after a review"],
          "policy_hash": "4e06ad7a4edaf736", "lifted": []}),
        ("approval.requested", "writer", None, "Research results are sent out only after a "
         "review", {"approval_id": "0f0e0d0c0b0a", "tool": "send_email",
                    "args": {"to": "board@example.com", "subject": "GO"},
                    "rule_ids": ["research-no-email"], "expires_at": start + 900}),
        ("approval.decided", "writer", None, "", {"approval_id": "0f0e0d0c0b0a",
                                                   "decision": "approved", "reviewer": "dana",
                                                   "tool": "send_email", "args": None,
                                                   "always": False}),
        ("tool.result", "writer", None, "queued email to board@example.com in outbox",
         {"tool": "send_email", "call_id": "call-2", "ok": True,
          "args": {"to": "board@example.com", "subject": "GO"}}),
        ("message", "writer", "lead", "Recommendation written and sent to the board.",
         {"turn": 4}),
        ("message", "lead", "analyst,writer", "Decision: GO. Enter Sweden first.", {"turn": 5}),
        ("run.completed", None, None, "Decision: GO. Enter Sweden first.",
         {"status": "completed", "turns": 5, "prompt_tokens": 1650, "completion_tokens": 148,
          "cost_usd": 0.0, "cost_known": True, "model_calls": 5, "tool_calls": 2,
          "elapsed_s": 4.2}),
    ]


def waiting_events(start: float) -> list[tuple]:
    return [
        ("run.started", None, None, "Triage an escalated customer incident",
         {"crew": "support-triage", "engine": "autogen", "topology": "network",
          "agents": _agents([("triager", "Support triage lead", "support"),
                             ("engineer", "Support engineer", "support"),
                             ("liaison", "Customer liaison", "support")]),
          "shape": NETWORK_SHAPE, "policy_hash": "4e06ad7a4edaf736"}),
        ("message", "triager", "engineer,liaison", "Incident: invoices fail to export as PDF "
         "for Acme Ltd since this morning's release.", {"turn": 1}),
        ("message", "engineer", "triager,liaison", "Cause found: font subsetting fails when "
         "the logo exceeds 2 MB.", {"turn": 2}),
        ("tool.requested", "liaison", None, None,
         {"tool": "send_email", "args": {"to": "it@acme.example.com",
                                         "subject": "Your PDF export issue"},
          "call_id": "call-9"}),
        ("policy.decision", "liaison", None, "Email leaving the company needs a reviewer",
         {"action": "tool_call", "effect": "require_approval",
          "rule_ids": ["external-email-needs-approval"],
          "reasons": ["Email leaving the company needs a reviewer"],
          "policy_hash": "4e06ad7a4edaf736", "lifted": []}),
        ("approval.requested", "liaison", None, "Email leaving the company needs a reviewer",
         {"approval_id": PENDING_ID, "tool": "send_email",
          "args": {"to": "it@acme.example.com", "subject": "Your PDF export issue"},
          "rule_ids": ["external-email-needs-approval"], "expires_at": NOW + 840}),
    ]


def seed(settings: Settings) -> None:
    """Fill the settings' database with the fixed sessions (idempotent per fresh home)."""
    from sqlalchemy import text

    from workbench.store.audit import AuditChain, AuditRecord
    from workbench.store.db import Store

    settings.ensure_home()
    store = Store(settings.database_url)
    crews = {n: (ROOT / "crews" / f"{n}.yaml").read_text(encoding="utf-8")
             for n in ("market-entry", "support-triage", "contract-review")}
    snaps = {n: store.snapshot_crew(n, f"crews/{n}.yaml", t) for n, t in crews.items()}
    rows = [
        (S_DONE, "market-entry", "autogen", "star", "completed", NOW - 7200, NOW - 7195.8, 5,
         1650, 148, 0.0, 0, "Size the Nordic market and recommend go / no-go", None),
        (S_WAITING, "support-triage", "autogen", "network", "running", NOW - 60, None, 2, 900,
         80, 0.0, 0, "Triage an escalated customer incident", None),
        (S_FAILED, "contract-review", "crewai", "layered", "failed", NOW - 86400, NOW - 86390,
         1, 1200, 300, 0.0123, 1, "Review the supplier contract",
         "provider openai: rate limited (429); retried 3 times"),
        (S_CANCELLED, "market-entry", "autogen", "star", "cancelled", NOW - 172800,
         NOW - 172790, 2, 400, 40, 0.0, 0, "Size the Danish market", "cancelled by the user"),
    ]
    for (sid, crew, engine, topo, status, started, ended, turns, prompt, completion, cost,
         unknown, task, error) in rows:
        store.create_session(
            id=sid, crew_name=crew, crew_snapshot_id=snaps[crew], engine=engine, topology=topo,
            task=task, started_at=started, ended_at=ended, status=status, turns=turns,
            prompt_tokens=prompt, completion_tokens=completion, cost_usd=cost,
            cost_unknown_calls=unknown, error=error, policy_hash="4e06ad7a4edaf736")
    for sid, start, events in ((S_DONE, NOW - 7200, done_events(NOW - 7200)),
                               (S_WAITING, NOW - 60, waiting_events(NOW - 60))):
        store.insert_events([
            {"session_id": sid, "seq": i + 1, "ts": start + i * 0.2, "kind": kind,
             "agent": agent, "to_agent": to, "content": content,
             "data": json.dumps(data) if data else None}
            for i, (kind, agent, to, content, data) in enumerate(events)
        ])
    with store.engine.begin() as conn:
        insert = text(
            "INSERT INTO approval (id, session_id, agent, tool, args, rule_ids, reason, context,"
            " status, reviewer, decision_reason, always, created_at, decided_at, expires_at)"
            " VALUES (:id, :sid, :agent, :tool, :args, :rules, :reason, :context, :status,"
            " :reviewer, :why, FALSE, :created, :decided, :expires)")
        conn.execute(insert, dict(
            id=PENDING_ID, sid=S_WAITING, agent="liaison", tool="send_email",
            args=json.dumps({"to": "it@acme.example.com", "subject": "Your PDF export issue"}),
            rules=json.dumps(["external-email-needs-approval"]),
            reason="Email leaving the company needs a reviewer",
            context=json.dumps([
                {"agent": "triager", "to": "engineer,liaison",
                 "content": "Incident: invoices fail to export as PDF for Acme Ltd."},
                {"agent": "engineer", "to": "triager,liaison",
                 "content": "Cause found: font subsetting fails when the logo exceeds 2 MB."}]),
            status="pending", reviewer=None, why=None, created=NOW - 60, decided=None,
            expires=NOW + 840))
        conn.execute(insert, dict(
            id="0f0e0d0c0b0a", sid=S_DONE, agent="writer", tool="send_email",
            args=json.dumps({"to": "board@example.com", "subject": "GO"}),
            rules=json.dumps(["research-no-email"]),
            reason="Research results are sent out only after a review", context="[]",
            status="approved", reviewer="dana", why=None, created=NOW - 7198,
            decided=NOW - 7197, expires=NOW - 6300))
    AuditChain(store).append([
        AuditRecord(S_DONE, "workbench", "run.started", {"crew": "market-entry"}, NOW - 7200),
        AuditRecord(S_DONE, "dana", "approval.decided",
                    {"approval_id": "0f0e0d0c0b0a", "decision": "approved"}, NOW - 7197),
        AuditRecord(S_DONE, "workbench", "run.completed", {"status": "completed"}, NOW - 7195),
    ])
    store.close()


# -- the designer's loop: a second version of a run, and two evals of the crew ---------------

S_FORK = "5e55a0d0" + "0" * 23 + "5"
E_ZERO = "e0a3d9f0" + "0" * 24
E_FIRST = "e1f1b5a0" + "0" * 24
E_SECOND = "e2d4c6a0" + "0" * 24
#: The edit of market-entry that S_FORK and E_SECOND ran (version 2 of the crew).
EDITED_ROLE = ("    role: Research lead\n", "    role: Cautious research lead\n")


def fork_events(start: float) -> list[tuple]:
    """S_DONE's run with the edited lead: the same first two turns, then a NO-GO (no email)."""
    events = done_events(start)[:9]
    events[0] = (*events[0][:4], {**events[0][4], "agents": _agents([
        ("lead", "Cautious research lead", "research"),
        ("analyst", "Market analyst", "research"),
        ("writer", "Business writer", "communications")])})
    return events + [
        ("message", "lead", "writer", "Writer, draft a one-page no-go recommendation: the "
         "margin is too thin.", {"turn": 3}),
        ("model.call", "writer", None, None, _model_call("writer", 500, 30, 3.0)),
        ("message", "writer", "lead", "Recommendation written: NO-GO for now.", {"turn": 4}),
        ("message", "lead", "analyst,writer", "Decision: NO-GO. Revisit next year.",
         {"turn": 5}),
        ("run.completed", None, None, "Decision: NO-GO. Revisit next year.",
         {"status": "completed", "turns": 5, "prompt_tokens": 1630, "completion_tokens": 142,
          "cost_usd": 0.0, "cost_known": True, "model_calls": 5, "tool_calls": 1,
          "elapsed_s": 3.6}),
    ]


def _check(idx: int, kind: str, label: str, outcome: str, detail: str,
           score: float | None = None, reason: str | None = None) -> dict[str, Any]:
    return {"idx": idx, "kind": kind, "label": label, "outcome": outcome, "detail": detail,
            "score": score, "reason": reason, "judge_session_id": None, "spec": {kind: label}}


def seed_designer(settings: Settings) -> None:
    """Add to `seed`'s database: S_FORK (market-entry v2, diverging from S_DONE at its third
    turn) and three evals of market-entry: E_ZERO and E_FIRST on v1, E_SECOND on v2, where
    the case `nordics` regressed."""
    from workbench.store.db import Store
    from workbench.store.evals import EVAL_CASES, EVAL_CHECKS, EVAL_RUNS

    store = Store(settings.database_url)
    original = (ROOT / "crews" / "market-entry.yaml").read_text(encoding="utf-8")
    v1 = store.snapshot_crew("market-entry", "crews/market-entry.yaml", original)
    v2 = store.snapshot_crew("market-entry", "crews/market-entry.yaml",
                             original.replace(*EDITED_ROLE, 1))
    start = NOW - 3600
    store.create_session(
        id=S_FORK, crew_name="market-entry", crew_snapshot_id=v2, engine="autogen",
        topology="star", task="Size the Nordic market and recommend go / no-go",
        started_at=start, ended_at=start + 3.6, status="completed", turns=5,
        prompt_tokens=1630, completion_tokens=142, cost_usd=0.0, cost_unknown_calls=0,
        result="Decision: NO-GO. Revisit next year.", policy_hash="4e06ad7a4edaf736")
    store.insert_events([
        {"session_id": S_FORK, "seq": i + 1, "ts": start + i * 0.2, "kind": kind,
         "agent": agent, "to_agent": to, "content": content,
         "data": json.dumps(data) if data else None}
        for i, (kind, agent, to, content, data) in enumerate(fork_events(start))])
    store.update_session(S_DONE, result="Decision: GO. Enter Sweden first.")
    judge = "judge: Is the recommendation backed by numbers?"
    cases = {
        E_ZERO: (v1, NOW - 9000, [
            ("nordics", None, "error", []),
            ("denmark", None, "passed", [
                _check(0, "contains", 'contains "GO"', "passed", "found")]),
            ("budget", None, "failed", [
                _check(0, "max_cost_usd", "max_cost_usd 0.05", "failed",
                       "cost $0.0730 > $0.05")]),
        ]),
        E_FIRST: (v1, NOW - 5400, [
            ("nordics", S_DONE, "passed", [
                _check(0, "contains", 'contains "GO"', "passed", "found"),
                _check(1, "tool_called", "tool_called calculator", "passed", "called once"),
                _check(2, "judge", judge, "passed", "score 0.90 ≥ 0.70", 0.9,
                       "The sizing (1.2M SMEs x 6% x 348 EUR) backs the GO.")]),
            ("denmark", None, "passed", [
                _check(0, "contains", 'contains "GO"', "passed", "found")]),
            ("budget", None, "failed", [
                _check(0, "max_cost_usd", "max_cost_usd 0.05", "failed",
                       "cost $0.0612 > $0.05")]),
        ]),
        E_SECOND: (v2, NOW - 1800, [
            ("nordics", S_FORK, "failed", [
                _check(0, "contains", 'contains "GO"', "passed", "found"),
                _check(1, "tool_called", "tool_called calculator", "passed", "called once"),
                _check(2, "judge", judge, "failed", "score 0.40 < 0.70", 0.4,
                       "The no-go cites a thin margin but gives no figure for it.")]),
            ("denmark", None, "passed", [
                _check(0, "contains", 'contains "GO"', "passed", "found")]),
            ("budget", None, "passed", [
                _check(0, "max_cost_usd", "max_cost_usd 0.05", "passed", "cost $0.0310")]),
        ]),
    }
    with store.engine.begin() as conn:
        for eval_id, (snapshot, started, runs) in cases.items():
            passed = sum(1 for r in runs if r[2] == "passed")
            conn.execute(EVAL_RUNS.insert().values(
                id=eval_id, crew_name="market-entry", crew_snapshot_id=snapshot,
                cases_path="crews/cases/market-entry.yaml", cases_digest="c0ffee", model=None,
                repeat=1, concurrency=4, status="completed", started_at=started,
                ended_at=started + 12.5, cases=len(runs), runs=len(runs), passed=passed,
                cost_usd=0.0, cost_unknown_calls=0))
            for position, (case_id, session_id, status, checks) in enumerate(runs):
                pk = conn.execute(EVAL_CASES.insert().values(
                    eval_id=eval_id, case_id=case_id, position=position, attempt=1,
                    session_id=session_id, status=status,
                    error="provider scripted: no answer (timed out after 30 s)"
                    if status == "error" else None,
                    task=f"Should we enter the {case_id} market?",
                    checks_passed=sum(1 for c in checks if c["outcome"] == "passed"),
                    checks_total=len(checks), turns=5, tokens=1790, cost_usd=0.0,
                    cost_unknown_calls=0, elapsed_s=4.2, ended_at=started + 5
                )).inserted_primary_key[0]
                if checks:
                    conn.execute(EVAL_CHECKS.insert(), [
                        {**c, "eval_case_id": pk, "spec": json.dumps(c["spec"])}
                        for c in checks])
    store.close()
