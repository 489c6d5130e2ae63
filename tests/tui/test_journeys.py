"""The app driven like a person would: compose, run, approve, replay, export, keys, policies."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rich.console import Console
from textual.widgets import DataTable, Input, Static

from tests.tui.conftest import settle, wait_for
from tests.tui.seed import PENDING_ID, ROOT, S_DONE
from workbench.tui.screens.approvals import ApprovalsScreen
from workbench.tui.screens.compose import ComposeScreen
from workbench.tui.screens.modals import ArgsModal, ConfirmModal, ErrorModal, ReasonModal
from workbench.tui.screens.run import RunScreen
from workbench.tui.screens.sessions import SessionsScreen
from workbench.tui.widgets.detail import DetailView
from workbench.tui.widgets.stream import StreamView


def plain(widget: Static) -> str:
    """What a Static shows, as plain text (markup strings and Rich renderables alike)."""
    content = widget.content
    if isinstance(content, str):
        return str(widget.render())
    console = Console(width=200, file=io.StringIO(), record=True)
    console.print(content)
    return console.export_text()


def status_text(app) -> str:
    return plain(app.screen.query_one("#compose-validation", Static))


async def open_crew(pilot, name: str) -> None:
    """Pick a crew in the Compose list by name."""
    app = pilot.app
    await pilot.press("2")
    await settle(pilot)
    screen = app.screen
    index = next(i for i, c in enumerate(screen._crews) if c.name == name)
    screen.query_one("#compose-crews").highlighted = index + 1
    screen.query_one("#compose-crews").focus()
    await pilot.press("enter")
    await settle(pilot)
    await wait_for(pilot, lambda: screen.query_one("#crew-name", Input).value == name,
                   what=f"{name} to open")
    await wait_for(pilot, lambda: "valid" in status_text(app), what="validation")


async def test_compose_edits_an_agent_shows_the_problem_and_saves(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = app.screen
        assert isinstance(screen, ComposeScreen)
        assert "✔ valid" in status_text(app)
        role = screen.query_one("#agent-role", Input)
        role.focus()
        role.value = ""
        # saved at once, before the check that runs as you type: still refused
        screen.query_one("#crew-name", Input).value = "hasty"
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not (settings.crews_dir / "hasty.yaml").exists()
        await wait_for(pilot, lambda: "✘" in status_text(app), what="the validation error")
        assert "line" in status_text(app) and "role" in status_text(app)
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not list(settings.crews_dir.glob("*.yaml"))
        role.value = "Head of research"
        await wait_for(pilot, lambda: "✔ valid" in status_text(app), what="valid again")
        screen.query_one("#crew-name", Input).value = "nordic-entry"
        await wait_for(pilot, lambda: "✔ valid" in status_text(app), what="valid again")
        await pilot.press("ctrl+s")
        saved = settings.crews_dir / "nordic-entry.yaml"
        await wait_for(pilot, saved.exists, what="the saved crew file")
    text = saved.read_text()
    assert "name: nordic-entry" in text and "role: Head of research" in text
    assert "script:" in text  # what the form does not show is kept


async def test_compose_offers_only_the_engines_topologies(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = app.screen
        topology = screen.query_one("#crew-topology")
        assert "graph" in [str(o[0]) for o in topology._options]
        screen.query_one("#crew-engine").value = "crewai"
        await settle(pilot)
        assert "graph" not in [str(o[0]) for o in topology._options]


async def test_a_shipped_crew_runs_offline_streams_and_waits_for_approval(settings,
                                                                          make_app) -> None:
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        app.screen.query_one("#crew-task", Input).value = "Acme cannot export PDFs"
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, RunScreen), what="the run view")
        run = app.screen
        await wait_for(pilot, lambda: app.pending == 1, what="the approval request")
        model = run.model
        kinds = [e.kind for e in model.entries]
        assert "message" in kinds and "approval.requested" in kinds
        assert any(e.kind == "tool.requested" and e.result is not None for e in model.entries)
        await pilot.press("4")
        await settle(pilot)
        queue = app.screen
        assert isinstance(queue, ApprovalsScreen)
        await wait_for(pilot, lambda: queue.query_one(DataTable).row_count == 1,
                       what="the queue to show the request")
        await pilot.press("a", "y")  # send_email is external: approving asks once more
        await wait_for(pilot, lambda: run.model.status == "completed", what="the run to end")
        await pilot.press("1")
        await settle(pilot)
        sessions = app.screen
        assert isinstance(sessions, SessionsScreen)
        await wait_for(pilot, lambda: any(r["crew_name"] == "support-triage"
                                          and r["status"] == "completed"
                                          for r in sessions._rows), what="the session")
    decided = [e for e in model.entries if e.kind == "approval.decided"]
    assert decided and decided[0].data["decision"] == "approved"
    assert decided[0].data["reviewer"] == "dana"
    outbox = list((settings.home / "sessions").glob("*/outbox/*.eml"))
    assert outbox, "the approved email was sent to the outbox"


async def test_stopping_a_live_run_stores_it_as_cancelled(settings, make_app) -> None:
    app = make_app(frozen_clock=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "support-triage")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: app.pending == 1, what="the approval request")
        run = app.screen
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmModal), what="the question")
        await pilot.press("y")
        await wait_for(pilot, lambda: run.handle.stop_requested, what="the stop request")
        await wait_for(pilot, lambda: run.model.status == "cancelled", what="cancellation")
        # nothing is left for a reviewer to approve
        await wait_for(pilot, lambda: app.pending == 0, what="the badge to clear")
    assert run.model.entries[-1].kind == "run.failed"
    [request] = app.services.approvals(pending_only=False)
    assert request.status == "expired" and "cancelled" in request.decision_reason


def _start_elsewhere(settings) -> subprocess.Popen:
    env = {**os.environ, "WORKBENCH_HOME": str(settings.home)}
    return subprocess.Popen(
        [sys.executable, "-m", "workbench.cli", "run", "support-triage", "--approvals", "wait",
         "--json"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, env=env, cwd=Path.cwd())


async def test_a_reviewer_approves_a_run_started_in_another_process(settings, make_app) -> None:
    proc = _start_elsewhere(settings)
    try:
        app = make_app(review=True, frozen_clock=False)
        async with app.run_test(size=(100, 30)) as pilot:
            assert isinstance(app.screen, ApprovalsScreen)
            table = app.screen.query_one(DataTable)
            await wait_for(pilot, lambda: table.row_count == 1, timeout=90,
                           what="the other process's request")
            await pilot.press("a", "y")  # send_email is external: approving asks once more
            await wait_for(pilot, lambda: proc.poll() is not None, timeout=60,
                           what="the other run to finish")
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    decided = [e for e in events if e["kind"] == "approval.decided"]
    assert decided[0]["data"]["decision"] == "approved"
    assert decided[0]["data"]["reviewer"] == "dana"


async def test_reject_needs_a_reason_and_tells_the_queue(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReasonModal)
        await pilot.press("enter")
        assert "reason is required" in plain(app.screen.query_one("#problem", Static))
        await pilot.press(*"not to customers", "enter")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
    approval = app.services.approvals(pending_only=False)
    rejected = next(a for a in approval if a.id == PENDING_ID)
    assert rejected.status == "rejected" and rejected.decision_reason == "not to customers"


async def test_edited_arguments_must_be_a_json_object(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ArgsModal)
        await pilot.press("escape")  # one escape closes the editor, even from inside it
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        await pilot.press("e")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, ArgsModal)
        area = modal.query_one("TextArea")
        area.text = "[1, 2"
        await pilot.press("ctrl+s")
        assert "not valid JSON" in plain(modal.query_one("#problem", Static))
        area.text = '{"to": "it@example.com", "subject": "Fixed"}'
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ArgsModal), "arguments the tool cannot take"
        assert "'body' missing" in plain(modal.query_one("#problem", Static))
        area.text = '{"to": "it@example.com", "subject": "Fixed", "body": "Done."}'
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")  # send_email is external: approving asks once more
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
    a = next(a for a in app.services.approvals(pending_only=False) if a.id == PENDING_ID)
    assert a.status == "approved" and a.edited_args == {"to": "it@example.com",
                                                        "subject": "Fixed", "body": "Done."}


async def test_approve_always_is_recorded(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("A")
        await settle(pilot)
        await pilot.press("y")  # send_email is external: approving asks once more
        await settle(pilot)
        await wait_for(pilot, lambda: app.pending == 0, what="the badge to clear")
    a = next(a for a in app.services.approvals(pending_only=False) if a.id == PENDING_ID)
    assert a.status == "approved" and a.always


async def test_a_stored_session_replays_in_the_run_view(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, RunScreen) and screen.replay_id == S_DONE
        model = screen.model
        assert model.status == "completed" and model.totals.turns == 5
        stream = screen.query_one(StreamView)
        assert stream.selected is model.entries[-1]
        paired = [e for e in model.entries if e.kind == "tool.requested"]
        assert all(e.result is not None for e in paired)
        await pilot.press("up", "up")
        detail = screen.query_one(DetailView)
        console = Console(width=200, file=io.StringIO(), record=True)
        console.print(detail.renderable)
        assert "writer" in console.export_text()
        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, SessionsScreen)


async def test_filters_hide_agents_and_kinds(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "enter")
        await settle(pilot)
        screen = app.screen
        before = len(screen.model.visible)
        await pilot.press("f")
        await settle(pilot)
        lists = app.screen.query("SelectionList")
        lists[0].deselect("lead")
        lists[1].deselect("policy")
        await pilot.press("ctrl+s")
        await settle(pilot)
        model = screen.model
        shown = [model.entries[i] for i in model.visible]
        assert len(shown) < before
        assert all(e.agent != "lead" for e in shown)
        assert all(e.kind != "policy.decision" for e in shown)


@pytest.mark.parametrize("fmt", ["md", "json"])
async def test_export_writes_into_the_exports_folder(seeded, make_app, fmt) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("down", "m" if fmt == "md" else "j")
        await settle(pilot)
    path = seeded.home / "exports" / f"market-entry-{S_DONE[:12]}.{fmt}"
    assert path.exists()
    body = path.read_text()
    assert ("Decision: GO" in body) if fmt == "md" else (json.loads(body)["session"]["id"] ==
                                                         S_DONE)


async def test_keys_are_set_and_deleted_in_the_keyring_never_shown(settings, make_app,
                                                                   memory_keyring) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        await pilot.press("s")
        await settle(pilot)
        modal = app.screen
        modal.query_one("#provider", Input).value = "groq"
        key_input = modal.query_one("#key", Input)
        assert key_input.password
        key_input.value = "gsk-secret-value"
        key_input.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert memory_keyring.items[("workbench", "groq")] == "gsk-secret-value"
        table = app.screen.query_one("#keys-table", DataTable)
        cells = [str(c) for row in range(table.row_count) for c in table.get_row_at(row)]
        assert not any("gsk-secret" in c for c in cells)
        assert "keyring" in str(table.get_row("groq")[1])
        table.move_cursor(row=table.get_row_index("groq"))
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        assert ("workbench", "groq") not in memory_keyring.items


async def test_no_keyring_is_explained(settings, make_app, monkeypatch) -> None:
    import keyring
    from keyring.backends import fail

    monkeypatch.setattr(keyring, "get_keyring", lambda: fail.Keyring())
    app = make_app(poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        await settle(pilot)
        status = plain(app.screen.query_one("#keyring-status", Static))
        assert "No OS keyring is available" in status and "OPENAI_API_KEY" in status
        assert "here. no" not in status  # the reason is said once, as a sentence
        await pilot.press("s")
        await settle(pilot)
        assert not isinstance(app.screen, type(None)) and "KeyModal" not in type(
            app.screen).__name__


async def test_the_model_catalog_loads_in_a_worker_and_searches(settings, make_app) -> None:
    app = make_app(poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5", "c")
        await settle(pilot)
        table = app.screen.query_one("#catalog-table", DataTable)
        assert table.row_count == 6
        await pilot.press("slash", *"anthropic")
        # the search applies 0.25 s after the last key: wait for its result, not for a time
        await wait_for(pilot, lambda: table.row_count == 1, what="the search")
        await settle(pilot)
        assert table.row_count == 1
        await pilot.press("escape", "k")  # out of the search box, the keys work again
        await settle(pilot)
        assert app.screen.query_one("TabbedContent").active == "keys"


async def test_policies_show_what_a_domain_lifts_and_the_audit_verifies(seeded,
                                                                        make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        screen = app.screen
        screen.query_one("#policy-domains").highlighted = 5  # support
        await settle(pilot)
        notes = {r.id: r.note for r in screen.rows}
        assert "support-may-share-contacts" in notes["personal-data-in-messages"]
        await pilot.press("v")
        await settle(pilot)
        assert "intact" in plain(screen.query_one("#audit-status", Static))


async def test_a_broken_policy_set_is_shown_not_raised(settings, make_app) -> None:
    (Path.cwd() / "policies" / "central.yaml").write_text("version: 1\nrules: [{id: x}]\n")
    app = make_app(poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        summary = plain(app.screen.query_one("#policy-summary", Static))
        assert "does not load" in summary and "central.yaml" in summary


async def test_worker_errors_become_a_notification_or_an_error_modal(settings,
                                                                     make_app) -> None:
    from workbench.errors import UserInputError

    app = make_app(poll=False)

    def refuses(*_args):
        raise UserInputError("cannot open the database: locked")

    def crashes(*_args):
        raise RuntimeError("unexpected")

    async with app.run_test(size=(100, 30)) as pilot:
        await settle(pilot)
        app.services.list_sessions = refuses
        app.screen.action_refresh()
        await settle(pilot)
        assert any("locked" in n.message for n in app._notifications)
        app.services.list_sessions = crashes
        app.screen.action_refresh()
        await settle(pilot)
        assert isinstance(app.screen, ErrorModal)
        assert "RuntimeError: unexpected" in app.screen.message


async def test_the_command_palette_reaches_every_binding(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Go to Compose", "Go to Approvals", "Replay", "Export MD"} <= titles
        await pilot.press("4")
        await settle(pilot)
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert {"Approve once", "Always", "Edit args", "Reject"} <= titles


def test_every_binding_has_an_id() -> None:
    from textual.binding import Binding

    from workbench.tui.app import WorkbenchApp
    from workbench.tui.screens.modals import ArgsModal, ConfirmModal, FilterModal
    from workbench.tui.screens.models import ModelsScreen
    from workbench.tui.screens.policies import PoliciesScreen

    for cls in (WorkbenchApp, SessionsScreen, ComposeScreen, RunScreen, ApprovalsScreen,
                ModelsScreen, PoliciesScreen, StreamView, ArgsModal, ConfirmModal, FilterModal):
        ours = [c for c in cls.__mro__ if c.__module__.startswith("workbench.")]
        for binding in (b for c in ours for b in c.__dict__.get("BINDINGS", ())):
            assert isinstance(binding, Binding) and binding.id, f"{cls.__name__}: {binding}"


def test_the_tui_is_the_only_package_importing_textual() -> None:
    pkg = ROOT / "workbench"
    for path in pkg.rglob("*.py"):
        if "tui" in path.relative_to(pkg).parts:
            continue
        assert "import textual" not in path.read_text() and "from textual" not in \
            path.read_text(), path
