"""What a tool is: a name, a JSON schema for its arguments, tags for policies, and a function.

Every tool runs off the run's event loop with a time limit: a plain function in a thread of
its own, a coroutine in a task of its own. The caller stops waiting at the limit, or at once
when it is cancelled, whatever the tool is still doing.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import os
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import positive_seconds

#: Seconds a tool may run when neither the tool nor the environment says otherwise.
DEFAULT_TOOL_TIMEOUT_S = 30.0
TIMEOUT_ENV = "WORKBENCH_TOOL_TIMEOUT"


class ToolError(Exception):
    """A tool failed in a way the agent should be told about (not a crash of the run)."""


def default_tool_timeout() -> float:
    """WORKBENCH_TOOL_TIMEOUT in seconds, else 30; a value that is not a positive number is
    bad input (exit 2), not a silent default."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    return positive_seconds(raw, TIMEOUT_ENV, like=30) if raw else DEFAULT_TOOL_TIMEOUT_S


#: Asked about a URL a tool is about to reach beyond its arguments (a redirect): returns why
#: it is refused, or None when the policy allows it.
UrlJudge = Callable[[str], Awaitable[str | None]]


@dataclass(slots=True)
class ToolContext:
    """Where a tool may act: the session's workspace and outbox folders, how long it may
    run, which hosts the crew lets http_get reach although they are private, and how to ask
    the policy about a URL the tool was not called with."""

    session_id: str
    workspace: Path
    outbox: Path
    timeout_s: float = field(default_factory=default_tool_timeout)
    #: `host` or `host:port` entries from the crew's `allow_hosts`.
    allow_hosts: tuple[str, ...] = ()
    #: Set by the run context; only coroutine tools (which run on the run's loop) call it.
    judge_url: UrlJudge | None = None
    #: The tool calls being waited for, and whether the run gave up on all of them.
    waiting: set[asyncio.Future[Any]] = field(default_factory=set)
    abandoned: bool = False

    def abandon(self) -> None:
        """The run stopped: every tool call still running returns now, as a failure, and
        the tools' threads are left to end on their own. Called on the run's loop."""
        self.abandoned = True
        for running in list(self.waiting):
            running.cancel()


ToolFn = Callable[..., Any] | Callable[..., Awaitable[Any]]


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():  # the caller stopped waiting (timeout or cancel): nobody wants it
        return
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


def run_in_thread(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
    """Run `fn` in a daemon thread of its own; the returned future gets its result.

    Not the loop's default executor: a thread stuck for ever (a blocking syscall) must not
    keep the process from exiting, which `asyncio.run` would wait for with an executor.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def work() -> None:
        try:
            result, ok = context.run(fn, *args, **kwargs), True
        except BaseException as exc:  # handed to the awaiting side, whatever it is
            result, ok = exc, False
        try:
            loop.call_soon_threadsafe(_settle, future, ok, result)
        except RuntimeError:  # the loop is gone: the run ended without this tool
            pass

    threading.Thread(target=work, name=f"tool-{getattr(fn, '__name__', 'fn')}",
                     daemon=True).start()
    return future


def _forget(task: asyncio.Future[Any]) -> None:
    """A tool task nobody waits for any more: retrieve its outcome so asyncio stays quiet."""
    if not task.cancelled():
        task.exception()


@dataclass(slots=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]
    fn: ToolFn
    tags: frozenset[str] = field(default_factory=frozenset)
    #: Built-in tools take the ToolContext as their first argument; custom tools do not.
    wants_context: bool = False
    #: This tool's own time limit in seconds; None: a custom function's `timeout`
    #: attribute, else the context's (WORKBENCH_TOOL_TIMEOUT, default 30).
    timeout_s: float | None = None
    #: The MCP server the tool comes from (`tool.server` in policies); "" for the others.
    server: str = ""

    def schema(self) -> dict[str, Any]:
        """The OpenAI function-tool schema offered to models."""
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": self.parameters,
            },
        }

    def time_limit(self, ctx: ToolContext) -> float:
        own = self.timeout_s if self.timeout_s is not None else getattr(self.fn, "timeout", None)
        if isinstance(own, int | float) and not isinstance(own, bool) and own > 0:
            return float(own)
        return ctx.timeout_s

    async def invoke(self, ctx: ToolContext, args: dict[str, Any]) -> str:
        """Run the tool off the loop within its time limit; returns its output as text, raises
        ToolError on a failure to report (a timeout included). Cancelling the caller returns
        at once: a tool thread still running is left to finish on its own."""
        limit = self.time_limit(ctx)
        call_args = (ctx,) if self.wants_context else ()
        try:
            if inspect.iscoroutinefunction(self.fn):
                running: asyncio.Future[Any] = asyncio.ensure_future(self.fn(*call_args, **args))
            else:
                running = run_in_thread(self.fn, *call_args, **args)
            ctx.waiting.add(running)
            try:
                done, _ = await asyncio.wait({running}, timeout=limit)
            except asyncio.CancelledError:
                running.cancel()
                running.add_done_callback(_forget)
                raise
            finally:
                ctx.waiting.discard(running)
            if running.cancelled() and ctx.abandoned:
                running.add_done_callback(_forget)
                raise ToolError(f"{self.name} was abandoned: the run stopped")
            if not done:
                running.cancel()
                running.add_done_callback(_forget)
                raise ToolError(f"{self.name} timed out after {limit:g} s and was abandoned "
                                "(the tool's time limit)")
            result = running.result()
        except ToolError:
            raise
        except TypeError as exc:
            raise ToolError(f"bad arguments for {self.name}: {exc}") from exc
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a tool's own failure goes back to the agent, never up
            raise ToolError(f"{self.name} failed: {type(exc).__name__}: {exc}") from exc
        return result if isinstance(result, str) else str(result)
