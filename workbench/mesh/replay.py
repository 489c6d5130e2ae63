"""Fork a recorded session: answer model calls from its recording, then go live.

`ForkSource(session_id, seq, replay_tools)` given to `Session(..., fork=...)` makes the run
a fork: the gateway asks `Replay` before any provider, and a call the recording can answer
(the same agent's n-th call, of the same purpose, recorded before `seq`) gets the recorded
answer without a provider request, after the policy gate has judged the call as usual.
The first call the recording cannot answer ends the replay for good: a `fork.diverged`
event says where and why, and the run goes on live.
"""

from __future__ import annotations

import dataclasses
import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from workbench.errors import UserInputError
from workbench.gateway.types import (
    AllBlocked,
    Blocked,
    DeltaSink,
    ModelRequest,
    ModelResponse,
    Prepare,
    ToolCall,
    Usage,
    split_model,
)
from workbench.mesh import events as ev
from workbench.store.db import Store
from workbench.store.recordings import (
    Exchange,
    RecordedAnswer,
    Recorder,
    count_exchanges,
    load_answers,
    recorded_tool_results,
    safe_params,
)
from workbench.tools.base import ToolError


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
                                 "whole number from 1 (see `workbench sessions show ID --steps`)")
        return cls(sid, number, replay_tools)

    def label(self) -> str:
        return self.session_id if self.seq is None else f"{self.session_id}@{self.seq}"

    def to_dict(self) -> dict[str, Any]:
        """As `run.started` carries it (`forked_from`)."""
        return {"session_id": self.session_id, "seq": self.seq,
                "replay_tools": self.replay_tools}


class Exchanges:
    """The gateway's layer before any provider (`Gateway.exchanges`): it answers a fork's
    calls from the recording while it can, notes which target each live call was sent to,
    and hands every answered exchange to the recorder (`on_exchange`, called by the run
    context once the call's model.call event is out)."""

    def __init__(self, session_id: str, recorder: Recorder | None = None,
                 replay: Replay | None = None) -> None:
        self.session_id = session_id
        self.recorder = recorder
        self.replay = replay
        #: Each agent's answered calls so far (its next call's index).
        self._calls: dict[str, int] = {}
        #: The target a request was last sent to (or where its answer came from), by the
        #: request, until it is recorded: (model, parameters, replayed from).
        self._targets: dict[int, tuple[str, dict[str, Any], str | None]] = {}

    def before(self, gateway: Any, request: ModelRequest, route: Any,
               on_delta: DeltaSink | None, prepare: Prepare | None
               ) -> tuple[ModelResponse | None, Prepare | None]:
        """The recorded answer to `request` if the replay has one; else None and the
        `prepare` for the live call, which notes the target each attempt goes to."""
        if self.replay is not None and prepare is not None:
            index = self._calls.get(request.agent, 0)
            answer = self.replay.answer(gateway, request, route, index, on_delta, prepare)
            if answer is not None:
                self._targets[id(request)] = (answer.model, {}, answer.replayed)
                return answer, prepare
        if self.recorder is None:
            return None, prepare
        targets = self._targets

        def noted(target: Any) -> list[dict[str, Any]]:
            messages = prepare(target) if prepare is not None else request.messages
            targets[id(request)] = (target.model, {**request.params, **target.params}, None)
            return messages

        return None, noted

    def on_exchange(self, request: ModelRequest, response: ModelResponse, event: Any) -> None:
        """Count (and record) one answered call; on the run's loop, so it only takes what
        it needs and the recorder's thread encodes it."""
        index = self._calls.get(request.agent, 0)
        self._calls[request.agent] = index + 1
        model, params, replayed = self._targets.pop(
            id(request), (response.model or request.model, dict(request.params), None))
        if self.recorder is None:
            return
        self.recorder.put(Exchange(
            seq=event.seq, ts=event.ts, agent=request.agent, purpose=request.purpose,
            call_index=index, model=model, provider=response.provider or split_model(model)[0],
            replayed=replayed, messages=list(request.messages),
            request={"tools": request.tools, "params": safe_params(params),
                     "stream": request.stream, "candidates": list(request.candidates),
                     "requested": request.model},
            response={"content": response.content,
                      "tool_calls": [{"id": c.id, "name": c.name, "arguments": c.arguments}
                                     for c in response.tool_calls],
                      "usage": {"prompt_tokens": response.usage.prompt_tokens,
                                "completion_tokens": response.usage.completion_tokens},
                      "cost_usd": response.cost_usd, "finish_reason": response.finish_reason,
                      "handoff": response.handoff, "latency_ms": round(response.latency_ms, 3)},
        ))


