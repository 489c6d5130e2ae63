"""Stored evals read for the TUI: each run's crew version, and the pass rate history."""

from __future__ import annotations

from pathlib import Path

from workbench.store.db import Store
from workbench.store.evals import (
    add_case_result,
    create_eval,
    finish_eval,
    list_evals_with_versions,
    pass_rate_history,
)


def _case(status: str, n: int) -> dict:
    return {"case_id": f"c{n}", "position": n, "attempt": 1, "session_id": None,
            "status": status, "task": "t", "checks_passed": 0, "checks_total": 0, "turns": 1,
            "tokens": 1, "cost_usd": 0.0, "cost_unknown_calls": 0, "elapsed_s": 0.1}


def _eval(store: Store, eval_id: str, crew: str, snapshot: int | None, started: float,
          statuses: list[str], finish: bool = True) -> None:
    create_eval(store, eval_id, crew_name=crew, crew_snapshot_id=snapshot, cases_path="c.yaml",
                cases_digest="d", repeat=1, concurrency=1, started_at=started)
    for n, status in enumerate(statuses):
        add_case_result(store, eval_id, _case(status, n), [])
    if finish:
        finish_eval(store, eval_id, "completed")


def test_pass_rate_history_per_crew_version(tmp_path: Path) -> None:
    store = Store(f"sqlite:///{tmp_path / 'w.db'}")
    v1 = store.snapshot_crew("crew", "crew.yaml", "name: crew\n")
    other = store.snapshot_crew("other", "other.yaml", "name: other\n")
    v2 = store.snapshot_crew("crew", "crew.yaml", "name: crew\ndescription: edited\n")
    _eval(store, "e1", "crew", v1, 100.0, ["passed", "failed"])
    _eval(store, "e2", "other", other, 150.0, ["passed"])
    _eval(store, "e3", "crew", v2, 200.0, ["passed", "passed"])
    _eval(store, "e4", "crew", v2, 300.0, [])  # stopped before any case ran
    _eval(store, "e5", "crew", v2, 400.0, ["passed"], finish=False)  # still running

    history = pass_rate_history(store, crew="crew")
    # oldest first, the running eval left out; versions count per crew name
    assert [(r["id"], r["version"], r["pass_rate"]) for r in history] == [
        ("e1", 1, 0.5), ("e3", 2, 1.0), ("e4", 2, None)]
    assert history[0]["digest"] and history[0]["digest"] != history[1]["digest"]
    assert {r["crew_name"] for r in pass_rate_history(store)} == {"crew", "other"}
    assert next(r for r in pass_rate_history(store) if r["id"] == "e2")["version"] == 1

    listed = list_evals_with_versions(store)
    assert [(r["id"], r["version"]) for r in listed] == [
        ("e5", 2), ("e4", 2), ("e3", 2), ("e2", 1), ("e1", 1)]
    store.close()
