"""The CrewAI engine: conducts the crew in a worker thread; events come from the gateway LLM."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

from workbench.engines.crewai.env import prepare_environment
from workbench.engines.crewai.meta import ENGINE
from workbench.mesh.context import RunAborted, RunContext
from workbench.tools.base import run_in_thread


def _conductor(ctx: RunContext) -> Any:
    from workbench.engines.crewai.crews import Conductor

    return Conductor(ctx)


class CrewAIEngine:
    name = ENGINE.name
    topologies = ENGINE.topologies

    async def run(self, ctx: RunContext) -> str:
        prepare_environment(ctx.tool_ctx.workspace.parent / "crewai")
        ctx.loop = ctx.loop or asyncio.get_running_loop()
        # Importing CrewAI and building the crew take seconds: in a thread, so the loop (and
        # Ctrl-C, which it handles) is free meanwhile and a cancel ends the wait at once.
        conductor = await run_in_thread(_conductor, ctx)
        loop = asyncio.get_running_loop()
        done: asyncio.Future[Any] = loop.create_future()

        def settle(ok: bool, value: Any) -> None:
            if done.done():
                return
            if ok:
                done.set_result(value)
            else:
                done.set_exception(value)

        def kickoff() -> None:
            # Its own daemon thread, not the loop's executor: a cancelled run must not make
            # the process wait for a crew that is still unwinding.
            try:
                result: Any = conductor.run()
                loop.call_soon_threadsafe(settle, True, result)
            except BaseException as exc:  # reported to the awaiting run, whatever it is
                if not loop.is_closed():
                    loop.call_soon_threadsafe(settle, False, exc)

        threading.Thread(target=kickoff, name="crewai-kickoff", daemon=True).start()
        try:
            output = await done
        except RunAborted:
            raise
        except Exception as exc:
            if ctx.stopped.is_set():
                raise RunAborted(ctx.failure or "cancelled") from None
            raise RuntimeError(f"CrewAI crew failed: {exc}") from exc
        ctx.check_running()
        return str(getattr(output, "raw", output) or "")
