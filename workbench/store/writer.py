"""The single event writer: batches events from the bus into one transaction per flush."""

from __future__ import annotations

import json
import queue
import threading
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


class EventWriter:
    """Subscribe `writer.put` to a bus; a background thread commits batches.

    A batch is written at the latest `interval` seconds after its first event, so a crash
    loses at most that much; `close()` flushes everything that was put.
    """

    def __init__(self, store: Store, interval: float = 0.05, max_batch: int = 5000) -> None:
        self.store = store
        self.interval = interval
        self.max_batch = max_batch
        self.written = 0
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="event-writer", daemon=True)
        self._thread.start()

    def put(self, event: Event) -> None:
        if event.kind not in TRANSIENT_KINDS:
            self._queue.put(event)

    def _loop(self) -> None:
        stop = False
        while not stop:
            item = self._queue.get()
            if item is _STOP:
                break
            batch = [_row(item)]
            deadline_items = self.max_batch
            try:
                while len(batch) < deadline_items:
                    nxt = self._queue.get(timeout=self.interval) if len(batch) == 1 else \
                        self._queue.get_nowait()
                    if nxt is _STOP:
                        stop = True
                        break
                    batch.append(_row(nxt))
            except queue.Empty:
                pass
            self._flush(batch)

    def _flush(self, batch: list[dict[str, Any]]) -> None:
        try:
            self.store.insert_events(batch)
            self.written += len(batch)
        except BaseException as exc:  # keep the run going; the error is reported at close
            self.error = exc

    def close(self, timeout: float = 30.0) -> None:
        self._queue.put(_STOP)
        self._thread.join(timeout)
