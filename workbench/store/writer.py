"""Batched writers: events from the bus go to the database in one transaction per flush."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from itertools import chain
from typing import Any

from workbench.mesh.events import TRANSIENT_KINDS, Event
from workbench.store.db import Store

log = logging.getLogger(__name__)

_STOP = object()


class _Barrier:
    """Put in the queue by `flush()`: set once everything queued before it was handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()




def _json_encoder() -> Callable[[Any], str]:
    """`json.dumps(value, default=str, separators=(",", ":"))`, the same text, made once.

    `json.dumps` (and `JSONEncoder.encode`) builds the C encoder again on every call, which
    costs more than encoding a small event's data; this builds it once.
    """
    slow = json.JSONEncoder(default=str, separators=(",", ":")).encode
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:  # a Python without the C accelerator
        return slow
    # no circular-reference markers: state kept across calls could go stale after an error;
    # a circular value still fails (RecursionError), as it did
    chunks = make(None, str, json.encoder.encode_basestring_ascii, None, ":", ",", False,
                  False, True)
    join = "".join

    def encode(value: Any) -> str:
        return join(chunks(value, 0))

    return encode


_encode = _json_encoder()
_COLUMNS = ("session_id", "seq", "ts", "kind", "agent", "to_agent", "content", "data")
_VALUES = f"({', '.join('?' * len(_COLUMNS))})"
_INSERT = f"INSERT INTO event ({', '.join(_COLUMNS)}) VALUES {_VALUES}"
#: Rows per statement when a batch is large: one statement for many rows costs SQLite less
#: per row, and the driver lets go of the GIL once per statement, not once per row (so the
#: run's threads are not held up by the writer, nor the writer by them).
_PER_STATEMENT = 100
_INSERT_MANY = f"{_INSERT},{','.join([_VALUES] * (_PER_STATEMENT - 1))}"


def _row(e: Event) -> tuple[Any, ...] | None:
    """An event as the columns of its row (in `_COLUMNS` order); None for a transient one."""
    kind = e.kind
    if kind in TRANSIENT_KINDS:
        return None
    data = e.data
    return (e.session_id, e.seq, e.ts, kind, e.agent, e.to, e.content,
            _encode(data) if data else None)


def insert_rows(store: Store) -> Callable[[list[tuple[Any, ...]]], None]:
    """The sink that stores rows made by `_row`, in one transaction per batch.

    On SQLite straight through the driver (a third of the cost of SQLAlchemy's per-row
    parameter handling); elsewhere through `Store.insert_event_rows`.
    """
    def insert(rows: list[tuple[Any, ...]]) -> None:
        with store.engine.connect() as conn:
            raw = conn.connection.driver_connection
            if isinstance(raw, sqlite3.Connection):
                if raw.in_transaction:
                    raw.commit()
                raw.execute("BEGIN IMMEDIATE")
                try:
                    whole = len(rows) - len(rows) % _PER_STATEMENT
                    for at in range(0, whole, _PER_STATEMENT):
                        raw.execute(_INSERT_MANY,
                                    list(chain.from_iterable(rows[at:at + _PER_STATEMENT])))
                    if whole < len(rows):
                        raw.executemany(_INSERT, rows[whole:])
                    raw.execute("COMMIT")
                except BaseException:
                    # SQLite may have rolled back already (a full disk does): the original
                    # error is the one to report
                    if raw.in_transaction:
                        raw.execute("ROLLBACK")
                    raise
                return
        store.insert_event_rows(rows)  # PostgreSQL: by COPY (rows in EVENT_COLUMNS order)

    return insert


