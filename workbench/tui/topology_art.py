"""Draws a crew's topology with box characters: hub and spokes, layers, a mesh, or a graph.

A star that allocates by marketplace also shows its latest task: each spoke's bid under its
chip (cost, open tasks, record; `barred` when a policy barred it), the winner starred, and
the task itself on a line of its own (`MarketBoard` folds the task events into that view).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from rich.style import Style
from rich.text import Text

# the run's one shape type (light: no pydantic before the first frame), drawn under this name
from workbench.spec.shape import TopologyShape as Shape

__all__ = ["PALETTE", "MarketBoard", "Shape", "agent_colour", "draw"]

#: Agent colours, in order of appearance; the stream and the drawing use the same ones.
PALETTE = ("#5fafff", "#d787ff", "#ffaf5f", "#87d787", "#ff8787", "#5fd7d7", "#d7d75f",
           "#af87ff", "#ff87d7", "#87afd7")

N, S, E, W = 1, 2, 4, 8
_GLYPH = {
    E | W: "─", N | S: "│", E | S: "┌", W | S: "┐", E | N: "└", W | N: "┘",
    E | W | S: "┬", E | W | N: "┴", N | S | E: "├", N | S | W: "┤", N | S | E | W: "┼",
    N: "│", S: "│", E: "─", W: "─",
}
LINE = Style(color="grey50")
LIT = Style(color="bright_yellow", bold=True)


def agent_colour(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _money(cost: float | None) -> str:
    if cost is None:
        return "$?"
    if cost == 0:
        return "$0"
    return f"${cost:.4f}" if cost >= 0.0001 else f"${cost:.1e}"


@dataclass(slots=True)
class MarketBoard:
    """The marketplace's latest task as the topology shows it, folded from task events."""

    task_id: str = ""
    title: str = ""
    capability: str = ""
    #: Each bidder's (cost, load, record, eligible) on the latest task.
    bids: dict[str, tuple[float | None, int, float, bool]] = field(default_factory=dict)
    winner: str | None = None
    awarded: bool = False
    done: set[str] = field(default_factory=set)
    #: Tasks seen so far (posted).
    tasks: int = 0

    def fold(self, kind: str, agent: str | None, data: dict[str, Any], text: str) -> bool:
        """Take one event; whether the view changed."""
        if kind == "task.posted":
            self.task_id, self.title = str(data.get("task_id", "")), text
            self.capability = str(data.get("capability") or "")
            self.bids, self.winner, self.awarded = {}, None, False
            self.tasks += 1
        elif kind == "task.bid" and agent and data.get("task_id") == self.task_id:
            self.bids[agent] = (data.get("cost_usd"), int(data.get("load") or 0),
                                float(data.get("record") or 0.0), bool(data.get("eligible",
                                                                              True)))
        elif kind == "task.awarded" and data.get("task_id") == self.task_id:
            self.winner, self.awarded = data.get("winner"), True
        elif kind == "task.done":
            self.done.add(str(data.get("task_id", "")))
        else:
            return False
        return True

    @classmethod
    def of_award(cls, data: dict[str, Any], title: str = "") -> MarketBoard:
        """The board of one past task, from its `task.awarded` event (it carries the bids)."""
        board = cls(str(data.get("task_id", "")), title or str(data.get("title") or ""),
                    str(data.get("capability") or ""), winner=data.get("winner"),
                    awarded=True, tasks=1)
        for b in data.get("bids") or []:
            board.bids[str(b.get("agent"))] = (b.get("cost_usd"), int(b.get("load") or 0),
                                               float(b.get("record") or 0.0),
                                               bool(b.get("eligible", True)))
        return board

    def mark(self, agent: str) -> str:
        """What is written under `agent`'s chip."""
        bid = self.bids.get(agent)
        if bid is None:
            return ""
        cost, load, record, eligible = bid
        if not eligible:
            return "barred"
        star = "★" if agent == self.winner else ""
        return f"{star}{_money(cost)} L{load} {record:.0%}"

    def headline(self) -> str:
        """The latest task and where it stands."""
        if not self.task_id:
            return ""
        need = f" [{self.capability}]" if self.capability else ""
        if not self.awarded:
            state = f"bidding · {len(self.bids)} bid{'s' if len(self.bids) != 1 else ''}"
        elif self.winner is None:
            state = "not awarded"
        elif self.task_id in self.done:
            state = f"done by {self.winner}"
        else:
            state = f"awarded to {self.winner}"
        return f"{self.task_id}{need} {self.title} · {state}"


