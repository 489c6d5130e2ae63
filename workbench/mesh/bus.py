"""The event bus: stamps each event with its session, sequence and time, and fans it out."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from workbench.mesh.events import Event

Subscriber = Callable[[Event], None]


class EventBus:
    """Thread-safe: CrewAI emits from worker threads, AutoGen from the event loop.

    Subscribers must be cheap and must not block (enqueue, never render or write).
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._seq = 0
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    def subscribe(self, fn: Subscriber) -> None:
        self._subscribers.append(fn)

    def publish(self, event: Event) -> Event:
        with self._lock:
            self._seq += 1
            event.seq = self._seq
            event.ts = time.time()
            event.session_id = self.session_id
            for fn in self._subscribers:
                fn(event)
        return event

    @property
    def last_seq(self) -> int:
        return self._seq
