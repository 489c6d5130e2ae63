"""Compose driven like a person would: role pickers, graph edges, the YAML view, save as,
unsaved edits, the task kept with the crew, and escape leaving fields on every screen."""

from __future__ import annotations

from pathlib import Path

import yaml
from textual.widgets import Input, Select, SelectionList, Static, TextArea

from tests.tui.conftest import settle, wait_for
from tests.tui.test_journeys import open_crew, plain, status_text
from workbench.tui.crewedit import field_for, forget_agent, problem_path, rename_agent, with_name
from workbench.tui.screens.compose import AGENT_FIELDS, ComposeScreen
from workbench.tui.screens.compose_modals import NameModal
from workbench.tui.screens.modals import ConfirmModal, ReasonModal
from workbench.tui.widgets.roles import EdgeRow, RolesEditor
from workbench.tui.widgets.yaml_editor import YamlEditor


def compose(app) -> ComposeScreen:
    screen = app.screen
    assert isinstance(screen, ComposeScreen)
    return screen


def shown(widget) -> bool:
    """On screen: it and every container around it are displayed."""
    return all(node.display for node in widget.ancestors_with_self
               if hasattr(node, "display") and node is not widget.screen)


def hidden(screen, selector: str) -> bool:
    """Not on screen: never built, or inside something not displayed."""
    found = screen.query(selector)
    return not found or not shown(found.first())


async def valid(pilot, what: str = "valid") -> None:
    await wait_for(pilot, lambda: "✔ valid" in status_text(pilot.app), what=what)


async def invalid(pilot, what: str = "the validation error") -> None:
    await wait_for(pilot, lambda: "✘" in status_text(pilot.app), what=what)


async def pick(pilot, select: Select, value: str) -> None:
    """Choose `value` in a picker with the keyboard: open it, move to the value, enter."""
    select.focus()
    await pilot.press("enter")
    await settle(pilot)
    values = [v for _, v in select._options]
    target, current = values.index(value), values.index(select.value)
    for _ in range(abs(target - current)):
        await pilot.press("down" if target > current else "up")
    await pilot.press("enter")
    await settle(pilot)
    assert select.value == value


async def type_into(pilot, field: Input, text: str, clear: bool = True) -> None:
    field.focus()
    if clear:
        field.value = ""
    for ch in text:
        await pilot.press(ch)
    await settle(pilot)


def saved(settings, name: str) -> dict:
    return yaml.safe_load((settings.crews_dir / f"{name}.yaml").read_text())


# -- role pickers ------------------------------------------------------------------------------

