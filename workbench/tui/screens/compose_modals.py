"""Compose's dialogs: the name of a copy ("Save as"), an agent from the registry, an
agent's tools (built-in and MCP)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, OptionList, SelectionList, Static
from textual.widgets.option_list import Option

from workbench.tui.crewedit import name_problem
from workbench.tui.screens.modals import Dialog


class NameModal(Dialog):
    """A new, safe crew name; a name your crews folder already has is refused here, and
    one a shipped crew has is allowed with a note that yours overrides it."""

    def __init__(self, title: str, suggestion: str, taken: Callable[[str], str | None]) -> None:
        """`taken(name)` says why a name is in use ("" if it may be used), or None if free."""
        super().__init__()
        self.title_text = title
        self.suggestion = suggestion
        self.taken = taken

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(self.suggestion, placeholder="crew name, e.g. nordic-entry",
                        id="crew-new-name")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(Input).focus()
        self._check(self.suggestion)

    def _check(self, name: str) -> bool:
        name = name.strip()
        problem = name_problem(name)
        note = ""
        if problem is None:
            why = self.taken(name)
            if why:
                problem = why
            elif why == "":
                note = f"[$text-muted]{name} will override the crew of that name[/]"
        self.show_problem(problem or note)
        return problem is None

    @on(Input.Changed)
    def _typed(self, event: Input.Changed) -> None:
        self._check(event.value)

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        name = self.query_one(Input).value.strip()
        if self._check(name):
            self.dismiss(name)


# -- an agent from the registry -------------------------------------------------------------

#: Why one would take an agent by reference or copy it, shown in the picker.
USE_OR_COPY = ("[b]Use[/] adds [i]use: CREW/AGENT[/]: one definition, whose later changes "
               "reach this crew. [b]Copy[/] puts its fields here, to change freely.")


def split_filter(text: str) -> tuple[list[str], str]:
    """`cap:writing report` -> (["writing"], "report"): capabilities, then free words."""
    caps, words = [], []
    for token in text.split():
        if token.lower().startswith("cap:") and len(token) > 4:
            caps.append(token[4:])
        else:
            words.append(token)
    return caps, " ".join(words)


class AgentPickerModal(Dialog):
    """Every agent of the registry, filtered as you type (words, and `cap:NAME` for a
    capability); Use or Copy the highlighted one. Dismisses with (agent, "use" | "copy")."""

    DEFAULT_CSS = """
    AgentPickerModal #registry-agents { height: 1fr; min-height: 4; }
    AgentPickerModal #registry-detail { height: 2; }
    AgentPickerModal #registry-why { height: auto; color: $text-muted; }
    AgentPickerModal .dialog-title { margin-bottom: 0; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+u", "choose('use')", "Use", id="registry.use", priority=True),
        Binding("ctrl+o", "choose('copy')", "Copy", id="registry.copy", priority=True),
        *Dialog.BINDINGS,
    ]

    def __init__(self, registry: Any, crew: str = "") -> None:
        """`registry` is a spec.registry.Registry; `crew` the crew being edited (its own
        agents are not offered)."""
        super().__init__()
        self.registry = registry
        self.crew = crew
        self.shown: list[Any] = []

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Add an agent from the registry", classes="dialog-title")
            yield Input(placeholder="filter: words, or cap:CAPABILITY", id="registry-filter",
                        compact=True)
            yield OptionList(id="registry-agents")
            yield Static("", id="registry-detail")
            yield Static(USE_OR_COPY, id="registry-why")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Use", variant="primary", id="use", compact=True)
                yield Button("Copy", id="copy", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        super().on_mount()
        self._filter("")
        self.query_one("#registry-filter", Input).focus()
        problems = self.registry.problems
        if problems:
            crews = "1 crew is" if len(problems) == 1 else f"{len(problems)} crews are"
            self.show_problem(f"{crews} not listed: {problems[0]}")

    def _filter(self, text: str) -> None:
        from rich.markup import escape

        caps, words = split_filter(text)
        self.shown = [a for a in self.registry.find(caps, words) if a.crew != self.crew]
        options = self.query_one("#registry-agents", OptionList)
        options.clear_options()
        for i, agent in enumerate(self.shown):
            caps_text = ", ".join(agent.capabilities) or "no capabilities"
            options.add_option(Option(
                f"[b]{escape(agent.ref)}[/]  {escape(agent.role)} [dim]· {escape(caps_text)}[/]",
                id=str(i)))
        if self.shown:
            options.highlighted = 0
        else:
            self.query_one("#registry-detail", Static).update("[dim]No agent matches.[/]")

    @on(Input.Changed, "#registry-filter")
    def _typed(self, event: Input.Changed) -> None:
        self._filter(event.value)

    @on(OptionList.OptionHighlighted, "#registry-agents")
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        from rich.markup import escape

        agent = self._current()
        if agent is None:
            return
        tools = ", ".join(agent.tools) or "no tools"
        uses = f" · takes {agent.uses}" if agent.uses else ""
        self.query_one("#registry-detail", Static).update(
            f"{escape(agent.goal)}\n[dim]{escape(agent.model)} · {escape(agent.domain)} · "
            f"{escape(tools)} · {escape(agent.source)}{escape(uses)}[/]")

    def _current(self) -> Any:
        index = self.query_one("#registry-agents", OptionList).highlighted
        return self.shown[index] if index is not None and index < len(self.shown) else None

    @on(Input.Submitted, "#registry-filter")
    @on(OptionList.OptionSelected, "#registry-agents")
    @on(Button.Pressed, "#use")
    def _use(self) -> None:
        self.action_choose("use")

    @on(Button.Pressed, "#copy")
    def _copy(self) -> None:
        self.action_choose("copy")

    def action_choose(self, how: str) -> None:
        agent = self._current()
        if agent is None:
            self.show_problem("No agent chosen: change the filter")
            return
        self.dismiss((agent, how))


# -- an agent's tools -------------------------------------------------------------------------


class ToolsModal(Dialog):
    """An agent's tools picked from a list: the built-in tools, each MCP server of the crew
    (`mcp:SERVER`, all its tools) and, once discovered, each tool of it (`mcp:SERVER/TOOL`),
    and whatever else the agent lists. Dismisses with the tools chosen, in order."""

    DEFAULT_CSS = """
    ToolsModal #tool-choices { height: 1fr; min-height: 6; }
    ToolsModal .dialog-title { margin-bottom: 0; }
    ToolsModal #tools-note { height: auto; color: $text-muted; }
    """

    def __init__(self, agent: str, current: list[str], builtins: list[tuple[str, str]],
                 servers: list[str], discovered: dict[str, list[tuple[str, str]]],
                 errors: dict[str, str]) -> None:
        """`builtins` and each server's `discovered` tools are (name, description); a server
        in `errors` could not be started."""
        super().__init__()
        self.agent = agent
        self.current = current
        self.builtins = builtins
        self.servers = servers
        self.discovered = discovered
        self.errors = errors

    def choices(self) -> list[tuple[str, str]]:
        """(tool ref, label) for every tool offered, built-ins first."""
        from rich.markup import escape

        out = [(name, f"{name}  [dim]{escape(desc)}[/]") for name, desc in self.builtins]
        for server in self.servers:
            out.append((f"mcp:{server}", f"mcp:{server}  [dim]every tool of the MCP server "
                        f"{escape(server)}[/]"))
            for tool, desc in self.discovered.get(server, []):
                first = desc.strip().splitlines()[0] if desc.strip() else ""
                out.append((f"mcp:{server}/{tool}",
                            f"  mcp:{server}/{tool}  [dim]{escape(first[:60])}[/]"))
        offered = {ref for ref, _ in out}
        out += [(t, f"{t}  [dim](listed on the agent)[/]") for t in self.current
                if t not in offered]
        return out

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Tools of {self.agent}", classes="dialog-title")
            yield SelectionList[str](
                *[(label, ref, ref in self.current) for ref, label in self.choices()],
                id="tool-choices")
            yield Static(self._note(), id="tools-note")
            with Horizontal(classes="dialog-buttons"):
                yield Button("OK", variant="primary", id="ok", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def _note(self) -> str:
        from rich.markup import escape

        if not self.servers:
            return "This crew has no MCP servers (add them under mcp_servers in the YAML)."
        lines = [f"MCP server {escape(s)}: {escape(e)}" for s, e in self.errors.items()]
        undiscovered = [s for s in self.servers
                        if s not in self.discovered and s not in self.errors]
        if undiscovered:
            lines.append(f"ctrl+f in Compose starts {', '.join(undiscovered)} to list "
                         "their tools one by one.")
        return "\n".join(lines)

    def on_mount(self) -> None:
        super().on_mount()
        self.query_one(SelectionList).focus()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        selected = set(self.query_one(SelectionList).selected)
        kept = [t for t in self.current if t in selected]
        added = [ref for ref, _ in self.choices() if ref in selected and ref not in kept]
        self.dismiss(kept + added)