class Replay:
    """Answers a fork's model calls from its source's recording until the first it cannot.

    A call is matched by its agent, that agent's n-th answered call, and its purpose; the
    recorded call must come before the fork's step. Every replayed call is judged by the
    policy gate as a live one would be (the targets of the crew's route as it is now, in
    order): a blocked call is blocked, and sends nothing either way.
    """

    def __init__(self, source: ForkSource, answers: list[RecordedAnswer],
                 emit: Callable[..., Any]) -> None:
        self.source = source
        self._answers = {(a.agent, a.call_index): a for a in answers}
        self._agents = {a.agent for a in answers}
        self._emit = emit
        self.diverged = False
        #: Calls answered from the recording so far.
        self.replayed = 0

    def answer(self, gateway: Any, request: ModelRequest, route: Any, index: int,
               on_delta: DeltaSink | None, prepare: Prepare) -> ModelResponse | None:
        if self.diverged:
            return None
        agent = request.agent
        rec = self._answers.get((agent, index))
        why = ""
        if rec is None:
            if agent not in self._agents:
                why = f"the recording has no call of {agent}"
            else:
                why = f"the recording has no call {index + 1} of {agent}"
        elif self.source.seq is not None and rec.seq >= self.source.seq:
            why = (f"the replay ends at step {self.source.seq}: call {index + 1} of {agent} "
                   f"is step {rec.seq} of the recording")
        elif rec.purpose != request.purpose:
            why = (f"call {index + 1} of {agent} is a {request.purpose} call here, a "
                   f"{rec.purpose} call in the recording")
        if why:
            self._diverge(request, index, why, rec)
            return None
        assert rec is not None
        blocked: list[tuple[str, str]] = []
        for target in route.targets:
            try:
                prepare(target)  # governance judges the call as if it were sent
            except Blocked as exc:
                blocked.append((target.label, exc.reason))
                continue
            if target.provider == "scripted":
                # the scripted model moves on as if it had answered: live calls after the
                # replay get its next entries and fresh call ids
                gateway.scripted.respond(dataclasses.replace(request, model=target.model))
            break
        else:
            raise AllBlocked(blocked)
        self.replayed += 1
        return self._response(rec, on_delta)

    def _response(self, rec: RecordedAnswer, on_delta: DeltaSink | None) -> ModelResponse:
        r = rec.response
        usage = r.get("usage") or {}
        content = r.get("content") or ""
        if on_delta is not None and content:
            on_delta(content)
        return ModelResponse(
            content=content,
            tool_calls=[ToolCall(c.get("id") or "", c.get("name") or "",
                                 dict(c.get("arguments") or {}))
                        for c in r.get("tool_calls") or []],
            usage=Usage(int(usage.get("prompt_tokens") or 0),
                        int(usage.get("completion_tokens") or 0)),
            cost_usd=0.0,  # nothing was sent: nothing was spent
            model=rec.model, provider=rec.provider,
            finish_reason=r.get("finish_reason") or "stop", handoff=r.get("handoff"),
            replayed=f"{self.source.session_id}@{rec.seq}",
        )

    def _diverge(self, request: ModelRequest, index: int, why: str,
                 rec: RecordedAnswer | None) -> None:
        self.diverged = True
        self._emit(ev.FORK_DIVERGED, request.agent, None, why,
                   source=self.source.session_id, source_seq=rec.seq if rec else None,
                   call=index + 1, purpose=request.purpose, replayed=self.replayed)


# -- tools ----------------------------------------------------------------------------------


def _args_key(tool: str, args: dict[str, Any]) -> tuple[str, str]:
    return tool, json.dumps(args, sort_keys=True, default=str)


#: Tags of tools whose result is the run's own doing: never answered from a recording.
RUN_STATE_TAGS = frozenset({"marketplace"})


class RecordedTools:
    """The source's tool results, each reused at most once, while the replay lasts."""

    def __init__(self, results: list[dict[str, Any]], replay: Replay) -> None:
        self._replay = replay
        self._queues: dict[tuple[str, str], deque[tuple[bool, str]]] = {}
        for r in results:
            self._queues.setdefault(_args_key(r["tool"], r["args"]), deque()).append(
                (r["ok"], r["output"]))
        self.reused = 0

    def take(self, tool: str, args: dict[str, Any]) -> tuple[bool, str] | None:
        if self._replay.diverged:
            return None
        queue = self._queues.get(_args_key(tool, args))
        if not queue:
            return None
        self.reused += 1
        return queue.popleft()


