"""TUI traps checked again: an external action approved with edited arguments asks once more,
a decision always names a reviewer and a rejection a reason (every path), and digits typed
in a dialog's field stay there without switching the section under it."""

from __future__ import annotations

import pytest
from textual.widgets import Input, OptionList

from tests.tui.conftest import settle, wait_for
from tests.tui.seed import PENDING_ID
from tests.tui.test_compose import compose
from tests.tui.test_journeys import open_crew
from workbench.cli.app import main
from workbench.errors import UserInputError
from workbench.governance.approvals import decide
from workbench.tui.screens.approvals import ApprovalsScreen
from workbench.tui.screens.compose_modals import AgentPickerModal, ToolsModal
from workbench.tui.screens.modals import ArgsModal, ConfirmModal


def _approval(app):
    return next(a for a in app.services.approvals(pending_only=False) if a.id == PENDING_ID)


async def test_edited_arguments_of_an_external_action_are_approved_after_a_second_yes(
        seeded, make_app) -> None:
    app = make_app()
    edited = '{"to": "it@example.com", "subject": "Fixed", "body": "Done."}'
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("e")
        await settle(pilot)
        assert isinstance(app.screen, ArgsModal)
        app.screen.query_one("TextArea").text = edited
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal), "send_email is tagged external"
        assert "external" in app.screen.question
        await pilot.press("n")
        await settle(pilot)
        assert isinstance(app.screen, ApprovalsScreen)
        assert _approval(app).status == "pending"
        await pilot.press("e")
        await settle(pilot)
        app.screen.query_one("TextArea").text = edited
        await pilot.press("ctrl+s")
        await settle(pilot)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: app.pending == 0, what="the badge to clear")
    a = _approval(app)
    assert a.status == "approved" and a.reviewer == "dana"
    assert a.edited_args == {"to": "it@example.com", "subject": "Fixed", "body": "Done."}


def test_a_blank_reviewer_or_reason_is_refused_however_the_decision_comes(
        seeded, make_app, capsys) -> None:
    from workbench.cli import build_parser
    from workbench.tui.launch import make_app as launch_app

    store = make_app().services.store
    with pytest.raises(UserInputError, match="reviewer name cannot be empty"):
        decide(store, PENDING_ID, "rejected", "   ", reason="not now")
    with pytest.raises(UserInputError, match="needs a reason"):
        decide(store, PENDING_ID, "rejected", "dana", reason=" \t ")
    from workbench.governance.human import answer

    with pytest.raises(UserInputError, match="reviewer name cannot be empty"):
        answer(store, "0" * 12, "Yes, go ahead", "  ")  # a person's answer names them too
    assert main(["approvals", "reject", PENDING_ID, "--reason", "   "]) == 2
    assert main(["approvals", "approve", PENDING_ID, "--reviewer", "  "]) == 2
    assert "a reviewer name cannot be empty" in capsys.readouterr().err
    parser = build_parser()
    for argv in (["review", "--reviewer", " "], ["--reviewer", ""]):
        with pytest.raises(UserInputError, match="reviewer name cannot be empty"):
            launch_app(parser.parse_args(argv), review=argv[0] == "review")
    assert launch_app(parser.parse_args(["review", "--reviewer", " Erin  Example "]),
                      review=True).services.reviewer == "Erin Example"
    assert _approval(make_app()).status == "pending"


async def test_digits_in_a_dialog_stay_in_its_field_and_switch_no_section(settings,
                                                                         make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_crew(pilot, "support-triage")
        screen = compose(app)
        await pilot.press("ctrl+b")
        await wait_for(pilot, lambda: isinstance(app.screen, AgentPickerModal),
                       what="the registry picker")
        await settle(pilot)
        picker = app.screen
        assert isinstance(app.focused, Input)
        await pilot.press("3")
        await settle(pilot)
        assert app.focused.value == "3" and app.screen is picker
        picker.query_one(OptionList).focus()
        await pilot.press("4")
        await settle(pilot)
        assert app.current_mode == "compose" and app.screen is picker
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen
        tools = screen.query_one("#agent-tools", Input)
        tools.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, ToolsModal)
        await pilot.press("5")
        await settle(pilot)
        assert app.current_mode == "compose" and isinstance(app.screen, ToolsModal)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen


def test_one_turn_reads_as_one_turn_in_a_max_turns_check() -> None:
    from workbench.mesh.cases import Check
    from workbench.mesh.checks import RunRecord, score

    check = Check("max_turns", {"limit": 3})
    assert score(check, 0, RunRecord({"turns": 1}, [])).detail == "1 turn ≤ 3"
    assert score(check, 0, RunRecord({"turns": 4}, [])).detail == "4 turns > 3"


