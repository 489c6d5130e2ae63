"""A YAML text editor that marks the line a validation problem is on, without moving the cursor."""

from __future__ import annotations

from importlib.util import find_spec
from typing import Any

from rich.style import Style
from rich.text import Text
from textual.color import Color
from textual.widgets import TextArea


def yaml_highlighting() -> bool:
    """Whether tree-sitter and its YAML grammar are installed (Textual's `syntax` extra)."""
    return find_spec("tree_sitter") is not None and find_spec("tree_sitter_yaml") is not None


class YamlEditor(TextArea):
    """TextArea with YAML highlighting (when the grammar is installed) and an error line.

    The mark is a style on the line, not a selection: a check that runs as you type must
    never move the cursor away from where you are typing.
    """

    DEFAULT_CSS = """
    YamlEditor {
        height: 1fr;
    }
    """

    def __init__(self, text: str = "", **kwargs: Any) -> None:
        language = "yaml" if yaml_highlighting() else None
        super().__init__(text, language=language, show_line_numbers=True,
                         tab_behavior="focus", soft_wrap=True, **kwargs)
        self._error_line: int | None = None

    @property
    def error_line(self) -> int | None:
        """The 1-based line marked as wrong (None: no mark)."""
        return self._error_line

    def mark_error(self, line: int | None) -> None:
        if line is not None and not 1 <= line <= self.document.line_count:
            line = None
        if line != self._error_line:
            self._error_line = line
            self._line_cache.clear()
            self.refresh()

    def select_line_of_error(self) -> None:
        """Put the cursor on the marked line, select it and bring it into view."""
        if self._error_line is None:
            return
        row = self._error_line - 1
        self.select_line(row)
        self.scroll_cursor_visible(center=True)

    def get_line(self, line_index: int) -> Text:
        line = super().get_line(line_index)
        if self._error_line is not None and line_index == self._error_line - 1:
            # red and underlined text survives the cursor line's background, which the
            # editor paints over this one when you are typing on the wrong line
            error = Color.parse(self.app.current_theme.error or "red")
            line.stylize(Style(color=error.lighten(0.25).rich_color, underline=True, bold=True,
                               bgcolor=error.darken(0.45).rich_color))
        return line
