"""Compose: pick a crew, edit its agents, roles, engine and topology or its raw YAML, validate
as you type, save (or save a copy), run."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Select, Static, Tab, Tabs, TextArea
from textual.widgets.option_list import Option

from workbench.mesh.format import plural
from workbench.spec.shape import TOPOLOGY_KINDS
from workbench.tui.background import in_thread
from workbench.tui.crewedit import (
    FieldRef,
    agent_names,
    crew_yaml,
    field_for,
    name_problem,
    problem_path,
    with_name,
)
from workbench.tui.draft import (
    AGENT_FIELDS,
    DEFAULT_ENGINE,
    LIST_FIELDS,
    REQUIRED,
    CrewDraft,
)
from workbench.tui.screens import compose_mcp
from workbench.tui.screens.base import SectionScreen
from workbench.tui.topology_art import Shape, agent_colour
from workbench.tui.widgets.roles import EdgeAdded, EdgeEdited, EdgeRemoved, RoleChanged, RolesEditor
from workbench.tui.widgets.topology import TopologyView
from workbench.tui.widgets.yaml_editor import YamlEditor

ALL_TOPOLOGIES = TOPOLOGY_KINDS
NEW_CREW = "__new__"
#: Crew-level text fields: widget id -> key in the crew file.
CREW_INPUTS = {"crew-name": "name", "crew-description": "description", "crew-model": "model",
               "crew-task": "task"}
TEMPLATE: dict[str, Any] = {
    "name": "my-crew",
    "description": "Describe what this crew is for",
    "engine": "autogen",
    "model": "scripted/demo",
    "topology": {"kind": "star", "hub": "lead", "max_turns": 12},
    "agents": [
        {"name": "lead", "role": "Team lead", "goal": "Coordinate the team and decide",
         "capabilities": ["planning", "decision"]},
        {"name": "researcher", "role": "Researcher", "goal": "Find the facts the lead needs",
         "tools": ["calculator"], "capabilities": ["research"]},
    ],
}

__all__ = ["ComposeScreen", "crew_yaml"]


@dataclass
class Loaded:
    """A crew file as Compose opens it: its text, and its data if the YAML can be read."""

    path: Path | None
    text: str | None
    data: dict[str, Any] | None
    problem: str = ""


@dataclass
class Check:
    """One validation of a crew text: the problem (None: valid) and where it is."""

    text: str
    problem: Any = None
    shape: Shape | None = None
    path: tuple[Any, ...] | None = None
    #: Each agent's fields as the crew resolves them (a `use:` agent's taken ones too).
    agents: dict[str, dict[str, Any]] | None = None


@dataclass
class CrewsListed(Message):
    crews: list[Any]
    engine_topologies: dict[str, list[str]]


@dataclass
class CrewLoaded(Message):
    loaded: Loaded


@dataclass
class Validated(Message):
    """A crew text was checked: `check.problem` is None when it is a valid crew."""

    check: Check


@dataclass
class Saved(Message):
    path: Path


@dataclass
class Prepared(Message):
    prepared: Any


def list_crews(services: Any) -> tuple[list[Any], dict[str, list[str]]]:
    """The crews, and each registered engine's topologies (reading the registry is I/O)."""
    from workbench.engines import engines

    return services.crews(), {name: sorted(info.topologies, key=ALL_TOPOLOGIES.index)
                              for name, info in engines().items()}


def crew_label(entry: Any) -> str:
    """A crew in the list: its name and where it comes from (unless shipped), then its shape
    or its problem, and which crew of the same name it hides."""
    from rich.markup import escape

    source = getattr(entry, "source", "shipped")
    head = escape(entry.name) + (f" [dim]({escape(source)})[/]" if source != "shipped" else "")
    if entry.status != "ok":
        return f"{head}\n[red]{escape(entry.status[:60])}[/]"
    overrides = getattr(entry, "overrides", [])
    hides = f" · overrides {', '.join(overrides)}" if overrides else ""
    return f"{head}\n[dim]{entry.topology} · {plural(entry.agents, 'agent')}{escape(hides)}[/]"


def load_crew_data(path: Path | None) -> Loaded:
    """The crew file's text and data; YAML that cannot be read still opens (in the YAML
    view, with its problem), so it can be fixed here."""
    if path is None:
        return Loaded(None, None, copy.deepcopy(TEMPLATE))
    from workbench.errors import SpecError
    from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines, read_yaml_text

    try:
        text = read_yaml_text(path)
    except OSError as exc:
        raise SpecError(f"cannot read the crew file: {exc.strerror or exc}", str(path)) from None
    except LocatedYAMLError as exc:
        raise SpecError(str(exc), str(path), exc.line) from None
    try:
        data = load_with_lines(text)[0]
    except LocatedYAMLError as exc:
        return Loaded(path, text, None, str(exc))
    if not isinstance(data, dict):
        return Loaded(path, text, None, "a crew file must be a mapping with name, agents, ...")
    return Loaded(path, text, data)


