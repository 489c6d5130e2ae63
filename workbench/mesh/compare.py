"""Two stored sessions side by side: the crew change, turns aligned by agent, per-agent totals.

Pure functions over a session's row and its stored events (`Store.iter_events` dicts), so
the command line and the TUI render the same comparison; `load_comparison` reads both
sessions from a store.
"""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workbench.store.db import Store

#: Kinds that belong to the agent's turn in progress (its message closes the turn).
_TURN_KINDS = frozenset({"model.call", "tool.requested", "tool.result", "approval.requested",
                         "approval.decided", "policy.decision", "handoff"})


@dataclass
class ToolUse:
    """One tool call an agent asked for, and how it ended."""

    tool: str
    args: dict[str, Any] = field(default_factory=dict)
    call_id: str = ""
    #: None while no result is stored (the run stopped first).
    ok: bool | None = None
    output: str = ""

    def same_as(self, other: ToolUse) -> bool:
        return (self.tool, self.args, self.ok) == (other.tool, other.args, other.ok)


@dataclass
class ApprovalUse:
    """One approval an agent's tool call needed, and its decision (None: undecided)."""

    tool: str
    reason: str = ""
    decision: str | None = None
    reviewer: str | None = None

    def same_as(self, other: ApprovalUse) -> bool:
        return (self.tool, self.decision) == (other.tool, other.decision)


@dataclass
class Turn:
    """An agent's step: the model calls, tool calls, approvals and policy decisions that led
    to its message, and the message (None when the run ended before the agent spoke)."""

    index: int
    agent: str
    seq: int
    to: str | None = None
    content: str | None = None
    tools: list[ToolUse] = field(default_factory=list)
    approvals: list[ApprovalUse] = field(default_factory=list)
    #: Decisions other than a plain allow: "deny web-only-from-allowlist".
    decisions: list[str] = field(default_factory=list)
    handoff: str | None = None
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    models: list[str] = field(default_factory=list)
    started_ts: float = 0.0
    ended_ts: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def elapsed_s(self) -> float:
        return max(0.0, self.ended_ts - self.started_ts)


@dataclass
class AgentTotals:
    """What one agent did in a session."""

    agent: str
    turns: int = 0
    model_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    tool_calls: int = 0
    tools_failed: int = 0
    approvals: int = 0
    #: Seconds spent waiting on models (their reported latency).
    model_s: float = 0.0

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class SessionSide:
    """One session of a comparison: its row's summary, agents and turns."""

    id: str
    crew_name: str
    engine: str
    topology: str
    task: str
    status: str
    result: str | None
    error: str | None
    started_at: float
    ended_at: float | None
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cost_unknown_calls: int
    model_calls: int
    tool_calls: int
    snapshot_id: int | None = None
    agents: dict[str, AgentTotals] = field(default_factory=dict)
    steps: list[Turn] = field(default_factory=list)

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @property
    def elapsed_s(self) -> float | None:
        return None if self.ended_at is None else max(0.0, self.ended_at - self.started_at)


@dataclass
class Row:
    """One line of the aligned transcripts: a turn of A, of B, or of both."""

    a: Turn | None
    b: Turn | None
    #: What differs: agent, recipients, message, tools, approvals, policy; or "only in A"/B.
    differences: list[str] = field(default_factory=list)

    @property
    def same(self) -> bool:
        return not self.differences


