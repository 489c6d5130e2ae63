"""Who does what in a crew's topology: hub, planner, executors, reviewer, or graph edges.

The editor shows the pickers the chosen topology uses and reports what a person changes as
messages; it never edits crew data itself. Values it sets are remembered, so the change
messages Textual posts for them are not mistaken for edits.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.widget import AwaitMount, Widget
from textual.widgets import Button, Input, Label, Select, SelectionList

NULL = Select.NULL
#: Roles a topology cannot do without; a blank picker for one of them is never a choice.
REQUIRED = frozenset({"hub", "planner"})


@dataclass
class RoleChanged(Message):
    """A role was chosen: `value` None removes the key (no reviewer; default executors)."""

    role: str
    value: Any


@dataclass
class EdgeEdited(Message):
    """Edge `index` changed: `end` is from, to or when; `value` None removes a condition."""

    index: int
    end: str
    value: str | None


class EdgeAdded(Message):
    """Add an edge after the others."""


@dataclass
class EdgeRemoved(Message):
    index: int


def _blink(widget: Widget) -> Widget:
    """New fields blink only if the app's do (tests and screenshots must not blink)."""
    if not getattr(widget.app, "cursor_blink", True):
        widget.cursor_blink = False  # type: ignore[attr-defined]
    return widget


