"""Normalized events: the one vocabulary both engines speak to the store, the CLI and the TUI.

Each kind is a member of `Kind` (a `StrEnum`: stored, printed and compared as its plain
string) and carries the payload (`Event.data`) its TypedDict below describes; `PAYLOADS`
maps one to the other. Consumers dispatch on the kind (a dict of handlers, or `match`),
never on a chain of string comparisons.
"""

# No `from __future__ import annotations` here: TypedDict tells required keys from
# NotRequired ones only when annotations are evaluated.
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NotRequired, TypedDict, get_type_hints


class Kind(StrEnum):
    """What happened. The values are the stored strings: never rename one."""

    RUN_STARTED = "run.started"
    MESSAGE = "message"
    #: A streamed piece of a message: shown live, never stored (the message is, complete).
    MESSAGE_DELTA = "message.delta"
    HANDOFF = "handoff"
    MODEL_CALL = "model.call"
    TOOL_REQUESTED = "tool.requested"
    POLICY_DECISION = "policy.decision"
    APPROVAL_REQUESTED = "approval.requested"
    APPROVAL_DECIDED = "approval.decided"
    TOOL_RESULT = "tool.result"
    #: A person is asked (a human agent's turn, or feedback on an answer), answered, or not.
    HUMAN_REQUESTED = "human.requested"
    HUMAN_ANSWERED = "human.answered"
    HUMAN_SKIPPED = "human.skipped"
    #: A fork's replay stopped: the recording cannot answer this call (mesh/replay.py).
    FORK_DIVERGED = "fork.diverged"
    #: The star's marketplace (mesh/market.py): the hub posts a task, agents bid, one wins
    #: and reports back.
    TASK_POSTED = "task.posted"
    TASK_BID = "task.bid"
    TASK_AWARDED = "task.awarded"
    TASK_DONE = "task.done"
    RUN_COMPLETED = "run.completed"
    RUN_FAILED = "run.failed"


# The kinds by their old names: `ev.MESSAGE` is `Kind.MESSAGE`.
RUN_STARTED = Kind.RUN_STARTED
MESSAGE = Kind.MESSAGE
MESSAGE_DELTA = Kind.MESSAGE_DELTA
HANDOFF = Kind.HANDOFF
MODEL_CALL = Kind.MODEL_CALL
TOOL_REQUESTED = Kind.TOOL_REQUESTED
POLICY_DECISION = Kind.POLICY_DECISION
APPROVAL_REQUESTED = Kind.APPROVAL_REQUESTED
APPROVAL_DECIDED = Kind.APPROVAL_DECIDED
TOOL_RESULT = Kind.TOOL_RESULT
HUMAN_REQUESTED = Kind.HUMAN_REQUESTED
HUMAN_ANSWERED = Kind.HUMAN_ANSWERED
HUMAN_SKIPPED = Kind.HUMAN_SKIPPED
FORK_DIVERGED = Kind.FORK_DIVERGED
TASK_POSTED = Kind.TASK_POSTED
TASK_BID = Kind.TASK_BID
TASK_AWARDED = Kind.TASK_AWARDED
TASK_DONE = Kind.TASK_DONE
RUN_COMPLETED = Kind.RUN_COMPLETED
RUN_FAILED = Kind.RUN_FAILED

#: Kinds that are shown live but not stored: a streamed message is stored once, complete.
TRANSIENT_KINDS = frozenset({Kind.MESSAGE_DELTA})
#: The kinds that end a run (their payload is the run's summary).
END_KINDS = frozenset({Kind.RUN_COMPLETED, Kind.RUN_FAILED})
ALL_KINDS = tuple(Kind)


# -- payloads: what `Event.data` holds for each kind --------------------------------------
# `content` (the text), `agent` and `to` are the event's own fields; these are the rest.


class AgentInfo(TypedDict):
    name: str
    role: str
    model: str
    domain: str
    tools: list[str]
    capabilities: list[str]
    #: A person speaks for this agent (written only when true).
    human: NotRequired[bool]


class RunStarted(TypedDict):
    """content: the task."""

    crew: str
    engine: str
    topology: str
    agents: list[AgentInfo]
    policy_hash: str
    workspace: NotRequired[str]
    #: The topology's roles, so a viewer can draw the crew without the crew file: the
    #: form of `spec.shape.TopologyShape.to_dict()` (defined there, once).
    shape: NotRequired[dict[str, Any]]
    #: Budgets this run cannot keep (a cost budget over models without a price).
    warnings: NotRequired[list[str]]
    #: A fork: the session (and step) whose recording answers its first model calls.
    forked_from: NotRequired["ForkedFrom"]


