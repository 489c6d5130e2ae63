"""A scrollable pane showing one Rich renderable, rendered once per change, not per frame."""

from __future__ import annotations

from typing import Any

from rich.console import RenderableType
from rich.segment import Segment
from rich.text import Text
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.tui.widgets.stream import set_virtual_size


class DetailView(ScrollView, can_focus=True):
    """Shows the selected entry; updating it never lays out the screen."""

    # the scrollbar stays: one that comes and goes with each entry's length would lay out
    # the whole screen every time the selection moves
    DEFAULT_CSS = """
    DetailView {
        background: $surface;
        overflow-y: scroll;
    }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.renderable: RenderableType = Text("")
        self._lines: list[Strip] = []
        self._width = 0

    def show(self, renderable: RenderableType) -> None:
        self.renderable = renderable
        self._width = 0
        self.scroll_to(y=0, animate=False, immediate=True)
        self._layout_lines()

    def _layout_lines(self) -> None:
        width = self.scrollable_content_region.width
        if width <= 0:
            return
        if width != self._width:
            console = self.app.console
            options = console.options.update_width(width)
            lines = console.render_lines(self.renderable, options, pad=False)
            self._lines = [Strip(line).adjust_cell_length(width) for line in lines]
            self._width = width
        set_virtual_size(self, Size(width, len(self._lines)))

    def on_resize(self) -> None:
        self._width = 0
        self._layout_lines()

    def render_line(self, y: int) -> Strip:
        if self._width != self.scrollable_content_region.width:
            self._layout_lines()
        row = int(self.scroll_offset.y) + y
        width = self.scrollable_content_region.width
        if 0 <= row < len(self._lines):
            return self._lines[row]
        return Strip([Segment(" " * width)]) if width > 0 else Strip.blank(0)
