"""A run from Compose fills the crew's inputs: the crew's own values, and a dialog asks for
those without one (as `workbench run` asks on a terminal)."""

from __future__ import annotations

from textual.widgets import Input

from tests.tui.conftest import wait_for
from tests.tui.test_journeys import open_crew
from workbench.mesh.session import prepare
from workbench.tui.screens.inputs import InputsModal
from workbench.tui.screens.run import RunScreen

CREW = """\
name: topic-crew
description: Write about a topic
model: scripted/demo
topology: {kind: network, max_turns: 1}
inputs: {topic: "", audience: managers}
agents:
  - name: writer
    role: Writer on {topic}
    goal: Write for {audience}
script:
  - agent: writer
    say: "Done. TERMINATE"
"""


def test_prepare_fills_the_crews_values_and_says_which_are_missing(tmp_path) -> None:
    crew = tmp_path / "topic-crew.yaml"
    crew.write_text(CREW)
    prepared = prepare(crew)
    assert prepared.missing_inputs == ["topic"]
    writer = prepared.spec.agents[0]
    assert (writer.role, writer.goal) == ("Writer on {topic}", "Write for managers")
    given = prepare(crew, inputs={"topic": "AI agents", "audience": "engineers"})
    assert given.missing_inputs == []
    writer = given.spec.agents[0]
    assert (writer.role, writer.goal) == ("Writer on AI agents", "Write for engineers")


async def test_compose_asks_for_missing_inputs_before_the_run(settings, make_app) -> None:
    folder = settings.home / "crews"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "topic-crew.yaml").write_text(CREW)
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "topic-crew")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, InputsModal),
                       what="the dialog asking for the inputs")
        dialog = app.screen
        assert dialog.names == ["topic"]  # audience has the crew's value
        dialog.query_one("#input-topic", Input).value = "AI agents"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the run view")
        run = app.screen
        await wait_for(pilot, lambda: run.model is not None
                       and run.model.status == "completed", timeout=90, what="the run")
    started = next(e for e in run.model.entries if e.kind == "run.started")
    assert started.data["agents"][0]["role"] == "Writer on AI agents"
