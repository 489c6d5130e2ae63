"""Two sessions side by side: the crew change, turns aligned by agent with the first
divergence marked and differences highlighted, and totals per side and per agent.

The comparison itself is `workbench.mesh.compare` (the same as `workbench sessions compare`);
this screen only lays it out. The two turn panes are line views over rows padded to the same
height, so a row of A and its row of B always sit on the same lines and the panes scroll in
step.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import ContentSwitcher, DataTable, Static

from workbench.mesh.compare import Comparison, Row, SessionSide, Turn, short_args
from workbench.mesh.format import format_cost, plural
from workbench.tui.background import in_thread
from workbench.tui.screens.base import SectionScreen
from workbench.tui.topology_art import agent_colour

#: Styles of the parts that differ: what only A has, what only B has.
ONLY_A = Style(color="black", bgcolor="#d7875f")
ONLY_B = Style(color="black", bgcolor="#87d787")
CHANGED = "bold yellow"
DIVERGENCE = "bold magenta"
_WORDS = re.compile(r"\s+|[^\s]+")


@dataclass
class ComparisonLoaded(Message):
    view: Any


@dataclass
class LaidOut(Message):
    """Both sides' lines, wrapped at `widths` (a worker's: long sessions take seconds)."""

    widths: tuple[int, int]
    strips: list[list[Strip]]
    starts: list[int]


def word_diff(a: str, b: str) -> tuple[Text, Text]:
    """Two texts with the words only one of them has highlighted (A's in orange, B's in
    green); equal texts come back plain."""
    ta, tb = Text(), Text()
    wa, wb = _WORDS.findall(a), _WORDS.findall(b)
    matcher = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        left, right = "".join(wa[i1:i2]), "".join(wb[j1:j2])
        if op == "equal":
            ta.append(left)
            tb.append(right)
        else:
            ta.append(left, ONLY_A if left.strip() else None)
            tb.append(right, ONLY_B if right.strip() else None)
    return ta, tb


def _duration(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.1f} s"


def _cost(cost: float, unknown: int) -> str:
    return format_cost(cost, not unknown)


class CompareLayout:
    """Each aligned row drawn for A and for B at given widths, padded to the same height."""

    def __init__(self, comparison: Comparison, colours: dict[str, str]) -> None:
        self.comparison = comparison
        self.colours = colours

    def turn_text(self, row: Row, index: int, side: str) -> Text:
        """One side of an aligned row: a header, the message, tools, approvals, totals."""
        c = self.comparison
        turn: Turn | None = row.a if side == "a" else row.b
        other: Turn | None = row.b if side == "a" else row.a
        text = Text()
        if index == c.first_divergence:
            text.append("▶ first divergence", DIVERGENCE)
            text.append(f": {', '.join(row.differences)}\n", DIVERGENCE)
        if turn is None:
            text.append(f"{index + 1:>3} ", "dim")
            text.append(f"no turn here ({row.differences[0]})", "dim italic")
            return text
        text.append(f"{index + 1:>3} ", "dim")
        text.append(turn.agent, f"bold {self.colours.get(turn.agent, '')}".strip())
        if turn.to:
            text.append(f" → {turn.to}", CHANGED if "recipients" in row.differences else "")
        if row.same:
            text.append("  =", "dim green")
        elif index != c.first_divergence:
            text.append(f"  ≠ {', '.join(row.differences)}", CHANGED)
        text.append("\n")
        if turn.content is None:
            text.append("(the run ended before this agent spoke)\n", "dim italic")
        elif "message" in row.differences and other is not None and other.content is not None:
            # A's words that B lacks in orange on the left, B's that A lacks in green
            pair = word_diff(turn.content, other.content) if side == "a" else \
                word_diff(other.content, turn.content)
            text.append_text(pair[0] if side == "a" else pair[1])
            text.append("\n")
        else:
            text.append(turn.content + "\n")
        tool_style = CHANGED if "tools" in row.differences else "cyan"
        for use in turn.tools:
            mark = {True: "✔", False: "✘", None: "…"}[use.ok]
            text.append(f"⚙ {use.tool}({short_args(use.args, 60)}) {mark}", tool_style)
            if use.output:
                text.append(f" {' '.join(use.output.split())[:60]}", "dim")
            text.append("\n")
        approval_style = CHANGED if "approvals" in row.differences else "yellow"
        for a in turn.approvals:
            decided = (f"{a.decision} by {a.reviewer}" if a.reviewer else a.decision) \
                if a.decision else "undecided"
            text.append(f"⏸ {a.tool}: {decided}\n", approval_style)
        policy_style = CHANGED if "policy" in row.differences else "magenta"
        for d in turn.decisions:
            text.append(f"⚖ {d}\n", policy_style)
        if turn.handoff:
            text.append(f"↪ handoff to {turn.handoff}\n", "dim")
        figures = [plural(turn.tokens, "token"), _cost(turn.cost_usd, turn.cost_unknown_calls),
                   _duration(turn.elapsed_s), *turn.models]
        text.append(" · ".join(figures), "dim")
        return text

    def lines(self, console: Any, widths: tuple[int, int]) -> tuple[list[list[Strip]],
                                                                    list[int]]:
        """The strips of every row for A and B (padded to equal heights) and where each row
        starts."""
        out: list[list[Strip]] = [[], []]
        starts: list[int] = []
        for i, row in enumerate(self.comparison.rows):
            starts.append(len(out[0]))
            drawn = []
            for side, width in zip(("a", "b"), widths, strict=True):
                options = console.options.update_width(max(1, width))
                rendered = console.render_lines(self.turn_text(row, i, side), options,
                                                pad=True)
                drawn.append([Strip(line, width) for line in rendered])
            height = max(len(d) for d in drawn) + 1  # a blank line between rows
            for k, (strips, width) in enumerate(zip(drawn, widths, strict=True)):
                out[k] += strips + [Strip.blank(width)] * (height - len(strips))
        return out, starts


class ComparePane(ScrollView, can_focus=True):
    """One side's turns; the screen keeps both panes on the same row and scroll offset."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"compare--cursor"}
    DEFAULT_CSS = """
    ComparePane {
        background: $surface;
        overflow-y: scroll;
        overflow-x: hidden;
    }
    ComparePane > .compare--cursor {
        background: $primary 25%;
    }
    ComparePane:focus > .compare--cursor {
        background: $primary 45%;
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "screen.row(-1)", "Previous turn", show=False, id="compare.up"),
        Binding("down,j", "screen.row(1)", "Next turn", show=False, id="compare.down"),
        Binding("pageup", "screen.page(-1)", "Page up", show=False, id="compare.page_up"),
        Binding("pagedown", "screen.page(1)", "Page down", show=False,
                id="compare.page_down"),
        Binding("home", "screen.first", "First turn", show=False, id="compare.first"),
        Binding("end", "screen.last", "Last turn", show=False, id="compare.last"),
        Binding("left,right", "screen.other_pane", "Other side", show=False,
                id="compare.other"),
    ]

    def __init__(self, side: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.side = side
        self.peer: ComparePane | None = None
        self.strips: list[Strip] = []
        #: Lines of the selected row (drawn with the cursor's background).
        self.cursor_lines = range(0)

    def on_resize(self) -> None:
        relayout = getattr(self.screen, "_relayout", None)
        if relayout is not None:
            self.call_after_refresh(relayout)

    def show(self, strips: list[Strip], cursor: range) -> None:
        self.strips = strips
        self.cursor_lines = cursor
        self.virtual_size = Size(self.scrollable_content_region.width, len(strips))
        self.refresh()

    def watch_scroll_y(self, old: float, new: float) -> None:
        super().watch_scroll_y(old, new)
        # the other side follows: however this one was scrolled (keys, wheel, scrollbar)
        peer = self.peer
        if peer is not None and peer.scroll_y != new:
            peer.scroll_to(y=new, animate=False, immediate=True)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        line = int(self.scroll_offset.y) + y
        if line >= len(self.strips):
            return Strip.blank(width)
        strip = self.strips[line].crop_extend(0, width, None)
        if line in self.cursor_lines:
            cursor = self.get_component_rich_style("compare--cursor")
            # under the text's own styles: a highlighted difference keeps its colour
            strip = Strip(Segment.apply_style(strip, style=Style(bgcolor=cursor.bgcolor)),
                          width)
        return strip


class CompareScreen(SectionScreen):
    """`c` in Sessions: two marked sessions side by side."""

    SECTION = "sessions"
    CSS_PATH = Path(__file__).with_name("compare.tcss")
    AUTO_FOCUS = "#compare-a"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("n", "next_difference(1)", "Next difference", id="compare.next_difference",
                tooltip="Move to the next turn that differs"),
        Binding("p", "next_difference(-1)", "Previous difference",
                id="compare.previous_difference", tooltip="Move to the previous turn that "
                                                          "differs", show=False),
        Binding("t", "view('compare-turns')", "Turns", id="compare.turns",
                tooltip="The turns of both sessions side by side"),
        Binding("d", "view('compare-crew')", "Crew change", id="compare.crew",
                tooltip="The difference between the two crew files"),
        Binding("g", "view('compare-agents')", "Per agent", id="compare.agents",
                tooltip="Turns, tokens, cost and time of each agent in each session"),
        Binding("escape", "back", "Back", id="compare.back", tooltip="Back to Sessions"),
    ]

    def __init__(self, a_id: str, b_id: str) -> None:
        super().__init__()
        self.ids = (a_id, b_id)
        self.view: Any = None
        self.comparison: Comparison | None = None
        self.layout_: CompareLayout | None = None
        self.row = 0
        self._starts: list[int] = []
        self._strips: list[list[Strip]] = [[], []]
        self._widths: tuple[int, int] | None = None

    def compose_body(self) -> ComposeResult:
        yield Static("Comparing…", id="compare-summary")
        with ContentSwitcher(initial="compare-turns", id="compare-views"):
            with Horizontal(id="compare-turns"):
                a = ComparePane("a", id="compare-a", classes="panel")
                a.border_title = "A"
                yield a
                b = ComparePane("b", id="compare-b", classes="panel")
                b.border_title = "B"
                yield b
            with VerticalScroll(id="compare-crew", classes="panel"):
                yield Static("", id="compare-crew-diff")
            with Vertical(id="compare-agents"):
                table = DataTable(id="compare-agents-table", cursor_type="row",
                                  zebra_stripes=True, classes="panel")
                table.border_title = "Per agent (A → B)"
                yield table
                yield Static("", id="compare-results", classes="hint")

    def on_mount(self) -> None:
        super().on_mount()
        a, b = self.query_one("#compare-a", ComparePane), self.query_one("#compare-b",
                                                                           ComparePane)
        a.peer, b.peer = b, a
        self.query_one("#compare-crew", VerticalScroll).border_title = "Crew change (A → B)"
        services = self.wb.services
        in_thread(self, services.compare_sessions, *self.ids, done=ComparisonLoaded,
                  what="comparing the sessions", group="compare-load")

    def on_comparison_loaded(self, message: ComparisonLoaded) -> None:
        self.view = message.view
        c: Comparison = message.view.comparison
        self.comparison = c
        colours = {name: agent_colour(i) for i, name in enumerate(c.agents)}
        self.layout_ = CompareLayout(c, colours)
        self.row = c.first_divergence or 0
        a, b = self.query_one("#compare-a", ComparePane), self.query_one("#compare-b",
                                                                           ComparePane)
        va, vb = message.view.versions
        a.border_title = self._pane_title("A", c.a, va)
        b.border_title = self._pane_title("B", c.b, vb)
        self._summary()
        self._crew_diff()
        self._agents()
        self._widths = None
        self._relayout()

    def _pane_title(self, tag: str, side: SessionSide, version: int) -> str:
        v = f" v{version}" if version else ""
        return f"{tag} · {side.id[:12]} · {side.crew_name}{v}"

    # -- the header and the other views -----------------------------------------------------

    def _summary(self) -> None:
        c = self.comparison
        assert c is not None
        text = Text()
        for tag, side, version, style in (("A", c.a, self.view.versions[0], ONLY_A),
                                          ("B", c.b, self.view.versions[1], ONLY_B)):
            # the session ids are in the panes' titles: a line here fits 80 columns
            text.append(f" {tag} ", style)
            v = f" v{version}" if version else ""
            text.append(f" {side.crew_name[:24]}{v} · {side.status} · "
                        f"{plural(side.turns, 'turn')} · {side.tokens:,} tok · "
                        f"{_cost(side.cost_usd, side.cost_unknown_calls)} · "
                        f"{_duration(side.elapsed_s)}\n")
        if c.same_crew:
            text.append("crew: the same file", "dim")
        else:
            added = sum(1 for line in c.crew_diff if line.startswith("+")
                        and not line.startswith("+++"))
            removed = sum(1 for line in c.crew_diff if line.startswith("-")
                          and not line.startswith("---"))
            text.append(f"crew changed +{added} −{removed} (d)", CHANGED)
        text.append(" · ")
        if c.first_divergence is None:
            text.append("the turns agree", "green")
        else:
            row = c.rows[c.first_divergence]
            who = (row.a or row.b).agent  # type: ignore[union-attr]
            differ = sum(1 for r in c.rows if not r.same)
            text.append(f"diverges at turn {c.first_divergence + 1}: {who}, "
                        f"{', '.join(row.differences)} · {differ}/{plural(len(c.rows), 'turn')} "
                        f"{'differs' if len(c.rows) == 1 else 'differ'}",
                        DIVERGENCE)
        self.query_one("#compare-summary", Static).update(text)

    def _crew_diff(self) -> None:
        c = self.comparison
        assert c is not None
        if c.same_crew:
            body = Text("Both sessions ran the same crew file.", "dim")
        else:
            body = Text()
            for line in c.crew_diff:
                style = ("bold" if line.startswith(("+++", "---")) else
                         "green" if line.startswith("+") else
                         "red" if line.startswith("-") else
                         "cyan" if line.startswith("@@") else "")
                body.append(line + "\n", style)
        self.query_one("#compare-crew-diff", Static).update(body)

    def _agents(self) -> None:
        c = self.comparison
        assert c is not None
        table = self.query_one("#compare-agents-table", DataTable)
        table.clear(columns=True)
        for name in ("Agent", "Turns", "Tokens", "Cost", "Tools", "Approvals", "Model time"):
            table.add_column(name, key=name)

        def cell(x: str, y: str) -> Text:
            return Text(f"{x} → {y}", CHANGED if x != y else "")

        def figures(t: Any) -> tuple[str, ...]:
            if t is None:
                return ("-",) * 6
            return (str(t.turns), f"{t.tokens:,}", _cost(t.cost_usd, t.cost_unknown_calls),
                    str(t.tool_calls) + (f" ({t.tools_failed}✘)" if t.tools_failed else ""),
                    str(t.approvals), f"{t.model_s:.1f} s")

        def whole(s: SessionSide) -> tuple[str, ...]:
            return (str(s.turns), f"{s.tokens:,}", _cost(s.cost_usd, s.cost_unknown_calls),
                    str(s.tool_calls), str(sum(t.approvals for t in s.agents.values())),
                    _duration(s.elapsed_s))

        table.add_row(Text("whole session", "bold"),
                      *(cell(x, y) for x, y in zip(whole(c.a), whole(c.b), strict=True)))
        for name in c.agents:
            fa, fb = figures(c.a.agents.get(name)), figures(c.b.agents.get(name))
            table.add_row(Text(name, agent_colour(c.agents.index(name))),
                          *(cell(x, y) for x, y in zip(fa, fb, strict=True)))
        results = Text()
        for tag, side in (("A", c.a), ("B", c.b)):
            outcome = side.result or side.error or "(no result)"
            results.append(f"{tag} {side.status}: ", "bold")
            results.append(" ".join(outcome.split())[:400] + "\n")
        self.query_one("#compare-results", Static).update(results)

    # -- the turn panes ---------------------------------------------------------------------

    def _panes(self) -> tuple[ComparePane, ComparePane]:
        return (self.query_one("#compare-a", ComparePane),
                self.query_one("#compare-b", ComparePane))

    def _relayout(self) -> None:
        """Wrap both sides at the panes' widths (again only when a width changed)."""
        if self.layout_ is None:
            return
        panes = self._panes()
        widths = (panes[0].scrollable_content_region.width,
                  panes[1].scrollable_content_region.width)
        if widths[0] <= 0 or widths[1] <= 0:
            return  # not shown (another view): laid out when the panes are sized again
        if widths != self._widths:
            self._widths = widths
            # wrapping a thousand turns takes seconds: off the UI loop, the last width wins
            in_thread(self, self.layout_.lines, self.app.console, widths,
                      done=lambda r: LaidOut(widths, *r), what="laying out the comparison",
                      group="compare-layout")
            return
        self._show_rows()
        self._scroll_to_row()

    def on_laid_out(self, message: LaidOut) -> None:
        if message.widths != self._widths:
            return  # resized meanwhile: a newer layout is on its way
        first = not self._starts
        self._strips, self._starts = message.strips, message.starts
        self._show_rows()
        self._scroll_to_row(top=first)

    def _row_lines(self) -> range:
        if not self._starts:
            return range(0)
        start = self._starts[self.row]
        end = self._starts[self.row + 1] - 1 if self.row + 1 < len(self._starts) \
            else len(self._strips[0])
        return range(start, end)

    def _show_rows(self) -> None:
        cursor = self._row_lines()
        for pane, strips in zip(self._panes(), self._strips, strict=True):
            pane.show(strips, cursor)

    def _scroll_to_row(self, top: bool = False) -> None:
        """Bring the selected row into view: at the top when jumped to (`top`), else by as
        little scrolling as will do."""
        pane = self._panes()[0]
        lines = self._row_lines()
        if not lines:
            return
        height = pane.scrollable_content_region.height
        shown = int(pane.scroll_y)
        if top or lines.start < shown or len(lines) > height:
            pane.scroll_to(y=lines.start, animate=False, immediate=True)
        elif lines.stop > shown + height:
            pane.scroll_to(y=lines.stop - height, animate=False, immediate=True)

    def _move(self, row: int, top: bool = False) -> None:
        if not self._starts:
            return
        self.row = max(0, min(row, len(self._starts) - 1))
        self._show_rows()
        self._scroll_to_row(top)

    def action_row(self, delta: int) -> None:
        self._move(self.row + delta)

    def action_page(self, direction: int) -> None:
        pane = self._panes()[0]
        target = int(pane.scroll_y) + direction * max(1, pane.scrollable_content_region.height)
        self._move(self._row_at(max(0, target)))

    def _row_at(self, line: int) -> int:
        import bisect

        return max(0, bisect.bisect_right(self._starts, line) - 1)

    def action_first(self) -> None:
        self._move(0)

    def action_last(self) -> None:
        self._move(len(self._starts) - 1)

    def action_other_pane(self) -> None:
        a, b = self._panes()
        (b if self.focused is a else a).focus()

    def action_next_difference(self, direction: int) -> None:
        c = self.comparison
        if c is None:
            return
        steps = range(self.row + 1, len(c.rows)) if direction > 0 else \
            range(self.row - 1, -1, -1)
        found = next((i for i in steps if not c.rows[i].same), None)
        if found is None:
            self.notify("No more differences that way", severity="information")
            return
        self.query_one(ContentSwitcher).current = "compare-turns"
        self._move(found, top=True)

    def action_view(self, name: str) -> None:
        self.query_one(ContentSwitcher).current = name
        focus = {"compare-turns": "#compare-a", "compare-crew": "#compare-crew",
                 "compare-agents": "#compare-agents-table"}[name]
        self.query_one(focus).focus()
        if name == "compare-turns":
            self.call_after_refresh(self._relayout)

    def action_back(self) -> None:
        self.dismiss()
