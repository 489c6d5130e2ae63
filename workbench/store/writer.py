"""Batched writers: events from the bus go to the database in one transaction per flush."""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Callable
from typing import Any

from workbench.mesh.events import TRANSIENT_KINDS, Event
from workbench.store.db import Store

_STOP = object()


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
    """

    def __init__(self, sink: Callable[[list[Any]], None],
                 convert: Callable[[Event], Any | None] = lambda e: e,
                 interval: float = 0.05, max_batch: int = 5000, name: str = "writer") -> None:
        self.sink = sink
        self.convert = convert
        self.interval = interval
        self.max_batch = max_batch
        self.written = 0
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        self._queue.put(event)

    def _loop(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [item]
            try:
                while len(batch) < self.max_batch:
                    nxt = self._queue.get(timeout=self.interval) if len(batch) == 1 else \
                        self._queue.get_nowait()
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(nxt)
            except queue.Empty:
                pass
            self._flush(batch)

    def _flush(self, batch: list[Event]) -> None:
        try:
            rows = [r for r in map(self.convert, batch) if r is not None]
            if rows:
                self.sink(rows)
            self.written += len(rows)
        except Exception as exc:  # keep the run going; the error is reported at close
            self.error = exc

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)


class EventWriter(BatchWriter):
    """Stores every non-transient event (a streamed message is stored once, complete)."""

    def __init__(self, store: Store, interval: float = 0.05, max_batch: int = 5000) -> None:
        super().__init__(store.insert_events, _row, interval, max_batch, "event-writer")

    def put(self, event: Event) -> None:
        if event.kind not in TRANSIENT_KINDS:
            super().put(event)