def validate(text: str, file: str, engine: str | None, topology: str | None) -> Check:
    """Parse the YAML as the CLI would; a problem comes back located, not raised."""
    from workbench.errors import SpecError
    from workbench.spec.loader import parse_crew
    from workbench.spec.topology import resolve
    from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines

    try:
        spec = parse_crew(text, file, engine=engine, topology=topology)
        problem = name_problem(spec.name)
        if problem:  # the name becomes a file name: checked here even if the spec did not
            lines = load_with_lines(text)[1]
            raise SpecError(f"name: {problem}", file, lines.get(("name",)))
    except SpecError as exc:
        try:
            lines = load_with_lines(text)[1]
        except LocatedYAMLError:
            lines = {}
        return Check(text, exc, None, problem_path(exc.problem, exc.line, lines))
    return Check(text, None, Shape.of(resolve(spec, topology)),
                 agents={a.name: a.model_dump() for a in spec.agents})


def prepare_run(source: str, text: str, engine: str | None, topology: str | None,
                task: str) -> Any:
    from workbench.mesh.session import prepare

    return prepare(source, engine, topology, task or None, text=text)


def write_crew(services: Any, name: str, text: str) -> Path:
    problem = name_problem(name)
    if problem:  # never a path outside the crews folder, whatever reached this point
        from workbench.errors import UserInputError

        raise UserInputError(f"cannot save {name!r}: {problem}")
    return services.save_crew(name, text)


