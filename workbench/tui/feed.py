"""A run's traffic as the run view shows it: events folded into entries, totals and lit edges.

Pure Python (no widgets), so a replay can be built off the UI thread and a live run can be
fed from any thread: the bus subscriber only appends to `Feed.inbox`; the UI drains it.
"""

from __future__ import annotations

import itertools
import json
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from workbench.mesh import events as ev
from workbench.mesh.totals import Totals

#: Filter groups: what a person filters by, each covering one or more event kinds.
GROUPS: dict[str, tuple[str, ...]] = {
    "message": (ev.MESSAGE, ev.MESSAGE_DELTA),
    "handoff": (ev.HANDOFF,),
    "tool": (ev.TOOL_REQUESTED, ev.TOOL_RESULT),
    "policy": (ev.POLICY_DECISION,),
    # a person's turns are decisions of a person too
    "approval": (ev.APPROVAL_REQUESTED, ev.APPROVAL_DECIDED, ev.HUMAN_REQUESTED,
                 ev.HUMAN_ANSWERED, ev.HUMAN_SKIPPED),
    "model": (ev.MODEL_CALL,),
    "run": (ev.RUN_STARTED, ev.RUN_COMPLETED, ev.RUN_FAILED, "run.note"),
}
#: A note said as a run starts (what the CLI prints as `workbench: warning: ...`): a policy
#: note from before the run, or one of the warnings its run.started carries. Not an event
#: kind of the run: the view makes these rows itself.
NOTE = "run.note"
GROUP_OF = {kind: group for group, kinds in GROUPS.items() for kind in kinds}
#: Model calls are folded into the messages they produced; their own rows are opt-in.
DEFAULT_GROUPS = frozenset(GROUPS) - {"model"}
#: Kinds whose folding reads the event's data (the others keep it as text until shown).
_NEEDS_DATA = frozenset({ev.MODEL_CALL, ev.TOOL_REQUESTED, ev.TOOL_RESULT, ev.RUN_STARTED,
                         ev.RUN_COMPLETED, ev.RUN_FAILED})
#: How long an edge stays lit after a message passed along it (seconds).
LIT_FOR = 1.5
#: Every change of any entry takes the next number: no two states of rows ever share a
#: version, so a line cached for the entry that held a row before a move is never reused.
_VERSIONS = itertools.count(1)


class Entry:
    """One row of the stream: a message (maybe still streaming), a tool call with its result,
    a policy decision, an approval, a model call or a run milestone."""

    __slots__ = ("index", "seq", "ts", "kind", "group", "agent", "to", "_chunks", "_text",
                 "_data", "result", "model", "streaming", "version")

    def __init__(self, index: int, seq: int, ts: float, kind: str, agent: str | None,
                 to: str | None, text: str, data: dict[str, Any] | str) -> None:
        self.index = index
        self.seq = seq
        self.ts = ts
        self.kind = kind
        self.group = GROUP_OF.get(kind, "run")
        self.agent = agent
        self.to = to
        self._chunks: list[str] | None = None
        self._text = text
        #: A stored event's data stays JSON text until someone looks (most never are).
        self._data = data
        #: For a tool call: the paired tool.result event's (ok, text, data).
        self.result: tuple[bool, str, dict[str, Any]] | None = None
        #: The model call that produced this message or tool call (model, tokens, cost, ...).
        self.model: dict[str, Any] | None = None
        self.streaming = False
        #: Renewed on every change (and move), so a rendered line can be cached until then.
        self.version = 0

    @property
    def data(self) -> dict[str, Any]:
        data = self._data
        if isinstance(data, str):
            data = self._data = json.loads(data) if data else {}
        return data

    @data.setter
    def data(self, value: dict[str, Any]) -> None:
        self._data = value

    @property
    def text(self) -> str:
        if self._chunks:
            # tokens arrive one by one: join once per read, not once per token
            self._text += "".join(self._chunks)
            self._chunks = None
        return self._text

    def append(self, chunk: str) -> None:
        if self._chunks is None:
            self._chunks = [chunk]
        else:
            self._chunks.append(chunk)
        self.version = next(_VERSIONS)

    def set_text(self, text: str) -> None:
        self._chunks = None
        self._text = text
        self.version = next(_VERSIONS)


