"""A run started from the TUI is traced like any other (the session decides): one trace,
its approval request as a span event, and stopping it ends the trace as cancelled."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.otlp_receiver import Receiver, start_receiver
from tests.tui.conftest import wait_for
from tests.tui.test_journeys import open_crew
from workbench.mesh import tracing
from workbench.tui.screens.modals import ConfirmModal


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    r = start_receiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.url)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.setattr(tracing, "_override", None)
    yield r
    r.close()


async def test_a_run_started_in_the_tui_is_one_trace(settings, make_app,
                                                      receiver: Receiver) -> None:
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.pending == 1, what="the approval request")
        run = app.screen
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: run.model.status == "cancelled", what="cancellation")
        await wait_for(pilot, lambda: any(not s.parent_id for s in receiver.spans),
                       what="the trace")
    spans = receiver.spans
    assert len({s.trace_id for s in spans}) == 1
    root, = (s for s in spans if not s.parent_id)
    assert root.name == "invoke_workflow support-triage"
    assert root.attributes["error.type"] == "cancelled"
    email, = (s for s in spans if s.name == "execute_tool send_email")
    assert "approval.requested" in email.event_names()
    assert email.status_code == 2  # it never ran
