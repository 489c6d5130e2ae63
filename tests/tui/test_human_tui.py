"""Human turns in the TUI: the run view asks in a dialog when a human agent's turn comes, and
the review window answers a question a run in another process waits for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from textual.widgets import Input

from tests.core.test_human import CREW
from tests.tui.conftest import wait_for
from workbench.mesh.session import prepare
from workbench.tui.render import entry_line
from workbench.tui.screens.human import HumanModal, QuestionDesk, QuestionsModal
from workbench.tui.screens.run import RunScreen


def _messages(entries, agent: str) -> list[str]:
    return [e.text for e in entries if e.kind == "message" and e.agent == agent]


async def test_the_run_view_asks_the_person_for_a_human_agents_turn(settings, make_app,
                                                                     tmp_path: Path) -> None:
    crew = tmp_path / "human.yaml"
    crew.write_text(CREW)
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await app.start_run(prepare(crew))
        await wait_for(pilot, lambda: isinstance(app.screen, HumanModal), timeout=90,
                       what="the dialog asking for user_proxy's turn")
        dialog = app.screen
        assert dialog.asked.agent == "user_proxy" and dialog.asked.ask == "turn"
        # what was said to the person is in the dialog
        assert any("Shall I go on?" in str(m.get("content")) for m in dialog.asked.context)
        await pilot.press("enter")  # an empty answer is not sent
        assert isinstance(app.screen, HumanModal)
        dialog.query_one("#human-answer", Input).value = "Yes, with costs"
        await pilot.press("enter")
        run = next(s for s in app.screen_stack if isinstance(s, RunScreen))
        await wait_for(pilot, lambda: run.model.status == "completed", timeout=90,
                       what="the run to end")
    assert _messages(run.model.entries, "user_proxy") == ["Yes, with costs"]
    answered = [e for e in run.model.entries if e.kind == "human.answered"]
    assert [(e.data["by"], e.data["how"]) for e in answered] == [("dana", "tui")]
    # the stream says who answered for whom
    lines = [entry_line(e, run.model, app.clock).plain for e in run.model.entries]
    assert any(line.endswith("👤 a person is asked to speak for user_proxy") for line in lines)
    assert any(line.endswith("👤 dana answered for user_proxy (tui)") for line in lines)


async def test_the_review_window_answers_a_run_in_another_process(settings, make_app,
                                                                   tmp_path: Path) -> None:
    crew = tmp_path / "human.yaml"
    crew.write_text(CREW)
    env = {**os.environ, "WORKBENCH_HOME": str(settings.home)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", str(crew), "--approvals", "wait",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=Path.cwd())
    try:
        app = make_app(review=True, frozen_clock=False)
        async with app.run_test(size=(100, 30)) as pilot:
            desk = app.screen.query_one(QuestionDesk)
            await wait_for(pilot, lambda: desk.has_class("-waiting"), timeout=90,
                           what="the line saying a person is asked")
            assert "1 question for a person" in str(desk.render())
            await pilot.press("q")
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionsModal),
                           what="the questions")
            app.screen.query_one("#human-answer", Input).value = "From the review window"
            await pilot.press("enter")
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=90,
                           what="the other run to finish")
            await wait_for(pilot, lambda: not desk.has_class("-waiting"),
                           what="the line to go")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    said = [e["content"] for e in events if e["kind"] == "message" and e["agent"] == "user_proxy"]
    assert said == ["From the review window"]
    answered = [e["data"] for e in events if e["kind"] == "human.answered"]
    assert [(d["by"], d["how"]) for d in answered] == [("dana", "reviewer")]