@dataclass
class Comparison:
    a: SessionSide
    b: SessionSide
    #: A unified diff of the two crew snapshots (empty: the same crew file).
    crew_diff: list[str]
    rows: list[Row]
    #: Index in `rows` of the first row that differs; None when the transcripts agree.
    first_divergence: int | None

    @property
    def same_crew(self) -> bool:
        return not self.crew_diff

    @property
    def agents(self) -> list[str]:
        """Every agent of either session, in the order they first appear."""
        return list(dict.fromkeys([*self.a.agents, *self.b.agents]))

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json`; each turn also carries its totals."""
        def turn(t: Turn | None) -> dict[str, Any] | None:
            if t is None:
                return None
            return {**asdict(t), "tokens": t.tokens, "elapsed_s": round(t.elapsed_s, 3)}

        def side(s: SessionSide) -> dict[str, Any]:
            out = {k: v for k, v in asdict(s).items() if k not in ("agents", "steps")}
            out["tokens"] = s.tokens
            out["elapsed_s"] = None if s.elapsed_s is None else round(s.elapsed_s, 3)
            out["agents"] = {name: {**asdict(t), "tokens": t.tokens}
                             for name, t in s.agents.items()}
            return out

        return {
            "a": side(self.a),
            "b": side(self.b),
            "same_crew": self.same_crew,
            "crew_diff": self.crew_diff,
            "first_divergence": self.first_divergence,
            "rows": [{"a": turn(r.a), "b": turn(r.b), "same": r.same,
                      "differences": r.differences} for r in self.rows],
        }


# -- building a side from stored events -------------------------------------------------------


def build_side(session: dict[str, Any], events: list[dict[str, Any]]) -> SessionSide:
    """A session's turns and per-agent totals, folded from its events in seq order."""
    side = SessionSide(
        id=session["id"], crew_name=session["crew_name"], engine=session["engine"],
        topology=session["topology"], task=session.get("task") or "",
        status=session["status"], result=session.get("result"), error=session.get("error"),
        started_at=session["started_at"], ended_at=session.get("ended_at"),
        turns=session.get("turns") or 0, prompt_tokens=session.get("prompt_tokens") or 0,
        completion_tokens=session.get("completion_tokens") or 0,
        cost_usd=session.get("cost_usd") or 0.0,
        cost_unknown_calls=session.get("cost_unknown_calls") or 0,
        model_calls=session.get("model_calls") or 0, tool_calls=session.get("tool_calls") or 0,
        snapshot_id=session.get("crew_snapshot_id"),
    )
    pending: dict[str, Turn] = {}
    # the previous turn's end: a turn's time runs from there to its message
    last_ts = session["started_at"]

    def turn_of(agent: str, seq: int) -> Turn:
        t = pending.get(agent)
        if t is None:
            t = pending[agent] = Turn(index=-1, agent=agent, seq=seq, started_ts=last_ts)
        return t

    def totals_of(agent: str) -> AgentTotals:
        found = side.agents.get(agent)
        if found is None:
            found = side.agents[agent] = AgentTotals(agent)
        return found

    for e in events:
        kind, agent, data = e["kind"], e.get("agent"), e.get("data") or {}
        if kind == "run.started":
            for a in data.get("agents") or []:
                if isinstance(a, dict) and a.get("name"):
                    totals_of(a["name"])
            continue
        if not agent:
            continue
        if kind == "message":
            t = turn_of(agent, e["seq"])
            t.to, t.content, t.seq, t.ended_ts = e.get("to"), e.get("content") or "", \
                e["seq"], e["ts"]
            t.index = len(side.steps)
            side.steps.append(t)
            del pending[agent]
            totals_of(agent).turns += 1
            last_ts = e["ts"]
            continue
        if kind not in _TURN_KINDS:
            continue
        t = turn_of(agent, e["seq"])
        t.ended_ts = e["ts"]
        totals = totals_of(agent)
        if kind == "model.call":
            if data.get("ok") is False:
                continue  # a failed call answered nothing; the run's error says why
            t.model_calls += 1
            totals.model_calls += 1
            prompt, completion = int(data.get("prompt_tokens") or 0), \
                int(data.get("completion_tokens") or 0)
            t.prompt_tokens += prompt
            t.completion_tokens += completion
            totals.prompt_tokens += prompt
            totals.completion_tokens += completion
            cost = data.get("cost_usd")
            if cost is None:
                t.cost_unknown_calls += 1
                totals.cost_unknown_calls += 1
            else:
                t.cost_usd += float(cost)
                totals.cost_usd += float(cost)
            totals.model_s += float(data.get("latency_ms") or 0) / 1000
            model = data.get("model")
            if model and model not in t.models:
                t.models.append(model)
        elif kind == "tool.requested":
            t.tools.append(ToolUse(str(data.get("tool") or ""), dict(data.get("args") or {}),
                                   str(data.get("call_id") or "")))
            totals.tool_calls += 1
        elif kind == "tool.result":
            use = _tool_for(t, data)
            if use is None:  # a result with no request seen: keep it all the same
                use = ToolUse(str(data.get("tool") or ""), dict(data.get("args") or {}),
                              str(data.get("call_id") or ""))
                t.tools.append(use)
            use.ok = bool(data.get("ok"))
            use.output = e.get("content") or ""
            if not use.ok:
                totals.tools_failed += 1
        elif kind == "approval.requested":
            t.approvals.append(ApprovalUse(str(data.get("tool") or ""), e.get("content") or ""))
            totals.approvals += 1
        elif kind == "approval.decided":
            for a in t.approvals:
                if a.tool == data.get("tool") and a.decision is None:
                    a.decision, a.reviewer = data.get("decision"), data.get("reviewer")
                    break
        elif kind == "policy.decision":
            effect = data.get("effect")
            if effect and effect != "allow":
                rules = ",".join(data.get("rule_ids") or []) or "default"
                t.decisions.append(f"{data.get('action', '?')} {effect} {rules}")
        elif kind == "handoff":
            t.handoff = e.get("to")
    # the run ended while these agents were still at work: their unfinished steps count too
    for t in sorted(pending.values(), key=lambda t: t.seq):
        if t.model_calls or t.tools or t.approvals or t.decisions:
            t.index = len(side.steps)
            side.steps.append(t)
    return side


def _tool_for(turn: Turn, data: dict[str, Any]) -> ToolUse | None:
    call_id = data.get("call_id")
    for use in turn.tools:
        if use.ok is None and ((call_id and use.call_id == call_id)
                               or (not call_id and use.tool == data.get("tool"))):
            return use
    return None


# -- aligning two sides -----------------------------------------------------------------------


def turn_differences(a: Turn, b: Turn) -> list[str]:
    """What differs between two aligned turns: behaviour, not tokens or time."""
    out = []
    if a.agent != b.agent:
        out.append("agent")
    if (a.to or "") != (b.to or ""):
        out.append("recipients")
    if (a.content or "") != (b.content or "") or (a.content is None) != (b.content is None):
        out.append("message")
    if len(a.tools) != len(b.tools) or not all(
            x.same_as(y) for x, y in zip(a.tools, b.tools, strict=False)):
        out.append("tools")
    if len(a.approvals) != len(b.approvals) or not all(
            x.same_as(y) for x, y in zip(a.approvals, b.approvals, strict=False)):
        out.append("approvals")
    if a.decisions != b.decisions:
        out.append("policy")
    return out


def align(a: list[Turn], b: list[Turn]) -> list[Row]:
    """Turns of A and B lined up by agent and order: runs of the same speakers pair up, a
    turn only one session has gets a row of its own."""
    matcher = difflib.SequenceMatcher(None, [t.agent for t in a], [t.agent for t in b],
                                      autojunk=False)
    rows: list[Row] = []
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            rows += [Row(a[i], b[j], turn_differences(a[i], b[j]))
                     for i, j in zip(range(i1, i2), range(j1, j2), strict=True)]
            continue
        # a replaced stretch: pair what can pair in order, the rest stands alone
        paired = min(i2 - i1, j2 - j1) if op == "replace" else 0
        rows += [Row(a[i1 + k], b[j1 + k], turn_differences(a[i1 + k], b[j1 + k]))
                 for k in range(paired)]
        rows += [Row(a[i], None, ["only in A"]) for i in range(i1 + paired, i2)]
        rows += [Row(None, b[j], ["only in B"]) for j in range(j1 + paired, j2)]
    return rows


def crew_diff(a_text: str | None, b_text: str | None, a_label: str = "A",
              b_label: str = "B") -> list[str]:
    """A unified diff of two crew files (no lines: the same file)."""
    if a_text == b_text:
        return []
    return [line.rstrip("\n") for line in difflib.unified_diff(
        (a_text or "").splitlines(keepends=True), (b_text or "").splitlines(keepends=True),
        fromfile=a_label, tofile=b_label, n=2)]


def compare(a_session: dict[str, Any], a_events: list[dict[str, Any]], a_crew: str | None,
            b_session: dict[str, Any], b_events: list[dict[str, Any]],
            b_crew: str | None) -> Comparison:
    """The comparison of two sessions from their rows, events and crew snapshots."""
    a, b = build_side(a_session, a_events), build_side(b_session, b_events)
    diff = crew_diff(a_crew, b_crew, f"A {a.crew_name} (session {a.id[:12]})",
                     f"B {b.crew_name} (session {b.id[:12]})")
    rows = align(a.steps, b.steps)
    first = next((i for i, r in enumerate(rows) if not r.same), None)
    return Comparison(a, b, diff, rows, first)


def load_comparison(store: Store, a_id: str, b_id: str) -> Comparison:
    """Compare two stored sessions (ids or unique prefixes); unknown ids are UserInputError."""
    a, b = store.get_session(a_id), store.get_session(b_id)

    def crew(row: dict[str, Any]) -> str | None:
        sid = row.get("crew_snapshot_id")
        return store.crew_text(sid) if sid is not None else None

    return compare(a, list(store.iter_events(a["id"])), crew(a),
                   b, list(store.iter_events(b["id"])), crew(b))


def short_args(args: dict[str, Any], limit: int = 80) -> str:
    """A tool call's arguments on one line, cut at `limit` characters."""
    text = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False)}" for k, v in args.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"
