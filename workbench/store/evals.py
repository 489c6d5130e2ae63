"""Eval results in the store: eval runs, their case runs (linked to sessions) and checks."""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy import (
    Column,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    func,
    select,
    update,
)

from workbench.errors import UserInputError
from workbench.store.db import Store

#: The tables of migration 0007, described here for queries (the migration creates them).
_META = MetaData()
EVAL_RUNS = Table(
    "eval_run", _META,
    Column("id", String, primary_key=True),
    Column("crew_name", String, nullable=False),
    Column("crew_snapshot_id", Integer),
    Column("cases_path", Text, nullable=False),
    Column("cases_digest", String, nullable=False),
    Column("model", String),
    Column("repeat", Integer, nullable=False),
    Column("concurrency", Integer, nullable=False),
    Column("status", String, nullable=False),
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Column("cases", Integer, nullable=False),
    Column("runs", Integer, nullable=False),
    Column("passed", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("cost_unknown_calls", Integer, nullable=False),
)
EVAL_CASES = Table(
    "eval_case", _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("eval_id", String, ForeignKey("eval_run.id"), nullable=False),
    Column("case_id", String, nullable=False),
    Column("position", Integer, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("session_id", String),
    Column("status", String, nullable=False),
    Column("error", Text),
    Column("task", Text, nullable=False),
    Column("checks_passed", Integer, nullable=False),
    Column("checks_total", Integer, nullable=False),
    Column("turns", Integer, nullable=False),
    Column("tokens", Integer, nullable=False),
    Column("cost_usd", Float, nullable=False),
    Column("cost_unknown_calls", Integer, nullable=False),
    Column("elapsed_s", Float, nullable=False),
    Column("ended_at", Float, nullable=False),
)
EVAL_CHECKS = Table(
    "eval_check", _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("eval_case_id", Integer, ForeignKey("eval_case.id"), nullable=False),
    Column("idx", Integer, nullable=False),
    Column("kind", String, nullable=False),
    Column("label", Text, nullable=False),
    Column("spec", Text, nullable=False),
    Column("outcome", String, nullable=False),
    Column("detail", Text, nullable=False),
    Column("score", Float),
    Column("reason", Text),
    Column("judge_session_id", String),
)

_CASE_KEYS = ("case_id", "position", "attempt", "session_id", "status", "error", "task",
              "checks_passed", "checks_total", "turns", "tokens", "cost_usd",
              "cost_unknown_calls", "elapsed_s")
_CHECK_KEYS = ("idx", "kind", "label", "outcome", "detail", "score", "reason",
               "judge_session_id")


def create_eval(store: Store, eval_id: str, **values: Any) -> None:
    """A new eval run, `running` until `finish_eval`."""
    row = dict(id=eval_id, status="running", started_at=time.time(), ended_at=None, cases=0,
               runs=0, passed=0, cost_usd=0.0, cost_unknown_calls=0, model=None,
               crew_snapshot_id=None)
    row.update(values)
    with store.engine.begin() as conn:
        conn.execute(EVAL_RUNS.insert().values(**row))


def add_case_result(store: Store, eval_id: str, case: dict[str, Any],
                    checks: list[dict[str, Any]]) -> int:
    """Store one case run and its checks in one transaction; returns the case row's id.

    `case` has the keys of an eval_case row (without ids); each check those of an
    eval_check row, with `spec` the check as written (a mapping).
    """
    values = {k: case.get(k) for k in _CASE_KEYS}
    values.update(eval_id=eval_id, ended_at=time.time())
    with store.engine.begin() as conn:
        case_pk = conn.execute(EVAL_CASES.insert().values(**values)).inserted_primary_key[0]
        if checks:
            conn.execute(EVAL_CHECKS.insert(), [
                {**{k: c.get(k) for k in _CHECK_KEYS}, "eval_case_id": case_pk,
                 "spec": json.dumps(c.get("spec") or {}, ensure_ascii=False, default=str)}
                for c in checks])
    return case_pk


def finish_eval(store: Store, eval_id: str, status: str) -> dict[str, Any]:
    """Close an eval run: its status and the totals of the case runs stored for it."""
    with store.engine.begin() as conn:
        runs, passed, cost, unknown, cases = conn.execute(
            select(func.count(), func.sum((EVAL_CASES.c.status == "passed").cast(Integer)),
                   func.coalesce(func.sum(EVAL_CASES.c.cost_usd), 0.0),
                   func.coalesce(func.sum(EVAL_CASES.c.cost_unknown_calls), 0),
                   func.count(func.distinct(EVAL_CASES.c.case_id)))
            .where(EVAL_CASES.c.eval_id == eval_id)).one()
        conn.execute(update(EVAL_RUNS).where(EVAL_RUNS.c.id == eval_id).values(
            status=status, ended_at=time.time(), runs=runs, passed=passed or 0,
            cost_usd=float(cost or 0.0), cost_unknown_calls=int(unknown or 0), cases=cases))
    return get_eval_row(store, eval_id)


def list_evals(store: Store, limit: int = 50, crew: str | None = None) -> list[dict[str, Any]]:
    """Eval runs, newest first."""
    q = select(EVAL_RUNS).order_by(EVAL_RUNS.c.started_at.desc()).limit(limit)
    if crew:
        q = q.where(EVAL_RUNS.c.crew_name == crew)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]


def get_eval_row(store: Store, eval_id: str) -> dict[str, Any]:
    """An eval run by id or by a unique prefix of it; unknown or ambiguous: UserInputError."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(EVAL_RUNS).where(EVAL_RUNS.c.id.like(f"{eval_id}%"))
                            .limit(2)).all()
    if not rows:
        raise UserInputError(f"no eval {eval_id!r}; see `workbench eval list`")
    if len(rows) > 1 and rows[0]._mapping["id"] != eval_id:
        raise UserInputError(f"eval id {eval_id!r} is ambiguous; give more of it")
    return dict(rows[0]._mapping)


def get_eval(store: Store, eval_id: str) -> dict[str, Any]:
    """An eval run with its case runs (in case order, then attempt), each with its checks."""
    run = get_eval_row(store, eval_id)
    with store.engine.connect() as conn:
        cases = [dict(r._mapping) for r in conn.execute(
            select(EVAL_CASES).where(EVAL_CASES.c.eval_id == run["id"])
            .order_by(EVAL_CASES.c.id))]
        checks = [dict(r._mapping) for r in conn.execute(
            select(EVAL_CHECKS).join(EVAL_CASES, EVAL_CHECKS.c.eval_case_id == EVAL_CASES.c.id)
            .where(EVAL_CASES.c.eval_id == run["id"])
            .order_by(EVAL_CHECKS.c.eval_case_id, EVAL_CHECKS.c.idx))]
    by_case: dict[int, list[dict[str, Any]]] = {}
    for c in checks:
        c["spec"] = json.loads(c["spec"]) if c["spec"] else {}
        by_case.setdefault(c["eval_case_id"], []).append(c)
    for case in cases:
        case["checks"] = by_case.get(case["id"], [])
    cases.sort(key=lambda c: (c["position"], c["attempt"]))
    run["case_runs"] = cases
    return run


def list_evals_with_versions(store: Store, limit: int = 200,
                             crew: str | None = None) -> list[dict[str, Any]]:
    """Eval runs newest first, each with its crew file's version (`version`: 1 for the first
    version of that crew this database saw, 0 when no snapshot was kept) and `digest`."""
    runs = list_evals(store, limit, crew)
    versions = snapshot_versions(store, {r["crew_snapshot_id"] for r in runs})
    for r in runs:
        r["version"], r["digest"] = versions.get(r["crew_snapshot_id"], (0, ""))
    return runs


def snapshot_versions(store: Store, ids: set[int | None]) -> dict[int, tuple[int, str]]:
    """Crew snapshot id -> (its version among the snapshots of its crew's name, its digest)."""
    from sqlalchemy import bindparam, text

    wanted = sorted(i for i in ids if i is not None)
    if not wanted:
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(text(
            "SELECT c.id, c.digest, (SELECT count(*) FROM crew_snapshot o "
            "WHERE o.name = c.name AND o.id <= c.id) FROM crew_snapshot c "
            "WHERE c.id IN :ids").bindparams(bindparam("ids", expanding=True)),
            {"ids": wanted}).all()
    return {i: (int(n), digest) for i, digest, n in rows}


def pass_rate_history(store: Store, crew: str | None = None,
                      limit: int = 1000) -> list[dict[str, Any]]:
    """Finished eval runs oldest first, one row each: crew, crew version and digest, when it
    started, runs, passed and pass rate (None for an eval that ran nothing). The pass rate
    per crew version over time is this list grouped by (crew, version)."""
    q = (select(EVAL_RUNS.c.id, EVAL_RUNS.c.crew_name, EVAL_RUNS.c.crew_snapshot_id,
                EVAL_RUNS.c.started_at, EVAL_RUNS.c.runs, EVAL_RUNS.c.passed,
                EVAL_RUNS.c.status, EVAL_RUNS.c.cost_usd, EVAL_RUNS.c.cost_unknown_calls)
         .where(EVAL_RUNS.c.status != "running")
         .order_by(EVAL_RUNS.c.started_at.desc()).limit(limit))
    if crew:
        q = q.where(EVAL_RUNS.c.crew_name == crew)
    with store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(q)]
    rows.reverse()
    versions = snapshot_versions(store, {r["crew_snapshot_id"] for r in rows})
    for r in rows:
        r["version"], r["digest"] = versions.get(r["crew_snapshot_id"], (0, ""))
        r["pass_rate"] = r["passed"] / r["runs"] if r["runs"] else None
    return rows
