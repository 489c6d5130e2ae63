"""The message stream: a virtualized list of run events (only visible lines are rendered)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

PALETTE = ["#5fafff", "#ff87d7", "#ffd75f", "#87d787", "#d7afff", "#ff8787", "#5fd7d7",
           "#d7d787"]
KIND_STYLE = {
    "tool.requested": Style(color="#afafaf"),
    "tool.result": Style(color="#87af87"),
    "policy.decision": Style(color="#ffaf5f"),
    "approval.requested": Style(color="#ffd700", bold=True),
    "approval.decided": Style(color="#ffd700"),
    "handoff": Style(color="#8a8a8a", italic=True),
    "model.call": Style(color="#6c6c6c"),
    "run.started": Style(bold=True),
    "run.completed": Style(color="#5fd75f", bold=True),
    "run.failed": Style(color="#ff5f5f", bold=True),
}
DIM = Style(dim=True)
HIDDEN_BY_DEFAULT = frozenset({"model.call", "tool.result"})
SELECTED = Style(bgcolor="#303a4a")


def summary(event: dict[str, Any]) -> str:
    """One line for an event, as the stream shows it."""
    kind, d = event["kind"], event.get("data") or {}
    content = " ".join((event.get("content") or "").split())
    if kind in ("message", "message.delta"):
        return content
    if kind == "tool.requested":
        return f"calls {d.get('tool')}({json.dumps(d.get('args') or {}, ensure_ascii=False)})"
    if kind == "tool.result":
        mark = "✓" if d.get("ok") else "✗"
        return f"{mark} {d.get('tool')} → {content}"
    if kind == "policy.decision":
        rules = ", ".join(d.get("rule_ids") or []) or "default"
        return f"⚖ {d.get('action')}: {d.get('effect')} [{rules}] {content}"
    if kind == "approval.requested":
        return f"⏸ approval {d.get('approval_id')}: {d.get('tool')} needs a reviewer ({content})"
    if kind == "approval.decided":
        return f"▶ approval {d.get('approval_id')} {d.get('decision')} by {d.get('reviewer')}"
    if kind == "handoff":
        return f"↪ hands off to {event.get('to')}"
    if kind == "model.call":
        tokens = (d.get("prompt_tokens") or 0) + (d.get("completion_tokens") or 0)
        cost = d.get("cost_usd")
        shown = "cost unknown" if cost is None else f"${cost:.4f}"
        return f"model {d.get('model')} · {tokens} tokens · {shown} · {d.get('latency_ms', 0)} ms"
    if kind == "run.started":
        return f"▶ {d.get('crew')} on {d.get('engine')} ({d.get('topology')}): {content}"
    if kind in ("run.completed", "run.failed"):
        return f"{'✔' if kind == 'run.completed' else '✘'} {d.get('status')}: {content}"
    return content


@dataclass(slots=True)
class Entry:
    event: dict[str, Any]
    text: str
    streaming: bool = False
    extra: list[dict[str, Any]] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.event["kind"]

    @property
    def agent(self) -> str:
        return self.event.get("agent") or ""


class EventStream(ScrollView, can_focus=True):
    """Appends are O(1); rendering touches only the visible lines, so thousands of events a
    second cost the UI almost nothing."""

    BINDINGS = [
        Binding("up,k", "cursor(-1)", "Up", show=False, id="stream.up"),
        Binding("down,j", "cursor(1)", "Down", show=False, id="stream.down"),
        Binding("pageup", "cursor(-20)", "Page up", show=False, id="stream.pageup"),
        Binding("pagedown", "cursor(20)", "Page down", show=False, id="stream.pagedown"),
        Binding("home", "first", "First", show=False, id="stream.first"),
        Binding("end", "last", "Follow", show=False, id="stream.last"),
    ]

    cursor: reactive[int] = reactive(-1, always_update=True)

    class Selected(Message):
        def __init__(self, entry: Entry | None) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.entries: list[Entry] = []
        self._view: list[int] = []
        self._live: dict[str, int] = {}
        self._colors: dict[str, str] = {}
        self.follow = True
        self.agent_filter: str | None = None
        self.kind_filter: set[str] | None = None

    # -- feeding --------------------------------------------------------------------------

    def color(self, agent: str) -> str:
        return self._colors.setdefault(agent, PALETTE[len(self._colors) % len(PALETTE)])

    def add_events(self, events: list[dict[str, Any]]) -> None:
        start = len(self.entries)
        for e in events:
            kind, agent = e["kind"], e.get("agent") or ""
            if kind == "message.delta":
                index = self._live.get(agent)
                if index is None:
                    self._live[agent] = len(self.entries)
                    live = dict(e, kind="message", content=e.get("content") or "")
                    self.entries.append(Entry(live, "", streaming=True))
                    index = self._live[agent]
                entry = self.entries[index]
                entry.event["content"] = (entry.event.get("content") or "") + (
                    e.get("content") or "")
                entry.text = " ".join(entry.event["content"].split())
                continue
            if kind == "message" and agent in self._live:
                entry = self.entries[self._live.pop(agent)]
                entry.event = e
                entry.text = summary(e)
                entry.streaming = False
                continue
            if kind == "tool.result":
                call_id = (e.get("data") or {}).get("call_id")
                for prev in reversed(self.entries[-50:]):
                    if prev.kind == "tool.requested" and \
                            (prev.event.get("data") or {}).get("call_id") == call_id:
                        prev.extra.append(e)
                        break
            self.entries.append(Entry(e, summary(e)))
        for i in range(start, len(self.entries)):
            if self._visible(self.entries[i]):
                self._view.append(i)
        self._resize()

    def _visible(self, entry: Entry) -> bool:
        if self.agent_filter and entry.agent != self.agent_filter:
            return False
        if self.kind_filter:
            return entry.kind in self.kind_filter
        # Results show beside their call, model calls in the totals: both on request.
        return entry.kind not in HIDDEN_BY_DEFAULT

    def set_filters(self, agent: str | None, kinds: set[str] | None) -> None:
        self.agent_filter, self.kind_filter = agent, kinds
        self._view = [i for i, e in enumerate(self.entries) if self._visible(e)]
        self.cursor = min(self.cursor, len(self._view) - 1)
        self._resize()
        self.refresh()

    def _resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self._view))
        if self.follow:
            self.scroll_end(animate=False, immediate=False, x_axis=False)
        self.refresh()

    @property
    def visible_count(self) -> int:
        return len(self._view)

    # -- navigation -----------------------------------------------------------------------

    def action_cursor(self, delta: int) -> None:
        if not self._view:
            return
        current = self.cursor if self.cursor >= 0 else len(self._view) - 1
        self.cursor = max(0, min(len(self._view) - 1, current + delta))
        self.follow = self.cursor == len(self._view) - 1
        self.scroll_to_region_cursor()

    def action_first(self) -> None:
        if self._view:
            self.follow = False
            self.cursor = 0
            self.scroll_home(animate=False)

    def action_last(self) -> None:
        self.follow = True
        if self._view:
            self.cursor = len(self._view) - 1
        self.scroll_end(animate=False)

    def scroll_to_region_cursor(self) -> None:
        top = self.scroll_offset.y
        height = self.size.height or 1
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False)

    def on_click(self, event: Any) -> None:
        row = self.scroll_offset.y + event.y
        if 0 <= row < len(self._view):
            self.follow = False
            self.cursor = row

    def watch_cursor(self, cursor: int) -> None:
        self.refresh()
        entry = self.entries[self._view[cursor]] if 0 <= cursor < len(self._view) else None
        self.post_message(self.Selected(entry))

    # -- rendering ------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        row = self.scroll_offset.y + y
        if row >= len(self._view):
            return Strip.blank(width, self.rich_style)
        entry = self.entries[self._view[row]]
        segments = self._segments(entry)
        strip = Strip(segments).crop(0, width).extend_cell_length(width)
        if row == self.cursor:
            strip = strip.apply_style(SELECTED)
        return strip

    def _segments(self, entry: Entry) -> list[Segment]:
        kind, agent = entry.kind, entry.agent
        who = Style(color=self.color(agent), bold=True) if agent else DIM
        if kind == "message":
            to = entry.event.get("to") or "all"
            body = entry.text + (" ▍" if entry.streaming else "")
            return [Segment(agent or "?", who), Segment(f" → {to}: ", DIM), Segment(body)]
        style = KIND_STYLE.get(kind, DIM)
        lead = "  " if agent else ""
        segments = [Segment(lead)]
        if agent:
            segments.append(Segment(agent + " ", who))
        segments.append(Segment(entry.text, style))
        if entry.extra:
            result = entry.extra[-1]
            mark = "✓" if (result.get("data") or {}).get("ok") else "✗"
            segments.append(Segment(f"  {mark} " + " ".join(
                (result.get("content") or "").split())[:80], KIND_STYLE["tool.result"]))
        return segments
