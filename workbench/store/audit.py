"""The audit chain: append-only entries, each hashing the one before it (SHA-256)."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from workbench.store.db import Store

GENESIS = "0" * 64


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


def entry_hash(prev_hash: str, seq: int, ts: float, session_id: str | None, actor: str,
               kind: str, payload: str) -> str:
    """SHA-256 over the previous hash and the entry's canonical form (payload kept verbatim)."""
    body = f"{prev_hash}|{seq}|{ts!r}|{session_id or ''}|{actor}|{kind}|{payload}"
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def digest(value: Any) -> str:
    data = value if isinstance(value, str) else canonical(value)
    return hashlib.sha256(data.encode("utf-8")).hexdigest()


@dataclass(slots=True)
class AuditRecord:
    session_id: str | None
    actor: str
    kind: str
    payload: dict[str, Any]
    ts: float = 0.0


class AuditChain:
    """Appends to and verifies the chain. Appends from several processes stay one chain: the
    head is read and extended inside one write-locked transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, records: list[AuditRecord]) -> str:
        """Append records in order; returns the new head hash."""
        if not records:
            return self.head()[1]
        with self.store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                return self._append_sqlite(raw, records)
        return self._append_generic(records)

    def _append_sqlite(self, con: sqlite3.Connection, records: list[AuditRecord]) -> str:
        in_tx = con.in_transaction
        if in_tx:
            con.commit()
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1").fetchone()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            rows = []
            for r in records:
                seq += 1
                ts = r.ts or time.time()
                payload = canonical(r.payload)
                h = entry_hash(prev, seq, ts, r.session_id, r.actor, r.kind, payload)
                rows.append((seq, ts, r.session_id, r.actor, r.kind, payload, prev, h))
                prev = h
            con.executemany(
                "INSERT INTO audit_entry (seq, ts, session_id, actor, kind, payload, prev_hash,"
                " hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
        return prev

    def _append_generic(self, records: list[AuditRecord]) -> str:
        with self.store.engine.begin() as conn:
            row = conn.execute(text(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
            seq, prev = (row[0], row[1]) if row else (0, GENESIS)
            for r in records:
                seq += 1
                ts = r.ts or time.time()
                payload = canonical(r.payload)
                h = entry_hash(prev, seq, ts, r.session_id, r.actor, r.kind, payload)
                conn.execute(text(
                    "INSERT INTO audit_entry (seq, ts, session_id, actor, kind, payload, "
                    "prev_hash, hash) VALUES (:seq, :ts, :sid, :actor, :kind, :payload, :prev, "
                    ":hash)"), dict(seq=seq, ts=ts, sid=r.session_id, actor=r.actor,
                                    kind=r.kind, payload=payload, prev=prev, hash=h))
                prev = h
        return prev

    def head(self) -> tuple[int, str]:
        with self.store.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
        return (row[0], row[1]) if row else (0, GENESIS)

    def verify(self, expect_head: str | None = None) -> VerifyResult:
        """Recompute the chain; names the first broken entry."""
        started = time.perf_counter()
        prev, expected_seq, count = GENESIS, 1, 0
        sha = hashlib.sha256
        with self.store.engine.connect() as conn:
            cur = conn.exec_driver_sql(
                "SELECT seq, ts, session_id, actor, kind, payload, prev_hash, hash "
                "FROM audit_entry ORDER BY seq")
            for seq, ts, sid, actor, kind, payload, prev_hash, h in cur:
                if seq != expected_seq:
                    return VerifyResult(False, count, f"entry {expected_seq} is missing "
                                        f"(next is {seq})", expected_seq, None,
                                        time.perf_counter() - started)
                body = f"{prev}|{seq}|{ts!r}|{sid or ''}|{actor}|{kind}|{payload}"
                if prev_hash != prev or sha(body.encode()).hexdigest() != h:
                    return VerifyResult(False, count, f"entry {seq} (session {sid or '-'}, "
                                        f"{kind}) does not match its hash", seq, sid,
                                        time.perf_counter() - started)
                prev, expected_seq, count = h, expected_seq + 1, count + 1
        elapsed = time.perf_counter() - started
        if expect_head and expect_head != prev:
            return VerifyResult(False, count, f"the head is {prev[:16]}…, not the expected "
                                f"{expect_head[:16]}… (entries removed from the end?)",
                                None, None, elapsed, prev)
        return VerifyResult(True, count, "ok", None, None, elapsed, prev)


@dataclass(slots=True)
class VerifyResult:
    ok: bool
    entries: int
    message: str
    broken_seq: int | None
    broken_session: str | None
    seconds: float
    head: str = ""


def _clean(value: Any, redactor: Any) -> Any:
    if isinstance(value, str):
        return redactor(value)[0]
    if isinstance(value, dict):
        return {k: _clean(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, redactor) for v in value]
    return value


def record_for(event: Any, redactor: Any) -> AuditRecord | None:
    """The audit entry for a run event, or None for kinds the chain does not keep.

    Free text (arguments, errors, the task) is redacted; prompts, responses and tool
    results enter only as SHA-256 digests.
    """
    d = event.data
    kind = event.kind
    actor = event.agent or "workbench"
    if kind == "run.started":
        payload = {"crew": d.get("crew"), "engine": d.get("engine"),
                   "topology": d.get("topology"), "policy_hash": d.get("policy_hash"),
                   "task": _clean(event.content or "", redactor)}
    elif kind in ("run.completed", "run.failed"):
        payload = {k: d.get(k) for k in ("status", "turns", "prompt_tokens",
                                         "completion_tokens", "cost_usd", "model_calls",
                                         "tool_calls")}
        payload["result_sha256"] = digest(event.content or "")
        if kind == "run.failed":
            payload["reason"] = _clean(event.content or "", redactor)
    elif kind == "policy.decision":
        payload = {k: d.get(k) for k in ("action", "effect", "rule_ids", "reasons",
                                         "policy_hash", "lifted")}
    elif kind == "approval.requested":
        payload = {"approval_id": d.get("approval_id"), "tool": d.get("tool"),
                   "args": _clean(d.get("args") or {}, redactor),
                   "rule_ids": d.get("rule_ids"), "reason": event.content}
    elif kind == "tool.result":
        payload = {"tool": d.get("tool"), "call_id": d.get("call_id"), "ok": d.get("ok"),
                   "args": _clean(d.get("args") or {}, redactor),
                   "result_sha256": digest(event.content or "")}
    elif kind == "model.call":
        payload = {k: d.get(k) for k in ("provider", "model", "purpose", "prompt_tokens",
                                         "completion_tokens", "cost_usd", "prompt_sha256",
                                         "response_sha256")}
    else:
        return None
    return AuditRecord(event.session_id, actor, kind, payload, event.ts)


class AuditWriter:
    """Subscribe `writer.put` to a bus: the kept kinds are chained in batches."""

    def __init__(self, store: Store, redactor: Any) -> None:
        from workbench.store.writer import BatchWriter

        chain = AuditChain(store)
        self._writer = BatchWriter(chain.append, lambda e: record_for(e, redactor),
                                   interval=0.05, name="audit-writer")

    def put(self, event: Any) -> None:
        if event.kind != "message.delta":
            self._writer.put(event)

    @property
    def error(self) -> BaseException | None:
        return self._writer.error

    def close(self) -> None:
        self._writer.close()
