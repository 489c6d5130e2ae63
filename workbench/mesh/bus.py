"""The event bus: stamps each event with its session, sequence and time, and fans it out
without ever waiting on a subscriber."""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

from workbench.mesh.events import Event

log = logging.getLogger(__name__)

Subscriber = Callable[[Event], None]

_STOP = object()


class _Barrier:
    """Put in a queue by `flush()`: set once everything queued before it was handled."""

    __slots__ = ("done",)

    def __init__(self) -> None:
        self.done = threading.Event()


class Queued:
    """A callback that may block (writes a terminal, updates a database) behind a queue.

    `put` only enqueues, so it is safe to call under the bus's lock; a thread of its own
    calls `fn` with each item, in the order they were put. A failing `fn` is logged and the
    next item still comes: one broken viewer never stops a run.
    """

    def __init__(self, fn: Callable[[Any], None], name: str = "subscriber") -> None:
        self.fn = fn
        self.name = name
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        #: The bus's subscriber: a C-level queue put, nothing else.
        self.put: Callable[[Any], None] = self._queue.put
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        get, fn = self._queue.get, self.fn
        while True:
            item = get()
            if item is _STOP:
                break
            if isinstance(item, _Barrier):
                item.done.set()
                continue
            try:
                fn(item)
            except Exception:
                log.exception("subscriber %s failed on an event", self.name)
        # nobody may wait for ever on a barrier put while closing
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, _Barrier):
                item.done.set()

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every item put so far was handed to `fn`; False on timeout."""
        if self._closed or not self._thread.is_alive():
            return True
        barrier = _Barrier()
        self._queue.put(barrier)
        return barrier.done.wait(timeout)

    def close(self, timeout: float | None = None) -> bool:
        """Hand over everything put so far, then stop the thread; False on timeout.

        Without a timeout this waits as long as `fn` takes (a terminal that is not read);
        Ctrl-C still interrupts the wait.
        """
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        return not self._thread.is_alive()


class EventBus:
    """Thread-safe: CrewAI emits from worker threads, AutoGen from the event loop.

    Under one lock an event gets its sequence number and time and is handed to every
    subscriber, so each subscriber sees the events in seq order even when several threads
    publish. That is why a subscriber must not block: it enqueues (a deque append, a queue
    put). A subscriber that does I/O is subscribed with `blocking=True`: it gets a queue
    and a thread of its own, and `close()` waits until it has seen every event.
    """

    def __init__(self, session_id: str) -> None:
        self.session_id = session_id
        self._seq = 0
        self._lock = threading.Lock()
        #: Replaced, never mutated: `publish` iterates it without a copy.
        self._subscribers: tuple[Subscriber, ...] = ()
        self._queued: list[Queued] = []

    def subscribe(self, fn: Subscriber, blocking: bool = False,
                  name: str | None = None) -> Queued | None:
        """Give every event from now on to `fn`; with `blocking`, on a thread of its own
        (returned, to flush or close it alone)."""
        queued = None
        if blocking:
            queued = Queued(fn, name or f"bus-{getattr(fn, '__name__', type(fn).__name__)}")
            fn = queued.put
        with self._lock:
            self._subscribers = (*self._subscribers, fn)
            if queued is not None:
                self._queued.append(queued)
        return queued

    def publish(self, event: Event) -> Event:
        with self._lock:
            self._seq = seq = self._seq + 1
            event.seq = seq
            event.ts = time.time()
            event.session_id = self.session_id
            # only enqueues (see the class): the I/O happens on the subscribers' threads
            for put in self._subscribers:
                put(event)
        return event

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until the blocking subscribers have handled every event published so far."""
        return all([q.flush(timeout) for q in list(self._queued)])

    def close(self, timeout: float | None = None) -> bool:
        """After the last event: let the blocking subscribers finish, then stop their threads
        (a printer's last line is out when this returns)."""
        return all([q.close(timeout) for q in list(self._queued)])

    @property
    def last_seq(self) -> int:
        return self._seq