@dataclass
class AgentInfo:
    name: str
    colour: int
    role: str = ""
    model: str = ""
    domain: str = ""
    tools: list[str] = field(default_factory=list)
    capabilities: list[str] = field(default_factory=list)


def _fields(e: Any) -> tuple[int, float, str, str | None, str | None, str | None, dict]:
    if isinstance(e, dict):
        return (e.get("seq", 0), e.get("ts", 0.0), e["kind"], e.get("agent"), e.get("to"),
                e.get("content"), e.get("data") or {})
    return e.seq, e.ts, e.kind, e.agent, e.to, e.content, e.data


class RunModel:
    """Everything the run view shows, folded from events in order."""

    def __init__(self, live: bool = False) -> None:
        self.live = live
        self.entries: list[Entry] = []
        #: Indices of the entries that pass the filters, in order.
        self.visible: list[int] = []
        self.groups: set[str] = set(DEFAULT_GROUPS)
        self.agent_filter: set[str] | None = None
        self.agents: dict[str, AgentInfo] = {}
        self.totals = Totals()
        self.session_id = ""
        self.crew = ""
        self.engine = ""
        self.topology = ""
        self.task = ""
        self.status = "waiting"
        self.result = ""
        self.started_ts: float | None = None
        self.ended_ts: float | None = None
        self.elapsed_s: float | None = None
        self.events = 0
        #: (source, target) -> monotonic time the last message passed (live runs only).
        self.edge_lit: dict[tuple[str, str], float] = {}
        self.edge_count: dict[tuple[str, str], int] = {}
        self.active: str | None = None
        #: The notes said at the start (NOTE rows), in order.
        self.notes: list[str] = []
        #: Entries changed since the UI last looked (for the detail pane).
        self.changed: set[int] = set()
        self._open_stream: dict[str, Entry] = {}
        self._last_model: dict[str, dict[str, Any]] = {}
        self._tools: dict[tuple[str, str], list[Entry]] = {}

    # -- folding events -----------------------------------------------------------------

    def apply_all(self, events: Iterable[Any]) -> None:
        for e in events:
            self.apply(e)

    def apply(self, e: Any) -> None:
        """Fold one event (a bus `Event` or a stored event dict)."""
        seq, ts, kind, agent, to, content, data = _fields(e)
        if kind == ev.RUN_STARTED:
            self.session_id = (e.get("session_id") if isinstance(e, dict)
                               else e.session_id) or self.session_id
        self.apply_row(seq, ts, kind, agent, to, content, data)

    def apply_row(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                  content: str | None, data: dict[str, Any] | str) -> None:
        """Fold one event given as its fields; `data` may still be JSON text (stored events):
        it is decoded only for the kinds whose folding needs it."""
        self.events += 1
        if isinstance(data, str) and kind in _NEEDS_DATA:
            data = json.loads(data) if data else {}
        # the totals count as the run itself does (one rule: mesh/totals.py)
        self.totals.apply_fields(kind, agent, data)  # type: ignore[arg-type]
        _FOLDS.get(kind, RunModel._row)(self, seq, ts, kind, agent, to, content or "", data)

    # -- one fold per kind (the table `_FOLDS` below) --------------------------------------

    def _row(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
             text: str, data: Any) -> None:
        """A kind with nothing to fold but its own row (a decision, an approval, ...)."""
        self._new(seq, ts, kind, agent, to, text, data)

    def _delta(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
               text: str, data: Any) -> None:
        entry = self._open_stream.get(agent or "")
        if isinstance(data, dict) and data.get("restart"):
            # a retry or a fallback starts the answer over: drop what was streamed
            if entry is not None and entry.streaming:
                entry.set_text("")
                self.changed.add(entry.index)
            return
        if entry is None or not entry.streaming:
            entry = self._new(seq, ts, ev.MESSAGE, agent, None, "", data)
            entry.streaming = True
            self._open_stream[agent or ""] = entry
        entry.append(text)
        self.changed.add(entry.index)
        self.active = agent

    def _message(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                 text: str, data: Any) -> None:
        entry = self._open_stream.pop(agent or "", None)
        if entry is not None:
            entry.seq, entry.ts, entry.to, entry.data = seq, ts, to, data
            entry.streaming = False
            entry.set_text(text)
            self.changed.add(entry.index)
            # The row opened with the first streamed token; the message takes its place
            # in the sequence (after the model call, the decision, the handoff that led
            # to it), as replay and the CLI show it.
            self._to_end(entry)
        else:
            entry = self._new(seq, ts, kind, agent, to, text, data)
        if entry.model is None:
            entry.model = self._last_model.pop(agent or "", None)
        self._light(agent, to)

    def _model_call(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                    text: str, data: Any) -> None:
        streamed = self._open_stream.get(agent or "")
        if streamed is not None and streamed.streaming:
            streamed.streaming = False
            streamed.model = data
            streamed.version = next(_VERSIONS)
            self.changed.add(streamed.index)
        else:
            self._last_model[agent or ""] = data
        self._new(seq, ts, kind, agent, to, text, data)

    def _tool_requested(self, seq: int, ts: float, kind: str, agent: str | None,
                        to: str | None, text: str, data: Any) -> None:
        # a stream that ended in a tool call stays as its own message: the next message
        # from this agent is a new one
        self._open_stream.pop(agent or "", None)
        entry = self._new(seq, ts, kind, agent, to, text, data)
        entry.model = self._last_model.pop(agent or "", None)
        key = (agent or "", data.get("call_id") or data.get("tool") or "")
        self._tools.setdefault(key, []).append(entry)
        self.active = agent

    def _tool_result(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                     text: str, data: Any) -> None:
        key = (agent or "", data.get("call_id") or data.get("tool") or "")
        waiting = self._tools.get(key)
        if waiting:
            entry = waiting.pop(0)
            entry.result = (bool(data.get("ok")), text, data)
            entry.version = next(_VERSIONS)
            self.changed.add(entry.index)
        else:
            entry = self._new(seq, ts, kind, agent, to, text, data)
            entry.result = (bool(data.get("ok")), text, data)

    def _handoff(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                 text: str, data: Any) -> None:
        self._light(agent, to)
        self._new(seq, ts, kind, agent, to, text, data)

    def _run_started(self, seq: int, ts: float, kind: str, agent: str | None,
                     to: str | None, text: str, data: Any) -> None:
        self._started(ts, text, data)
        self._new(seq, ts, kind, agent, to, text, data)
        # the budgets it cannot keep, the untrusted functions: warnings under its first row
        for warning in data.get("warnings") or []:
            self._note(seq, ts, NOTE, None, None, str(warning), {})

    def _note(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
              text: str, data: Any) -> None:
        self.notes.append(text)
        self._new(seq, ts, NOTE, agent, to, text, data)

    def _run_ended(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
                   text: str, data: Any) -> None:
        self._ended(kind, ts, text, data)
        self._new(seq, ts, kind, agent, to, text, data)

    def _to_end(self, entry: Entry) -> None:
        """Move `entry` to the last row; the rows after it move up by one."""
        old = entry.index
        entries = self.entries
        if old == len(entries) - 1:
            return
        del entries[old]
        entries.append(entry)
        for i in range(old, len(entries)):
            moved = entries[i]
            moved.index = i
            moved.version = next(_VERSIONS)
            self.changed.add(i)
        visible = self.visible
        at = bisect_left(visible, old)
        shown = at < len(visible) and visible[at] == old
        tail = [i - 1 for i in visible[at + shown:]]
        if shown:
            tail.append(len(entries) - 1)
        visible[at:] = tail

    def _new(self, seq: int, ts: float, kind: str, agent: str | None, to: str | None,
             text: str, data: dict[str, Any] | str) -> Entry:
        entry = Entry(len(self.entries), seq, ts, kind, agent, to, text, data)
        self.entries.append(entry)
        if agent and agent not in self.agents:
            self.agents[agent] = AgentInfo(agent, len(self.agents))
        if self._passes(entry):
            self.visible.append(entry.index)
        return entry

    def _started(self, ts: float, text: str, data: dict[str, Any]) -> None:
        self.started_ts = ts
        self.status = "running"
        self.crew = data.get("crew") or ""
        self.engine = data.get("engine") or ""
        self.topology = data.get("topology") or ""
        self.task = text
        for a in data.get("agents") or []:
            info = self.agents.get(a["name"]) or AgentInfo(a["name"], len(self.agents))
            info.role = a.get("role") or ""
            info.model = a.get("model") or ""
            info.domain = a.get("domain") or ""
            info.tools = list(a.get("tools") or [])
            info.capabilities = list(a.get("capabilities") or [])
            self.agents[a["name"]] = info

    def _ended(self, kind: str, ts: float, text: str, data: dict[str, Any]) -> None:
        self.ended_ts = ts
        self.status = data.get("status") or ("completed" if kind == ev.RUN_COMPLETED
                                              else "failed")
        self.result = text
        self.elapsed_s = data.get("elapsed_s")
        # (the totals took the run's own summary: Totals.apply)
        self.active = None

    def _light(self, source: str | None, to: str | None) -> None:
        if not source or not to:
            return
        now = time.monotonic()
        for target in to.split(","):
            target = target.strip()
            if target:
                edge = (source, target)
                self.edge_count[edge] = self.edge_count.get(edge, 0) + 1
                if self.live:
                    self.edge_lit[edge] = now
        self.active = source

    # -- what the view asks -------------------------------------------------------------

    def lit_edges(self, now: float | None = None) -> set[tuple[str, str]]:
        now = time.monotonic() if now is None else now
        return {edge for edge, at in self.edge_lit.items() if now - at < LIT_FOR}

    def _passes(self, entry: Entry) -> bool:
        if entry.group not in self.groups:
            return False
        if self.agent_filter is None or entry.agent is None:
            return True
        return entry.agent in self.agent_filter

    def set_filters(self, groups: set[str], agents: set[str] | None) -> None:
        self.groups = set(groups)
        self.agent_filter = None if agents is None else set(agents)
        self.visible = [e.index for e in self.entries if self._passes(e)]

    def elapsed(self, now: float) -> float:
        if self.elapsed_s is not None:
            return float(self.elapsed_s)
        if self.started_ts is None:
            return 0.0
        return max(0.0, (self.ended_ts or now) - self.started_ts)

    def take_changed(self) -> set[int]:
        changed, self.changed = self.changed, set()
        return changed


