"""A stored marketplace session with fixed events (translation-desk, two tasks), for screens."""

from __future__ import annotations

import json
from typing import Any

from tests.tui.seed import NOW, ROOT
from workbench.config import Settings

S_MARKET = "3a2ce700" + "0" * 23 + "1"
SHAPE = {"topology": "star", "agents": ["lead", "lina", "marco", "edith"], "hub": "lead",
         "planner": None, "executors": [], "reviewer": None, "edges": []}


def _bid(task: str, agent: str, cost: float | None, load: int, record: float, past: int,
         eligible: bool = True, barred: str = "") -> tuple:
    data: dict[str, Any] = {"task_id": task, "model": "openai/gpt-4o-mini", "cost_usd": cost,
                            "prompt_tokens": 31, "completion_tokens": 400, "load": load,
                            "record": record, "past_tasks": past, "past_done": round(record * past),
                            "eligible": eligible}
    if barred:
        data["barred"] = barred
    return ("task.bid", agent, "lead", None, data)


def market_events() -> list[tuple]:
    """(kind, agent, to, content, data): two tasks posted, bid on, awarded and reported."""
    agents = [{"name": n, "role": r, "model": "openai/gpt-4o-mini", "domain": "communications",
               "tools": ["post_task"] if n == "lead" else [], "capabilities": c}
              for n, r, c in (("lead", "Localization lead", ["planning"]),
                              ("lina", "Translator", ["translation"]),
                              ("marco", "Translator", ["translation"]),
                              ("edith", "Proofreader", ["proofreading"]))]
    barred = "barred by policy: Lina is on leave"
    return [
        ("run.started", None, None, "Translate the release notes and FAQ into French",
         {"crew": "translation-desk", "engine": "autogen", "topology": "star",
          "agents": agents, "shape": SHAPE, "policy_hash": "4e06ad7a4edaf736"}),
        ("task.posted", "lead", None, "Translate the release notes into French",
         {"task_id": "T1", "capability": "translation", "bidders": ["lina", "marco"]}),
        _bid("T1", "lina", 0.000245, 0, 1.0, 4, eligible=False, barred=barred),
        _bid("T1", "marco", 0.000252, 0, 0.75, 4),
        ("task.awarded", "marco", "lead", "balanced of 2 bids: marco at $0.000252, load 0, "
         "record 75%",
         {"task_id": "T1", "title": "Translate the release notes into French",
          "capability": "translation", "award": "balanced", "winner": "marco",
          "cost_usd": 0.000252,
          "bids": [{"agent": "marco", "cost_usd": 0.000252, "load": 0, "record": 0.75,
                    "eligible": True, "rank": 1, "score": 0.5625},
                   {"agent": "lina", "cost_usd": 0.000245, "load": 0, "record": 1.0,
                    "eligible": False, "rank": None, "note": barred}]}),
        ("task.posted", "lead", None, "Proofread the French release notes",
         {"task_id": "T2", "capability": "proofreading", "bidders": ["edith"]}),
        _bid("T2", "edith", 0.000248, 0, 0.5, 0),
        ("task.awarded", "edith", "lead", "balanced of 1 bid: edith at $0.000248, load 0, "
         "record 50%",
         {"task_id": "T2", "title": "Proofread the French release notes",
          "capability": "proofreading", "award": "balanced", "winner": "edith",
          "cost_usd": 0.000248,
          "bids": [{"agent": "edith", "cost_usd": 0.000248, "load": 0, "record": 0.5,
                    "eligible": True, "rank": 1, "score": 0.625}]}),
        ("message", "lead", "all", "T1 is awarded to marco; T2 is awarded to edith.",
         {"turn": 1}),
        ("message", "marco", "lead", "T1 done: « Notes de version 4.2 : export PDF plus "
         "rapide. »", {"turn": 2}),
        ("task.done", "marco", "lead", "T1 done: « Notes de version 4.2 : export PDF plus "
         "rapide. »", {"task_id": "T1", "title": "Translate the release notes into French",
                        "turn": 2}),
        ("message", "edith", "lead", "T2 done: proofread; fixed the spacing before colons.",
         {"turn": 3}),
        ("task.done", "edith", "lead", "T2 done: proofread; fixed the spacing before colons.",
         {"task_id": "T2", "title": "Proofread the French release notes", "turn": 3}),
        ("message", "lead", "all", "Translated and proofread: ready to publish. TERMINATE",
         {"turn": 4}),
        ("run.completed", None, None, "Translated and proofread: ready to publish.",
         {"status": "completed", "turns": 4, "prompt_tokens": 900, "completion_tokens": 120,
          "cost_usd": 0.00074, "cost_known": True, "model_calls": 6, "tool_calls": 2,
          "elapsed_s": 2.4}),
    ]


def seed_market(settings: Settings) -> str:
    """Add the marketplace session (the newest of all) to the settings' database."""
    from workbench.store.db import Store

    settings.ensure_home()
    store = Store(settings.database_url)
    text = (ROOT / "crews" / "translation-desk.yaml").read_text(encoding="utf-8")
    snap = store.snapshot_crew("translation-desk", "crews/translation-desk.yaml", text)
    start = NOW - 30
    store.create_session(
        id=S_MARKET, crew_name="translation-desk", crew_snapshot_id=snap, engine="autogen",
        topology="star", task="Translate the release notes and FAQ into French",
        started_at=start, ended_at=start + 2.4, status="completed", turns=4,
        prompt_tokens=900, completion_tokens=120, cost_usd=0.00074, cost_unknown_calls=0,
        policy_hash="4e06ad7a4edaf736")
    store.insert_events([
        {"session_id": S_MARKET, "seq": i + 1, "ts": start + i * 0.2, "kind": kind,
         "agent": agent, "to_agent": to, "content": content,
         "data": json.dumps(data) if data else None}
        for i, (kind, agent, to, content, data) in enumerate(market_events())
    ])
    store.close()
    return S_MARKET
