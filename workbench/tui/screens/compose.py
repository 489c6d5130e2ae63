"""Compose: pick a crew, edit its agents, engine and topology with a live preview, then run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Header, Input, Label, OptionList, Select, Static
from textual.widgets.option_list import Option

from workbench.tui.widgets.stream import PALETTE
from workbench.tui.widgets.topology import TopologyView

FIELDS = ("role", "goal", "backstory", "model", "tools", "capabilities", "domain")
LISTS = ("tools", "capabilities")
ENGINES = [("AutoGen", "autogen"), ("CrewAI", "crewai")]
TOPOLOGIES = ("star", "layered", "network", "graph")


class ComposeScreen(Screen):
    CSS_PATH = "compose.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save crew", id="compose.save"),
        Binding("ctrl+r", "run", "Run", id="compose.run"),
        Binding("escape", "back", "Back", id="compose.back"),
    ]

    class CrewsLoaded(Message):
        def __init__(self, crews: list[Any]) -> None:
            super().__init__()
            self.crews = crews

    def __init__(self) -> None:
        super().__init__()
        self.crews: list[Any] = []
        self.data: dict[str, Any] | None = None
        self.path: Path | None = None
        self.agent_index = 0
        self.spec: Any = None
        self._loading = False

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="compose-body"):
            with Vertical(id="pick"):
                yield Label("Crews", classes="section")
                yield OptionList(id="crews")
                yield Label("Agents", classes="section")
                yield OptionList(id="agents")
            with VerticalScroll(id="form"):
                for name in FIELDS:
                    yield Label(name, classes="field-label")
                    yield Input(id=f"f-{name}", placeholder=_hint(name))
            with Vertical(id="shape"):
                yield Select(ENGINES, id="engine", allow_blank=False, value="autogen")
                yield Select([(t, t) for t in TOPOLOGIES], id="topology", allow_blank=False,
                             value="network")
                yield TopologyView(id="preview")
                yield Static("", id="validation")
                yield Input(placeholder="the task for this run", id="task")
        yield Footer()

    def on_mount(self) -> None:
        self.title = "compose"
        self._load_crews()

    @work(thread=True, exclusive=True, group="crews", exit_on_error=False)
    def _load_crews(self) -> None:
        from workbench.crews import list_crews

        self.post_message(self.CrewsLoaded(list_crews(self.app.services.settings)))

    @on(CrewsLoaded)
    def _show_crews(self, message: CrewsLoaded) -> None:
        self.crews = message.crews
        options = self.query_one("#crews", OptionList)
        options.clear_options()
        options.add_options([Option(c.name, id=str(i))
                             for i, c in enumerate(self.crews)])
        if self.crews:
            options.highlighted = 0
            self._open_crew(0)
            options.focus()

    @on(OptionList.OptionHighlighted, "#crews")
    def _crew_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None and self.crews:
            self._open_crew(event.option_index)

    def _open_crew(self, index: int) -> None:
        import yaml

        entry = self.crews[index]
        try:
            self.data = yaml.safe_load(Path(entry.path).read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            self.data = None
            self.query_one("#validation", Static).update(f"[red]cannot read: {exc}[/]")
            return
        self.path = Path(entry.path)
        self._loading = True
        self.query_one("#engine", Select).value = self.data.get("engine", "autogen")
        self._offer_topologies()
        kind = (self.data.get("topology") or {}).get("kind", "network")
        self.query_one("#topology", Select).value = kind
        self.query_one("#task", Input).value = self.data.get("description", "")
        agents = self.query_one("#agents", OptionList)
        agents.clear_options()
        agents.add_options([Option(a.get("name", "?"), id=str(i))
                            for i, a in enumerate(self.data.get("agents") or [])])
        self.agent_index = 0
        agents.highlighted = 0
        self._fill_form()
        self._loading = False
        self._validate()

    def _offer_topologies(self) -> None:
        from workbench.spec.topology import ENGINE_TOPOLOGIES

        engine = self.query_one("#engine", Select).value
        offered = [t for t in TOPOLOGIES if t in ENGINE_TOPOLOGIES.get(str(engine), ())]
        select = self.query_one("#topology", Select)
        current = select.value
        select.set_options([(t, t) for t in offered])
        select.value = current if current in offered else offered[0]

    @on(OptionList.OptionHighlighted, "#agents")
    def _agent_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        if event.option_index is not None:
            self.agent_index = event.option_index
            self._loading = True
            self._fill_form()
            self._loading = False

    def _agent(self) -> dict[str, Any] | None:
        agents = (self.data or {}).get("agents") or []
        return agents[self.agent_index] if 0 <= self.agent_index < len(agents) else None

    def _fill_form(self) -> None:
        agent = self._agent() or {}
        for name in FIELDS:
            value = agent.get(name, "")
            if name in LISTS:
                value = ", ".join(value or [])
            self.query_one(f"#f-{name}", Input).value = "" if value is None else str(value)

    @on(Input.Changed)
    def _field_changed(self, event: Input.Changed) -> None:
        if self._loading or self.data is None or not event.input.id:
            return
        if event.input.id.startswith("f-"):
            name = event.input.id[2:]
            agent = self._agent()
            if agent is None:
                return
            value: Any = event.value.strip()
            if name in LISTS:
                value = [v.strip() for v in value.split(",") if v.strip()]
            if value in ("", []) and name not in ("role", "goal"):
                agent.pop(name, None)
            else:
                agent[name] = value
            self._validate()

    @on(Select.Changed)
    def _shape_changed(self, event: Select.Changed) -> None:
        if self._loading or self.data is None:
            return
        if event.select.id == "engine":
            self.data["engine"] = event.value
            self._loading = True
            self._offer_topologies()
            self._loading = False
        topology = self.data.setdefault("topology", {})
        topology["kind"] = self.query_one("#topology", Select).value
        self._validate()

    def yaml_text(self) -> str:
        import yaml

        return yaml.safe_dump(self.data, sort_keys=False, allow_unicode=True)

    def _validate(self) -> None:
        from workbench.errors import SpecError
        from workbench.spec.loader import parse_crew
        from workbench.spec.topology import resolve

        status = self.query_one("#validation", Static)
        if self.data is None:
            return
        try:
            self.spec = parse_crew(self.yaml_text(), self._file_name())
        except SpecError as exc:
            self.spec = None
            status.update(f"[red]✗ line {exc.line or '?'}: {exc.problem}[/]")
            return
        status.update(f"[green]✓ valid[/] · {len(self.spec.agents)} agents · "
                      f"{self.spec.engine} · {self.spec.topology.kind}")
        topo = resolve(self.spec)
        colors = {a: PALETTE[i % len(PALETTE)] for i, a in enumerate(topo.agents)}
        self.query_one(TopologyView).set_shape(
            {"topology": topo.kind, "agents": topo.agents, "hub": topo.hub,
             "planner": topo.planner, "executors": topo.executors, "reviewer": topo.reviewer,
             "edges": [{"from": e.source, "to": e.target, "when": e.when}
                       for e in topo.edges]}, colors)

    def _file_name(self) -> str:
        name = (self.data or {}).get("name") or "crew"
        return f"{name}.yaml"

    def action_save(self) -> None:
        if self.spec is None:
            self.notify("fix the crew first: it does not validate", severity="error")
            return
        folder = self.app.services.settings.crews_dir
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / self._file_name()
        path.write_text(self.yaml_text(), encoding="utf-8")
        self.path = path
        self.notify(f"saved to {path}", title="crew")

    def action_run(self) -> None:
        from workbench.errors import WorkbenchError
        from workbench.mesh.session import prepare
        from workbench.tui.screens.run import RunScreen

        if self.spec is None:
            self.notify("fix the crew first: it does not validate", severity="error")
            return
        task = self.query_one("#task", Input).value.strip() or None
        try:
            prepared = prepare(self.path or self._file_name(), task=task, text=self.yaml_text())
        except WorkbenchError as exc:
            self.notify(str(exc), severity="error")
            return
        self.app.push_screen(RunScreen(prepared=prepared))

    def action_back(self) -> None:
        self.app.pop_screen()


def _hint(name: str) -> str:
    return {
        "model": "default: the crew's model (e.g. openai/gpt-4o-mini)",
        "tools": "comma-separated: read_file, write_file, http_get, send_email, calculator",
        "capabilities": "comma-separated, for routing",
        "domain": "governance domain (default)",
    }.get(name, name)
