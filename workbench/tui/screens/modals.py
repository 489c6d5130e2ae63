"""Small dialogs: yes/no, a rejection reason, JSON arguments, a masked key, filters, errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Footer, Input, Label, SelectionList, Static, TextArea

from workbench.tui.screens.base import freeze_cursors


class Dialog(ModalScreen[Any]):
    """A centred box; escape cancels (dismisses with None)."""

    CSS_PATH = Path(__file__).with_name("modals.tcss")
    BINDINGS: ClassVar[list[BindingType]] = [
        # priority: a text editor inside a dialog must not take escape for itself
        Binding("escape", "cancel", "Cancel", id="dialog.cancel", priority=True),
    ]

    def compose(self) -> ComposeResult:
        yield from self.compose_dialog()
        yield Footer()

    def compose_dialog(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        freeze_cursors(self)

    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#cancel")
    def _cancel_pressed(self) -> None:
        self.dismiss(None)

    def show_problem(self, text: str) -> None:
        self.query_one("#problem", Static).update(text)


class ConfirmModal(Dialog):
    """A yes/no question: y or enter says yes, n or escape says no."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "answer(True)", "Yes", id="dialog.yes"),
        Binding("n", "answer(False)", "No", id="dialog.no"),
        *Dialog.BINDINGS,
    ]

    def __init__(self, question: str, yes: str = "Yes") -> None:
        super().__init__()
        self.question = question
        self.yes = yes

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button(f"{self.yes} (y)", variant="primary", id="yes")
                yield Button("No (n)", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#yes", Button).focus()

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)

    @on(Button.Pressed, "#yes")
    def _yes(self) -> None:
        self.dismiss(True)

    def action_cancel(self) -> None:
        self.dismiss(False)


class ReasonModal(Dialog):
    """Why a request is rejected: the agent is told, so a reason is required."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self.title_text = title

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            yield Input(placeholder="reason (the agent is told)", id="reason")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Reject", variant="error", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.show_problem("a reason is required: the agent is told why")
            return
        self.dismiss(reason)


def parse_args(text: str) -> tuple[dict[str, Any] | None, str]:
    """Edited tool arguments: a JSON object, or the reason they are not one."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        return None, f"not valid JSON: {exc}"
    if not isinstance(value, dict):
        return None, "the arguments must be a JSON object ({...})"
    return value, ""


class ArgsModal(Dialog):
    """Edit a tool call's arguments as JSON; approving is refused until they parse."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "approve", "Approve with these", id="dialog.approve_args"),
        *Dialog.BINDINGS,
    ]

    def __init__(self, tool: str, args: dict[str, Any]) -> None:
        super().__init__()
        self.tool = tool
        self.args = args

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"Arguments for {self.tool} (JSON); ctrl+s approves",
                        classes="dialog-title")
            yield TextArea(json.dumps(self.args, indent=2, ensure_ascii=False), id="args",
                           soft_wrap=True, show_line_numbers=True, tab_behavior="indent")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Approve with these", variant="success", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def _parsed(self) -> tuple[dict[str, Any] | None, str]:
        """The arguments, if they parse as an object the tool can take; else the problem."""
        from workbench.errors import UserInputError
        from workbench.governance.approvals import check_args

        value, problem = parse_args(self.query_one(TextArea).text)
        if value is not None:
            try:
                check_args(self.tool, value)
            except UserInputError as exc:
                return None, str(exc)
        return value, problem

    @on(TextArea.Changed)
    def _check(self) -> None:
        self.show_problem(self._parsed()[1])

    @on(Button.Pressed, "#ok")
    def action_approve(self) -> None:
        value, problem = self._parsed()
        if value is None:
            self.show_problem(problem)
            return
        self.dismiss(value)


class KeyModal(Dialog):
    """A provider's API key, typed into a masked field; it is handed to the keyring only."""

    def __init__(self, provider: str = "") -> None:
        super().__init__()
        self.provider = provider

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label("Store an API key in the OS keyring", classes="dialog-title")
            yield Input(self.provider, placeholder="provider, e.g. openai", id="provider")
            yield Input(placeholder="API key (hidden)", password=True, id="key")
            yield Static("", id="problem", classes="dialog-problem")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Store", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#key" if self.provider else "#provider", Input).focus()

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        provider = self.query_one("#provider", Input).value.strip().lower()
        key = self.query_one("#key", Input).value.strip()
        if not provider:
            self.show_problem("name the provider (LiteLLM's prefix: openai, anthropic, ...)")
            return
        if not key or any(c.isspace() for c in key):
            self.show_problem("a key is one word, without spaces")
            return
        self.dismiss((provider, key))


class FilterModal(Dialog):
    """Which agents and which kinds of event the stream shows."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "apply", "Apply", id="dialog.apply_filter"),
        *Dialog.BINDINGS,
    ]

    def __init__(self, agents: list[str], shown_agents: set[str] | None,
                 groups: list[str], shown_groups: set[str]) -> None:
        super().__init__()
        self.agents = agents
        self.shown_agents = shown_agents
        self.groups = groups
        self.shown_groups = shown_groups

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Show in the stream (space toggles, ctrl+s applies)",
                        classes="dialog-title")
            with Horizontal(id="filter-lists"):
                agents = SelectionList[str](
                    *((a, a, self.shown_agents is None or a in self.shown_agents)
                      for a in self.agents), id="filter-agents")
                agents.border_title = "Agents"
                yield agents
                kinds = SelectionList[str](
                    *((g, g, g in self.shown_groups) for g in self.groups), id="filter-kinds")
                kinds.border_title = "Kinds"
                yield kinds
            with Horizontal(classes="dialog-buttons"):
                yield Button("Apply", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Button.Pressed, "#ok")
    def action_apply(self) -> None:
        agents = set(self.query_one("#filter-agents", SelectionList).selected)
        kinds = set(self.query_one("#filter-kinds", SelectionList).selected)
        self.dismiss((None if agents == set(self.agents) else agents, kinds))


class ErrorModal(Dialog):
    """Something unexpected failed: what, in one line, and where the details were logged."""

    def __init__(self, what: str, message: str, log_file: Path | None = None) -> None:
        super().__init__()
        self.what = what
        self.message = message
        self.log_file = log_file

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog error"):
            yield Label(f"Something went wrong while {self.what}", classes="dialog-title")
            yield Static(self.message, classes="dialog-message", markup=False)
            if self.log_file is not None:
                from workbench.tui.services import display_path

                yield Static(f"Details are in {display_path(self.log_file)}", classes="hint",
                             markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Close", variant="primary", id="cancel")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()
