"""Before a run from Compose: a dialog asks for the crew's inputs that have no value (the
{placeholders} in its agents' and tasks' text), as `workbench run` asks on a terminal."""

from __future__ import annotations

from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static

from workbench.tui.screens.modals import Dialog


class InputsModal(Dialog):
    """One field per input; Run (or enter in the last field) starts the run with the values
    given (an empty one stays as written), escape does not start it."""

    def __init__(self, crew: str, names: list[str]) -> None:
        super().__init__()
        self.crew = crew
        self.names = names

    # CSS, not DEFAULT_CSS: it must win over the dialogs' own sheet (modals.tcss)
    CSS = """
    /* many inputs scroll, and the buttons stay on screen (80x24 too) */
    #inputs-fields { height: auto; max-height: 50vh; }
    #inputs-fields Input { margin-bottom: 0; }
    """

    def compose_dialog(self) -> ComposeResult:
        with Vertical(classes="dialog", id="inputs-dialog"):
            yield Label(f"Inputs of {self.crew}", classes="dialog-title")
            yield Static("An empty value leaves its {placeholder} as written.",
                         classes="dialog-message")
            with VerticalScroll(id="inputs-fields"):
                for name in self.names:
                    field = Input(placeholder=f"value of {{{name}}}", id=f"input-{name}")
                    field.border_title = name  # the name on the field's own border
                    yield field
            with Horizontal(classes="dialog-buttons"):
                yield Button("Run", variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    def on_mount(self) -> None:
        super().on_mount()
        if self.names:
            self.query_one(f"#input-{self.names[0]}", Input).focus()

    @on(Input.Submitted)
    def _next_field(self, event: Input.Submitted) -> None:
        fields = list(self.query(Input))
        at = fields.index(event.input)
        if at + 1 < len(fields):
            fields[at + 1].focus()
        else:
            self._ok()

    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        self.dismiss({name: self.query_one(f"#input-{name}", Input).value.strip()
                      for name in self.names})


def fill_inputs(prepared: Any, values: dict[str, str]) -> Any:
    """`prepared` with the values given in the dialog put into the crew's text."""
    from workbench.spec.inputs import apply_inputs

    prepared.missing_inputs = apply_inputs(prepared.spec, {k: v for k, v in values.items()
                                                           if v})
    return prepared