class BatchWriter:
    """Subscribe `writer.put` to a bus; a background thread hands batches to `sink`.

    A batch is written at the latest `interval` seconds after its first event, so a crash
    loses at most that much; `close()` flushes everything that was put.

    `put` is a bare deque append (it runs under the bus's lock for every event): the thread
    wakes every `interval`, or at once for `flush()` and `close()`, and takes everything
    queued in one go, rather than one queue handoff per event.

    A failed write is not swallowed: the first error is kept in `error` and given to
    `on_error` at once (from the writer thread), so the run can stop instead of going on
    unrecorded. The rows of a failed batch are tried again, first, with the next one: a
    store that recovers still gets everything, in order.
    """

    def __init__(self, sink: Callable[[list[Any]], None],
                 convert: Callable[[Event], Any | None] = lambda e: e,
                 interval: float = 0.05, max_batch: int = 5000, name: str = "writer",
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        self.sink = sink
        self.convert = convert
        self.interval = interval
        self.max_batch = max_batch
        self.on_error = on_error
        self.written = 0
        self.error: BaseException | None = None
        self._unwritten: list[Any] = []
        #: Events lost without a retry (they could not even be made into rows).
        self.dropped = 0
        self._closed = False
        self._pending: deque[Any] = deque()
        #: Taken by the thread and not yet written (part of the backlog).
        self._in_hand = 0
        #: The first event `put` could not make into a row (reported by the thread).
        self._put_error: BaseException | None = None
        #: The bus subscriber: appends the event, nothing else.
        self.put: Callable[[Event], None] = self._pending.append
        #: How many barriers and stop signs are queued: the thread looks for them only then.
        self._marks = 0
        self._marks_lock = threading.Lock()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _put_failed(self, exc: BaseException) -> None:
        """An event that could not even be made into a row, at `put` (under the bus's lock,
        so nothing is reported from here): the writer's thread reports it."""
        self.dropped += 1
        if self._put_error is None:
            self._put_error = exc
        self._wake.set()

    def _mark(self, item: Any) -> None:
        with self._marks_lock:
            self._marks += 1  # before the append: the thread never misses a queued mark
            self._pending.append(item)
        self._wake.set()

    @property
    def backlog(self) -> int:
        """Events put and not yet taken by the thread (a cheap length, no lock)."""
        return len(self._pending) + self._in_hand

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far was handled; True if all of it is written."""
        if not self._closed and self._thread.is_alive():
            barrier = _Barrier()
            self._mark(barrier)
            if not barrier.done.wait(timeout):
                return False
        return not self._unwritten and not self.dropped

    def _loop(self) -> None:
        pending, take = self._pending, self._pending.popleft
        stop = False
        while not stop:
            if len(pending) < self.max_batch:  # a full batch waiting is written at once
                self._wake.wait(self.interval)
            self._wake.clear()
            if self._put_error is not None and self.error is None:
                self._failed(self._put_error)
            n = len(pending)
            if not n:
                continue
            items = [take() for _ in range(n)]
            self._in_hand = n
            if self._marks:  # someone flushes or closes: split at the marks
                stop = self._handle_marked(items)
            else:
                self._write(items)
            self._in_hand = 0
        # nobody may wait for ever on a barrier put while closing
        while pending:
            item = take()
            if isinstance(item, _Barrier):
                item.done.set()

    def _handle_marked(self, items: list[Any]) -> bool:
        """Write `items` up to each mark, then release it; True at the stop sign (what
        follows it was put after `close()`: never written, as before)."""
        batch: list[Any] = []
        for item in items:
            if item is not _STOP and not isinstance(item, _Barrier):
                batch.append(item)
                continue
            self._write(batch)
            batch = []
            with self._marks_lock:
                self._marks -= 1
            if item is _STOP:
                return True
            item.done.set()
        self._write(batch)
        return False

    def _write(self, items: list[Any]) -> None:
        size = self.max_batch
        for at in range(0, len(items), size):
            self._flush(items[at:at + size])
        if not items and self._unwritten:  # a flush still retries what failed before
            self._flush([])

    def _flush(self, batch: list[Event]) -> None:
        try:
            rows = [r for r in map(self.convert, batch) if r is not None]
        except Exception as exc:  # a conversion bug loses records just as a full disk does
            self.dropped += len(batch)
            self._failed(exc)
            return
        if self._unwritten:
            rows = self._unwritten + rows
        if not rows:
            return
        try:
            self.sink(rows)
        except Exception as exc:
            self._unwritten = rows
            self._failed(exc)
            return
        self._unwritten = []
        self.written += len(rows)

    def _failed(self, exc: BaseException) -> None:
        if self.error is not None:
            return
        self.error = exc
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:  # the error stays in `error` for the session's end
                log.exception("the writer's error handler failed")

    def close(self, timeout: float = 30.0) -> None:
        if not self._closed:
            self._mark(_STOP)
        self._thread.join(timeout)
        self._closed = True


class EventWriter(BatchWriter):
    """Stores every non-transient event (a streamed message is stored once, complete).

    An event becomes its row at `put`, on the publisher's thread, and the writer's thread
    only hands rows to SQLite (which lets go of the GIL while it works): two threads that
    both run Python code fight over the GIL, and that fight cost a third of the ingest
    rate. A row is a tuple of the event's fields as they are at `put`, so nothing changed
    later can reach the store either.
    """

    #: What a failure of this writer loses, for the run's failure reason.
    what = "the run's events"

    def __init__(self, store: Store, interval: float = 0.05, max_batch: int = 5000,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        super().__init__(insert_rows(store), _as_is, interval, max_batch, "event-writer",
                         on_error)
        append = self._pending.append

        def put(event: Event) -> None:
            try:
                row = _row(event)
            except Exception as exc:  # never raise into the bus; the thread reports it
                self._put_failed(exc)
                return
            if row is not None:
                append(row)

        self.put = put


def _as_is(row: Any) -> Any:
    return row
