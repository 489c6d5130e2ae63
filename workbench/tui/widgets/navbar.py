"""The bar on top of every screen: the sections, and the pending-approvals badge."""

from __future__ import annotations

from typing import Any

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static


class NavTab(Static):
    """One section's name; clicking it goes there."""

    def __init__(self, mode: str, title: str, key: str, current: bool) -> None:
        super().__init__(f"[b]{key}[/b] {title}", classes="nav-tab -current" if current
                         else "nav-tab", markup=True)
        self.mode = mode

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.app.run_action(f"go('{self.mode}')")


class PendingBadge(Static):
    """`⏸ 2 pending` on every screen; it follows the app's `pending` count."""

    def on_mount(self) -> None:
        self.watch(self.app, "pending", self._show)

    def _show(self, count: int) -> None:
        self.set_class(count > 0, "-pending")
        self.update(f"⏸ {count} pending")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.app.run_action("go('approvals')")


class NavBar(Horizontal):
    """Sections on the left, the approvals badge on the right."""

    DEFAULT_CSS = """
    NavBar {
        height: 1;
        background: $panel;
        dock: top;
    }
    NavBar .nav-brand {
        width: auto;
        display: none;
        padding: 0 1;
        text-style: bold;
        color: $accent;
    }
    NavBar .nav-tab {
        width: auto;
        padding: 0 1;
        color: $text-muted;
    }
    NavBar .nav-tab:hover {
        background: $boost;
    }
    NavBar .nav-tab.-current {
        background: $primary 50%;
        color: $text;
    }
    NavBar .nav-spacer {
        width: 1fr;
    }
    NavBar PendingBadge {
        width: auto;
        padding: 0 1;
        color: $text-muted;
    }
    NavBar PendingBadge.-pending {
        background: $warning;
        color: $background;
        text-style: bold;
    }
    """

    def __init__(self, current: str) -> None:
        super().__init__()
        self.current = current

    def compose(self) -> ComposeResult:
        app: Any = self.app
        yield Static("workbench review" if app.review else "workbench", classes="nav-brand")
        for mode, title, key in app.sections:
            yield NavTab(mode, title, key, mode == self.current)
        yield Static(classes="nav-spacer")
        yield PendingBadge()