class _RecordedTool:
    """A tool whose call, once the gate let it through, gives the recorded result if there
    is one (the tool does not run), else runs."""

    def __init__(self, tool: Any, recorded: RecordedTools) -> None:
        self._tool = tool
        self._recorded = recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tool, name)

    async def invoke(self, ctx: Any, args: dict[str, Any]) -> str:
        if RUN_STATE_TAGS & frozenset(getattr(self._tool, "tags", ())):
            # it acts on this run itself (posting a marketplace task: bids, an award, its
            # policies): a recorded result would tell of an award that never happened here
            return await self._tool.invoke(ctx, args)
        hit = self._recorded.take(self._tool.name, args)
        if hit is None:
            return await self._tool.invoke(ctx, args)
        ok, output = hit
        if not ok:
            raise ToolError(output)
        return output


class RecordedToolRegistry:
    """The run's tool registry, with each tool looked up for a call answered from the
    recording when it can be (`--replay-tools`); everything else is the registry's own."""

    def __init__(self, registry: Any, recorded: RecordedTools) -> None:
        self._registry = registry
        self._recorded = recorded

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)

    def get(self, name: str) -> Any:
        return _RecordedTool(self._registry.get(name), self._recorded)


# -- wiring ---------------------------------------------------------------------------------


def resolve(store: Store, fork: ForkSource) -> ForkSource:
    """`fork` with its session's full id; an unknown session, a step past its end, or a
    session with nothing recorded is bad input (UserInputError)."""
    try:
        row = store.get_session(fork.session_id)
    except UserInputError as exc:
        raise UserInputError(f"--from: {exc}") from None
    sid = row["id"]
    if fork.seq is not None and fork.seq > store.count_events(sid) + 1:
        raise UserInputError(f"--from {fork.label()}: session {sid[:12]} has "
                             f"{store.count_events(sid):,} events; give a step within them")
    if row.get("model_calls") and not count_exchanges(store, sid):
        raise UserInputError(f"--from {fork.label()}: session {sid[:12]} has no recorded "
                             "exchanges (recording was off, or they were purged): there is "
                             "nothing to replay")
    return dataclasses.replace(fork, session_id=sid)


def attach(session: Any, fork: ForkSource | None) -> dict[str, Any] | None:
    """Set up a session's recording (unless the settings turn it off) and, for a fork, its
    replay; returns what `run.started` says of the fork (None: not a fork)."""
    store, ctx = session.store, session.ctx
    if fork is not None:
        try:
            fork = resolve(store, fork)
        except UserInputError:
            # the session never runs: its writers' threads end here, not with the process
            for writer in (session.writer, *session.writers):
                writer.close()
            session._progress_writer.close()
            raise
    recorder = None
    if getattr(session.settings, "record", True):
        recorder = Recorder(store, session.session_id)
        recorder.on_error = session._store_failed(Recorder.what)
        session.writers.append(recorder)  # flushed before tools act, closed at the end
    replay = None
    if fork is not None:
        replay = Replay(fork, load_answers(store, fork.session_id), ctx.emit)
        if fork.replay_tools:
            results = recorded_tool_results(store, fork.session_id, fork.seq)
            ctx.tools = RecordedToolRegistry(ctx.tools, RecordedTools(results, replay))
    if recorder is None and replay is None:
        return None
    layer = Exchanges(session.session_id, recorder, replay)
    ctx.gateway.exchanges = layer
    ctx.on_exchange = layer.on_exchange
    session.replay = replay
    return fork.to_dict() if fork is not None else None


@dataclass(frozen=True, slots=True)
class ForkPoint:
    """A step a fork can start at: a model call of the session (its model.call's seq).
    `--from SESSION@seq` answers the calls before it from the recording and asks this one
    live: the agent speaks again, with the crew as it is then."""

    seq: int
    agent: str
    purpose: str
    #: The agent's call, counted from 1.
    call: int
    #: What the call led to: the agent's next message, or its tool calls.
    preview: str


def fork_points(store: Store, session_id: str) -> list[ForkPoint]:
    """The session's model calls, in order, as places to fork from (id or unique prefix)."""
    sid = store.get_session(session_id)["id"]
    points: list[ForkPoint] = []
    calls: dict[str, int] = {}
    waiting: dict[str, int] = {}  # agent -> index in points of its call without a preview
    for e in store.iter_events(sid):
        kind, agent, data = e["kind"], e["agent"] or "", e["data"]
        if kind == ev.MODEL_CALL and data.get("ok", True):
            calls[agent] = calls.get(agent, 0) + 1
            tools = ", ".join(data.get("tool_calls") or [])
            points.append(ForkPoint(e["seq"], agent, data.get("purpose", "agent"),
                                    calls[agent], f"calls {tools}" if tools else ""))
            waiting[agent] = len(points) - 1
        elif kind == ev.MESSAGE and agent in waiting:
            at = waiting.pop(agent)  # what it said says more than the tools it called
            text = " ".join((e["content"] or "").split())
            points[at] = dataclasses.replace(points[at], preview=text[:100])
    return points