class ComposeScreen(SectionScreen):
    SECTION = "compose"
    CSS_PATH = Path(__file__).with_name("compose.tcss")
    AUTO_FOCUS = "#compose-crews"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run", "Run", id="compose.run",
                tooltip="Validate, then run the crew on its task in the Run section"),
        Binding("ctrl+s", "save", "Save", id="compose.save",
                tooltip="Save as a crew file in the home's crews folder"),
        Binding("ctrl+o", "save_as", "Save as", id="compose.save_as",
                tooltip="Save a copy of the crew under a new name, and edit the copy"),
        # priority: the YAML editor would take ctrl+y (redo) for itself
        Binding("ctrl+y", "toggle_yaml", "YAML", id="compose.yaml", priority=True,
                tooltip="Show the crew as YAML to edit it there, or go back to the form"),
        Binding("ctrl+g", "goto_problem", "Go to problem", id="compose.goto_problem",
                tooltip="Put the cursor where the validation problem is"),
        Binding("ctrl+n", "add_agent", "Add agent", id="compose.add_agent",
                tooltip="Add an agent to the crew"),
        Binding("ctrl+l", "remove_agent", "Remove agent", id="compose.remove_agent",
                tooltip="Remove the selected agent from the crew"),
        Binding("ctrl+t", "focus_task", "Task", id="compose.task", show=False,
                tooltip="Type the task the crew works on (saved with the crew)"),
        # not in the footer, which is full at 80 columns: the keys panel and README list them
        Binding("ctrl+b", "add_from_registry", "Add from registry", id="compose.registry",
                show=False,
                tooltip="Add an agent of another crew (the capability registry): taken by "
                        "reference (use:) or copied"),
        Binding("ctrl+f", "discover_mcp", "MCP tools", id="compose.mcp", show=False,
                tooltip="Start the crew's MCP servers and list their tools, to pick beside "
                        "the built-in tools (enter in an agent's Tools field)"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.path: Path | None = None
        #: The crew being edited; the form shows it and turns input into its edits.
        self.draft = CrewDraft()
        self.yaml_mode = False
        self.agent_index = 0
        self.engine_topologies: dict[str, list[str]] = {}
        self.check: Check | None = None
        self._debounce: Timer | None = None
        self._crews: list[Any] = []
        self._tab_generation = 0
        #: The name under which the agent being edited is referred to by roles and script.
        self._refs_name = ""
        self._marked: Widget | None = None
        self._missing_keys: list[str] = []
        #: What the validation bar says about the last check (the key warning goes below).
        self._verdict = ""
        #: The text being written by the last save, to remember as saved once it is.
        self._saving = ""
        #: MCP tools found by the last discovery (ctrl+f), and servers that failed.
        self.mcp = compose_mcp.Discovery()
        #: Set when the crew was opened from a session's step: a run forks that session.
        self.fork: Any = None

    @property
    def data(self) -> dict[str, Any]:
        """The crew's data as the form has it."""
        return self.draft.data

    # -- the layout -----------------------------------------------------------------------

    def compose_body(self) -> ComposeResult:
        with Horizontal(id="compose-body"):
            crews = OptionList(id="compose-crews", classes="panel")
            crews.border_title = "Crews"
            yield crews
            with VerticalScroll(id="compose-form", classes="panel"):
                with Horizontal(classes="field"):
                    yield Label("Crew", classes="field-label")
                    yield Input(id="crew-name", compact=True, placeholder="crew name")
                with Horizontal(classes="field"):
                    yield Label("Description", classes="field-label")
                    yield Input(id="crew-description", compact=True,
                                placeholder="what this crew is for")
                with Horizontal(classes="field"):
                    yield Label("Engine", classes="field-label")
                    # the registry's engines arrive with the crew list (_offer_engines)
                    yield Select([("autogen", "autogen")], id="crew-engine", compact=True,
                                 allow_blank=False, value="autogen")
                    yield Label("Topology", classes="field-label short")
                    yield Select([(t, t) for t in ALL_TOPOLOGIES], id="crew-topology",
                                 compact=True, allow_blank=False, value="star")
                roles = RolesEditor(id="compose-roles")
                roles.display = False  # until a crew is open
                yield roles
                with Horizontal(classes="field"):
                    yield Label("Model", classes="field-label")
                    yield Input(id="crew-model", compact=True,
                                placeholder="default model of every agent, e.g. scripted/demo")
                yield TopologyView(id="compose-preview")
                yield Tabs(id="compose-agents")
                with Vertical(id="agent-form"):
                    uses = Static("", id="agent-uses")
                    uses.display = False  # only for an agent taken from another crew
                    yield uses
                    for name in AGENT_FIELDS:
                        with Horizontal(classes="field"):
                            yield Label(name.capitalize(), classes="field-label")
                            yield Input(id=f"agent-{name}", compact=True,
                                        placeholder=field_hint(name))
                with Horizontal(classes="field", id="task-field"):
                    yield Label("Task", classes="field-label")
                    yield Input(id="crew-task", compact=True,
                                placeholder="what the crew should do (default: its description)")
            editor = YamlEditor(id="compose-yaml", classes="panel")
            editor.display = False
            yield editor
        yield Static("", id="compose-validation")
        mcp = Static("", id="compose-mcp")
        mcp.display = False  # until MCP tools are discovered
        yield mcp

    def on_mount(self) -> None:
        from workbench.spec.registry import use_settings

        # a crew's `use:` agents are found with this window's home and database
        use_settings(self.wb.settings)
        self.query_one("#compose-form").border_title = "Crew"
        self.query_one("#compose-validation", Static).update("[dim]Pick a crew on the left.[/]")
        self._list_crews()

    def _list_crews(self) -> None:
        in_thread(self, list_crews, self.wb.services, done=lambda r: CrewsListed(*r),
                  what="listing crews", group="compose-crews")

    # -- the crew list --------------------------------------------------------------------

    def on_crews_listed(self, message: CrewsListed) -> None:
        self._crews = message.crews
        self.engine_topologies = message.engine_topologies
        self._offer_engines()
        crews = self.query_one("#compose-crews", OptionList)
        highlighted = crews.highlighted
        crews.clear_options()
        crews.add_option(Option("[b]+ new crew[/b]", id=NEW_CREW))
        for i, entry in enumerate(self._crews):
            crews.add_option(Option(crew_label(entry), id=str(i)))
        opened = next((i for i, c in enumerate(self._crews) if self.path is not None
                       and Path(c.path) == self.path), None)
        if opened is not None:
            crews.highlighted = opened + 1
        else:
            crews.highlighted = highlighted if highlighted is not None else 0
        if not self.data and not self.yaml_mode and self._crews:
            self._open(0)

    @on(OptionList.OptionSelected, "#compose-crews")
    def _crew_chosen(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id
        if option_id is None:
            return
        index = None if option_id == NEW_CREW else int(option_id)
        if not self._dirty():
            self._open(index)
            return
        from workbench.tui.screens.modals import ConfirmModal

        name = self._crew_label()

        def answer(yes: bool | None) -> None:
            if yes:
                self._open(index)

        self.app.push_screen(ConfirmModal(f"{name} has unsaved edits. Discard them and open "
                                          "the other crew?", "Discard"), answer)

    def _open(self, index: int | None) -> None:
        self.fork = None  # another crew: a run of it forks nothing
        path = None if index is None else Path(self._crews[index].path)
        in_thread(self, load_crew_data, path, done=CrewLoaded, what="opening the crew",
                  group="compose-load")

    def on_crew_loaded(self, message: CrewLoaded) -> None:
        loaded = message.loaded
        self.path = loaded.path
        self.agent_index = 0
        self.check = None
        self.draft = CrewDraft.opened(loaded.data, loaded.text)
        self.mcp = compose_mcp.Discovery()  # another crew: its servers are not known yet
        servers = compose_mcp.server_names(loaded.data or {}, {})
        self._show_mcp(f"[dim]MCP servers {', '.join(servers)} · ctrl+f starts them to list "
                       "their tools[/]" if servers else "")
        if loaded.data is None:
            # YAML that does not parse: the YAML view is the only place to mend it
            self._show_yaml(loaded.text or "")
            self._schedule()
            return
        if self.yaml_mode:
            self._show_form()
        self._fill_all()
        self._schedule()

    # -- filling the form from the data ---------------------------------------------------

    def _fill_all(self) -> None:
        self._fill_crew()
        self._fill_roles()
        self._fill_tabs()
        self._fill_agent()
        self._title()

    def _set(self, selector: str, value: str) -> None:
        widget = self.query_one(selector, Input)
        if widget.value != value:
            widget.value = value
            if not widget.has_focus:  # a long value shows its start, not its end
                widget.cursor_position = 0
                widget.call_after_refresh(widget.scroll_to, 0, animate=False, force=True)

    def _fill_crew(self) -> None:
        d = self.data
        for widget_id, key in CREW_INPUTS.items():
            value = d.get(key)
            self._set(f"#{widget_id}", "" if value is None else str(value))
        engine = d.get("engine") if d.get("engine") in self.engine_topologies else DEFAULT_ENGINE
        self.query_one("#crew-engine", Select).value = engine
        self._offer_topologies(engine)
        kind = self.draft.kind()
        topology = self.query_one("#crew-topology", Select)
        if kind in self._topologies(engine):
            topology.value = kind

    def _offer_engines(self) -> None:
        """Every registered engine, keeping the one chosen (not an edit of the crew)."""
        select = self.query_one("#crew-engine", Select)
        names = list(self.engine_topologies)
        if not names or [o[1] for o in getattr(select, "_options", [])] == names:
            return
        current = select.value
        with self.prevent(Select.Changed):
            select.set_options([(n, n) for n in names])
            select.value = current if current in names else names[0]

    def _topologies(self, engine: str) -> list[str]:
        return self.engine_topologies.get(engine, list(ALL_TOPOLOGIES))

    def _offer_topologies(self, engine: str) -> None:
        """Only what the engine supports is offered (graph is AutoGen's alone)."""
        select = self.query_one("#crew-topology", Select)
        current = select.value
        offered = self._topologies(engine)
        if [o[1] for o in getattr(select, "_options", [])] != offered:
            select.set_options([(t, t) for t in offered])
        select.value = current if current in offered else offered[0]

    def _fill_roles(self) -> None:
        topology = self.data.get("topology")
        self.query_one(RolesEditor).show(self._choice()[1],
                                         topology if isinstance(topology, dict) else {},
                                         agent_names(self.data))

    def _fill_tabs(self) -> None:
        tabs = self.query_one("#compose-agents", Tabs)
        tabs.clear()
        # removal is asynchronous: fresh ids keep the new tabs from colliding with the old
        self._tab_generation += 1
        agents = self.draft.agents()
        for i, agent in enumerate(agents):
            used = agent.get("use")
            name = str(agent.get("name") or (isinstance(used, str) and used.partition("/")[2])
                       or f"agent {i + 1}")
            tab = Tab(name, id=self._tab_id(i))
            tab.styles.color = agent_colour(i)
            tabs.add_tab(tab)
        if agents:
            tabs.active = self._tab_id(min(self.agent_index, len(agents) - 1))

    def _tab_id(self, index: int) -> str:
        return f"agent-tab-{self._tab_generation}-{index}"

    def _fill_agent(self) -> None:
        agent = self.draft.agent(self.agent_index)
        form = self.query_one("#agent-form")
        form.display = agent is not None
        if agent is None:
            return
        self._refs_name = str(agent.get("name") or "").strip()
        for name in AGENT_FIELDS:
            value = agent.get(name)
            if name in LIST_FIELDS:
                text = ", ".join(str(v) for v in value or []) if isinstance(value, list) \
                    else str(value or "")
            else:
                text = "" if value is None else str(value)
            self._set(f"#agent-{name}", text)
        self._show_uses()

    def _show_uses(self) -> None:
        """For an agent taken with `use:`, where from; its blank fields show, greyed, what
        they are taken as (from the last valid check)."""
        from rich.markup import escape

        ref = self.draft.uses(self.agent_index)
        label = self.query_one("#agent-uses", Static)
        label.display = ref is not None
        agent = self.draft.agent(self.agent_index) or {}
        resolved = {}
        if ref is not None and self.check is not None and self.check.agents:
            resolved = self.check.agents.get(str(agent.get("name") or ""), {})
        if ref is not None:
            label.update(f"[b]use: {escape(ref)}[/] [dim]· blank fields are its own; what "
                         "you type overrides them · ctrl+y shows the YAML[/]")
        mcp = bool(compose_mcp.server_names(self.data, agent))
        for name in AGENT_FIELDS:
            hint = field_hint(name, mcp)
            if ref is not None and name in resolved:
                value = resolved[name]
                shown = ", ".join(map(str, value)) if isinstance(value, list) else value
                hint = str(shown or "") or hint
            self.query_one(f"#agent-{name}", Input).placeholder = hint

    @on(Tabs.TabActivated, "#compose-agents")
    def _agent_chosen(self, event: Tabs.TabActivated) -> None:
        if event.tab is None or event.tab.id is None:
            return
        index = int(event.tab.id.rsplit("-", 1)[-1])
        if index != self.agent_index:
            self.agent_index = index
            self._fill_agent()

    # -- edits back into the data ---------------------------------------------------------

    @on(Input.Changed)
    def _edited(self, event: Input.Changed) -> None:
        if not self.data or event.input.id is None or self.yaml_mode:
            return
        field = event.input.id
        if field in CREW_INPUTS:
            changed = self.draft.set_crew(CREW_INPUTS[field], event.value)
        elif field.startswith("agent-"):
            name = field[len("agent-"):]
            changed = self.draft.set_agent(self.agent_index, name, event.value)
            if changed and name == "name":
                self._renamed(event.value.strip())
        else:
            return
        if changed:
            self._form_edited()

    def _renamed(self, new: str) -> None:
        """The agent's tab shows its new name; what named it follows (see the draft)."""
        if self.draft.follow_rename(self.agent_index, self._refs_name, new):
            self._refs_name = new
        tab = self.query(f"#{self._tab_id(self.agent_index)}")
        if tab:
            tab.first(Tab).label = new or f"agent {self.agent_index + 1}"
        self._fill_roles()

    def _form_edited(self) -> None:
        """The crew changed on the form: say so, and check it again."""
        self._title()
        self._schedule()

    @on(Select.Changed, "#crew-engine")
    def _engine_changed(self, event: Select.Changed) -> None:
        if not self.data or self.yaml_mode or not isinstance(event.value, str):
            return
        self._offer_topologies(event.value)
        if self.draft.set_engine(event.value):
            self._form_edited()

    @on(Select.Changed, "#crew-topology")
    def _topology_changed(self, event: Select.Changed) -> None:
        if not self.data or self.yaml_mode or not isinstance(event.value, str):
            return
        if self.draft.set_kind(event.value):
            self._form_edited()
        self._fill_roles()

    @on(RoleChanged)
    def _role_changed(self, event: RoleChanged) -> None:
        if not self.data:
            return
        self.draft.set_role(event.role, event.value)
        if event.role != "executors":
            self._fill_roles()  # who may execute depends on the planner and the reviewer
        self._form_edited()

    @on(EdgeEdited)
    def _edge_edited(self, event: EdgeEdited) -> None:
        if self.draft.edit_edge(event.index, event.end, event.value):
            self._form_edited()

    @on(EdgeAdded)
    def _edge_added(self) -> None:
        if not self.draft.add_edge():
            self.notify("A graph edge joins two agents: add another agent first",
                        severity="warning")
            return
        self._fill_roles()
        self._form_edited()
        self.call_after_refresh(self.query_one(RolesEditor).focus_last_edge)

    @on(EdgeRemoved)
    def _edge_removed(self, event: EdgeRemoved) -> None:
        if not self.draft.remove_edge(event.index):
            return
        self._fill_roles()
        self._form_edited()
        self.query_one("#compose-form").focus()

    # -- the YAML view --------------------------------------------------------------------

    def current_text(self) -> str:
        """The crew as it would be saved: the YAML view's text, the file's own text while the
        form has not changed it, or the form's data as YAML."""
        if self.yaml_mode:
            return self.query_one(YamlEditor).text
        return self.draft.text()

    def action_toggle_yaml(self) -> None:
        if self.yaml_mode:
            self._yaml_to_form()
        elif self.data or self.draft.source is not None:
            self._show_yaml(self.current_text())
            self._mark_problem()
            editor = self.query_one(YamlEditor)
            editor.select_line_of_error()

    def _show_yaml(self, text: str) -> None:
        editor = self.query_one(YamlEditor)
        editor.load_text(text)
        editor.cursor_blink = getattr(self.app, "cursor_blink", True)
        self.yaml_mode = True
        self.query_one("#compose-form").display = False
        editor.display = True
        editor.focus()
        self._title()
        self.refresh_bindings()

    def _show_form(self) -> None:
        self.yaml_mode = False
        self.query_one(YamlEditor).display = False
        self.query_one("#compose-form").display = True
        self.refresh_bindings()

    def _yaml_to_form(self) -> None:
        """Back to the form, which is read again from the YAML (if it can be read)."""
        from workbench.spec.yamlpos import LocatedYAMLError, load_with_lines

        text = self.query_one(YamlEditor).text
        try:
            data = load_with_lines(text)[0]
        except LocatedYAMLError as exc:
            where = f"line {exc.line}: " if exc.line else ""
            self.notify(f"The form cannot show this YAML: {where}{exc}", severity="error")
            return
        if not isinstance(data, dict):
            self.notify("The form cannot show this YAML: a crew file is a mapping with name, "
                        "agents, ...", severity="error")
            return
        self.draft.read(data, text)
        self._show_form()
        self.agent_index = min(self.agent_index, max(0, len(self.draft.agents()) - 1))
        self._fill_all()
        self.query_one("#compose-form").focus()
        self._schedule()

    @on(TextArea.Changed, "#compose-yaml")
    def _yaml_edited(self) -> None:
        if self.yaml_mode:
            self._title()
            self._schedule()

    # -- validation as you type -----------------------------------------------------------

    def _schedule(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.15, self._validate)

    def _file_name(self) -> str:
        return self.path.name if self.path else f"{self.data.get('name') or 'crew'}.yaml"

    def _overrides(self) -> tuple[str | None, str | None]:
        """The engine and topology the form chose (the YAML view's text decides alone)."""
        if self.yaml_mode or not self.data:
            return None, None
        return self._choice()

    def _validate(self) -> None:
        engine, topology = self._overrides()
        in_thread(self, validate, self.current_text(), self._file_name(), engine, topology,
                  done=Validated, what="checking the crew", group="compose-validate")
        self._check_keys()

    def _check_now(self) -> None:
        """Save and run act on what is on screen, not on the last check made while typing."""
        text = self.current_text()
        if self.check is not None and text == self.check.text:
            return
        if self._debounce is not None:
            self._debounce.stop()
        self.workers.cancel_group(self, "compose-validate")
        engine, topology = self._overrides()
        self.on_validated(Validated(validate(text, self._file_name(), engine, topology)))

    def _choice(self) -> tuple[str, str]:
        engine = self.query_one("#crew-engine", Select).value
        topology = self.query_one("#crew-topology", Select).value
        return (engine if isinstance(engine, str) else "autogen",
                topology if isinstance(topology, str) else "network")

    def _field(self) -> FieldRef | None:
        if self.check is None or self.check.problem is None:
            return None
        return field_for(self.check.path, self._choice()[1], AGENT_FIELDS)

    def on_validated(self, message: Validated) -> None:
        from rich.markup import escape

        check = message.check
        if check.text != self.current_text():
            return  # typed on since: a newer check is on its way
        self.check = check
        status = self.query_one("#compose-validation", Static)
        self._title()
        self.refresh_bindings()
        names = agent_names(self.data)
        colours = {n: agent_colour(i) for i, n in enumerate(names)}
        preview = self.query_one("#compose-preview", TopologyView)
        self._mark_problem()
        if not self.yaml_mode and self.data:
            self._show_uses()
        if check.problem is None:
            engine, topology = self._choice() if not self.yaml_mode else ("", "")
            what = f" · {engine} · {topology}" if engine else ""
            self._verdict = (f"[green]✔ valid[/] · {plural(len(names), 'agent')}{what}"
                             " · [dim]ctrl+s saves · ctrl+r runs[/]")
            status.set_classes("-valid")
            self._show_status()
            if check.shape is not None:
                preview.show(check.shape, colours)
            return
        problem = check.problem
        line = problem.line
        source = ""
        if line:
            lines = check.text.splitlines()
            if 0 < line <= len(lines):
                source = f"[dim]line {line} │[/] {escape(lines[line - 1].strip()[:60])}"
        field = self._field()
        text = problem.problem
        if self.yaml_mode or field is None:
            head = f"line {line}: " if line else ""
            hint = "ctrl+g selects the line" if line else ""
        else:
            head = f"{field.label}: "
            where = ".".join(str(p) for p in check.path or ())
            text = problem.problem
            if where and text.startswith(f"{where}: "):  # the label says where already
                text = text[len(where) + 2:]
            hint = "ctrl+g goes there" if field.widget or field.agent is not None else \
                "ctrl+y shows the YAML"
        tail = " · ".join(p for p in (source, f"[dim]{hint}[/]" if hint else "") if p)
        self._verdict = f"[red]✘ {escape(head + text)}[/]" + (
            f"\n{tail}" if tail else "")
        status.set_classes("-invalid")
        self._show_status()
        preview.show(Shape.guess(self._choice()[1], names), colours)

    def _mark_problem(self) -> None:
        """Mark the field (or, in the YAML view, the line) the current problem is on."""
        if self._marked is not None:
            self._marked.remove_class("-invalid")
            self._marked = None
        for tab in self.query("#compose-agents Tab.-invalid"):
            tab.remove_class("-invalid")
        problem = self.check.problem if self.check else None
        self.query_one(YamlEditor).mark_error(problem.line if problem else None)
        field = self._field()
        if field is None:
            return
        if field.agent is not None:
            tab = self.query(f"#{self._tab_id(field.agent)}")
            if tab:
                tab.first().add_class("-invalid")
            if field.agent != self.agent_index:
                return
        widget = self._widget(field)
        if widget is not None:
            widget.add_class("-invalid")
            self._marked = widget

    def _widget(self, field: FieldRef) -> Widget | None:
        if field.widget is None:
            return None
        if field.widget.startswith("edge-"):
            _, index, end = field.widget.split("-")
            return self.query_one(RolesEditor).edge_field(int(index), end)
        found = self.query(f"#{field.widget}")
        return found.first() if found else None

    def action_goto_problem(self) -> None:
        field = self._field()
        if field is None:
            return
        if self.yaml_mode or (field.widget is None and field.agent is None):
            if not self.yaml_mode:
                self.action_toggle_yaml()
            editor = self.query_one(YamlEditor)
            editor.focus()
            editor.select_line_of_error()
            return
        if field.agent is not None and field.agent != self.agent_index:
            self.agent_index = field.agent
            self.query_one("#compose-agents", Tabs).active = self._tab_id(field.agent)
            self._fill_agent()
            self._mark_problem()
        widget = self._widget(field)
        if widget is None and field.agent is not None:
            widget = self.query_one("#compose-agents")
        if widget is not None and not widget.focusable:
            # a group (the edges): its first field, or its button
            widget = next((w for w in widget.query("*") if w.focusable), widget)
        if widget is not None:
            widget.focus()
            widget.scroll_visible()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "goto_problem":
            return self.check is not None and self.check.problem is not None
        if action in ("add_agent", "remove_agent", "add_from_registry"):
            return not self.yaml_mode
        return True

    # -- provider keys --------------------------------------------------------------------

    def _check_keys(self) -> None:
        """Warn while editing when a model of the crew has no API key (as a run would)."""
        in_thread(self, missing_keys, self.current_text(), self._file_name(),
                  self.wb.settings.home, done=lambda r: KeysChecked(*r),
                  what="checking provider keys", group="compose-keys")

    def on_keys_checked(self, message: KeysChecked) -> None:

        if message.text != self.current_text():
            return
        self._missing_keys = message.missing
        self._show_status()

    def _show_status(self) -> None:
        """The verdict of the last check, then any missing API key (the run would stop)."""
        from rich.markup import escape

        keys = "; ".join(self._missing_keys)
        warning = f"\n[b $warning]⚠ {escape(keys)}[/]" if keys else ""
        self.query_one("#compose-validation", Static).update(self._verdict + warning)

    # -- save and run ---------------------------------------------------------------------

    def _crew_label(self) -> str:
        if self.path is not None:
            return self.path.name
        return str(self.data.get("name") or "the new crew")

    def _title(self) -> None:
        edited = " · [b]edited[/]" if self._dirty() else ""
        where = self.path.name if self.path else "new"
        if self.fork is not None:
            where = f"forking from {self.fork.label}"
        self.query_one("#compose-form").border_title = f"Crew · {where}{edited}"
        self.query_one(YamlEditor).border_title = f"YAML · {where}{edited}"

    def _dirty(self) -> bool:
        """Unsaved edits: the crew differs from what was last opened or saved."""
        if self.yaml_mode:
            return self.draft.text_dirty(self.query_one(YamlEditor).text)
        return self.draft.dirty()

    def unsaved_edits(self) -> str | None:
        """The crew's name when it has unsaved edits (quitting asks first), else None."""
        if not self.is_mounted or (not self.data and not self.yaml_mode):
            return None
        return self._crew_label() if self._dirty() else None

    def _ready(self, doing: str) -> bool:
        if not self.data and not self.yaml_mode:
            self.notify("Pick a crew first", severity="warning")
            return False
        self._check_now()
        problem = self.check.problem if self.check else None
        if problem is not None or self.check is None:
            where = f"line {problem.line}: " if problem and problem.line else ""
            what = problem.problem if problem else "not checked yet"
            self.notify(f"Cannot {doing}: {where}{what}", severity="error")
            return False
        return True

    def _saved_data(self) -> dict[str, Any]:
        """The crew's data as it would be saved (the YAML view's text, read)."""
        if not self.yaml_mode:
            return self.data
        from workbench.spec.yamlpos import load_with_lines

        data = load_with_lines(self.current_text())[0]
        return data if isinstance(data, dict) else {}

    def action_save(self) -> None:
        if not self._ready("save"):
            return
        name = str(self._saved_data().get("name") or "crew")
        self._write(name, self.current_text())

    def _write(self, name: str, text: str) -> None:
        from workbench.crews import user_crew_path

        target = user_crew_path(self.wb.settings, name)

        def write(yes: bool | None = True) -> None:
            if yes:
                self._saving = text
                in_thread(self, write_crew, self.wb.services, name, text, done=Saved,
                          what="saving the crew", group="compose-save")

        if target.exists() and target != self.path:
            from workbench.tui.screens.modals import ConfirmModal

            self.app.push_screen(ConfirmModal(f"{target.name} exists in the crews folder. "
                                              "Replace it?", "Replace"), write)
        else:
            write()

    def on_saved(self, message: Saved) -> None:
        from workbench.tui.services import display_path

        self.path = message.path
        text = self._saving or self.current_text()
        self.draft.saved(text, self._saved_data(), form=not self.yaml_mode)
        self._title()
        self.notify(f"Saved to {display_path(message.path)}", title="Crew saved")
        self._list_crews()

    def action_save_as(self) -> None:
        if not self._ready("save a copy"):
            return
        from workbench.crews import YOURS, crew_files
        from workbench.tui.screens.compose_modals import NameModal

        current = str(self._saved_data().get("name") or "crew")
        found = crew_files(self.wb.settings)

        def why(name: str) -> str | None:
            """Refused if your crews have it; allowed, with a note, if it hides another."""
            if name not in found:
                return None
            if found[name].source == YOURS:
                return f"your crews folder already has {name}; choose another name"
            return ""

        def chosen(name: str | None) -> None:
            if not name:
                return
            text = with_name(self.current_text(), name)
            if self.yaml_mode:
                self.query_one(YamlEditor).load_text(text)
            else:
                self.draft.named(name, text)
                self._set("#crew-name", name)
            self.path = None
            self._write(name, text)

        self.app.push_screen(NameModal(f"Save a copy of {current} as", f"{current}-copy",
                                       why), chosen)

    def action_run(self) -> None:
        if not self._ready("run"):
            return
        engine, topology = self._overrides()
        task = self.query_one("#crew-task", Input).value.strip() if not self.yaml_mode else ""
        source = str(self.path) if self.path else f"{self._saved_data().get('name') or 'crew'}.yaml"
        in_thread(self, prepare_run, source, self.current_text(), engine, topology, task,
                  done=Prepared, what="preparing the run", group="compose-run")

    async def on_prepared(self, message: Prepared) -> None:
        prepared = message.prepared
        # a crew opened from a session's step forks that session when run (run --from)
        fork = self.fork.fork if self.fork is not None else None
        if prepared.missing_inputs:
            # the crew's {placeholders} without a value are asked for, as a terminal would
            from workbench.tui.screens.inputs import InputsModal, fill_inputs

            async def given(values: dict[str, str] | None) -> None:
                if values is not None:
                    await self.wb.start_run(fill_inputs(prepared, values), fork)

            self.app.push_screen(InputsModal(prepared.spec.name, prepared.missing_inputs),
                                 given)
            return
        await self.wb.start_run(prepared, fork)

    def open_fork(self, opened: Any) -> None:
        """Open the crew a session ran (its stored copy) to fork that session at a step
        (workbench.tui.fork.ForkOpened): a run from here replays the steps before it."""
        # a crew still being opened from the list must not replace this one
        self.workers.cancel_group(self, "compose-load")
        self.on_crew_loaded(CrewLoaded(opened.loaded))
        self.fork = opened
        if opened.task and not self.yaml_mode:
            # the session's task is part of the crew as forked, not an edit of the user's:
            # only what they change from here is unsaved
            if self.draft.set_crew("task", opened.task) and self.draft.clean is not None:
                self.draft.clean = copy.deepcopy(self.draft.data)
            self._set("#crew-task", opened.task)
        self._title()
        self.notify(f"Forking from {opened.label}: ctrl+r runs {opened.crew} as it is here, "
                    "with the steps before answered from the recording", title="Fork")

    # -- agents ---------------------------------------------------------------------------

    def action_add_agent(self) -> None:
        if not self.data or self.yaml_mode:
            return
        self.agent_index = self.draft.add_agent()
        self._fill_tabs()
        self._fill_agent()
        self._fill_roles()
        self.query_one("#agent-role", Input).focus()
        self._form_edited()

    def action_remove_agent(self) -> None:
        if self.yaml_mode:
            return
        if len(self.draft.agents()) <= 1:
            self.notify("A crew needs at least one agent", severity="warning")
            return
        name, also = self.draft.remove_agent(self.agent_index)
        if also:
            self.notify(f"Removed {name} and its {' and '.join(also)}", title="Agent removed")
        self.agent_index = max(0, self.agent_index - 1)
        self._fill_tabs()
        self._fill_agent()
        self._fill_roles()
        self._form_edited()

    def action_focus_task(self) -> None:
        if self.yaml_mode:
            self._yaml_to_form()
        self.query_one("#crew-task", Input).focus()

    # -- agents from the registry ---------------------------------------------------------

    def action_add_from_registry(self) -> None:
        if not self.data or self.yaml_mode:
            return
        from workbench.spec.registry import load_registry

        in_thread(self, load_registry, self.wb.settings, done=RegistryLoaded,
                  what="reading the agent registry", group="compose-registry")

    def on_registry_loaded(self, message: RegistryLoaded) -> None:
        from workbench.tui.screens.compose_modals import AgentPickerModal

        def chosen(choice: tuple[Any, str] | None) -> None:
            if choice is not None:
                self.add_registry_agent(*choice)

        crew = self.path.stem if self.path is not None else ""
        self.app.push_screen(AgentPickerModal(message.registry, crew), chosen)

    def add_registry_agent(self, agent: Any, how: str) -> None:
        """Append a registry agent: by reference (`use:`) or as a copy of its fields."""
        if how == "copy":
            self.agent_index = self.draft.add_copy(agent.fields)
            what = f"a copy of {agent.ref}"
        else:
            self.agent_index = self.draft.add_use(agent.ref)
            what = f"use: {agent.ref}"
        name = self.draft.agent(self.agent_index).get("name")  # type: ignore[union-attr]
        self._fill_tabs()
        self._fill_agent()
        self._fill_roles()
        self._form_edited()
        self.notify(f"Added {name} as {what}", title="Agent added")

    # -- MCP tools ------------------------------------------------------------------------

    def action_discover_mcp(self) -> None:
        """Start the crew's MCP servers (off the UI thread), one by one, to list their
        tools; progress and each server's error show below the validation."""
        if not self._ready("discover MCP tools"):
            return
        in_thread(self, compose_mcp.discover, self, self.current_text(), self._file_name(),
                  done=compose_mcp.Discovered, what="discovering MCP tools",
                  group="compose-mcp")

    def on_mcp_progress(self, message: compose_mcp.McpProgress) -> None:
        self._show_mcp(message.text)

    def on_discovered(self, message: compose_mcp.Discovered) -> None:
        self.mcp = message.discovery
        self._show_mcp(self.mcp.summary())
        if self.mcp.errors:
            first, why = next(iter(self.mcp.errors.items()))
            self.notify(f"MCP server {first}: {why}", title="MCP server failed",
                        severity="error")

    def _show_mcp(self, text: str) -> None:
        widget = self.query_one("#compose-mcp", Static)
        widget.display = bool(text)
        widget.update(text)

    @on(Input.Submitted, "#agent-tools")
    def _pick_tools(self) -> None:
        """Enter in an agent's Tools: pick them from the built-in and MCP tools."""
        agent = self.draft.agent(self.agent_index)
        if agent is None:
            return
        from workbench.tui.screens.compose_modals import ToolsModal

        current = [t.strip() for t in self.query_one("#agent-tools", Input).value.split(",")
                   if t.strip()]
        servers = compose_mcp.server_names(self.data, agent)

        def chosen(tools: list[str] | None) -> None:
            if tools is not None:
                field = self.query_one("#agent-tools", Input)
                field.value = ", ".join(tools)  # the edit goes through _edited
                field.focus()

        self.app.push_screen(ToolsModal(str(agent.get("name") or ""), current,
                                        compose_mcp.builtin_tools(), servers,
                                        self.mcp.tools, self.mcp.errors), chosen)


@dataclass
class RegistryLoaded(Message):
    registry: Any


def field_hint(name: str, mcp: bool = False) -> str:
    """The greyed hint of an agent field on the form (a crew with MCP servers is told how
    to pick their tools)."""
    if name == "tools" and mcp:
        return "comma-separated; enter picks built-in and MCP tools (ctrl+f lists them)"
    if name in LIST_FIELDS:
        return "comma-separated"
    return "required" if name in REQUIRED else "optional"


@dataclass
class KeysChecked(Message):
    text: str
    missing: list[str]


def missing_keys(text: str, file: str, home: Path) -> tuple[str, list[str]]:
    """The keys the crew in `text` would run without, one line each (none when the crew does
    not validate: its problem is shown instead)."""
    from workbench.errors import WorkbenchError
    from workbench.gateway.credentials import missing_keys as missing
    from workbench.spec.loader import parse_crew

    try:
        return text, missing(parse_crew(text, file), home)
    except WorkbenchError:
        return text, []
