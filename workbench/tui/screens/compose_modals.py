"""Compose's dialogs: the name of a copy ("Save as")."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, Input, Label, Static

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