class EdgeRow(Horizontal):
    """One edge: from, to, an optional CEL condition, and a remove button."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+l", "remove", "Remove edge", id="compose.remove_edge",
                tooltip="Remove this edge from the graph"),
    ]

    def __init__(self, index: int, generation: int, agents: list[str],
                 edge: dict[str, Any]) -> None:
        super().__init__(classes="edge-row")
        self.index = index
        self.generation = generation
        self.agents = list(agents)
        self.edge = dict(edge)

    def compose(self) -> ComposeResult:
        options = [(a, a) for a in self.agents]
        for end in ("from", "to"):
            value = self.edge.get(end)
            yield Select(options, id=self.part(end), compact=True, prompt="choose",
                         value=value if value in self.agents else NULL,
                         classes=f"edge-{end}")
            if end == "from":
                yield Label("→", classes="edge-arrow")
        when = self.edge.get("when")
        yield Input("" if when is None else str(when), id=self.part("when"), compact=True,
                    placeholder="always (or a CEL condition)", classes="edge-when")
        yield Button("✕", id=self.part("remove"), compact=True, classes="edge-remove",
                     tooltip="Remove this edge (ctrl+l)")

    def on_mount(self) -> None:
        _blink(self.query_one(Input))

    def part(self, end: str) -> str:
        return f"edge-{self.generation}-{self.index}-{end}"

    def action_remove(self) -> None:
        self.post_message(EdgeRemoved(self.index))

    @on(Button.Pressed, ".edge-remove")
    def _remove_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_remove()


class EdgeList(Vertical):
    """The graph's edges, one row each, and a button to add one."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+n", "add", "Add edge", id="compose.add_edge",
                tooltip="Add an edge to the graph"),
    ]

    def __init__(self, rows: list[EdgeRow], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rows = rows

    def compose(self) -> ComposeResult:
        yield Label("[b]Edges[/b] [dim]from → to, when (blank: always)[/]", classes="edge-head")
        yield Vertical(*self.rows, id="edge-rows")
        yield Button("+ Add edge (ctrl+n)", id="edge-add", compact=True)

    def action_add(self) -> None:
        self.post_message(EdgeAdded())

    @on(Button.Pressed, "#edge-add")
    def _add_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_add()


class RolesEditor(Vertical):
    """The pickers of the current topology kind; `show` fills them from crew data."""

    DEFAULT_CSS = """
    RolesEditor { height: auto; }
    RolesEditor .roles-row { height: 1; }
    RolesEditor #roles-layered, RolesEditor #roles-executors { height: auto; }
    RolesEditor #roles-executors .field-label { width: 14; color: $text-muted; }
    RolesEditor #role-executors { height: auto; max-height: 6; width: 1fr; }
    RolesEditor EdgeList { height: auto; margin-top: 1; }
    RolesEditor #edge-rows { height: auto; }
    RolesEditor .edge-row { height: 1; }
    RolesEditor .edge-from, RolesEditor .edge-to { width: 1fr; min-width: 10; max-width: 20; }
    RolesEditor .edge-arrow { width: 3; content-align: center middle; }
    RolesEditor .edge-when { width: 2fr; margin-left: 1; }
    RolesEditor .edge-remove { width: 3; min-width: 3; margin-left: 1; }
    RolesEditor .edge-head { color: $text-muted; }
    RolesEditor #edge-add { width: auto; margin-top: 0; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = "network"
        self.agents: list[str] = []
        #: What `show` last put in each picker, by widget id.
        self._shown: dict[str, Any] = {}
        self._edges: list[dict[str, Any]] = []
        self._edge_agents: list[str] = []
        self._generation = 0
        self._mounting: AwaitMount | None = None
        #: Each kind's pickers, once built.
        self._parts: dict[str, Widget] = {}
        self._building: AwaitMount | None = None
        self._latest: tuple[str, dict[str, Any], list[str]] | None = None

    # -- filling ------------------------------------------------------------------------

    def show(self, kind: str, topology: dict[str, Any], agents: list[str]) -> None:
        """Show the pickers `kind` uses, filled from `topology` for these `agents`.

        A kind's pickers are built the first time it is shown (a crew shows one kind; the
        others would only cost time when Compose opens), with the values they start with.
        """
        self.kind = kind
        self.agents = list(agents)
        self.display = kind in ("star", "layered", "graph")
        if self._building is not None:
            self._latest = (kind, copy.deepcopy(topology), list(agents))
            return
        first = agents[0] if agents else None
        hub = topology.get("hub")
        hub = first if hub is None else hub
        planner = topology.get("planner")
        planner = first if planner is None else planner
        leader = planner if planner in agents else first
        reviewer = topology.get("reviewer")
        reviewers = [a for a in agents if a != leader]
        eligible = [a for a in agents if a not in (leader, reviewer)]
        executors = topology.get("executors")
        chosen = ([a for a in eligible if a in executors] if isinstance(executors, list)
                  else eligible)
        edges = topology.get("edges")
        edges = [e for e in edges if isinstance(e, dict)] if isinstance(edges, list) else []
        built = None
        if kind in ("star", "layered", "graph") and kind not in self._parts:
            part = self._build(kind, hub, planner, reviewer, reviewers, eligible, chosen, edges)
            self._parts[kind] = part
            self._building = self.mount(part)
            self.call_next(self._built)
            built = kind  # it holds these values already, and its pickers are not mounted yet
        for name, part in self._parts.items():
            part.display = name == kind
        if "star" in self._parts and built != "star":
            self._pick("role-hub", agents, hub)
        if "layered" in self._parts and built != "layered":
            self._pick("role-planner", agents, planner)
            self._pick("role-reviewer", reviewers, reviewer)
            self._tick(eligible, chosen)
        if "graph" in self._parts and built != "graph":
            self._show_edges(edges)

    def _build(self, kind: str, hub: Any, planner: Any, reviewer: Any, reviewers: list[str],
               eligible: list[str], chosen: list[str], edges: list[dict[str, Any]]) -> Widget:
        """A kind's pickers, holding their first values (remembered as shown)."""

        def select(widget_id: str, options: list[str], value: Any, prompt: str) -> Select[str]:
            pairs = [(a, a) for a in options]
            shown = value if value in options else NULL
            self._shown[widget_id] = shown
            picker: Select[str] = Select(pairs, id=widget_id, compact=True, prompt=prompt,
                                         value=shown)
            picker._wb_options = pairs  # type: ignore[attr-defined]
            return picker

        if kind == "star":
            return Horizontal(Label("Hub", classes="field-label"),
                              select("role-hub", self.agents, hub, "choose the hub"),
                              classes="field roles-row", id="roles-star")
        if kind == "layered":
            self._shown["role-executors"] = frozenset(chosen)
            return Vertical(
                Horizontal(Label("Planner", classes="field-label"),
                           select("role-planner", self.agents, planner, "choose the planner"),
                           Label("Reviewer", classes="field-label short"),
                           select("role-reviewer", reviewers, reviewer, "none"),
                           classes="field roles-row"),
                Horizontal(Label("Executors", classes="field-label"),
                           SelectionList[str](*((a, a, a in chosen) for a in eligible),
                                              id="role-executors", compact=True),
                           id="roles-executors"),
                id="roles-layered")
        self._generation += 1
        self._edges = [dict(e) for e in edges]
        self._edge_agents = list(self.agents)
        return EdgeList([EdgeRow(i, self._generation, self.agents, e)
                         for i, e in enumerate(edges)], id="role-edges")

    async def _built(self) -> None:
        """Once new pickers are mounted, show what changed while they were being built."""
        if self._building is not None:
            await self._building
        self._building = None
        latest, self._latest = self._latest, None
        if latest is not None:
            self.show(*latest)

    def _pick(self, widget_id: str, options: list[str], value: Any) -> None:
        select: Select[str] = self.query_one(f"#{widget_id}", Select)
        pairs = [(a, a) for a in options]
        if getattr(select, "_wb_options", None) != pairs:
            select._wb_options = pairs  # type: ignore[attr-defined]
            select.set_options(pairs)
        shown = value if value in options else NULL
        self._shown[widget_id] = shown
        if select.value != shown:
            if shown is NULL:
                select.clear()
            else:
                select.value = shown

    def _tick(self, eligible: list[str], chosen: list[str]) -> None:
        picks: SelectionList[str] = self.query_one("#role-executors", SelectionList)
        self._shown["role-executors"] = frozenset(chosen)
        current = [picks.get_option_at_index(i).value for i in range(picks.option_count)]
        if current != eligible:
            picks.clear_options()
            picks.add_options([(a, a, a in chosen) for a in eligible])
        elif set(picks.selected) != set(chosen):
            picks.deselect_all()
            for a in chosen:
                picks.select(a)

    def _show_edges(self, edges: list[dict[str, Any]]) -> None:
        rows = self.query_one("#edge-rows", Vertical)
        if len(edges) != len(self._edges) or self.agents != self._edge_agents:
            self._generation += 1
            rows.remove_children()
            self._mounting = rows.mount_all([EdgeRow(i, self._generation, self.agents, e)
                                             for i, e in enumerate(edges)])
        else:
            for row in rows.query(EdgeRow):
                edge = edges[row.index]
                row.edge = dict(edge)
                for end in ("from", "to"):
                    select = row.query_one(f"#{row.part(end)}", Select)
                    value = edge.get(end)
                    value = value if value in self.agents else NULL
                    if select.value != value:
                        if value is NULL:
                            select.clear()
                        else:
                            select.value = value
                when = row.query_one(Input)
                text = "" if edge.get("when") is None else str(edge.get("when"))
                if when.value != text:
                    when.value = text
        self._edges = [dict(e) for e in edges]
        self._edge_agents = list(self.agents)

    # -- what a person changes ----------------------------------------------------------

    @on(Select.Changed, "#role-hub, #role-planner, #role-reviewer")
    def _role_picked(self, event: Select.Changed) -> None:
        event.stop()
        select = event.select
        widget_id = select.id or ""
        value = select.value
        if value == self._shown.get(widget_id):
            return
        role = widget_id.removeprefix("role-")
        if value is NULL and role in REQUIRED:
            # the blank is where a removed agent was, never a choice: put back what it was
            shown = self._shown.get(widget_id, NULL)
            if shown is NULL:
                select.clear()
            else:
                select.value = shown
            return
        self._shown[widget_id] = value
        self.post_message(RoleChanged(role, None if value is NULL else value))

    @on(SelectionList.SelectedChanged, "#role-executors")
    def _executors_ticked(self, event: SelectionList.SelectedChanged) -> None:
        event.stop()
        picks = event.selection_list
        chosen = frozenset(picks.selected)
        if chosen == self._shown.get("role-executors"):
            return
        self._shown["role-executors"] = chosen
        order = [picks.get_option_at_index(i).value for i in range(picks.option_count)]
        value = [a for a in order if a in chosen]
        # every eligible agent ticked is the default: the file keeps no list then
        self.post_message(RoleChanged("executors", None if value == order else value))

    @on(Select.Changed, ".edge-from, .edge-to")
    def _edge_end_picked(self, event: Select.Changed) -> None:
        event.stop()
        row = event.select.parent
        if not isinstance(row, EdgeRow) or row.index >= len(self._edges):
            return
        end = "from" if event.select.has_class("edge-from") else "to"
        value = event.select.value
        if value is NULL or value == self._edges[row.index].get(end):
            return
        self._edges[row.index][end] = value
        self.post_message(EdgeEdited(row.index, end, str(value)))

    @on(Input.Changed, ".edge-when")
    def _edge_condition_typed(self, event: Input.Changed) -> None:
        event.stop()
        row = event.input.parent
        if not isinstance(row, EdgeRow) or row.index >= len(self._edges):
            return
        value = event.value.strip() or None
        if value == self._edges[row.index].get("when"):
            return
        if value is None:
            self._edges[row.index].pop("when", None)
        else:
            self._edges[row.index]["when"] = value
        self.post_message(EdgeEdited(row.index, "when", value))

    # -- where a problem is -------------------------------------------------------------

    def edge_field(self, index: int, end: str) -> Widget | None:
        """The widget of edge `index`'s `end` (from, to or when), if it is on screen."""
        for row in self.query(EdgeRow):
            if row.index == index and row.generation == self._generation:
                try:
                    return row.query_one(f"#{row.part(end)}")
                except Exception:
                    return None
        return None

    async def focus_last_edge(self) -> None:
        """Focus the last edge's first picker, once its row is mounted."""
        if self._mounting is not None:
            await self._mounting
        rows = [r for r in self.query(EdgeRow) if r.generation == self._generation]
        if rows:
            rows[-1].query_one(Select).focus()
