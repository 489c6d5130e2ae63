"""The audit chain: append-only entries, each hashing the one before it (SHA-256)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from workbench.mesh.events import TRANSIENT_KINDS, Kind
from workbench.store import chain
from workbench.store.chain import (
    CURRENT_FORMAT,
    FORMAT_JSON,
    FORMAT_PIPE,
    GENESIS,
    RangeResult,
    entry_hash,
    hash_input,  # noqa: F401  (part of this module's interface)
    verify_range,
    verify_rows,
)
from workbench.store.db import Store

#: How many entries make it worth checking the chain on several cores.
PARALLEL_MIN = 100_000
#: About how many entries this process checks while a worker process starts (~50 ms): its
#: own range is that much longer, so that every range ends at about the same time.
HEAD_START = 12_000
CHAIN_SCRIPT = Path(chain.__file__)

#: The triggers that make the table append-only, by the statement each refuses.
TRIGGERS = {"UPDATE": "audit_entry_no_update", "DELETE": "audit_entry_no_delete"}
#: PostgreSQL also has TRUNCATE, which no row trigger sees.
PG_TRIGGERS = {**TRIGGERS, "TRUNCATE": "audit_entry_no_truncate"}
#: Key of the PostgreSQL advisory lock that serialises appends ("wbaudit!").
PG_APPEND_LOCK = 0x7762617564697421


def canonical(payload: Any) -> str:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      default=str)


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


_INSERT = ("INSERT INTO audit_entry (seq, ts, session_id, actor, kind, payload, prev_hash, hash,"
           " hash_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)")
_SELECT_ALL = ("SELECT seq, ts, session_id, actor, kind, payload, prev_hash, hash, hash_format "
               "FROM audit_entry ORDER BY seq")


class AuditChain:
    """Appends to and verifies the chain. Appends from several processes stay one chain: the
    head is read and extended inside one write-locked transaction."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def append(self, records: list[AuditRecord]) -> str:
        """Append records in order; returns the new head hash. Raises if they could not be
        stored: nothing of the batch is kept then."""
        if not records:
            return self.head()[1]
        with self.store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                return self._append_sqlite(raw, records)
        return self._append_generic(records)

    @staticmethod
    def _rows(seq: int, prev: str, records: list[AuditRecord]) -> list[tuple[Any, ...]]:
        rows = []
        for r in records:
            seq += 1
            # a float, always: the hash must see what the REAL column gives back
            ts = float(r.ts or time.time())
            payload = canonical(r.payload)
            h = entry_hash(prev, seq, ts, r.session_id, r.actor, r.kind, payload)
            rows.append((seq, ts, r.session_id, r.actor, r.kind, payload, prev, h,
                         CURRENT_FORMAT))
            prev = h
        return rows

    def _append_sqlite(self, con: sqlite3.Connection, records: list[AuditRecord]) -> str:
        if con.in_transaction:
            con.commit()
        con.execute("BEGIN IMMEDIATE")
        try:
            row = con.execute(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1").fetchone()
            rows = self._rows(*((row[0], row[1]) if row else (0, GENESIS)), records)
            con.executemany(_INSERT, rows)
            con.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk does): the original error
            # is the one to report, not "no transaction is active"
            if con.in_transaction:
                con.execute("ROLLBACK")
            raise
        return rows[-1][7]

    def _append_generic(self, records: list[AuditRecord]) -> str:
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # one appender at a time, or two would extend the same head: a lock held
                # to the commit, taken before the head is read (readers are not blocked)
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"),
                             {"key": PG_APPEND_LOCK})
            # the head by the primary key's index: one row read, not a scan
            row = conn.execute(text(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
            rows = self._rows(*((row[0], row[1]) if row else (0, GENESIS)), records)
            conn.execute(text(
                "INSERT INTO audit_entry (seq, ts, session_id, actor, kind, payload, prev_hash,"
                " hash, hash_format) VALUES (:seq, :ts, :sid, :actor, :kind, :payload, :prev,"
                " :hash, :fmt)"),
                [dict(seq=r[0], ts=r[1], sid=r[2], actor=r[3], kind=r[4], payload=r[5],
                      prev=r[6], hash=r[7], fmt=r[8]) for r in rows])
        return rows[-1][7]

    def head(self) -> tuple[int, str]:
        with self.store.engine.connect() as conn:
            row = conn.execute(text(
                "SELECT seq, hash FROM audit_entry ORDER BY seq DESC LIMIT 1")).first()
        return (row[0], row[1]) if row else (0, GENESIS)

    def verify(self, expect_head: str | None = None, workers: int | None = None
               ) -> VerifyResult:
        """Recompute the chain and check the table is still append-only; names the first
        broken entry, or the missing trigger. A long SQLite chain is checked in ranges by
        `workers` processes (default: one per core, from PARALLEL_MIN entries)."""
        started = time.perf_counter()
        with self.store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                # the driver's own cursor: tuples, no per-row result objects (2x faster)
                outcome = self._verify_sqlite(raw, workers)
            else:  # streamed from a server-side cursor: a long chain is never all in memory
                outcome = verify_rows(conn.execution_options(stream_results=True,
                                                             yield_per=10_000)
                                      .exec_driver_sql(_SELECT_ALL))
            missing = missing_triggers(conn)
            # a head kept earlier is fine where entries were appended after it: it must still
            # be in the (verified) chain, or the tail it ended was cut off
            kept = expect_head and expect_head != outcome.head and conn.execute(text(
                "SELECT seq FROM audit_entry WHERE hash = :h"), {"h": expect_head}).first()
        elapsed = time.perf_counter() - started
        if not outcome.ok:
            return VerifyResult(False, outcome.entries, outcome.message, outcome.broken_seq,
                                outcome.broken_session, elapsed)
        prev = outcome.head
        if expect_head and expect_head != prev and not kept:
            return VerifyResult(False, outcome.entries, f"the head is {prev[:16]}…, not the "
                                f"expected {expect_head[:16]}… (entries removed from the end?)",
                                None, None, elapsed, prev)
        if missing:
            return VerifyResult(False, outcome.entries, "the table is no longer append-only: "
                                + "; ".join(missing), None, None, elapsed, prev, missing)
        return VerifyResult(True, outcome.entries, "ok", None, None, elapsed, prev)

    def _verify_sqlite(self, con: sqlite3.Connection, workers: int | None) -> RangeResult:
        # the last seq, not a count (a count reads every row): a gapless chain has as many
        # entries, and a gap is found by the check itself
        last = con.execute("SELECT max(seq) FROM audit_entry").fetchone()[0]
        if not last:
            return RangeResult(True, 0, GENESIS)
        n = _default_workers(last) if workers is None else workers
        uri = self.store.sqlite_uri(read_only=True)
        if n <= 1 or uri is None:
            return verify_range(con, 1, last)
        bounds = _ranges(last, n)
        procs = [subprocess.Popen(
            [sys.executable, "-S", "-E", str(CHAIN_SCRIPT), uri, str(a), str(b)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            for a, b in bounds[1:]]
        results = [verify_range(con, *bounds[0])]
        for proc, (a, b) in zip(procs, bounds[1:], strict=True):
            results.append(_collect(proc) or verify_range(con, a, b))
        return _join(con, results, bounds)


def _ranges(last: int, n: int) -> list[tuple[int, int]]:
    """Entries 1..last in `n` consecutive ranges, the first (checked here, with no process
    to start) longer by HEAD_START."""
    head = min(HEAD_START, last // (2 * n))
    size = -(-(last - head) // n)
    first = min(size + head, last)
    bounds = [(1, first)]
    bounds += [(a, min(a + size - 1, last)) for a in range(first + 1, last + 1, size)]
    return bounds


def _default_workers(entries: int) -> int:
    if entries < PARALLEL_MIN:
        return 1
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    return max(1, min(cores, 4, entries // (PARALLEL_MIN // 2)))


def _collect(proc: subprocess.Popen[bytes]) -> RangeResult | None:
    """A worker's result, or None when it failed (the range is then checked here)."""
    try:
        out, _ = proc.communicate(timeout=600)
        if proc.returncode == 0:
            return RangeResult(**json.loads(out))
    except Exception:
        proc.kill()
    return None


def _join(con: sqlite3.Connection, results: list[RangeResult],
          bounds: list[tuple[int, int]]) -> RangeResult:
    """One result for consecutive ranges: each must start on the head of the one before,
    and no format-1 entry may follow a format-2 one; the earliest problem is reported."""
    problems: list[tuple[int, str, str | None]] = []
    prev, total = GENESIS, 0
    for r, (first, _last) in zip(results, bounds, strict=True):
        if r.first_prev is not None and r.first_prev != prev:
            problems.append((first, f"entry {first} (session {r.first_session or '-'}, "
                             f"{r.first_kind}) does not match its hash", r.first_session))
        if not r.ok and r.broken_seq is not None:
            problems.append((r.broken_seq, r.message, r.broken_session))
        prev, total = r.head, total + r.entries
    firsts = [r.first_json for r in results if r.first_json is not None]
    if firsts and any(r.last_pipe is not None and r.last_pipe > min(firsts) for r in results):
        row = con.execute("SELECT seq, session_id, kind FROM audit_entry WHERE hash_format = ? "
                          "AND seq > ? ORDER BY seq LIMIT 1", (FORMAT_PIPE, min(firsts))
                          ).fetchone()
        if row:
            problems.append((row[0], f"entry {row[0]} (session {row[1] or '-'}, {row[2]}) has "
                             f"hash format {FORMAT_PIPE} after format {FORMAT_JSON} entries",
                             row[1]))
    if problems:
        seq, message, sid = min(problems, key=lambda p: p[0])
        return RangeResult(False, seq - 1, "", message, seq, sid)
    return RangeResult(True, total, prev)


_SPACES = re.compile(r"\s+")
#: The only trigger taken as a guard (lower case, spaces collapsed): before every UPDATE or
#: DELETE, unconditionally, abort. Anything more (a WHEN, a WHERE, a comment) is no guard.
_SQLITE_GUARD = re.compile(
    r"create trigger (?:if not exists )?(?:main ?\. ?)?(?:\w+|\"[^\"]+\"|`[^`]+`|\[[^\]]+\]) "
    r"before (update|delete) on (?:main ?\. ?)?(?:audit_entry|\"audit_entry\"|`audit_entry`"
    r"|\[audit_entry\]) (?:for each row )?begin ?select raise ?\( ?abort ?, ?'(?:[^']|'')*' ?\)"
    r" ?; ?end;?")
#: The PostgreSQL function's body that is a guard: raise, nothing else.
_PG_GUARD = re.compile(r"begin ?raise exception ?'(?:[^']|'')*' ?; ?end ?;?")


def missing_triggers(conn: Connection) -> list[str]:
    """What is missing of the triggers that refuse UPDATE and DELETE on the audit table."""
    dialect = conn.dialect.name
    if dialect == "sqlite":
        found: dict[str, str] = {}
        for name, sql in conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
                "AND tbl_name = 'audit_entry'"):
            # the whole definition, not words found in it: a RAISE(ABORT) that never runs
            # (`SELECT RAISE(ABORT, 'x') WHERE 0`, or one in a comment) refuses nothing
            guard = _SQLITE_GUARD.fullmatch(_SPACES.sub(" ", (sql or "").lower()).strip())
            if guard:
                found.setdefault(guard.group(1).upper(), name)
    elif dialect == "postgresql":
        return _missing_pg_triggers(conn)
    else:  # no trigger was ever made there: nothing to compare with
        return []
    return [f"the trigger refusing {statement} ({name}) is missing"
            for statement, name in TRIGGERS.items() if statement not in found]


#: pg_trigger.tgtype bits: BEFORE, and the statement each trigger fires on.
_PG_BEFORE = 2
_PG_EVENTS = {"DELETE": 8, "UPDATE": 16, "TRUNCATE": 32}


def _missing_pg_triggers(conn: Connection) -> list[str]:
    """PostgreSQL's catalog, not information_schema: a trigger that is disabled, fires only
    WHEN some condition holds, or calls a function that no longer raises refuses nothing."""
    found: dict[str, str] = {}
    for name, tgtype, enabled, unconditional, body, language in conn.exec_driver_sql(
            "SELECT t.tgname, t.tgtype, t.tgenabled, t.tgqual IS NULL, p.prosrc, l.lanname "
            "FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid "
            "JOIN pg_language l ON l.oid = p.prolang "
            "WHERE t.tgrelid = to_regclass('audit_entry') AND NOT t.tgisinternal"):
        # the whole body, not words in it: `IF false THEN RAISE EXCEPTION ...` refuses nothing
        raises = language == "plpgsql" and bool(
            _PG_GUARD.fullmatch(_SPACES.sub(" ", (body or "").lower()).strip()))
        # 'O' fires in ordinary sessions, 'A' in every one; 'D' is disabled, 'R' only
        # fires on a replica
        if not (tgtype & _PG_BEFORE and str(enabled) in ("O", "A") and unconditional
                and raises):
            continue
        for statement, bit in _PG_EVENTS.items():
            if tgtype & bit:
                found.setdefault(statement, name)
    return [f"the trigger refusing {statement} ({name}) is missing"
            for statement, name in PG_TRIGGERS.items() if statement not in found]


@dataclass(slots=True)
class VerifyResult:
    ok: bool
    entries: int
    message: str
    broken_seq: int | None
    broken_session: str | None
    seconds: float
    head: str = ""
    missing_triggers: list[str] = field(default_factory=list)


def _clean(value: Any, redactor: Any) -> Any:
    if isinstance(value, str):
        return redactor(value)[0]
    if isinstance(value, dict):
        return {k: _clean(v, redactor) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v, redactor) for v in value]
    return value


def _run_started(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    payload = {"crew": d.get("crew"), "engine": d.get("engine"), "topology": d.get("topology"),
               "policy_hash": d.get("policy_hash"), "task": _clean(e.content or "", redactor)}
    if d.get("forked_from"):  # a fork: which session (and step) its first calls came from
        payload["forked_from"] = d["forked_from"]
    return payload


def _run_ended(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    payload = {k: d.get(k) for k in ("status", "turns", "prompt_tokens", "completion_tokens",
                                     "cost_usd", "model_calls", "tool_calls")}
    payload["result_sha256"] = digest(e.content or "")
    if e.kind == Kind.RUN_FAILED:
        payload["reason"] = _clean(e.content or "", redactor)
    return payload


def _policy_decision(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    return {k: d.get(k) for k in ("action", "effect", "rule_ids", "reasons", "policy_hash",
                                  "lifted")}


def _approval_requested(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    return {"approval_id": d.get("approval_id"), "tool": d.get("tool"),
            "args": _clean(d.get("args") or {}, redactor), "rule_ids": d.get("rule_ids"),
            "reason": e.content}


def _tool_result(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    return {"tool": d.get("tool"), "call_id": d.get("call_id"), "ok": d.get("ok"),
            "args": _clean(d.get("args") or {}, redactor),
            "result_sha256": digest(e.content or "")}


def _model_call(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    payload = {k: d.get(k) for k in ("provider", "model", "purpose", "prompt_tokens",
                                     "completion_tokens", "cost_usd", "prompt_sha256",
                                     "response_sha256")}
    # answered from a recording (no provider saw it), or chosen by a routing rule
    payload.update({k: d[k] for k in ("replayed", "route") if d.get(k)})
    return payload


def _fork_diverged(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    return {"agent": e.agent, "source": d.get("source"), "source_seq": d.get("source_seq"),
            "call": d.get("call"), "reason": _clean(e.content or "", redactor)}


def _task_awarded(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    return {"task_id": d.get("task_id"), "capability": d.get("capability"),
            "award": d.get("award"), "winner": d.get("winner"),
            "title": _clean(d.get("title") or "", redactor)}


def _human(e: Any, d: dict[str, Any], redactor: Any) -> dict[str, Any]:
    # a person's turn: who answered and how (the answer itself is the agent's message)
    payload = {k: d.get(k) for k in ("question_id", "ask", "by", "how", "accepted",
                                     "answer_sha256") if k in d}
    payload["agent"] = e.agent
    if e.kind == Kind.HUMAN_SKIPPED:
        payload["reason"] = _clean(e.content or "", redactor)
    elif e.kind == Kind.HUMAN_REQUESTED:
        payload["question_sha256"] = digest(e.content or "")
    return payload


#: The kinds the chain keeps, each with what of it enters the chain; the others (messages,
#: tool requests, handoffs: their text is in the events) are not chained.
AUDITED: dict[str, Callable[[Any, dict[str, Any], Any], dict[str, Any]]] = {
    Kind.RUN_STARTED: _run_started,
    Kind.RUN_COMPLETED: _run_ended,
    Kind.RUN_FAILED: _run_ended,
    Kind.POLICY_DECISION: _policy_decision,
    Kind.APPROVAL_REQUESTED: _approval_requested,
    Kind.TOOL_RESULT: _tool_result,
    Kind.MODEL_CALL: _model_call,
    Kind.FORK_DIVERGED: _fork_diverged,
    Kind.TASK_AWARDED: _task_awarded,
    Kind.HUMAN_REQUESTED: _human,
    Kind.HUMAN_ANSWERED: _human,
    Kind.HUMAN_SKIPPED: _human,
}


def record_for(event: Any, redactor: Any) -> AuditRecord | None:
    """The audit entry for a run event, or None for kinds the chain does not keep.

    Free text (arguments, errors, the task) is redacted; prompts, responses and tool
    results enter only as SHA-256 digests.
    """
    build = AUDITED.get(event.kind)
    if build is None:
        return None
    d = event.data
    actor = event.agent or "workbench"
    if event.kind == Kind.HUMAN_ANSWERED:  # the person who answered acts, not the agent
        actor = str(d.get("by") or actor)
    return AuditRecord(event.session_id, actor, str(event.kind), build(event, d, redactor),
                       event.ts)


class AuditWriter:
    """Subscribe `writer.put` to a bus: the kept kinds are chained in batches."""

    #: What a failure of this writer loses, for the run's failure reason.
    what = "the audit trail"

    def __init__(self, store: Store, redactor: Any,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        from workbench.store.writer import BatchWriter

        chain = AuditChain(store)
        self._writer = BatchWriter(chain.append, lambda e: record_for(e, redactor),
                                   interval=0.05, name="audit-writer", on_error=on_error)

    def put(self, event: Any) -> None:
        if event.kind not in TRANSIENT_KINDS:
            self._writer.put(event)

    @property
    def on_error(self) -> Callable[[BaseException], None] | None:
        return self._writer.on_error

    @on_error.setter
    def on_error(self, callback: Callable[[BaseException], None] | None) -> None:
        self._writer.on_error = callback

    @property
    def error(self) -> BaseException | None:
        return self._writer.error

    @property
    def written(self) -> int:
        return self._writer.written

    @property
    def backlog(self) -> int:
        return self._writer.backlog

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every entry put so far is in the chain; False if a write failed."""
        return self._writer.flush(timeout)

    def close(self) -> None:
        self._writer.close()