#: How each kind is folded into the run view (any other kind: a row of its own).
_FOLDS: dict[str, Any] = {
    ev.MESSAGE_DELTA: RunModel._delta,
    ev.MESSAGE: RunModel._message,
    ev.MODEL_CALL: RunModel._model_call,
    ev.TOOL_REQUESTED: RunModel._tool_requested,
    ev.TOOL_RESULT: RunModel._tool_result,
    ev.HANDOFF: RunModel._handoff,
    ev.RUN_STARTED: RunModel._run_started,
    ev.RUN_COMPLETED: RunModel._run_ended,
    ev.RUN_FAILED: RunModel._run_ended,
    NOTE: RunModel._note,
}


class Feed:
    """The hand-over point between a run (any thread) and the UI (its loop).

    `put` is the bus subscriber: a deque append, nothing else, so a run never waits on the UI.
    """

    def __init__(self) -> None:
        self.inbox: deque[Any] = deque()

    def put(self, event: Any) -> None:
        self.inbox.append(event)

    def drain(self, model: RunModel, limit: int = 50_000) -> int:
        """Fold up to `limit` queued events into `model`; returns how many."""
        inbox = self.inbox
        n = 0
        apply = model.apply
        while inbox and n < limit:
            apply(inbox.popleft())
            n += 1
        return n
