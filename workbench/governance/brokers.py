"""What a run asks people and what it is told: approval requests and outcomes, questions for a
person and answers, who answers each (the protocols), and the answerers that need no database.

The run's context builds a request, posts it, says so in an event, awaits the answer and says
what it was: a broker or responder only stores, waits and answers. Nothing here knows the run.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from workbench.store.db import Store

#: Waits up to the seconds given until the run's events so far are shown (True if they are):
#: a question on the run's terminal comes after what led to it.
Shown = Callable[[float], bool]


def new_request_id() -> str:
    """The id of an approval request or a question (short: people type it)."""
    return uuid.uuid4().hex[:12]


# -- approvals -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApprovalRequest:
    """A tool call a policy holds for a reviewer: who asks, to do what, why, and after what."""

    id: str
    session_id: str
    agent: str
    tool: str
    args: dict[str, Any]
    #: The rules that asked for approval, and their reason.
    rule_ids: list[str]
    reason: str
    tags: list[str] = field(default_factory=list)
    #: The last messages of the run, shown to the reviewer.
    context: list[dict[str, Any]] = field(default_factory=list)
    #: Who may approve ({"groups", "names"}, from the run's policy); None: anyone.
    reviewers: dict[str, Any] | None = None
    shown: Shown | None = None


class Verdict(StrEnum):
    """How an approval request ended (stored and written as these words)."""

    APPROVED = "approved"
    REJECTED = "rejected"
    #: Nobody decided in time, or the run ended first: a rejection.
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class ApprovalOutcome:
    """A reviewer's decision on an `ApprovalRequest`."""

    verdict: Verdict
    reviewer: str
    #: Why (a rejection's reason is told to the agent).
    reason: str = ""
    #: The arguments as the reviewer edited them; None: as asked.
    args: dict[str, Any] | None = None
    #: Approved for every later call of this tool by this agent in the session.
    always: bool = False

    @property
    def approved(self) -> bool:
        return self.verdict is Verdict.APPROVED


class ApprovalBroker(Protocol):
    """Turns a held tool call into a reviewer's decision (the agent waits); never for ever."""

    async def post(self, request: ApprovalRequest) -> float:
        """Put the request where reviewers find it; returns when it expires (epoch seconds)."""
        ...

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        """Wait for the decision on a posted request."""
        ...

    def close(self, session_id: str, status: str) -> None:
        """The run ended with `status`: whatever is still waiting for a reviewer is void."""


DENY_REASON = "approvals are set to deny for this run"


class DenyAllApprovals:
    """Rejects every request at once: `--approvals deny` (scripts, CI), and a run given no
    broker. With a store, each request is recorded and its rejection audited as any
    reviewer's would be; without one, nothing is kept."""

    def __init__(self, store: Store | None = None, timeout_s: float = 0.0,
                 reviewer: str = "workbench") -> None:
        self.store = store
        self.timeout_s = timeout_s
        self.reviewer = reviewer

    async def post(self, request: ApprovalRequest) -> float:
        if self.store is None:
            return time.time() + self.timeout_s
        from workbench.governance.approvals import store_request

        stored = await asyncio.to_thread(store_request, self.store, request, self.timeout_s)
        return stored.expires_at

    async def ask(self, request: ApprovalRequest) -> ApprovalOutcome:
        if self.store is not None:
            from workbench.governance.approvals import decide

            await asyncio.to_thread(decide, self.store, request.id, Verdict.REJECTED.value,
                                    self.reviewer, DENY_REASON)
        return ApprovalOutcome(Verdict.REJECTED, self.reviewer, DENY_REASON)

    def close(self, session_id: str, status: str) -> None:
        pass  # nothing is ever left waiting


# -- questions for a person ------------------------------------------------------------------


@dataclass(slots=True)
class HumanQuestion:
    """What a person is asked: to take `agent`'s turn, or to review its answer (`feedback`)."""

    id: str
    session_id: str
    agent: str
    kind: str  # "turn" | "feedback"
    #: The last message to the human agent, or the answer to review.
    text: str
    #: The last messages of the run, as the approvals show them.
    context: list[dict[str, Any]] = field(default_factory=list)
    shown: Shown | None = None

    @property
    def prompt(self) -> str:
        """One line saying what is asked."""
        if self.kind == "feedback":
            return (f"{self.agent} answered; give feedback to make it revise, or an empty "
                    "answer to accept it")
        return f"{self.agent}'s turn: a person answers for this agent"


@dataclass(slots=True)
class HumanAnswer:
    """A person's answer (`text`), or why there is none (`text` None)."""

    text: str | None
    #: Who answered: a person's name, `--human-default`, or `workbench` (nobody did).
    by: str
    #: How: terminal, reviewer, tui, default, skipped, expired.
    how: str
    reason: str = ""


class HumanResponder(Protocol):
    """Gets a person's answer to a question; never waits for ever."""

    async def post(self, question: HumanQuestion) -> None:
        """Put the question where a person can find it (before the run says it asks)."""

    async def ask(self, question: HumanQuestion) -> HumanAnswer: ...

    def close(self, session_id: str, status: str) -> None:
        """The run ended with `status`: questions still waiting are void."""


class NobodyAnswers:
    """No person can be asked (no terminal, no reviewer waited for): turns are skipped."""

    def __init__(self, reason: str = "no person to ask (no terminal; give --human-default "
                                     "TEXT to answer for them)") -> None:
        self.reason = reason

    async def post(self, question: HumanQuestion) -> None:
        pass  # nobody looks for it

    async def ask(self, question: HumanQuestion) -> HumanAnswer:
        return HumanAnswer(None, "workbench", "skipped", self.reason)

    def close(self, session_id: str, status: str) -> None:
        pass  # nothing ever waits


class DefaultAnswers:
    """`--human-default TEXT` with no person to ask: every human turn is answered with TEXT,
    and an answer asking for feedback stands (a fixed text is no review)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def post(self, question: HumanQuestion) -> None:
        pass  # answered at once

    async def ask(self, question: HumanQuestion) -> HumanAnswer:
        return self.answer_for(question)

    def answer_for(self, question: HumanQuestion) -> HumanAnswer:
        if question.kind == "feedback":
            return HumanAnswer("", "--human-default", "default")
        return HumanAnswer(self.text, "--human-default", "default")

    def close(self, session_id: str, status: str) -> None:
        pass
