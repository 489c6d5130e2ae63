"""Human turns: a person answers for a human agent, or reviews an agent's answer.

A human agent (`human: true`, AutoGen's UserProxyAgent) keeps its place in the topology, and
its "model call" is answered by a person: the run context hands such a request to the
`HumanTurns` of the run instead of the gateway, so neither engine needs a path of its own.
A task with `human_input: true` (CrewAI's) asks a person for feedback on its agent's answer;
feedback makes the agent revise, an empty answer accepts it.

Who answers is a `HumanResponder`: a terminal, a reviewer through the database, the TUI,
`--human-default`, or nobody (the turn is skipped, and an event says so).
"""

from __future__ import annotations

import hashlib
import uuid
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Protocol

from workbench.gateway.types import ModelRequest, ModelResponse
from workbench.mesh import events as ev

if TYPE_CHECKING:
    from workbench.mesh.context import RunContext
    from workbench.spec.schema import CrewSpec

#: The name a person's feedback on an agent's answer is recorded under.
HUMAN = "human"
#: Rounds of feedback one answer may get before it stands as revised.
MAX_FEEDBACK_ROUNDS = 3
#: How much of the question is shown: the end of a long prompt is what was just said.
QUESTION_CHARS = 4000
HUMAN_MODEL = "human"

#: Set while the model answers inside a feedback round: that call is the model's own.
_INSIDE: ContextVar[bool] = ContextVar("workbench_human_inside", default=False)


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

    async def post(self, ctx: RunContext, question: HumanQuestion) -> None:
        """Put the question where a person can find it (before the run says it asks)."""

    async def ask(self, ctx: RunContext, question: HumanQuestion) -> HumanAnswer: ...

    def close(self, session_id: str, status: str) -> None:
        """The run ended with `status`: questions still waiting are void."""


class NobodyAnswers:
    """No person can be asked (no terminal, no reviewer waited for): turns are skipped."""

    def __init__(self, reason: str = "no person to ask (no terminal; give --human-default "
                                     "TEXT to answer for them)") -> None:
        self.reason = reason

    async def post(self, ctx: RunContext, question: HumanQuestion) -> None:
        pass  # nobody looks for it

    async def ask(self, ctx: RunContext, question: HumanQuestion) -> HumanAnswer:
        return HumanAnswer(None, "workbench", "skipped", self.reason)

    def close(self, session_id: str, status: str) -> None:
        pass  # nothing ever waits


class DefaultAnswers:
    """`--human-default TEXT` with no person to ask: every human turn is answered with TEXT,
    and an answer asking for feedback stands (a fixed text is no review)."""

    def __init__(self, text: str) -> None:
        self.text = text

    async def post(self, ctx: RunContext, question: HumanQuestion) -> None:
        pass  # answered at once

    async def ask(self, ctx: RunContext, question: HumanQuestion) -> HumanAnswer:
        return self.answer_for(question)

    def answer_for(self, question: HumanQuestion) -> HumanAnswer:
        if question.kind == "feedback":
            return HumanAnswer("", "--human-default", "default")
        return HumanAnswer(self.text, "--human-default", "default")

    def close(self, session_id: str, status: str) -> None:
        pass


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def new_question_id() -> str:
    return uuid.uuid4().hex[:12]


def _last_text(messages: list[dict[str, Any]]) -> str:
    """The last thing said to the agent (not its own system prompt), as text."""
    for message in reversed(messages):
        if message.get("role") in ("user", "tool", "assistant") and message.get("content"):
            content = message["content"]
            if isinstance(content, list):
                content = "\n".join(str(p.get("text", "")) if isinstance(p, dict) else str(p)
                                    for p in content)
            text = str(content).strip()
            if len(text) > QUESTION_CHARS:
                text = "…" + text[-QUESTION_CHARS:]
            return text
    return ""