async def test_a_cancelled_sessions_row_says_cancelled_once(settings, make_app) -> None:
    from textual.widgets import Static

    from tests.tui.seed import NOW
    from tests.tui.test_review import select_session
    from workbench.store.db import Store

    settings.ensure_home()
    store = Store(settings.database_url)
    sid = "c" * 32
    store.create_session(id=sid, crew_name="market-entry", crew_snapshot_id=None,
                         engine="autogen", topology="star", task="Size the market",
                         started_at=NOW - 60, ended_at=NOW - 50, status="cancelled", turns=2,
                         prompt_tokens=10, completion_tokens=5, cost_usd=0.0,
                         cost_unknown_calls=0, error="cancelled", policy_hash="x")
    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await select_session(pilot, sid)
        detail = str(screen.query_one("#sessions-detail", Static).render())
        assert "Size the market" in detail and "cancelled" not in detail


async def test_every_sections_footer_fits_80_columns_with_quit_and_the_palette(seeded,
                                                                                make_app) -> None:
    from textual.widgets import Footer

    def keys(app) -> tuple[int, int, list[str]]:
        footer = app.screen.query_one(Footer)
        return (sum(k.outer_size.width for k in footer.children), footer.size.width,
                [str(getattr(k, "description", "")) for k in footer.children])

    app = make_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        for section in "1234567":
            await pilot.press(section)
            await settle(pilot)
            used, width, shown = keys(app)
            assert used <= width, f"section {section}: {shown} need {used} of {width}"
            assert shown[-2:] == ["Quit", "palette"], shown
        await pilot.press("4")
        await settle(pilot)
        assert keys(app)[2][:4] == ["Approve once", "Always", "Edit args", "Reject"]
        await pilot.resize_terminal(120, 40)
        await settle(pilot)
        used, width, shown = keys(app)
        assert "Open session" in shown and "Reviewer" in shown and used <= width
        await pilot.resize_terminal(80, 24)
        await settle(pilot)
        used, width, shown = keys(app)
        assert used <= width and "Open session" not in shown


# -- the dialogs Compose's traps are fixed with, drawn at both sizes ---------------------------

SIZES = [pytest.param((80, 24), id="80x24"), pytest.param((120, 40), id="120x40")]


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_save_as_dialog(seeded, make_app, snap_compare, size) -> None:
    from tests.tui.test_snapshots import checked, keys

    async def run_before(pilot) -> None:
        await keys("2")(pilot)
        await checked(pilot)
        await pilot.press("ctrl+o")
        await settle(pilot)
        pilot.app.screen.query_one(Input).value = "../nordic"
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_switching_crews_with_unsaved_edits(seeded, make_app, snap_compare,
                                                     size) -> None:
    from tests.tui.test_snapshots import checked, keys

    async def run_before(pilot) -> None:
        await keys("2")(pilot)
        screen = pilot.app.screen
        screen.query_one("#agent-goal", Input).value = "Decide fast"
        await checked(pilot)
        crews = screen.query_one("#compose-crews")
        crews.focus()
        crews.highlighted = next(i for i, c in enumerate(screen._crews)
                                 if c.name == "support-triage") + 1
        await pilot.press("enter")
        await settle(pilot)

    assert snap_compare(make_app(), terminal_size=size, run_before=run_before)


async def test_ctrl_q_with_unsaved_edits_in_compose_asks_first(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        assert screen.unsaved_edits() is None
        screen.query_one("#agent-goal", Input).value = "Decide fast"
        await wait_for(pilot, lambda: screen.unsaved_edits() is not None, what="the edit")
        await pilot.press("1")  # another section: Compose keeps its edits, and so does quit
        await settle(pilot)
        await pilot.press("ctrl+q")
        await settle(pilot)
        assert isinstance(app.screen, ConfirmModal)
        assert app.screen.question == ("market-entry.yaml has unsaved edits. "
                                       "Discard them and quit?")
        await pilot.press("n")
        await settle(pilot)
        assert app.return_code is None and app.current_mode == "sessions"
        await pilot.press("ctrl+q")
        await settle(pilot)
        await pilot.press("y")
        await pilot.pause()
    assert app.return_code == 0


async def test_an_audit_chain_of_one_entry_reads_1_entry(settings, make_app) -> None:
    from textual.widgets import Static

    from tests.tui.seed import NOW
    from workbench.store.audit import AuditChain, AuditRecord
    from workbench.store.db import Store

    settings.ensure_home()
    store = Store(settings.database_url)
    AuditChain(store).append([AuditRecord("s" * 32, "workbench", "run.started",
                                          {"crew": "market-entry"}, NOW)])
    store.close()
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        await settle(pilot)
        status = str(app.screen.query_one("#audit-status", Static).render())
        assert "Audit chain: 1 entry · head" in status, status


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_stream_filter_dialog(seeded, make_app, snap_compare, size) -> None:
    from tests.tui.test_snapshots import keys

    assert snap_compare(make_app(), terminal_size=size, run_before=keys("enter", "f"))


@pytest.mark.parametrize("size", SIZES)
def test_snapshot_set_key_dialog(seeded, make_app, snap_compare, size) -> None:
    from tests.tui.test_snapshots import keys

    assert snap_compare(make_app(), terminal_size=size, run_before=keys("5", "s"))
