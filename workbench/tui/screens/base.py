"""What every section screen has: the navigation bar on top and the key footer below."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer

from workbench.tui.widgets.navbar import NavBar


class SectionScreen(Screen[None]):
    """A section of the app; subclasses compose their body in `compose_body`."""

    SECTION = "sessions"

    def compose(self) -> ComposeResult:
        yield NavBar(self.SECTION)
        yield from self.compose_body()
        yield Footer()

    def compose_body(self) -> ComposeResult:
        yield from ()

    def on_mount(self) -> None:
        freeze_cursors(self)

    @property
    def wb(self) -> Any:
        """The app, typed loosely: its settings, services and clock."""
        return self.app


def freeze_cursors(screen: Screen[Any]) -> None:
    """Stop blinking cursors when the app asks (tests and screenshots must not blink)."""
    if getattr(screen.app, "cursor_blink", True):
        return
    # by name: importing TextArea here would cost start-up time for a screen that has none
    for widget in screen.query("Input, TextArea"):
        widget.cursor_blink = False  # type: ignore[attr-defined]
