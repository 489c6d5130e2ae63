"""Batched writers: events from the bus go to the database in one transaction per flush."""

from __future__ import annotations

import json
import logging
import queue
import threading
from collections.abc import Callable
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


def _row(e: Event) -> dict[str, Any]:
    return {
        "session_id": e.session_id,
        "seq": e.seq,
        "ts": e.ts,
        "kind": e.kind,
        "agent": e.agent,
        "to_agent": e.to,
        "content": e.content,
        "data": json.dumps(e.data, default=str, separators=(",", ":")) if e.data else None,
    }


class BatchWriter:
    """Subscribe `writer.put` to a bus; a background thread hands batches to `sink`.

    A batch is written at the latest `interval` seconds after its first event, so a crash
    loses at most that much; `close()` flushes everything that was put.

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
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until everything put so far was handled; True if all of it is written."""
        if not self._closed and self._thread.is_alive():
            barrier = _Barrier()
            self._queue.put(barrier)
            if not barrier.done.wait(timeout):
                return False
        return not self._unwritten and not self.dropped

    def _loop(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            batch: list[Any] = []
            barriers: list[_Barrier] = []
            while True:
                if item is _STOP:
                    stop = True
                    break
                if isinstance(item, _Barrier):  # someone waits: write what there is now
                    barriers.append(item)
                    break
                batch.append(item)
                if len(batch) >= self.max_batch:
                    break
                try:
                    item = self._queue.get(timeout=self.interval) if len(batch) == 1 else \
                        self._queue.get_nowait()
                except queue.Empty:
                    break
            self._flush(batch)
            for barrier in barriers:
                barrier.done.set()
        # nobody may wait for ever on a barrier put while closing
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Barrier):
                item.done.set()

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
        self._queue.put(_STOP)
        self._thread.join(timeout)
        self._closed = True


class EventWriter(BatchWriter):
    """Stores every non-transient event (a streamed message is stored once, complete)."""

    #: What a failure of this writer loses, for the run's failure reason.
    what = "the run's events"

    def __init__(self, store: Store, interval: float = 0.05, max_batch: int = 5000,
                 on_error: Callable[[BaseException], None] | None = None) -> None:
        super().__init__(store.insert_events, _row, interval, max_batch, "event-writer",
                         on_error)

    def put(self, event: Event) -> None:
        if event.kind not in TRANSIENT_KINDS:
            super().put(event)