class _Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width = width
        self.chars = [[" "] * width for _ in range(height)]
        self.styles: list[list[Style | None]] = [[None] * width for _ in range(height)]
        self.dirs = [[0] * width for _ in range(height)]

    def link(self, x: int, y: int, dirs: int, style: Style) -> None:
        if 0 <= x < self.width and 0 <= y < len(self.chars) and (dirs or self.dirs[y][x]):
            self.dirs[y][x] |= dirs
            self.chars[y][x] = _GLYPH[self.dirs[y][x]]
            if self.styles[y][x] is not LIT:
                self.styles[y][x] = style

    def text(self, x: int, y: int, text: str, style: Style | None) -> None:
        for i, ch in enumerate(text):
            if 0 <= x + i < self.width and 0 <= y < len(self.chars):
                self.chars[y][x + i] = ch
                self.styles[y][x + i] = style

    def render(self) -> Text:
        out = Text(no_wrap=True, overflow="crop")
        for row, (chars, styles) in enumerate(zip(self.chars, self.styles, strict=True)):
            if row:
                out.append("\n")
            line = "".join(chars).rstrip()
            start = 0
            for i in range(1, len(line) + 1):
                if i == len(line) or styles[i] != styles[start]:
                    out.append(line[start:i], styles[start])
                    start = i
        return out


