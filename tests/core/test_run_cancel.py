"""Cancelling a run never waits for a tool: a tool stuck in its thread is left behind, the
run is stored as cancelled, and the process's event loop ends without joining the thread."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

STARTED = threading.Event()
RELEASE = threading.Event()
#: Only reached when the run waited for the tool (the defect): the test then fails.
GUARD_S = 20.0


def block(note: str = "") -> str:
    """Blocks its thread until the test releases it."""
    STARTED.set()
    return "released" if RELEASE.wait(GUARD_S) else "starved"


block.timeout = 120  # far beyond the test: only cancelling can end the wait

CREW = """\
name: stuck
model: scripted/demo
topology: {kind: network, max_turns: 4}
agents:
  - name: worker
    role: Worker
    goal: Work
    tools: ["tests.core.test_run_cancel:block"]
script:
  - {agent: worker, call: "tests.core.test_run_cancel:block", args: {note: now}}
  - {agent: worker, say: "done TERMINATE"}
"""


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_cancelling_a_run_does_not_wait_for_a_stuck_tool(tmp_path: Path, engine: str) -> None:
    STARTED.clear()
    RELEASE.clear()
    crew = tmp_path / "stuck.yaml"
    crew.write_text(CREW)
    settings = Settings(home=tmp_path / "home", policies=None)
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(crew, engine=engine, task="Work"), settings, store)

    async def run() -> str:
        running = asyncio.ensure_future(session.execute())
        while not STARTED.is_set():
            if running.done():
                return f"ended before the tool ran: {running.result()}"
            await asyncio.sleep(0.02)
        session.cancel()
        outcome = await running
        return outcome.status

    try:
        status = asyncio.run(run())
        # the loop is closed, and the tool still blocks: nothing waited for its thread
        still_blocked = not RELEASE.is_set() and any(
            t.name == "tool-block" and t.is_alive() for t in threading.enumerate())
    finally:
        RELEASE.set()
    assert status == "cancelled"
    assert still_blocked
    assert store.list_sessions()[0]["status"] == "cancelled"


def test_a_run_cancelled_again_while_it_ends_still_stores_its_end() -> None:
    """The end (closing writers, the session's row) runs off the loop; a second Ctrl-C or a
    cancelled worker while it runs waits for it instead of leaving the run half-ended."""
    import threading

    from workbench.mesh.session import _to_the_end

    ended = threading.Event()
    release = threading.Event()

    def finish() -> str:
        release.wait(5)
        ended.set()
        return "outcome"

    async def main() -> tuple[str, bool]:
        async def ending() -> str:
            return await _to_the_end(asyncio.ensure_future(asyncio.to_thread(finish)))

        task = asyncio.ensure_future(ending())
        await asyncio.sleep(0.01)
        task.cancel()  # while the end is being stored
        await asyncio.sleep(0.01)
        task.cancel()
        release.set()
        result = await task
        return result, task.cancelling() == 0

    result, clean = asyncio.run(main())
    assert result == "outcome" and ended.is_set() and clean
