"""The run's event loop, reached from other threads: CrewAI runs its agents in worker threads,
and a run is stopped from signal handlers and the TUI's thread."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any


class LoopBridge:
    """Hands work to the run's event loop (`loop`, set when the run starts) from any thread."""

    __slots__ = ("loop",)

    def __init__(self) -> None:
        self.loop: asyncio.AbstractEventLoop | None = None

    def run_sync(self, coro: Coroutine[Any, Any, Any], timeout: float | None = None) -> Any:
        """Run `coro` on the run's loop from a worker thread, and wait for its result."""
        if self.loop is None:
            raise RuntimeError("the run's event loop is not set")
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def call_soon(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the run's loop (safe from any thread); with no loop running,
        now, in this thread."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(callback)
        else:
            callback()