class HumanTurns:
    """Routes a run's human turns to a responder; the run context gives it the model
    requests it `takes` (a human agent's own, and those of agents whose answers a person
    reviews)."""

    def __init__(self, spec: CrewSpec, responder: HumanResponder) -> None:
        self.responder = responder
        self.humans = frozenset(a.name for a in spec.agents if a.human)
        #: Agents with a task asking for human input: used when the engine does not say
        #: which task a call is for (AutoGen runs the crew's conversation, not its tasks).
        self.reviewed = frozenset(t.agent for t in spec.tasks if t.human_input and t.agent)

    @classmethod
    def for_crew(cls, spec: CrewSpec, responder: HumanResponder) -> HumanTurns | None:
        """The crew's human turns, or None when it has no human agent and no human input."""
        if not any(a.human for a in spec.agents) and not any(t.human_input for t in spec.tasks):
            return None
        return cls(spec, responder)

    def takes(self, request: ModelRequest) -> bool:
        if request.purpose != "agent" or _INSIDE.get():
            return False
        return request.agent in self.humans or self._wants_feedback(request)

    def _wants_feedback(self, request: ModelRequest) -> bool:
        wanted = request.human_input
        return request.agent in self.reviewed if wanted is None else wanted

    async def complete(self, ctx: RunContext, request: ModelRequest) -> ModelResponse:
        if request.agent in self.humans:
            return await self._turn(ctx, request)
        return await self._feedback(ctx, request)

    def close(self, session_id: str, status: str) -> None:
        self.responder.close(session_id, status)

    # -- a human agent's turn -------------------------------------------------------------

    async def _turn(self, ctx: RunContext, request: ModelRequest) -> ModelResponse:
        ctx.check_running()
        question = self._question(ctx, request.agent, "turn", _last_text(request.messages))
        answer = await self._ask(ctx, question)
        if answer.text is None or not answer.text.strip():
            reason = answer.reason or "the person gave no answer"
            ctx.emit(ev.HUMAN_SKIPPED, request.agent, None, reason, question_id=question.id,
                     ask="turn", by=answer.by, how=answer.how)
            # the team is told, in the agent's place, that nobody answered
            content = f"[no answer from a person: {reason}]"
        else:
            # a person's words pass the message gate like any agent's
            content = ctx._gate_message(request.agent, answer.text.strip())
            ctx.emit(ev.HUMAN_ANSWERED, request.agent, None, None, question_id=question.id,
                     ask="turn", by=answer.by, how=answer.how, answer_sha256=_digest(content))
        ctx.check_running()
        return ModelResponse(content=content, model=HUMAN_MODEL, provider=HUMAN_MODEL)

    # -- feedback on an agent's answer ----------------------------------------------------

    async def _feedback(self, ctx: RunContext, request: ModelRequest) -> ModelResponse:
        token = _INSIDE.set(True)
        try:
            response = await ctx.complete(request)
            for _ in range(MAX_FEEDBACK_ROUNDS):
                if response.tool_calls or not response.content.strip() \
                        or response.finish_reason == "blocked":
                    return response  # not an answer yet (or none the model may give)
                question = self._question(ctx, request.agent, "feedback", response.content)
                answer = await self._ask(ctx, question)
                if answer.text is None:
                    ctx.emit(ev.HUMAN_SKIPPED, request.agent, None,
                             f"{answer.reason or 'no feedback'}: the answer stands",
                             question_id=question.id, ask="feedback", by=answer.by,
                             how=answer.how)
                    return response
                feedback = answer.text.strip()
                if feedback:
                    feedback = ctx._gate_message(HUMAN, feedback)
                ctx.emit(ev.HUMAN_ANSWERED, request.agent, None, None,
                         question_id=question.id, ask="feedback", by=answer.by,
                         how=answer.how, accepted=not feedback,
                         answer_sha256=_digest(feedback))
                if not feedback:
                    return response
                ctx.message(HUMAN, feedback, to=[request.agent])
                # the revision is an answer in words: the tools ran for the draft already
                request = replace(request, tools=[], messages=[
                    *request.messages,
                    {"role": "assistant", "content": response.content},
                    {"role": "user", "content": "A person reviewed your answer and says: "
                                                f"{feedback}\nRevise your answer accordingly."},
                ])
                response = await ctx.complete(request)
            return response
        finally:
            _INSIDE.reset(token)

    # -- asking ---------------------------------------------------------------------------

    def _question(self, ctx: RunContext, agent: str, kind: str, text: str) -> HumanQuestion:
        return HumanQuestion(new_question_id(), ctx.session_id, agent, kind, text,
                             list(ctx.recent_messages)[-5:])

    async def _ask(self, ctx: RunContext, question: HumanQuestion) -> HumanAnswer:
        await self.responder.post(ctx, question)
        # what was said just before, so a viewer of the events can show the person
        said = [{"agent": m.get("agent"), "to": m.get("to"),
                 "content": str(m.get("content") or "")[:500]} for m in question.context[-3:]]
        ctx.emit(ev.HUMAN_REQUESTED, question.agent, None, question.text,
                 question_id=question.id, ask=question.kind, prompt=question.prompt,
                 context=said)
        return await self.responder.ask(ctx, question)
