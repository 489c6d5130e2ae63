"""Fork a recorded session: answer model calls from its recording, then go live.

`ForkSource(session_id, seq, replay_tools)` given to `Session(..., fork=...)` makes the run
a fork: the gateway asks `Replay` before any provider, and a call the recording can answer
(the same agent's n-th call, of the same purpose, recorded before `seq`) gets the recorded
answer without a provider request, after the policy gate has judged the call as usual.
The first call the recording cannot answer ends the replay for good: a `fork.diverged`
event says where and why, and the run goes on live.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from workbench.errors import UserInputError


@dataclass(frozen=True, slots=True)
class ForkSource:
    """Where a fork comes from: a session (id or unique prefix), the event before which its
    recording answers (None: all of it), and whether recorded tool results are reused."""

    session_id: str
    seq: int | None = None
    replay_tools: bool = False

    @classmethod
    def parse(cls, text: str, replay_tools: bool = False) -> ForkSource:
        """`SESSION` or `SESSION@SEQ` as the command line takes it; bad input: UserInputError."""
        sid, at, seq = text.strip().partition("@")
        if not sid:
            raise UserInputError(f"--from {text!r}: give a session id, as SESSION or "
                                 "SESSION@SEQ")
        if not at:
            return cls(sid, None, replay_tools)
        try:
            number = int(seq)
        except ValueError:
            number = -1
        if number < 1:
            raise UserInputError(f"--from {text!r}: the step after @ is an event's seq, a "
                                 "whole number from 1 (see `workbench sessions show`)")
        return cls(sid, number, replay_tools)

    def label(self) -> str:
        return self.session_id if self.seq is None else f"{self.session_id}@{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        """As `run.started` carries it (`forked_from`)."""
        return {"session_id": self.session_id, "seq": self.seq,
                "replay_tools": self.replay_tools}