async def test_the_hub_is_picked_on_the_form_and_saved(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        hub = screen.query_one("#role-hub", Select)
        assert shown(hub) and hub.value == "lead"
        assert hidden(screen, "#role-planner")
        await pick(pilot, hub, "analyst")
        await valid(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (settings.crews_dir / "market-entry.yaml").exists(),
                       what="the saved crew")
    assert saved(settings, "market-entry")["topology"]["hub"] == "analyst"


async def test_removing_the_hub_clears_its_picker_and_the_problem_points_there(
        settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        assert screen.query_one("#agent-name", Input).value == "lead"
        screen.query_one("#compose-form").focus()
        await pilot.press("ctrl+l")
        await invalid(pilot)
        hub = screen.query_one("#role-hub", Select)
        assert hub.value is Select.NULL, "the picker no longer names the removed agent"
        assert hub.has_class("-invalid")
        text = status_text(app)
        assert text.startswith("✘ Hub:") and "unknown agent 'lead'" in text
        assert "ctrl+g" in text
        # the removed agent's own script lines went with it; nothing else names it now
        assert all(s.get("agent") != "lead" for s in screen.data["script"])
        await pilot.press("ctrl+s")
        await settle(pilot)
        assert not (settings.crews_dir / "market-entry.yaml").exists()
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert screen.focused is hub
        await pick(pilot, hub, "writer")
        await valid(pilot)
        assert not hub.has_class("-invalid")
        assert screen.data["topology"]["hub"] == "writer"


async def test_a_renamed_agent_keeps_its_roles_edges_and_script(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        name = screen.query_one("#agent-name", Input)
        await type_into(pilot, name, "chief")
        await valid(pilot, "valid after the rename")
        assert screen.query_one("#role-hub", Select).value == "chief"
        assert screen.data["topology"]["hub"] == "chief"
        assert {s["agent"] for s in screen.data["script"]} >= {"chief"}
        assert "lead" not in yaml.safe_dump(screen.data["script"])
        assert screen.data["tasks"][0]["agent"] == "chief"


async def test_layered_pickers_set_planner_executors_and_reviewer(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "contract-review")
        screen = compose(app)
        assert hidden(screen, "#role-hub")
        planner = screen.query_one("#role-planner", Select)
        reviewer = screen.query_one("#role-reviewer", Select)
        executors = screen.query_one("#role-executors", SelectionList)
        assert planner.value == "planner" and reviewer.value == "critic"
        assert set(executors.selected) == {"legal", "finance"}
        # untick finance with the keyboard
        executors.focus()
        await pilot.press("end", "space")
        await settle(pilot)
        assert screen.data["topology"]["executors"] == ["legal"]
        await valid(pilot)
        # no reviewer: the blank choice
        await pick(pilot, reviewer, Select.NULL)
        assert "reviewer" not in screen.data["topology"]
        assert "critic" in [executors.get_option_at_index(i).value
                            for i in range(executors.option_count)]
        # the planner cannot also execute
        await pick(pilot, planner, "legal")
        await settle(pilot)
        options = [executors.get_option_at_index(i).value for i in range(executors.option_count)]
        assert "legal" not in options
        assert screen.data["topology"]["executors"] == []
        await invalid(pilot, "no executor left")
        assert status_text(app).startswith("✘ Executors:")
        executors.focus()
        await pilot.press("home", "down", "space")  # planner, [finance], critic
        await settle(pilot)
        assert screen.data["topology"]["executors"] == ["finance"]
        await valid(pilot)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: (settings.crews_dir / "contract-review.yaml").exists(),
                       what="the saved crew")
    topology = saved(settings, "contract-review")["topology"]
    assert topology["planner"] == "legal" and "reviewer" not in topology
    assert topology["executors"] == ["finance"]


async def test_no_executor_left_points_at_the_executors(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "contract-review")
        screen = compose(app)
        executors = screen.query_one("#role-executors", SelectionList)
        executors.deselect_all()
        await invalid(pilot)
        assert status_text(app).startswith("✘ Executors:")
        assert executors.has_class("-invalid")


# -- graph edges ---------------------------------------------------------------------------

async def test_graph_edges_are_added_edited_and_removed(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pick(pilot, screen.query_one("#crew-topology", Select), "graph")
        await invalid(pilot, "graph needs edges")
        assert status_text(app).startswith("✘ Edges:") and "needs edges" in status_text(app)
        assert screen.query_one("#role-edges").has_class("-invalid")
        add = screen.query_one("#edge-add")
        add.focus()
        await pilot.press("enter")  # the button
        await settle(pilot)
        await pilot.press("ctrl+n")  # the key, from inside the edge list
        await settle(pilot)
        rows = list(screen.query(EdgeRow))
        assert len(rows) == 2
        assert screen.data["topology"]["edges"] == [{"from": "lead", "to": "analyst"},
                                                    {"from": "analyst", "to": "writer"}]
        await valid(pilot, "valid with edges")
        second = rows[1]
        await pick(pilot, second.query_one(".edge-to", Select), "lead")
        when = second.query_one(Input)
        await type_into(pilot, when, "true")
        assert screen.data["topology"]["edges"][1] == {"from": "analyst", "to": "lead",
                                                       "when": "true"}
        first = rows[0]
        first.query_one(Input).focus()
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert screen.data["topology"]["edges"] == [{"from": "analyst", "to": "lead",
                                                     "when": "true"}]
        assert len(screen.query(EdgeRow)) == 1


async def test_removing_an_agent_drops_its_edges(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pick(pilot, screen.query_one("#crew-topology", Select), "graph")
        for _ in range(2):
            screen.query_one("#edge-add").press()
            await settle(pilot)
        tabs = screen.query_one("#compose-agents")
        tabs.active = screen._tab_id(2)  # writer
        await settle(pilot)
        assert screen.query_one("#agent-name", Input).value == "writer"
        screen.query_one("#compose-form").focus()
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert screen.data["topology"]["edges"] == [{"from": "lead", "to": "analyst"}]
        assert len(screen.query(EdgeRow)) == 1
        assert any("1 edge" in n.message for n in app._notifications)


# -- the YAML view ---------------------------------------------------------------------------

async def test_the_yaml_view_validates_as_you_type_and_marks_the_line(settings,
                                                                      make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        assert editor.display and not screen.query_one("#compose-form").display
        assert app.focused is editor
        # the file itself, comments included, while the form has not changed it
        assert editor.text.startswith("# Star:")
        lines = editor.text.splitlines()
        hub_line = next(i for i, line in enumerate(lines) if line.strip() == "hub: lead")
        editor.move_cursor((hub_line, len(lines[hub_line])))
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        for ch in "boss":
            await pilot.press(ch)
        await invalid(pilot)
        assert f"line {hub_line + 1}: unknown agent 'boss'" in status_text(app)
        assert editor.error_line == hub_line + 1
        # the check never moves the cursor from where you type
        assert editor.cursor_location == (hub_line, len("  hub: boss"))
        await pilot.press("ctrl+g")
        await settle(pilot)
        assert editor.selected_text.strip() == "hub: boss"
        editor.move_cursor((hub_line, len("  hub: boss")))
        await pilot.press("backspace", "backspace", "backspace", "backspace")
        for ch in "writer":
            await pilot.press(ch)
        await valid(pilot)
        assert editor.error_line is None
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert not screen.yaml_mode and screen.query_one("#compose-form").display
        assert screen.query_one("#role-hub", Select).value == "writer"
        await pilot.press("ctrl+s")
        saved_file = settings.crews_dir / "market-entry.yaml"
        await wait_for(pilot, saved_file.exists, what="the saved crew")
    text = saved_file.read_text()
    assert text.startswith("# Star:"), "edits made in the YAML view keep the file's comments"
    assert "hub: writer" in text


async def test_the_form_shows_what_was_typed_in_the_yaml(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        editor.text = editor.text.replace("role: Research lead", "role: Head of research")
        await settle(pilot)
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert screen.query_one("#agent-role", Input).value == "Head of research"


async def test_yaml_the_form_cannot_show_keeps_you_in_the_yaml_view(settings,
                                                                    make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        editor.text = "name: [unclosed\n"
        await invalid(pilot)
        assert "line" in status_text(app) and editor.error_line is not None
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert screen.yaml_mode and editor.display
        assert any("cannot show" in n.message for n in app._notifications)


async def test_a_form_problem_has_its_line_in_the_yaml(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        screen.query_one("#agent-goal", Input).value = ""
        await invalid(pilot)
        assert status_text(app).startswith("✘ Agent 1 goal:")
        assert screen.query_one("#agent-goal", Input).has_class("-invalid")
        line = screen.check.problem.line
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        assert editor.error_line == line
        assert editor.text.splitlines()[line - 1].strip().startswith("goal:")
        assert editor.cursor_location[0] == line - 1, "entering the view selects the line"


# -- save as, description and task -----------------------------------------------------------

async def test_save_as_asks_for_a_safe_new_name_and_edits_the_copy(settings, make_app) -> None:
    settings.crews_dir.mkdir(parents=True)
    (settings.crews_dir / "taken.yaml").write_text("name: taken\n")
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pilot.press("ctrl+o")
        await settle(pilot)
        modal = app.screen
        assert isinstance(modal, NameModal)
        field = modal.query_one(Input)
        assert field.value == "market-entry-copy"
        for bad, why in (("../../evil", "safe file name"), ("taken", "already has taken")):
            field.value = bad
            await pilot.press("enter")
            await settle(pilot)
            assert app.screen is modal, f"{bad!r} was accepted"
            assert why in plain(modal.query_one("#problem", Static))
        field.value = "nordic-entry"
        await pilot.press("enter")
        copy = settings.crews_dir / "nordic-entry.yaml"
        await wait_for(pilot, copy.exists, what="the copy")
        await settle(pilot)
        assert app.screen is screen
        assert screen.path == copy
        assert screen.query_one("#crew-name", Input).value == "nordic-entry"
        assert "nordic-entry.yaml" in str(screen.query_one("#compose-form").border_title)
    text = copy.read_text()
    assert text.startswith("# Star:") and "\nname: nordic-entry\n" in text
    assert not list(settings.home.parent.rglob("evil*"))


async def test_the_description_and_task_are_saved_with_the_crew(settings, make_app) -> None:
    from workbench.mesh.session import prepare

    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await type_into(pilot, screen.query_one("#crew-description", Input), "Nordic sizing")
        await type_into(pilot, screen.query_one("#crew-task", Input), "Size Denmark first")
        await valid(pilot)
        await pilot.press("ctrl+s")
        path = settings.crews_dir / "market-entry.yaml"
        await wait_for(pilot, path.exists, what="the saved crew")
    data = saved(settings, "market-entry")
    assert data["description"] == "Nordic sizing" and data["task"] == "Size Denmark first"
    assert prepare(path).task == "Size Denmark first", "a run without --task takes it"
    assert prepare(path, task="Only Norway").task == "Only Norway"


async def test_an_unsafe_crew_name_is_not_saved(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        screen.query_one("#crew-name", Input).value = "../../evil"
        await invalid(pilot)
        assert status_text(app).startswith("✘ Crew:")
        await pilot.press("ctrl+s")
        await settle(pilot)
    assert not list(settings.home.parent.rglob("evil*"))


# -- unsaved edits -----------------------------------------------------------------------------

async def choose_crew(pilot, name: str) -> None:
    screen = compose(pilot.app)
    crews = screen.query_one("#compose-crews")
    crews.highlighted = next(i for i, c in enumerate(screen._crews) if c.name == name) + 1
    crews.focus()
    await pilot.press("enter")
    await settle(pilot)


async def test_switching_crews_with_unsaved_edits_asks_first(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await choose_crew(pilot, "support-triage")  # nothing edited: no question
        await wait_for(pilot, lambda: screen.query_one("#crew-name", Input).value
                       == "support-triage", what="support-triage")
        await type_into(pilot, screen.query_one("#agent-role", Input), "Lead of support")
        assert "edited" in str(screen.query_one("#compose-form").border_title)
        await choose_crew(pilot, "market-entry")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("n")
        await settle(pilot)
        assert app.screen is screen
        assert screen.query_one("#agent-role", Input).value == "Lead of support"
        await choose_crew(pilot, "market-entry")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("y")
        await settle(pilot)
        await wait_for(pilot, lambda: screen.query_one("#crew-name", Input).value
                       == "market-entry", what="market-entry")
        assert "edited" not in str(screen.query_one("#compose-form").border_title)


async def test_edits_in_the_yaml_view_count_as_unsaved(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        editor.text = editor.text.replace("max_turns: 12", "max_turns: 8")
        await settle(pilot)
        await choose_crew(pilot, "support-triage")
        assert isinstance(app.screen, ConfirmModal)
        await pilot.press("escape")
        await settle(pilot)
        assert app.screen is screen and "max_turns: 8" in editor.text


# -- keyboard: escape leaves any field ----------------------------------------------------------

async def test_digits_land_in_fields_and_escape_lets_section_keys_work(settings,
                                                                       make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        name = screen.query_one("#agent-name", Input)
        name.focus()
        await pilot.press("end", "3")
        await settle(pilot)
        assert name.value == "lead3" and app.screen is screen
        await pilot.press("escape")
        assert not isinstance(app.focused, Input)
        await pilot.press("1")
        await settle(pilot)
        assert app.current_mode == "sessions"
        await pilot.press("2")
        await settle(pilot)
        # a picker
        engine = screen.query_one("#crew-engine", Select)
        engine.focus()
        await pilot.press("escape")
        assert app.focused is not engine
        await pilot.press("3")
        await settle(pilot)
        assert app.current_mode == "run"
        await pilot.press("2")
        await settle(pilot)
        # an open picker: the first escape closes it, the second leaves it
        engine.focus()
        await pilot.press("enter")
        await settle(pilot)
        assert engine.expanded
        await pilot.press("escape")
        await settle(pilot)
        assert not engine.expanded and app.focused is engine
        await pilot.press("escape")
        assert app.focused is not engine
        # the YAML editor
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert isinstance(app.focused, TextArea)
        await pilot.press("5")
        assert "5" in screen.query_one(YamlEditor).text
        await pilot.press("backspace", "escape")
        assert not isinstance(app.focused, TextArea)
        await pilot.press("5")
        await settle(pilot)
        assert app.current_mode == "models"


async def test_escape_leaves_the_search_fields_of_other_screens(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("slash")
        assert isinstance(app.focused, Input)
        await pilot.press("4")
        assert app.current_mode == "sessions" and app.focused.value == "4"
        await pilot.press("escape", "4")
        await settle(pilot)
        assert app.current_mode == "approvals"


async def test_escape_in_a_dialog_field_still_closes_the_dialog(seeded, make_app) -> None:
    app = make_app()
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("4")
        await settle(pilot)
        await pilot.press("r")
        await settle(pilot)
        assert isinstance(app.screen, ReasonModal)
        assert isinstance(app.focused, Input)
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ReasonModal)


# -- at 80 columns -----------------------------------------------------------------------------

async def test_every_compose_view_fits_80x24(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await open_crew(pilot, "contract-review")
        screen = compose(app)
        roles = screen.query_one(RolesEditor)
        form = screen.query_one("#compose-form")
        for widget in (screen.query_one("#role-planner"), screen.query_one("#role-reviewer"),
                       screen.query_one("#role-executors")):
            assert widget.region.right <= form.region.right, widget
            assert widget.region.width >= 10, widget
        await pick(pilot, screen.query_one("#crew-topology", Select), "graph")
        screen.query_one("#edge-add").press()
        await settle(pilot)
        row = screen.query_one(EdgeRow)
        for part in row.children:
            assert part.region.right <= form.region.right, part
        assert row.query_one(Input).region.width >= 12
        assert roles.region.width > 0
        await pilot.press("ctrl+y")
        await settle(pilot)
        editor = screen.query_one(YamlEditor)
        assert editor.region.height >= 12 and editor.region.right <= 80


# -- the rules underneath ----------------------------------------------------------------------

def test_rename_and_forget_keep_references_whole() -> None:
    data = {"topology": {"kind": "layered", "planner": "a", "executors": ["b", "c"],
                         "reviewer": "c", "hub": "c",
                         "edges": [{"from": "a", "to": "c"}, {"from": "a", "to": "b"}]},
            "tasks": [{"description": "x", "agent": "c"}],
            "script": [{"agent": "c", "say": "hi"}, {"agent": "a", "handoff": "c"}]}
    rename_agent(data, "c", "d")
    t = data["topology"]
    assert t["executors"] == ["b", "d"] and t["reviewer"] == "d" and t["hub"] == "d"
    assert t["edges"][0]["to"] == "d" and data["tasks"][0]["agent"] == "d"
    assert data["script"] == [{"agent": "d", "say": "hi"}, {"agent": "a", "handoff": "d"}]
    changed = forget_agent(data, "d")
    assert t["executors"] == ["b"] and "reviewer" not in t and "hub" not in t
    assert t["edges"] == [{"from": "a", "to": "b"}]
    assert data["script"] == [{"agent": "a", "handoff": "d"}]
    assert data["tasks"] == [{"description": "x"}]
    assert changed == ["1 edge", "1 task (now unassigned)", "1 script line"]
    forget_agent(data, "a")
    assert t["planner"] == "a", "the role layers need stays, for its picker to show a blank"


def test_problems_map_to_the_field_that_shows_them() -> None:
    from workbench.spec.yamlpos import load_with_lines

    text = ("name: x\ntopology:\n  kind: star\n  hub: ghost\nagents:\n  - name: a\n"
            "    role: ''\n    goal: g\n")
    lines = load_with_lines(text)[1]
    path = problem_path("unknown agent 'ghost' in the topology", 4, lines)
    assert field_for(path, "star", AGENT_FIELDS).widget == "role-hub"
    assert field_for(path, "layered", AGENT_FIELDS).widget is None
    path = problem_path("agents.0.role: String should have at least 1 character", 7, lines)
    ref = field_for(path, "star", AGENT_FIELDS)
    assert (ref.widget, ref.agent) == ("agent-role", 0)
    assert field_for(("script", 3, "agent"), "star", AGENT_FIELDS).widget is None
    assert field_for(("topology", "edges", 1, "when"), "graph",
                     AGENT_FIELDS).widget == "edge-1-when"


def test_with_name_keeps_comments_and_quotes_what_yaml_would_misread() -> None:
    text = "# mine\nname: old  # here\nagents: []\n"
    assert with_name(text, "new") == "# mine\nname: new\nagents: []\n"
    assert yaml.safe_load(with_name(text, "1.0"))["name"] == "1.0"
    assert yaml.safe_load(with_name("agents: []\n", "x"))["name"] == "x"


def test_every_new_binding_has_an_id() -> None:
    from textual.binding import Binding

    from workbench.tui.widgets.roles import EdgeList

    for cls in (ComposeScreen, EdgeRow, EdgeList, NameModal):
        for binding in cls.__dict__.get("BINDINGS", ()):
            assert isinstance(binding, Binding) and binding.id, f"{cls.__name__}: {binding}"



# -- provider keys -----------------------------------------------------------------------------

async def test_a_model_without_a_key_is_warned_about_while_editing(settings, make_app,
                                                                   memory_keyring) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        assert "no API key" not in status_text(app)
        await type_into(pilot, screen.query_one("#crew-model", Input), "openai/gpt-4o-mini")
        await wait_for(pilot, lambda: "no API key for openai" in status_text(app),
                       what="the missing key warning")
        assert "✔ valid" in status_text(app) and "workbench keys set openai" in status_text(app)
        memory_keyring.set_password("workbench", "openai", "sk-test-not-shown")
        await type_into(pilot, screen.query_one("#crew-model", Input), "openai/gpt-4o")
        await wait_for(pilot, lambda: "no API key" not in status_text(app),
                       what="the warning to go once the key is there")
        assert "sk-test" not in status_text(app)


# -- your crew of a shipped name ------------------------------------------------------------------

async def test_your_saved_crew_replaces_the_shipped_one_in_the_list(settings, make_app) -> None:
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "market-entry")
        screen = compose(app)
        await type_into(pilot, screen.query_one("#agent-role", Input), "Head of research")
        await valid(pilot)
        await pilot.press("ctrl+s")
        mine = settings.crews_dir / "market-entry.yaml"
        await wait_for(pilot, mine.exists, what="the saved crew")
        await wait_for(pilot, lambda: any(Path(c.path) == mine for c in screen._crews),
                       what="the list to show your crew")
        entries = [c for c in screen._crews if c.name == "market-entry"]
        assert len(entries) == 1 and Path(entries[0].path) == mine
        crews = screen.query_one("#compose-crews")
        label = str(crews.get_option_at_index(crews.highlighted).prompt)
        assert "market-entry" in label and "yours" in label and "overrides shipped" in label
        await choose_crew(pilot, "support-triage")
        await wait_for(pilot, lambda: screen.query_one("#crew-name", Input).value
                       == "support-triage", what="support-triage")
        await choose_crew(pilot, "market-entry")
        await wait_for(pilot, lambda: screen.query_one("#crew-name", Input).value
                       == "market-entry", what="market-entry again")
        assert screen.path == mine
        assert screen.query_one("#agent-role", Input).value == "Head of research"


async def test_a_crew_file_that_does_not_parse_opens_in_the_yaml_view(settings,
                                                                      make_app) -> None:
    settings.crews_dir.mkdir(parents=True)
    broken = settings.crews_dir / "broken.yaml"
    broken.write_text("name: broken\nagents: [\n  {name: a, role: r, goal: g}\n")
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")
        await settle(pilot)
        screen = compose(app)
        await choose_crew(pilot, "broken")
        await wait_for(pilot, lambda: screen.yaml_mode, what="the YAML view")
        await invalid(pilot)
        editor = screen.query_one(YamlEditor)
        assert editor.text == broken.read_text() and editor.error_line is not None
        editor.text = "name: broken\nagents: [{name: a, role: r, goal: g}]\n"
        await valid(pilot)
        await pilot.press("ctrl+y")
        await settle(pilot)
        assert not screen.yaml_mode
        assert screen.query_one("#agent-role", Input).value == "r"
        assert "edited" in str(screen.query_one("#compose-form").border_title)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "[{name: a" in broken.read_text(), what="the fixed file")
        await settle(pilot)
        # reading the form from the YAML changed nothing: what you typed is what was saved
        assert "edited" not in str(screen.query_one("#compose-form").border_title)
    assert broken.read_text() == "name: broken\nagents: [{name: a, role: r, goal: g}]\n"


async def test_opening_a_crew_that_leaves_defaults_out_is_not_an_edit(settings,
                                                                      make_app) -> None:
    settings.crews_dir.mkdir(parents=True)
    bare = settings.crews_dir / "bare.yaml"
    bare.write_text("name: bare\nagents:\n  - {name: a, role: r, goal: g}\n"
                    "  - {name: b, role: r, goal: g}\n")
    app = make_app(frozen_clock=False, poll=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_crew(pilot, "bare")
        screen = compose(app)
        assert "edited" not in str(screen.query_one("#compose-form").border_title)
        assert screen.data == yaml.safe_load(bare.read_text())
        await choose_crew(pilot, "market-entry")
        assert not isinstance(app.screen, ConfirmModal)
