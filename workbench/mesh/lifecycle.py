"""Whether a run goes on: it is stopped (cancelled, or failed with a reason) from any thread,
once; stopping runs what asked to be told (cancel a team, abandon a tool) on the run's loop
and cuts short every await it guards (a model call, a wait for a reviewer)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from workbench.mesh.bridge import LoopBridge

T = TypeVar("T")


class RunAborted(Exception):
    """The run was stopped (cancelled, over budget, or failed); engines let it propagate."""


class Lifecycle:
    """A run's stop: `stopped` once set stays set; `failure` is the first reason given."""

    def __init__(self, bridge: LoopBridge) -> None:
        self.bridge = bridge
        self.failure: str | None = None
        self.stopped = threading.Event()
        self._inflight: set[asyncio.Future[Any]] = set()
        self._callbacks: list[Callable[[], None]] = [self._cancel_inflight]

    def fail(self, reason: str) -> None:
        """Stop the run with `reason` (stored with the session)."""
        if self.failure is None:
            self.failure = reason
        self.stop()

    def stop(self) -> None:
        if self.stopped.is_set():
            return
        self.stopped.set()
        for callback in self._callbacks:
            self.bridge.call_soon(callback)

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the run's loop when the run is stopped (e.g. to cancel a team)."""
        self._callbacks.append(callback)

    def check_running(self) -> None:
        if self.stopped.is_set():
            raise RunAborted(self.failure or "cancelled")

    async def abortable(self, awaitable: Awaitable[T]) -> T:
        """Await `awaitable` as a task that stopping the run cancels (what it waited for is
        dropped): a stopped run raises RunAborted here."""
        task = asyncio.ensure_future(awaitable)
        self._inflight.add(task)
        try:
            return await task
        except asyncio.CancelledError:
            if self.stopped.is_set():
                raise RunAborted(self.failure or "cancelled") from None
            raise
        finally:
            self._inflight.discard(task)

    def _cancel_inflight(self) -> None:
        for task in list(self._inflight):
            task.cancel()
