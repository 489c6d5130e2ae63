"""Human turns: a person answers for a human agent, or reviews an agent's answer.

A human agent (`human: true`, AutoGen's UserProxyAgent) keeps its place in the topology, and
its "model call" is answered by a person: the run context hands such a request to the
`HumanTurns` of the run instead of the gateway, so neither engine needs a path of its own.
A task with `human_input: true` (CrewAI's) asks a person for feedback on its agent's answer;
feedback makes the agent revise, an empty answer accepts it.

Who answers is a `HumanResponder` (governance/brokers.py): a terminal, a reviewer through
the database, the TUI, `--human-default`, or nobody (the turn is skipped, and an event says
so). It only stores, waits and answers: the events are emitted here.
"""

from __future__ import annotations

import hashlib
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from workbench.gateway.types import ModelRequest, ModelResponse
from workbench.governance.brokers import (
    HumanAnswer,
    HumanQuestion,
    HumanResponder,
    new_request_id,
)
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


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


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
        return HumanQuestion(new_request_id(), ctx.session_id, agent, kind, text,
                             list(ctx.recent_messages)[-5:], ctx.bus.flush)

    async def _ask(self, ctx: RunContext, question: HumanQuestion) -> HumanAnswer:
        """Post the question, say so, and wait for the answer (a stopped run stops waiting)."""
        await ctx.lifecycle.abortable(self.responder.post(question))
        # what was said just before, so a viewer of the events can show the person
        said = [{"agent": m.get("agent"), "to": m.get("to"),
                 "content": str(m.get("content") or "")[:500]} for m in question.context[-3:]]
        ctx.emit(ev.HUMAN_REQUESTED, question.agent, None, question.text,
                 question_id=question.id, ask=question.kind, prompt=question.prompt,
                 context=said)
        return await ctx.lifecycle.abortable(self.responder.ask(question))
