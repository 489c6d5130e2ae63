"""Recorded model exchanges: each call of a session as sent and as answered, written in
batches off the run's loop, read back for forks, and purged on request.

A request's messages are stored as what differs from the previous call of the same agent
and purpose (`base_seq` and `keep`: the first `keep` messages are that call's), so a long
conversation costs its length once, not once per turn. Keys and api_base never enter:
only the model, the messages as sent, the tools offered and the call parameters do (and
of those, none whose name says it is a credential).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
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
    delete,
    func,
    select,
)

from workbench.gateway.credentials import without_sensitive
from workbench.store.db import EVENTS, Store
from workbench.store.writer import BatchWriter

#: The table of migration 0009, described here for queries (the migration creates it).
_META = MetaData()
EXCHANGES = Table(
    "exchange", _META,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("session_id", String, ForeignKey("session.id"), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("ts", Float, nullable=False),
    Column("agent", String, nullable=False),
    Column("purpose", String, nullable=False),
    Column("call_index", Integer, nullable=False),
    Column("model", String, nullable=False),
    Column("provider", String, nullable=False),
    Column("replayed", String),
    Column("base_seq", Integer),
    Column("keep", Integer, nullable=False),
    Column("messages", Text, nullable=False),
    Column("request", Text, nullable=False),
    Column("response", Text, nullable=False),
)

def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str, separators=(",", ":"))


def safe_params(params: dict[str, Any]) -> dict[str, Any]:
    """Call parameters fit to record: every entry whose name may hold a credential (or an
    address that may) left out, at any depth."""
    return without_sensitive(params)


@dataclass(slots=True)
class Exchange:
    """One exchange as the run hands it over (taken on the loop, encoded by the writer)."""

    seq: int
    ts: float
    agent: str
    purpose: str
    call_index: int
    model: str
    provider: str
    replayed: str | None
    messages: list[dict[str, Any]]
    request: dict[str, Any]
    response: dict[str, Any]


class Recorder(BatchWriter):
    """Writes a session's exchanges in one transaction per batch, from its own thread.

    `put(exchange)` is a bare append; a failed write goes to `on_error` (the session stops
    the run: nothing goes on unrecorded), like the event and audit writers.
    """

    #: What a failure of this writer loses, for the run's failure reason.
    what = "the run's model exchanges"

    def __init__(self, store: Store, session_id: str, interval: float = 0.05,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.session_id = session_id
        #: Each conversation's last stored messages and the seq they were stored at.
        self._last: dict[tuple[str, str], tuple[int, list[dict[str, Any]]]] = {}

        def sink(rows: list[dict[str, Any]]) -> None:
            with store.engine.begin() as conn:
                conn.execute(EXCHANGES.insert(), rows)

        super().__init__(sink, self._row, interval, 5000, "exchange-writer", on_error)

    def _row(self, x: Exchange) -> dict[str, Any]:
        """The exchange as a row: its messages as the change from its conversation's last."""
        key = (x.agent, x.purpose)
        messages = x.messages
        last = self._last.get(key)
        base, keep = None, 0
        if last is not None:
            prev = last[1]
            n = min(len(prev), len(messages))
            # the same message objects compare by identity (cheap), others by value
            if messages[:n] == prev[:n]:
                keep = n
            else:
                while keep < n and messages[keep] == prev[keep]:
                    keep += 1
            if keep:
                base = last[0]
        self._last[key] = (x.seq, messages)
        return {"session_id": self.session_id, "seq": x.seq, "ts": x.ts, "agent": x.agent,
                "purpose": x.purpose, "call_index": x.call_index, "model": x.model,
                "provider": x.provider, "replayed": x.replayed, "base_seq": base,
                "keep": keep, "messages": _dumps(messages[keep:]),
                "request": _dumps(x.request), "response": _dumps(x.response)}


# -- reads ----------------------------------------------------------------------------------


@dataclass(slots=True)
class RecordedAnswer:
    """What a fork needs of one recorded exchange: where it was, whose call, the answer."""

    seq: int
    agent: str
    purpose: str
    call_index: int
    model: str
    provider: str
    response: dict[str, Any]


def count_exchanges(store: Store, session_id: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(EXCHANGES)
                            .where(EXCHANGES.c.session_id == session_id)).scalar_one()


def load_answers(store: Store, session_id: str,
                 before_seq: int | None = None) -> list[RecordedAnswer]:
    """A session's recorded answers in seq order (those before `before_seq` only, if given);
    the requests' messages are not read."""
    c = EXCHANGES.c
    query = (select(c.seq, c.agent, c.purpose, c.call_index, c.model, c.provider, c.response)
             .where(c.session_id == session_id).order_by(c.seq))
    if before_seq is not None:
        query = query.where(c.seq < before_seq)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    return [RecordedAnswer(r[0], r[1], r[2], r[3], r[4], r[5], json.loads(r[6])) for r in rows]


def iter_exchanges(store: Store, session_id: str) -> Iterator[dict[str, Any]]:
    """A session's exchanges in seq order, each with its request's messages whole again."""
    c = EXCHANGES.c
    with store.engine.connect() as conn:
        rows = conn.execute(select(EXCHANGES).where(c.session_id == session_id)
                            .order_by(c.seq)).all()
    whole: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        row = dict(r._mapping)
        added = json.loads(row.pop("messages"))
        base = whole.get(row["base_seq"], []) if row["base_seq"] is not None else []
        messages = base[:row["keep"]] + added
        whole[row["seq"]] = messages
        row["request"] = {**json.loads(row["request"]), "model": row["model"],
                          "messages": messages}
        row["response"] = json.loads(row["response"])
        yield row


def recorded_tool_results(store: Store, session_id: str,
                          before_seq: int | None = None) -> list[dict[str, Any]]:
    """The tool results of a session that ran (denied, rejected or unknown ones did not),
    in seq order: tool, args, ok, output."""
    c = EVENTS.c
    query = (select(c.seq, c.content, c.data)
             .where(c.session_id == session_id, c.kind == "tool.result").order_by(c.seq))
    if before_seq is not None:
        query = query.where(c.seq < before_seq)
    with store.engine.connect() as conn:
        rows = conn.execute(query).all()
    out = []
    for seq, content, data in rows:
        d = json.loads(data) if data else {}
        if d.get("ran") is False:
            continue
        out.append({"seq": seq, "tool": d.get("tool"), "args": d.get("args") or {},
                    "ok": bool(d.get("ok")), "output": content or ""})
    return out


# -- purge ----------------------------------------------------------------------------------


def purge(store: Store, session_id: str, actor: str = "workbench") -> int:
    """Delete a session's recorded exchanges; returns how many. Its events and its audit
    entries stay (the audit keeps digests, never the text), and the purge itself is
    appended to the audit chain."""
    from workbench.store.audit import AuditChain, AuditRecord

    with store.engine.begin() as conn:
        deleted = conn.execute(delete(EXCHANGES).where(EXCHANGES.c.session_id == session_id)
                               ).rowcount or 0
    AuditChain(store).append([AuditRecord(session_id, actor, "recording.purged",
                                          {"exchanges": deleted}, time.time())])
    return deleted