class Message(TypedDict):
    """agent: who speaks; to: the recipients, comma-separated; content: the text."""

    turn: int


class MessageDelta(TypedDict):
    """content: the streamed piece; `restart` drops what was streamed (a retry, a fallback)."""

    restart: NotRequired[bool]


class Handoff(TypedDict):
    """agent hands the turn to `to`; content: what it said with it."""


class TargetDecision(TypedDict):
    """How one target of a model's chain (the primary, a fallback) was judged."""

    target: str
    model: str
    effect: str
    rule_ids: list[str]


class RouteStep(TypedDict):
    """A rule of a routed alias that chose what the call used (gateway/routing.py)."""

    alias: str
    #: 1 for the alias's first rule.
    index: int
    #: The rule's condition; "" for the default rule.
    when: str
    #: What it chose: an alias (maybe routed in turn: the next step) or a model string.
    use: str


class ModelCall(TypedDict):
    """One answered call (or, with ok false, one that failed for good)."""

    model: str
    provider: str
    purpose: str
    prompt_tokens: NotRequired[int]
    completion_tokens: NotRequired[int]
    #: None: the model has no price (unknown, never zero).
    cost_usd: NotRequired[float | None]
    latency_ms: NotRequired[float]
    tool_calls: NotRequired[list[str]]
    prompt_sha256: NotRequired[str]
    response_sha256: NotRequired[str]
    attempts: NotRequired[int]
    retried: NotRequired[list[str]]
    fallback_from: NotRequired[str]
    blocked: NotRequired[list[str]]
    decisions: NotRequired[list[TargetDecision]]
    #: The alias asked for, when another model answered.
    requested: NotRequired[str]
    #: Answered from a recording ("SESSION@SEQ"): no provider was asked.
    replayed: NotRequired[str]
    #: A routed alias's rules that chose the model, outermost first.
    route: NotRequired[list[RouteStep]]
    #: Only on a failed call: ok is false and `error` says why.
    ok: NotRequired[bool]
    error: NotRequired[str]


class ToolRequested(TypedDict):
    tool: str
    args: dict[str, Any]
    call_id: str


class PolicyDecision(TypedDict):
    """content: the reason."""

    effect: str
    action: str
    rule_ids: list[str]
    reasons: list[str]
    policy_hash: str
    redactions: list[str]
    lifted: list[str]


class ApprovalRequested(TypedDict):
    """content: why it was flagged."""

    approval_id: str
    tool: str
    args: dict[str, Any]
    rule_ids: list[str]
    expires_at: float
    tags: list[str]


class ApprovalDecided(TypedDict):
    """content: the reviewer's reason."""

    approval_id: str
    decision: str
    reviewer: str | None
    tool: str
    #: The arguments as a reviewer edited them (None: as asked).
    args: dict[str, Any] | None
    always: bool


class ToolResult(TypedDict):
    """content: the tool's output, or why it did not run."""

    tool: str
    call_id: str
    ok: bool
    args: dict[str, Any]
    #: Written only as false: the tool never ran (denied, rejected, unknown). A tool that
    #: ran and failed has ok false and no `ran`.
    ran: NotRequired[bool]


class HumanRequested(TypedDict):
    """content: the question put to the person."""

    question_id: str
    #: "turn" (the person speaks for a human agent) or "feedback" (on an agent's answer).
    ask: str
    prompt: Any
    #: The last messages before it (agent, to, content), to show the person.
    context: list[dict[str, Any]]


class HumanAnswered(TypedDict):
    question_id: str
    ask: str
    by: str | None
    how: str | None
    answer_sha256: str
    accepted: NotRequired[bool]


class HumanSkipped(TypedDict):
    """content: why there is no answer."""

    question_id: str
    ask: str
    by: str | None
    how: str | None


class TaskPosted(TypedDict):
    """agent: the hub; content: the task's title."""

    task_id: str
    capability: str
    #: The agents whose capabilities match (they bid), in crew order.
    bidders: list[str]


class TaskBid(TypedDict):
    """agent: the bidder; to: the hub. Computed by the mesh from facts, not by a model."""

    task_id: str
    model: str
    #: Estimated cost of the task on the bidder's model; None: the model has no price.
    cost_usd: float | None
    prompt_tokens: int
    completion_tokens: int
    #: Open tasks: awarded to it and not done.
    load: int
    #: Share of its past tasks completed (earlier sessions of the crew); 0.5 with none.
    record: float
    #: Its past tasks (awarded) and those it completed.
    past_tasks: int
    past_done: int
    #: False: a policy (task_bid) barred it; `barred` says why.
    eligible: bool
    barred: NotRequired[str]


