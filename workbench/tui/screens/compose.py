"""Compose: pick a crew, edit its agents, engine and topology, validate as you type, save, run."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, OptionList, Select, Static, Tab, Tabs
from textual.widgets.option_list import Option

from workbench.tui.background import in_thread
from workbench.tui.screens.base import SectionScreen
from workbench.tui.topology_art import Shape, agent_colour
from workbench.tui.widgets.topology import TopologyView

#: The agent fields a person edits here (CrewAI's agents.yaml names).
AGENT_FIELDS = ("name", "role", "goal", "backstory", "model", "tools", "capabilities", "domain")
LIST_FIELDS = frozenset({"tools", "capabilities"})
REQUIRED = frozenset({"name", "role", "goal"})
ALL_TOPOLOGIES = ("star", "layered", "network", "graph")
NEW_CREW = "__new__"
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


def crew_yaml(data: dict[str, Any]) -> str:
    import yaml

    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=100)


class CrewsListed(Message):
    def __init__(self, listed: tuple[list[Any], dict[str, list[str]]]) -> None:
        super().__init__()
        self.crews, self.engine_topologies = listed


class CrewLoaded(Message):
    def __init__(self, loaded: tuple[Path | None, dict[str, Any]]) -> None:
        super().__init__()
        self.path, self.data = loaded


class Validated(Message):
    """The generated YAML was checked: `problem` is None when it is a valid crew."""

    def __init__(self, result: tuple[str, Any, Any]) -> None:
        super().__init__()
        self.text, self.problem, self.shape = result


class Saved(Message):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path


class Prepared(Message):
    def __init__(self, prepared: Any) -> None:
        super().__init__()
        self.prepared = prepared


def list_crews(services: Any) -> tuple[list[Any], dict[str, list[str]]]:
    from workbench.spec.topology import ENGINE_TOPOLOGIES

    return services.crews(), {e: sorted(t, key=ALL_TOPOLOGIES.index)
                              for e, t in ENGINE_TOPOLOGIES.items()}


def load_crew_data(path: Path | None) -> tuple[Path | None, dict[str, Any]]:
    if path is None:
        return None, copy.deepcopy(TEMPLATE)
    from workbench.spec.yamlpos import load_file

    data = load_file(path)
    if not isinstance(data, dict):
        data = copy.deepcopy(TEMPLATE)
    return path, data


def validate(text: str, file: str, engine: str | None, topology: str | None
             ) -> tuple[str, Any, Shape | None]:
    """Parse the YAML as the CLI would; a problem comes back located, not raised."""
    from workbench.errors import SpecError
    from workbench.spec.loader import parse_crew
    from workbench.spec.topology import resolve

    try:
        spec = parse_crew(text, file, engine=engine, topology=topology)
    except SpecError as exc:
        return text, exc, None
    return text, None, Shape.of(resolve(spec, topology))


def prepare_run(source: str, text: str, engine: str, topology: str, task: str) -> Any:
    from workbench.mesh.session import prepare

    return prepare(source, engine, topology, task or None, text=text)


def write_crew(services: Any, name: str, text: str) -> Path:
    return services.save_crew(name, text)


class ComposeScreen(SectionScreen):
    SECTION = "compose"
    CSS_PATH = Path(__file__).with_name("compose.tcss")
    AUTO_FOCUS = "#compose-crews"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "run", "Run", id="compose.run",
                tooltip="Validate, then run the crew on the task in the Run section"),
        Binding("ctrl+s", "save", "Save", id="compose.save",
                tooltip="Save as a crew file in the home's crews folder"),
        Binding("ctrl+n", "add_agent", "Add agent", id="compose.add_agent",
                tooltip="Add an agent to the crew"),
        Binding("ctrl+l", "remove_agent", "Remove agent", id="compose.remove_agent",
                tooltip="Remove the selected agent from the crew"),
        Binding("ctrl+t", "focus_task", "Task", id="compose.task",
                tooltip="Type the task the crew works on"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.path: Path | None = None
        self.data: dict[str, Any] = {}
        self.agent_index = 0
        self.engine_topologies: dict[str, list[str]] = {}
        self.problem: Any = None
        self.text = ""
        self._debounce: Timer | None = None
        self._crews: list[Any] = []
        self._tab_generation = 0

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
                    yield Label("Engine", classes="field-label")
                    yield Select([("autogen", "autogen"), ("crewai", "crewai")],
                                 id="crew-engine", compact=True, allow_blank=False,
                                 value="autogen")
                    yield Label("Topology", classes="field-label short")
                    yield Select([(t, t) for t in ALL_TOPOLOGIES], id="crew-topology",
                                 compact=True, allow_blank=False, value="star")
                with Horizontal(classes="field"):
                    yield Label("Model", classes="field-label")
                    yield Input(id="crew-model", compact=True,
                                placeholder="default model of every agent, e.g. scripted/demo")
                preview = TopologyView(id="compose-preview")
                yield preview
                yield Tabs(id="compose-agents")
                with Vertical(id="agent-form"):
                    for name in AGENT_FIELDS:
                        with Horizontal(classes="field"):
                            yield Label(name.capitalize(), classes="field-label")
                            hint = "comma-separated" if name in LIST_FIELDS else (
                                "required" if name in REQUIRED else "optional")
                            yield Input(id=f"agent-{name}", compact=True, placeholder=hint)
                with Horizontal(classes="field", id="task-field"):
                    yield Label("Task", classes="field-label")
                    yield Input(id="crew-task", compact=True,
                                placeholder="what the crew should do (default: its description)")
        yield Static("", id="compose-validation")

    def on_mount(self) -> None:
        self.query_one("#compose-form").border_title = "Crew"
        self.query_one("#compose-validation", Static).update("[dim]Pick a crew on the left.[/]")
        in_thread(self, list_crews, self.wb.services, done=CrewsListed,
                  what="listing crews", group="compose-crews")

    # -- the crew list --------------------------------------------------------------------

    def on_crews_listed(self, message: CrewsListed) -> None:
        self._crews = message.crews
        self.engine_topologies = message.engine_topologies
        crews = self.query_one("#compose-crews", OptionList)
        highlighted = crews.highlighted
        crews.clear_options()
        crews.add_option(Option("[b]+ new crew[/b]", id=NEW_CREW))
        for i, entry in enumerate(self._crews):
            ok = entry.status == "ok"
            label = (f"{entry.name}\n[dim]{entry.topology} · {entry.agents} agents[/]" if ok
                     else f"{entry.name}\n[red]{entry.status[:60]}[/]")
            crews.add_option(Option(label, id=str(i)))
        crews.highlighted = highlighted if highlighted is not None else 0
        if not self.data and self._crews:
            self._open(0)

    @on(OptionList.OptionSelected, "#compose-crews")
    def _crew_chosen(self, event: OptionList.OptionSelected) -> None:
        option_id = event.option.id
        if option_id == NEW_CREW:
            self._open(None)
        elif option_id is not None:
            self._open(int(option_id))

    def _open(self, index: int | None) -> None:
        path = None if index is None else self._crews[index].path
        in_thread(self, load_crew_data, path, done=CrewLoaded, what="opening the crew",
                  group="compose-load")

    def on_crew_loaded(self, message: CrewLoaded) -> None:
        self.path = message.path
        self.data = message.data
        self.agent_index = 0
        self.problem = None
        self.query_one("#compose-form").border_title = (
            f"Crew · {message.path.name}" if message.path else "Crew · new")
        self._fill_crew()
        self._fill_tabs()
        self._fill_agent()
        self._schedule()

    # -- filling the form from the data ---------------------------------------------------

    def _set(self, selector: str, value: str) -> None:
        widget = self.query_one(selector, Input)
        if widget.value != value:
            widget.value = value

    def _fill_crew(self) -> None:
        d = self.data
        self._set("#crew-name", str(d.get("name") or ""))
        self._set("#crew-model", str(d.get("model") or ""))
        engine = d.get("engine") if d.get("engine") in ("autogen", "crewai") else "autogen"
        self.query_one("#crew-engine", Select).value = engine
        self._offer_topologies(engine)
        kind = (d.get("topology") or {}).get("kind", "network")
        topology = self.query_one("#crew-topology", Select)
        if kind in self._topologies(engine):
            topology.value = kind
        self._set("#crew-task", "")

    def _topologies(self, engine: str) -> list[str]:
        return self.engine_topologies.get(engine, list(ALL_TOPOLOGIES))

    def _offer_topologies(self, engine: str) -> None:
        """Only what the engine supports is offered (graph is AutoGen's alone)."""
        select = self.query_one("#crew-topology", Select)
        current = select.value
        offered = self._topologies(engine)
        select.set_options([(t, t) for t in offered])
        select.value = current if current in offered else offered[0]

    def _agents(self) -> list[dict[str, Any]]:
        agents = self.data.setdefault("agents", [])
        return [a for a in agents if isinstance(a, dict)]

    def _fill_tabs(self) -> None:
        tabs = self.query_one("#compose-agents", Tabs)
        tabs.clear()
        # removal is asynchronous: fresh ids keep the new tabs from colliding with the old
        self._tab_generation += 1
        for i, agent in enumerate(self._agents()):
            name = str(agent.get("name") or f"agent {i + 1}")
            tab = Tab(name, id=self._tab_id(i))
            tab.styles.color = agent_colour(i)
            tabs.add_tab(tab)
        if self._agents():
            tabs.active = self._tab_id(min(self.agent_index, len(self._agents()) - 1))

    def _tab_id(self, index: int) -> str:
        return f"agent-tab-{self._tab_generation}-{index}"

    def _fill_agent(self) -> None:
        agents = self._agents()
        form = self.query_one("#agent-form")
        form.display = bool(agents)
        if not agents:
            return
        agent = agents[min(self.agent_index, len(agents) - 1)]
        for name in AGENT_FIELDS:
            value = agent.get(name)
            if name in LIST_FIELDS:
                text = ", ".join(str(v) for v in value or [])
            else:
                text = "" if value is None else str(value)
            self._set(f"#agent-{name}", text)

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
        if not self.data or event.input.id is None:
            return
        field = event.input.id
        value = event.value
        if field == "crew-task":
            return
        if field == "crew-name":
            changed = self._put(self.data, "name", value.strip(), required=True)
        elif field == "crew-model":
            changed = self._put(self.data, "model", value.strip())
        elif field.startswith("agent-"):
            name = field[len("agent-"):]
            agents = self._agents()
            if not agents:
                return
            agent = agents[min(self.agent_index, len(agents) - 1)]
            if name in LIST_FIELDS:
                items = [v.strip() for v in value.split(",") if v.strip()]
                changed = self._put(agent, name, items)
            else:
                changed = self._put(agent, name, value.strip() if name != "backstory"
                                    else value, required=name in REQUIRED)
            if changed and name == "name":
                tab = self.query_one(f"#{self._tab_id(self.agent_index)}", Tab)
                tab.label = value.strip() or f"agent {self.agent_index + 1}"
        else:
            return
        if changed:
            self._schedule()

    @staticmethod
    def _put(target: dict[str, Any], key: str, value: Any, required: bool = False) -> bool:
        """Set `key`, or drop it when empty and optional (so saved files stay clean)."""
        if value in ("", []) and not required:
            if key in target:
                del target[key]
                return True
            return False
        if target.get(key) == value:
            return False
        target[key] = value
        return True

    @on(Select.Changed, "#crew-engine")
    def _engine_changed(self, event: Select.Changed) -> None:
        if not self.data or not isinstance(event.value, str):
            return
        self._offer_topologies(event.value)
        if self.data.get("engine") != event.value:
            self.data["engine"] = event.value
            self._schedule()

    @on(Select.Changed, "#crew-topology")
    def _topology_changed(self, event: Select.Changed) -> None:
        if not self.data or not isinstance(event.value, str):
            return
        topology = self.data.setdefault("topology", {})
        if not isinstance(topology, dict):
            topology = self.data["topology"] = {}
        if topology.get("kind") != event.value:
            topology["kind"] = event.value
            self._schedule()

    # -- validation as you type -----------------------------------------------------------

    def _schedule(self) -> None:
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(0.15, self._validate)

    def _file_name(self) -> str:
        return self.path.name if self.path else f"{self.data.get('name') or 'crew'}.yaml"

    def _validate(self) -> None:
        text = crew_yaml(self.data)
        engine, topology = self._choice()
        in_thread(self, validate, text, self._file_name(), engine, topology, done=Validated,
                  what="checking the crew", group="compose-validate")

    def _check_now(self) -> None:
        """Save and run act on what is on screen, not on the last check made while typing."""
        text = crew_yaml(self.data)
        if text == self.text:
            return
        if self._debounce is not None:
            self._debounce.stop()
        self.workers.cancel_group(self, "compose-validate")
        engine, topology = self._choice()
        self.on_validated(Validated(validate(text, self._file_name(), engine, topology)))

    def _choice(self) -> tuple[str, str]:
        engine = self.query_one("#crew-engine", Select).value
        topology = self.query_one("#crew-topology", Select).value
        return (engine if isinstance(engine, str) else "autogen",
                topology if isinstance(topology, str) else "network")

    def on_validated(self, message: Validated) -> None:
        from rich.markup import escape

        self.text = message.text
        self.problem = message.problem
        status = self.query_one("#compose-validation", Static)
        names = [str(a.get("name")) for a in self._agents()]
        colours = {n: agent_colour(i) for i, n in enumerate(names)}
        preview = self.query_one("#compose-preview", TopologyView)
        if message.problem is None:
            engine, topology = self._choice()
            status.update(f"[green]✔ valid[/] · {len(names)} agents · {engine} · {topology}"
                          " · [dim]ctrl+s saves · ctrl+r runs[/]")
            status.set_classes("-valid")
            preview.show(message.shape, colours)
            return
        problem = message.problem
        line = problem.line
        source = ""
        if line:
            lines = message.text.splitlines()
            if 0 < line <= len(lines):
                source = f"\n[dim]{line:>4} │[/] {escape(lines[line - 1].rstrip())}"
        where = f"line {line}: " if line else ""
        status.update(f"[red]✘ {escape(where + problem.problem)}[/]{source}")
        status.set_classes("-invalid")
        engine, topology = self._choice()
        preview.show(Shape.guess(topology, names), colours)

    # -- save and run ---------------------------------------------------------------------

    def _ready(self, doing: str) -> bool:
        if not self.data:
            self.notify("Pick a crew first", severity="warning")
            return False
        self._check_now()
        if self.problem is not None or not self.text:
            where = f"line {self.problem.line}: " if self.problem and self.problem.line else ""
            what = self.problem.problem if self.problem else "not checked yet"
            self.notify(f"Cannot {doing}: {where}{what}", severity="error")
            return False
        return True

    def action_save(self) -> None:
        if not self._ready("save"):
            return
        name = str(self.data.get("name") or "crew")
        target = self.wb.settings.crews_dir / f"{name}.yaml"
        text = crew_yaml(self.data)

        def write(yes: bool | None = True) -> None:
            if yes:
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
        self.query_one("#compose-form").border_title = f"Crew · {message.path.name}"
        self.notify(f"Saved to {display_path(message.path)}", title="Crew saved")
        in_thread(self, list_crews, self.wb.services, done=CrewsListed,
                  what="listing crews", group="compose-crews")

    def action_run(self) -> None:
        if not self._ready("run"):
            return
        engine, topology = self._choice()
        task = self.query_one("#crew-task", Input).value.strip()
        source = str(self.path) if self.path else f"{self.data.get('name') or 'crew'}.yaml"
        in_thread(self, prepare_run, source, crew_yaml(self.data), engine, topology, task,
                  done=Prepared, what="preparing the run", group="compose-run")

    async def on_prepared(self, message: Prepared) -> None:
        await self.wb.start_run(message.prepared)

    # -- agents ---------------------------------------------------------------------------

    def action_add_agent(self) -> None:
        if not self.data:
            return
        agents = self.data.setdefault("agents", [])
        taken = {a.get("name") for a in agents if isinstance(a, dict)}
        n = len(agents) + 1
        while f"agent{n}" in taken:
            n += 1
        agents.append({"name": f"agent{n}", "role": "", "goal": ""})
        self.agent_index = len(self._agents()) - 1
        self._fill_tabs()
        self._fill_agent()
        self.query_one("#agent-role", Input).focus()
        self._schedule()

    def action_remove_agent(self) -> None:
        agents = self._agents()
        if len(agents) <= 1:
            self.notify("A crew needs at least one agent", severity="warning")
            return
        removed = agents[self.agent_index]
        self.data["agents"] = [a for a in agents if a is not removed]
        self.agent_index = max(0, self.agent_index - 1)
        self._fill_tabs()
        self._fill_agent()
        self._schedule()

    def action_focus_task(self) -> None:
        self.query_one("#crew-task", Input).focus()