def _fit(names: list[str], width: int) -> tuple[list[str], int]:
    """Labels and the gap between chips so that a row fits in `width`."""
    labels = list(names)
    for gap in (4, 2, 1):
        if sum(len(n) + 2 for n in labels) + gap * (len(labels) - 1) <= width:
            return labels, gap
    room = max(3, (width - (len(labels) - 1)) // max(1, len(labels)) - 2)
    return [n if len(n) <= room else n[: room - 1] + "…" for n in labels], 1


class _Row:
    """Chips in one row, centred; each chip's centre column is where lines attach."""

    def __init__(self, names: list[str], width: int) -> None:
        labels, gap = _fit(names, width)
        total = sum(len(n) + 2 for n in labels) + gap * (len(labels) - 1)
        x = max(0, (width - total) // 2)
        self.names = names
        self.labels = labels
        self.x: dict[str, int] = {}
        self.centre: dict[str, int] = {}
        for name, label in zip(names, labels, strict=True):
            self.x[name] = x
            self.centre[name] = x + (len(label) + 2) // 2
            x += len(label) + 2 + gap

    def draw(self, c: _Canvas, y: int, colours: dict[str, str], active: str | None) -> None:
        for name, label in zip(self.names, self.labels, strict=True):
            colour = colours.get(name, PALETTE[0])
            style = Style(color="black", bgcolor=colour, bold=name == active,
                          underline=name == active)
            c.text(self.x[name], y, f" {label} ", style)


def _bus(c: _Canvas, y: int, above: dict[str, int], below: dict[str, int],
         lit: set[tuple[str, str]]) -> None:
    """A horizontal line at `y` joining chips above it to chips below it; the stretch between
    two chips that just talked is lit."""
    if len(above) == 1 and len(below) == 1:
        (a, xa), (b, xb) = next(iter(above.items())), next(iter(below.items()))
        if abs(xa - xb) <= 2:
            # one chip over another: a straight line reads better than a one-cell jog
            below = {b: xa}
    xs = [*above.values(), *below.values()]
    if not xs:
        return
    lo, hi = min(xs), max(xs)
    lit_spans: list[tuple[int, int]] = []
    lit_ends: set[int] = set()
    for a, b in lit:
        xa = above.get(a, below.get(a))
        xb = below.get(b, above.get(b))
        if xa is None or xb is None or a == b:
            continue
        lit_spans.append((min(xa, xb), max(xa, xb)))
        lit_ends.update((xa, xb))

    def style_at(x: int) -> Style:
        return LIT if any(s <= x <= e for s, e in lit_spans) else LINE

    for x in range(lo, hi + 1):
        dirs = (E if x < hi else 0) | (W if x > lo else 0)
        c.link(x, y, dirs, style_at(x))
    for x in above.values():
        c.link(x, y, N, LIT if x in lit_ends else style_at(x))
    for x in below.values():
        c.link(x, y, S, LIT if x in lit_ends else style_at(x))


def _undirected(lit: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    out = set()
    for a, b in lit:
        out.add((a, b))
        out.add((b, a))
    return out


def draw(shape: Shape, width: int, colours: dict[str, str] | None = None,
         lit: Iterable[tuple[str, str]] = (), active: str | None = None,
         market: MarketBoard | None = None) -> Text:
    """The topology as rich Text at most `width` columns wide; a star with a `market` that
    has a task shows the bids on it."""
    width = max(20, width)
    colours = colours or {n: agent_colour(i) for i, n in enumerate(shape.agents)}
    lit_set = _undirected(lit)
    if shape.kind == "star" and shape.hub:
        bids = market is not None and bool(market.task_id) and bool(shape.spokes)
        top, bottom = _Row([shape.hub], width), _Row(shape.spokes or [], width)
        c = _Canvas(width, (3 if shape.spokes else 1) + (1 if bids else 0))
        top.draw(c, 0, colours, active)
        if shape.spokes:
            _bus(c, 1, top.centre, bottom.centre, lit_set)
            bottom.draw(c, 2, colours, active)
        if bids and market is not None:
            _bid_row(c, 3, bottom, market, colours)
            out = c.render()
            out.append("\n")
            out.append(_crop(market.headline(), width), Style(bold=True))
            return out
        return c.render()
    if shape.kind == "layered" and shape.planner:
        rows = [[shape.planner], shape.executors or []]
        if shape.reviewer:
            rows.append([shape.reviewer])
        rows = [r for r in rows if r]
        drawn = [_Row(r, width) for r in rows]
        c = _Canvas(width, len(drawn) * 2 - 1)
        for i, row in enumerate(drawn):
            row.draw(c, i * 2, colours, active)
            if i + 1 < len(drawn):
                _bus(c, i * 2 + 1, row.centre, drawn[i + 1].centre, lit_set)
        return c.render()
    if shape.kind == "graph":
        return _graph(shape, width, colours, lit_set, active)
    row = _Row(shape.agents, width)
    c = _Canvas(width, 2)
    row.draw(c, 0, colours, active)
    if len(shape.agents) > 1:
        _bus(c, 1, row.centre, {}, lit_set)
    return c.render()


def _crop(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def _bid_row(c: _Canvas, y: int, row: _Row, market: MarketBoard,
             colours: dict[str, str]) -> None:
    """Each spoke's bid under its chip, centred on it and cut to the room it has."""
    names = row.names
    for i, name in enumerate(names):
        mark = market.mark(name)
        if not mark:
            continue
        # the room: up to halfway to the neighbours' centres
        left = (row.centre[names[i - 1]] + row.centre[name]) // 2 + 1 if i else 0
        right = ((row.centre[name] + row.centre[names[i + 1]]) // 2 if i + 1 < len(names)
                 else c.width)
        room = max(1, right - left)
        words = mark.split(" ")
        while len(mark) > room and len(words) > 1:  # drop the record, then the load
            words.pop()
            mark = " ".join(words)
        mark = mark[:room]
        x = max(left, min(row.centre[name] - len(mark) // 2, right - len(mark)))
        if mark.startswith("★"):
            style = Style(color=colours.get(name), bold=True)
        elif mark == "barred":
            style = Style(color="red")
        else:
            style = Style(dim=True)
        c.text(x, y, mark, style)


def _layers(shape: Shape) -> list[list[str]]:
    """Agents by their distance from the graph's entry (cycles are cut where first met)."""
    targets = {t for _, t, _ in shape.edges}
    roots = [a for a in shape.agents if a not in targets] or shape.agents[:1]
    depth: dict[str, int] = {r: 0 for r in roots}
    frontier = list(roots)
    while frontier:
        nxt = []
        for node in frontier:
            for s, t, _ in shape.edges:
                if s == node and t not in depth:
                    depth[t] = depth[node] + 1
                    nxt.append(t)
        frontier = nxt
    for a in shape.agents:
        depth.setdefault(a, 0)
    out: list[list[str]] = []
    for a in shape.agents:
        while len(out) <= depth[a]:
            out.append([])
        out[depth[a]].append(a)
    return out


def _graph(shape: Shape, width: int, colours: dict[str, str], lit: set[tuple[str, str]],
           active: str | None) -> Text:
    layers = _layers(shape)
    c = _Canvas(width, len(layers) * 2 - 1)
    rows = [_Row(layer, width) for layer in layers]
    for i, row in enumerate(rows):
        row.draw(c, i * 2, colours, active)
        if i + 1 < len(rows):
            nxt = rows[i + 1]
            above = {n: x for n, x in row.centre.items()
                     if any(s == n and t in nxt.centre for s, t, _ in shape.edges)}
            below = {n: x for n, x in nxt.centre.items()
                     if any(t == n and s in row.centre for s, t, _ in shape.edges)}
            _bus(c, i * 2 + 1, above, below, lit)
    out = c.render()
    for s, t, when in shape.edges:
        style = LIT if (s, t) in lit else Style(dim=True)
        out.append("\n")
        out.append(f" {s}", Style(color=colours.get(s)))
        out.append(" ─▶ ", style)
        out.append(t, Style(color=colours.get(t)))
        if when:
            out.append(f"  when {when!r}", Style(dim=True))
    return out
