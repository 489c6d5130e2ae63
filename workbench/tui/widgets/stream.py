"""The message stream: a virtual list that renders only the lines on screen, from a line cache.

One widget for any number of entries: appending is a list append and a size change, so
tens of thousands of events a second never create widgets or re-render what is off screen.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from workbench.tui.clock import Clock
from workbench.tui.feed import Entry, RunModel
from workbench.tui.render import crop_line, entry_line

#: Rendered lines kept: a screenful or two. Each Strip carries its own small caches, and
#: thousands of them make every full garbage collection a visible stall.
CACHE_LINES = 400


def set_virtual_size(view: ScrollView, size: Size) -> None:
    """Grow a line-API view without a screen layout.

    Assigning `virtual_size` lays out the whole screen (~15 ms here); at 30 appends a second
    that alone is half the UI's time. Only this view's scrollbars depend on it.
    """
    if size != view.virtual_size:
        view.set_reactive(ScrollView.virtual_size, size)
        view._scroll_update(size)
    view.refresh()


class StreamView(ScrollView, can_focus=True):
    """Entries of a `RunModel`, one line each, with a cursor that selects one."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"stream--cursor", "stream--empty"}
    DEFAULT_CSS = """
    StreamView {
        background: $surface;
        overflow-y: scroll;
    }
    StreamView > .stream--cursor {
        background: $primary 35%;
    }
    StreamView:focus > .stream--cursor {
        background: $primary 60%;
    }
    StreamView > .stream--empty {
        color: $text-muted;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="stream.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="stream.down"),
        Binding("pageup", "page(-1)", "Page up", show=False, id="stream.page_up"),
        Binding("pagedown", "page(1)", "Page down", show=False, id="stream.page_down"),
        Binding("home", "first", "First", show=False, id="stream.first"),
        Binding("end,G", "follow", "Follow", show=False, id="stream.follow"),
    ]

    @dataclass
    class Selected(Message):
        """The cursor moved to another entry."""

        entry: Entry | None

    def __init__(self, clock: Clock, empty: str = "Waiting for events…", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.clock = clock
        self.model: RunModel | None = None
        self.cursor = 0
        #: Keep the newest entry selected and in view as entries arrive.
        self.follow = True
        self.empty_text = empty
        self._cache: dict[int, tuple[tuple[Any, ...], Strip]] = {}
        self._shown = 0

    # -- feeding --------------------------------------------------------------------------

    def set_model(self, model: RunModel | None) -> None:
        self.model = model
        self._cache.clear()
        self.cursor = 0
        self.follow = True
        self._shown = -1
        self.sync()

    def sync(self) -> None:
        """Pick up appended or changed entries (call once per batch, not per event)."""
        count = len(self.model.visible) if self.model else 0
        grew = count != self._shown
        if grew:
            self._shown = count
            set_virtual_size(self, Size(self.scrollable_content_region.width, count))
        if self.follow and count:
            self._move(count - 1, announce=grew)
        self.refresh()

    def refilter(self) -> None:
        """The model's filters changed: keep the selected entry if it is still shown."""
        model = self.model
        if model is None:
            return
        selected = self.selected
        self._cache.clear()
        self._shown = -1
        if selected is not None and selected.index in model.visible:
            self.follow = False
            self.sync()
            self._move(model.visible.index(selected.index), announce=True)
        else:
            self.follow = True
            self.sync()

    @property
    def selected(self) -> Entry | None:
        model = self.model
        if model is None or not 0 <= self.cursor < len(model.visible):
            return None
        return model.entries[model.visible[self.cursor]]

    # -- moving ---------------------------------------------------------------------------

    def _move(self, row: int, announce: bool = True) -> None:
        count = len(self.model.visible) if self.model else 0
        row = max(0, min(row, count - 1)) if count else 0
        changed = row != self.cursor
        self.cursor = row
        height = self.scrollable_content_region.height
        top = int(self.scroll_offset.y)
        if row < top:
            self.scroll_to(y=row, animate=False, immediate=True)
        elif height and row >= top + height:
            self.scroll_to(y=row - height + 1, animate=False, immediate=True)
        self.refresh()
        if announce and (changed or self.follow):
            self.post_message(self.Selected(self.selected))

    def action_cursor(self, delta: int) -> None:
        count = len(self.model.visible) if self.model else 0
        self.follow = delta > 0 and self.cursor + delta >= count - 1
        self._move(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.follow = False
        self._move(0)

    def action_follow(self) -> None:
        self.follow = True
        count = len(self.model.visible) if self.model else 0
        self._move(count - 1)

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or self.model is None:
            return
        row = int(self.scroll_offset.y) + offset.y
        if row < len(self.model.visible):
            self.follow = row == len(self.model.visible) - 1
            self._move(row)

    def on_resize(self) -> None:
        self._cache.clear()
        self._shown = -1
        self.sync()

    # -- drawing --------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        row = int(self.scroll_offset.y) + y
        model = self.model
        if model is None or not model.visible:
            # the hint wraps at word boundaries, so a narrow terminal shows all of it
            lines = textwrap.wrap(self.empty_text, max(1, width - 2))
            if y < len(lines):
                style = self.get_component_rich_style("stream--empty")
                return Strip([Segment(f" {lines[y]}", style)]).adjust_cell_length(width)
            return Strip.blank(width)
        if row >= len(model.visible):
            return Strip.blank(width)
        entry = model.entries[model.visible[row]]
        selected = row == self.cursor
        key = (entry.version, width, selected, entry.streaming)
        cached = self._cache.get(entry.index)
        if cached is not None and cached[0] == key:
            return cached[1]
        text = entry_line(entry, model, self.clock)
        crop_line(text, width - 1)
        segments = list(text.render(self.app.console))
        base: Style | None = None
        if selected:
            base = self.get_component_rich_style("stream--cursor")
            segments = [Segment(s.text, base + s.style if s.style else base)
                        for s in segments]
        strip = Strip([Segment(" ", base), *segments]).adjust_cell_length(width, base)
        if len(self._cache) > CACHE_LINES:
            self._cache.clear()
        self._cache[entry.index] = (key, strip)
        return strip
