"""Ctrl-C while a CrewAI run is still starting (CrewAI's import and the crew's build take
seconds) stops the run at once: the build runs off the run's loop, so the loop is free to
take the cancel, and nothing waits for the build to end."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store

#: Only reached when the run waited for the build (the defect): the test then fails.
GUARD_S = 20.0

CREW = """\
name: slow-start
engine: crewai
model: scripted/demo
topology: {kind: network, max_turns: 2}
agents:
  - {name: a, role: A, goal: Work}
  - {name: b, role: B, goal: Read}
script:
  - {agent: a, say: "done TERMINATE"}
"""


def test_cancelling_a_crewai_run_while_its_crew_is_built_returns_at_once(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from workbench.engines.crewai import crews

    started, release, built = threading.Event(), threading.Event(), threading.Event()
    build = crews.Conductor.__init__

    def slow_build(self: crews.Conductor, ctx: object) -> None:
        started.set()  # as slow as importing CrewAI on a busy machine
        release.wait(GUARD_S)
        build(self, ctx)
        built.set()

    monkeypatch.setattr(crews.Conductor, "__init__", slow_build)
    crew = tmp_path / "slow-start.yaml"
    crew.write_text(CREW)
    settings = Settings(home=tmp_path / "home", policies=None)
    settings.ensure_home()
    store = Store(settings.database_url)
    session = Session(prepare(crew, task="Work"), settings, store)

    async def run() -> tuple[str, bool]:
        running = asyncio.ensure_future(session.execute())
        while not started.is_set():  # runs only while the loop is free
            if running.done():
                return f"ended first: {running.result().status}", built.is_set()
            await asyncio.sleep(0.02)
        session.cancel()
        outcome = await running
        return outcome.status, built.is_set()

    try:
        status, built_before_the_end = asyncio.run(run())
    finally:
        release.set()
    assert status == "cancelled"
    assert not built_before_the_end  # the run ended while the build still blocked
    assert store.list_sessions()[0]["status"] == "cancelled"
