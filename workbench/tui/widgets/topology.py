"""The crew drawn as a graph of agents; edges light up while messages pass along them."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from workbench.tui.topology_art import MarketBoard, Shape, draw


class TopologyView(Widget):
    """Redrawn only when its shape, lit edges or active agent change (at most ~30 Hz)."""

    DEFAULT_CSS = """
    TopologyView {
        height: auto;
        min-height: 1;
        padding: 0 1;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.shape: Shape | None = None
        self.colours: dict[str, str] = {}
        self.lit: frozenset[tuple[str, str]] = frozenset()
        self.active: str | None = None
        #: A marketplace star's latest task and its bids (None: not a marketplace).
        self.market: MarketBoard | None = None

    def show(self, shape: Shape | None, colours: dict[str, str]) -> None:
        self.shape = shape
        self.colours = dict(colours)
        self.refresh(layout=True)

    def show_market(self, market: MarketBoard | None) -> None:
        """Draw the bids on the marketplace's latest task (its height may change)."""
        self.market = market
        self.refresh(layout=True)

    def light(self, lit: set[tuple[str, str]], active: str | None) -> None:
        frozen = frozenset(lit)
        if frozen != self.lit or active != self.active:
            self.lit = frozen
            self.active = active
            self.refresh()

    def render(self) -> Text:
        if self.shape is None or not self.shape.agents:
            return Text("no crew yet", style="dim")
        width = max(20, self.content_size.width or self.size.width or 60)
        return draw(self.shape, width, self.colours, self.lit, self.active, self.market)