class BidRow(TypedDict):
    """One bid as the award shows it (the detail pane's bid table)."""

    agent: str
    cost_usd: float | None
    load: int
    record: float
    eligible: bool
    #: The award rule's place for it (1 = first); None: not in the running.
    rank: int | None
    #: Why it is out of the running (barred by a policy, the award's condition, ...).
    note: NotRequired[str]
    #: `balanced` only: the weighted score (lower is better).
    score: NotRequired[float]


class TaskAwarded(TypedDict):
    """agent: the winner (None: nobody may take it); to: the hub; content: why."""

    task_id: str
    title: str
    capability: str
    #: cheapest | best | balanced | the CEL expression.
    award: str
    winner: str | None
    cost_usd: NotRequired[float | None]
    bids: list[BidRow]


class TaskDone(TypedDict):
    """agent: the winner, who reported back; to: the hub; content: the report's first line."""

    task_id: str
    title: str
    turn: int


class ForkedFrom(TypedDict):
    session_id: str
    #: Model calls before this event were answered from the recording; None: all of them.
    seq: int | None
    #: Recorded tool results were reused instead of running the tools.
    replay_tools: bool


class ForkDiverged(TypedDict):
    """agent: whose call the recording cannot answer; content: why. Later calls are live."""

    source: str
    #: The recorded call that did not fit (None: there was none).
    source_seq: int | None
    #: The agent's call, counted from 1.
    call: int
    purpose: str
    #: Calls answered from the recording before it.
    replayed: int


class CostShare(TypedDict):
    cost_usd: float
    unknown_calls: int


class RunEnded(TypedDict):
    """run.completed (content: the result) and run.failed (content: the reason)."""

    status: str
    turns: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    cost_known: bool
    model_calls: int
    tool_calls: int
    elapsed_s: float
    blocked_calls: NotRequired[int]
    cost_by_agent: NotRequired[dict[str, CostShare]]
    cost_by_domain: NotRequired[dict[str, CostShare]]
    #: run.failed only.
    cancelled: NotRequired[bool]


#: Each kind's payload, defined once.
PAYLOADS: dict[Kind, type] = {
    Kind.RUN_STARTED: RunStarted,
    Kind.MESSAGE: Message,
    Kind.MESSAGE_DELTA: MessageDelta,
    Kind.HANDOFF: Handoff,
    Kind.MODEL_CALL: ModelCall,
    Kind.TOOL_REQUESTED: ToolRequested,
    Kind.POLICY_DECISION: PolicyDecision,
    Kind.APPROVAL_REQUESTED: ApprovalRequested,
    Kind.APPROVAL_DECIDED: ApprovalDecided,
    Kind.TOOL_RESULT: ToolResult,
    Kind.HUMAN_REQUESTED: HumanRequested,
    Kind.HUMAN_ANSWERED: HumanAnswered,
    Kind.HUMAN_SKIPPED: HumanSkipped,
    Kind.FORK_DIVERGED: ForkDiverged,
    Kind.TASK_POSTED: TaskPosted,
    Kind.TASK_BID: TaskBid,
    Kind.TASK_AWARDED: TaskAwarded,
    Kind.TASK_DONE: TaskDone,
    Kind.RUN_COMPLETED: RunEnded,
    Kind.RUN_FAILED: RunEnded,
}


def payload_problems(kind: str, data: dict[str, Any]) -> list[str]:
    """What is wrong with `data` as the payload of `kind`: an unknown kind, a key the kind
    does not carry, a key it always carries that is missing. (Keys, not value types.)"""
    try:
        spec = PAYLOADS[Kind(kind)]
    except ValueError:
        return [f"unknown event kind {kind!r}"]
    keys = set(get_type_hints(spec))
    required = spec.__required_keys__  # type: ignore[attr-defined]
    problems = [f"{kind}: unexpected key {k!r}" for k in sorted(set(data) - keys)]
    problems += [f"{kind}: missing key {k!r}" for k in sorted(required - set(data))]
    return problems


@dataclass(slots=True)
class Event:
    """One thing that happened in a run; `session_id`, `seq` and `ts` are set by the bus.

    `kind` is a `Kind` when the run made the event; an event read back from the store has
    the plain string, which compares, hashes and dispatches the same.
    """

    kind: Kind | str
    agent: str | None = None
    to: str | None = None
    content: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    session_id: str = ""
    seq: int = 0
    ts: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "session_id": self.session_id,
            "seq": self.seq,
            "ts": self.ts,
            "kind": str(self.kind),
            "agent": self.agent,
        }
        if self.to is not None or self.kind == MESSAGE:
            out["to"] = self.to
        if self.content is not None or self.kind == MESSAGE:
            out["content"] = self.content
        if self.data:
            out["data"] = self.data
        return out
