"""Small modal dialogs: a reason, JSON arguments, a masked key, a yes/no question."""

from __future__ import annotations

import json
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea


class _Dialog(ModalScreen):
    CSS_PATH = "modals.tcss"
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="dialog.cancel")]

    def action_cancel(self) -> None:
        self.dismiss(None)


class ReasonModal(_Dialog):
    """Asks why a request is rejected (the agent is told)."""

    def __init__(self, title: str) -> None:
        super().__init__()
        self._title = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self._title, classes="dialog-title")
            yield Input(placeholder="reason (required)", id="reason")
            yield Static("", id="error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Reject", variant="error", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            self.query_one("#error", Static).update("a reason is required")
            return
        self.dismiss(reason)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ArgsModal(_Dialog):
    """Edits a tool call's arguments as JSON; refuses what is not a JSON object."""

    BINDINGS = [*_Dialog.BINDINGS, Binding("ctrl+s", "save", "Approve", id="dialog.save")]

    def __init__(self, args: dict[str, Any]) -> None:
        super().__init__()
        self._args = args

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Edit the arguments, then approve (ctrl+s)", classes="dialog-title")
            yield TextArea(json.dumps(self._args, indent=2, ensure_ascii=False),
                           language="json", id="args")
            yield Static("", id="error", classes="dialog-error")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Approve with these", variant="success", id="ok")
                yield Button("Cancel", id="cancel")

    def parsed(self) -> dict[str, Any] | None:
        try:
            value = json.loads(self.query_one("#args", TextArea).text)
        except ValueError as exc:
            self.query_one("#error", Static).update(f"not valid JSON: {exc}")
            return None
        if not isinstance(value, dict):
            self.query_one("#error", Static).update("the arguments must be a JSON object")
            return None
        self.query_one("#error", Static).update("")
        return value

    @on(TextArea.Changed)
    def _validate(self) -> None:
        self.parsed()

    @on(Button.Pressed, "#ok")
    def action_save(self) -> None:
        value = self.parsed()
        if value is not None:
            self.dismiss(value)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class KeyModal(_Dialog):
    """A masked prompt for an API key: it goes to the keyring, never to the screen."""

    def __init__(self, provider: str) -> None:
        super().__init__()
        self.provider = provider

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(f"API key for {self.provider}", classes="dialog-title")
            yield Input(password=True, placeholder="paste the key", id="key")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Save to keyring", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        key = self.query_one("#key", Input).value.strip()
        self.dismiss(key or None)

    @on(Button.Pressed, "#cancel")
    def _cancel(self) -> None:
        self.dismiss(None)


class ConfirmModal(_Dialog):
    BINDINGS = [*_Dialog.BINDINGS, Binding("y", "yes", "Yes", id="dialog.yes"),
                Binding("n", "cancel", "No", id="dialog.no")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.question, classes="dialog-title")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", id="no")

    @on(Button.Pressed, "#yes")
    def action_yes(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#no")
    def _no(self) -> None:
        self.dismiss(False)
