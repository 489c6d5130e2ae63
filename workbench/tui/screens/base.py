"""What every section screen has: the navigation bar on top and the key footer below."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

from workbench.tui.widgets.navbar import NavBar


class SectionScreen(Screen[None]):
    """A section of the app; subclasses compose their body in `compose_body`."""

    SECTION = "sessions"

    def compose(self) -> ComposeResult:
        yield NavBar(self.SECTION)
        yield from self.compose_body()
        yield FittingFooter()

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


class FittingFooter(Footer):
    """The key footer, which never cuts a key in half: when the keys do not fit (80 columns),
    the screen's last ones are left out, while quit, back and the palette (which lists every
    key) stay."""

    #: Kept whatever the width: how to quit and go back (the palette is kept too).
    KEEP = ("ctrl+q", "escape")

    def __init__(self) -> None:
        super().__init__()
        self._fitted_to = 0

    def compose(self) -> ComposeResult:
        items = list(super().compose())
        width = self._fitted_to = self.size.width
        if width:
            keys = [k for k in items if isinstance(k, FooterKey)
                    and not k.has_class("-command-palette") and k.key not in self.KEEP]
            over = sum(self._width(k) for k in items) - width
            while over > 0 and keys:
                dropped = keys.pop()
                items.remove(dropped)
                over -= self._width(dropped)
        yield from items

    @staticmethod
    def _width(item: Widget) -> int:
        """Cells a key takes (as Footer lays it out: ` k ` then `description `)."""
        if not isinstance(item, FooterKey):
            return 0
        return cell_len(item.key_display) + 2 + (cell_len(item.description) + 1
                                                  if item.description else 0)

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._fitted_to:
            self.call_after_refresh(self.recompose)
