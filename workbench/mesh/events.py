"""Normalized events: the one vocabulary both engines speak to the store, the CLI and the TUI."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

RUN_STARTED = "run.started"
MESSAGE = "message"
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
RUN_COMPLETED = "run.completed"
RUN_FAILED = "run.failed"

#: Kinds that are shown live but not stored: a streamed message is stored once, complete.
TRANSIENT_KINDS = frozenset({MESSAGE_DELTA})

ALL_KINDS = (
    RUN_STARTED,
    MESSAGE,
    MESSAGE_DELTA,
    HANDOFF,
    MODEL_CALL,
    TOOL_REQUESTED,
    POLICY_DECISION,
    APPROVAL_REQUESTED,
    APPROVAL_DECIDED,
    TOOL_RESULT,
    HUMAN_REQUESTED,
    HUMAN_ANSWERED,
    HUMAN_SKIPPED,
    RUN_COMPLETED,
    RUN_FAILED,
)


@dataclass(slots=True)
class Event:
    """One thing that happened in a run; `session_id`, `seq` and `ts` are set by the bus."""

    kind: str
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
            "kind": self.kind,
            "agent": self.agent,
        }
        if self.to is not None or self.kind == MESSAGE:
            out["to"] = self.to
        if self.content is not None or self.kind == MESSAGE:
            out["content"] = self.content
        if self.data:
            out["data"] = self.data
        return out
