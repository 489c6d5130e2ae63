"""The run context: the three choke points every engine goes through (model, tool, message)."""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from workbench.errors import ProviderError
from workbench.gateway.gateway import Gateway
from workbench.gateway.profiles import Target
from workbench.gateway.routing import ROUTED_PROVIDER
from workbench.gateway.types import AllBlocked, Blocked, ModelRequest, ModelResponse, split_model
from workbench.governance.activation import Activation, ModelView, domain_key
from workbench.governance.activation import build as build_activation
from workbench.governance.argcheck import schema_problems
from workbench.governance.brokers import (
    ApprovalBroker,
    ApprovalOutcome,
    ApprovalRequest,
    DenyAllApprovals,
    new_request_id,
)
from workbench.governance.gate import Decision, Gate, OpenGate
from workbench.governance.model_host import model_view
from workbench.mesh import accounting
from workbench.mesh import events as ev
from workbench.mesh.bridge import LoopBridge
from workbench.mesh.bus import EventBus
from workbench.mesh.history import MemoRedactor, PromptDigests
from workbench.mesh.lifecycle import Lifecycle, RunAborted
from workbench.mesh.totals import Totals
from workbench.spec.schema import AgentSpec, CrewSpec
from workbench.spec.topology import Topology
from workbench.tools.base import Tool, ToolContext, ToolError
from workbench.tools.registry import ToolRegistry

#: The agent and tool of the tool call last judged in this task: a running tool's own
#: questions to the gate (a redirect of http_get) are judged for them.
_TOOL_CALL: ContextVar[tuple[str, str] | None] = ContextVar("workbench_tool_call", default=None)


@dataclass(slots=True)
class ToolOutcome:
    ok: bool
    output: str
    #: The arguments the tool really ran with (a reviewer may have edited them).
    args: dict[str, Any] = field(default_factory=dict)


def _identity_redactor(text: str) -> tuple[str, list[str]]:
    return text, []


class RunContext:
    """What an engine adapter is given: the crew, and the only ways to reach models and tools.

    Model calls, tool calls and messages all pass the gate here, so governance never depends
    on which framework runs the crew.
    """

    #: A star's task marketplace (mesh/market.py) when the crew allocates by it, else None:
    #: a winner's message is its report on its task.
    market: Any = None
    #: The run's human turns (mesh/human.py): a person answers for human agents and reviews
    #: answers that ask for it; None when the crew has neither.
    human: Any = None
    #: Given each answered call once its model.call event is out (mesh/replay.py records it).
    on_exchange: Callable[[ModelRequest, ModelResponse, ev.Event], None] | None = None

    def __init__(
        self,
        spec: CrewSpec,
        topology: Topology,
        task: str,
        bus: EventBus,
        gateway: Gateway,
        tool_ctx: ToolContext,
        tools: ToolRegistry | None = None,
        gate: Gate | None = None,
        approvals: ApprovalBroker | None = None,
        redactor: Callable[[str], tuple[str, list[str]]] = _identity_redactor,
        stream: bool = False,
    ) -> None:
        self.spec = spec
        self.topology = topology
        self.task = task
        self.bus = bus
        self.gateway = gateway
        self.tool_ctx = tool_ctx
        self.tools = tools or ToolRegistry()
        self.gate: Gate = gate or OpenGate()
        #: A condition may read `request.*` (a gate that does not say: assume it does).
        used = getattr(self.gate, "names_used", None)
        self._gate_reads_request = used is None or "request" in used
        self.approvals: ApprovalBroker = approvals or DenyAllApprovals()
        # the history is sent again on every call: each text is redacted once
        self.redactor = redactor if redactor is _identity_redactor else MemoRedactor(redactor)
        self.stream = stream
        self.totals = Totals(domains={a.name: a.domain for a in spec.agents})
        #: Totals and bus together: the totals a subscriber sees include its event.
        self._emitting = threading.Lock()
        #: The run's event loop, for worker threads and for stopping from any thread.
        self.bridge = LoopBridge()
        #: Whether the run goes on, and what stopping it cuts short.
        self.lifecycle = Lifecycle(self.bridge)
        self._agents = {a.name: a for a in spec.agents}
        self._model_names: dict[str, tuple[str, str]] = {}
        #: `model.*` per agent model and per chain target: a URL is parsed once, not per call.
        self._model_views: dict[tuple[str, str, str | None], ModelView] = {}
        #: Each agent's prompt grows by a message or two a call: hash only what is new.
        self._prompts = PromptDigests()
        self._always: set[tuple[str, str]] = set()
        #: The last messages, shown to a reviewer as the context of an approval.
        self.recent_messages: deque[dict[str, Any]] = deque(maxlen=20)
        #: Model calls that governance blocked on every target, and calls that got an answer.
        self.blocked_calls = 0
        self.blocked_reason = ""
        self.answered_calls = 0
        #: Awaited before a tool acts: the session makes sure all that led to it is stored.
        self.before_tool: Callable[[], Awaitable[None]] | None = None
        #: Awaited before a model call: the session keeps its writers from falling behind.
        self.before_model: Callable[[], Awaitable[None]] | None = None
        # tools get the crew's allowed hosts, and the gate for URLs they reach on their own
        if not tool_ctx.allow_hosts:
            tool_ctx.allow_hosts = tuple(spec.allow_hosts)
        if tool_ctx.judge_url is None:
            tool_ctx.judge_url = self._judge_tool_url
        self.on_stop(tool_ctx.abandon)  # a stopped run waits for no tool

    @property
    def session_id(self) -> str:
        return self.bus.session_id

    # -- events ---------------------------------------------------------------------------

    def emit(
        self,
        kind: str,
        agent: str | None = None,
        to: str | None = None,
        content: str | None = None,
        **data: Any,
    ) -> ev.Event:
        """Publish one event (its payload: `data`, as `events.PAYLOADS` says for `kind`).

        The run's totals fold it first (`Totals.apply`, the rule viewers use too), so a
        subscriber already sees the totals with this event counted.
        """
        event = ev.Event(kind, agent, to, content, data)
        with self._emitting:
            self.totals.apply(event)
            return self.bus.publish(event)

    def message(self, source: str, content: str, to: list[str] | str | None = None) -> ev.Event:
        """Record one message between agents; `to` defaults to the topology's recipients."""
        if to is None:
            to = self.topology.recipients(source)
        to_text = to if isinstance(to, str) else ",".join(t for t in to if t)
        self.recent_messages.append({"agent": source, "to": to_text, "content": content})
        # the message is the next turn: emitting it counts it
        event = self.emit(ev.MESSAGE, source, to_text or None, content,
                          turn=self.totals.turns + 1)
        if self.market is not None:
            self.market.reported(source, content, event.data.get("turn", 0))
        return event

    # -- lifecycle (mesh/lifecycle.py) ----------------------------------------------------

    @property
    def failure(self) -> str | None:
        """Why the run failed (the first reason given); None while it has not."""
        return self.lifecycle.failure

    @property
    def stopped(self) -> threading.Event:
        return self.lifecycle.stopped

    def fail(self, reason: str) -> None:
        """Stop the run with `reason` (stored with the session)."""
        self.lifecycle.fail(reason)

    def cancel(self) -> None:
        self.lifecycle.stop()

    def on_stop(self, callback: Callable[[], None]) -> None:
        """Call `callback` on the run's loop when the run is stopped (e.g. to cancel a team)."""
        self.lifecycle.on_stop(callback)

    def check_running(self) -> None:
        self.lifecycle.check_running()

    # -- agents and tools -----------------------------------------------------------------

    def agent(self, name: str) -> AgentSpec:
        return self._agents[name]

    def agent_tools(self, name: str) -> list[Tool]:
        # `mcp:server` stands for all of a server's tools; a tool listed twice is offered once
        return list({tool.name: tool for t in self._agents[name].tools
                     for tool in self.tools.resolve(t)}.values())

    def activation(self, agent: str, **extra: Any) -> Activation:
        """Every name a CEL policy may use (governance/activation.py), for `agent`; `extra`
        gives the action's own (tool, args, message, ...), whole or in part."""
        spec = self._agents.get(agent)
        model = self.spec.model_for(spec) if spec else self.spec.model
        t = self.totals
        data = build_activation(
            {"name": agent, "role": spec.role if spec else "",
             "domain": domain_key(spec.domain) if spec else "default", "model": model},
            self._model_view(model, self.spec.api_base_for(spec) if spec else self.spec.api_base),
            {"cost_usd": t.cost_usd, "tokens": t.tokens, "turns": t.turns},
            {"name": self.spec.name},
        )
        for name, value in extra.items():
            base = data.get(name)
            # a part given (a tool without its server) keeps the rest: every name is there
            if name != "args" and isinstance(base, dict) and isinstance(value, dict):
                value = {**base, **value}
            data[name] = value  # type: ignore[literal-required]
        given = extra.get("message")
        if isinstance(given, dict) and "to_domains" not in given:
            data["message"]["to_domains"] = self._domains_of(str(given.get("to") or ""))
        return data

    def _domains_of(self, to: str) -> list[str]:
        """The domains of the agents in `to` (comma-separated), in order, each once."""
        out: list[str] = []
        for name in to.split(","):
            spec = self._agents.get(name.strip())
            if spec is not None:
                domain = domain_key(spec.domain)
                if domain not in out:
                    out.append(domain)
        return out

    def _model_view(self, model: str, api_base: str | None) -> ModelView:
        """`model.*` of an agent's own model (tool calls, messages): its primary target, or
        a routed alias's name (no one target, so no host, and not local)."""
        key = ("agent", model, api_base)
        found = self._model_views.get(key)
        if found is None:
            provider, name = self._provider_and_name(model)
            profiles = self.gateway.profiles
            if provider != ROUTED_PROVIDER and profiles is not None:
                api_base = profiles.resolve(model, api_base).primary.api_base
            found = model_view(provider, name,
                               api_base if provider != ROUTED_PROVIDER else None)
            self._model_views[key] = found
        return dict(found)  # type: ignore[return-value]  # the cached view stays unshared

    def _target_view(self, target: Target) -> ModelView:
        """`model.*` of one target of a chain, where that attempt is really sent."""
        key = ("target", target.model, target.api_base)
        found = self._model_views.get(key)
        if found is None:
            found = model_view(*split_model(target.model), target.api_base)
            self._model_views[key] = found
        return dict(found)  # type: ignore[return-value]

    def _provider_and_name(self, model: str) -> tuple[str, str]:
        """The real provider and model behind an alias, so policies judge what is called."""
        found = self._model_names.get(model)
        if found is None:
            profiles = self.gateway.profiles
            found = profiles.provider_and_name(model) if profiles else split_model(model)
            self._model_names[model] = found
        return found

    def _decide(self, action: str, agent: str, activation: dict[str, Any]) -> Decision:
        """Fail-closed: a gate that raises is a deny."""
        try:
            decision = self.gate.decide(action, activation)  # type: ignore[arg-type]
        except Exception as exc:
            decision = Decision(
                "deny", action, ["gate-error"],  # type: ignore[arg-type]
                [f"policy evaluation failed: {type(exc).__name__}: {exc}"],
                getattr(self.gate, "policy_hash", ""),
            )
        if decision.rule_ids or decision.effect != "allow":
            self.emit(ev.POLICY_DECISION, agent, None, decision.reason, **decision.to_dict())
        if action == "tool_call":
            _TOOL_CALL.set((agent, activation.get("tool", {}).get("name", "")))
        return decision

    # -- the model choke point ------------------------------------------------------------

    async def complete(self, request: ModelRequest) -> ModelResponse:
        """Gate, call the gateway, gate the reply as a message, and account for it.

        Every target of the model's chain (the primary and each fallback) is judged as a
        `model_call` for its own provider and model before each attempt on it, and gets the
        messages redacted as its decision says: a fallback never receives what its primary
        could, nor escapes a rule its primary passed.
        """
        self.check_running()
        if self.before_model is not None:
            await self.before_model()
            self.check_running()
        if self.human is not None and self.human.takes(request):
            return await self.human.complete(self, request)  # a person answers (or reviews)
        original = request.messages
        decisions: list[dict[str, Any]] = []
        sent: list[list[dict[str, Any]]] = [original]
        # `request.*` for routes and model_call policies: the call's size, purpose, tools
        # (measured only where a route or a condition reads it)
        facts = self.gateway.request_view(request) if (
            self._gate_reads_request or self.gateway.routed(request.model)) else None
        given = {"request": facts} if facts is not None else {}

        def prepare(target: Target) -> list[dict[str, Any]]:
            decision = self._decide("model_call", request.agent, self.activation(
                request.agent, model=self._target_view(target), **given))
            decisions.append({"target": target.label, "model": target.model,
                              "effect": decision.effect, "rule_ids": decision.rule_ids})
            if decision.stop_run:
                self.fail(decision.reason)
                raise RunAborted(decision.reason)
            if decision.effect in ("deny", "require_approval"):
                raise Blocked(decision.reason)
            messages = original
            if decision.effect == "redact":
                messages = [self._redact_message(m) for m in original]
            sent[0] = messages
            return messages

        on_delta = None
        if self.stream:
            request.stream = True
        if request.stream:
            def on_delta(text: str, restart: bool = False, _agent: str = request.agent) -> None:
                if restart:
                    self.emit(ev.MESSAGE_DELTA, _agent, None, "", restart=True)
                else:
                    self.emit(ev.MESSAGE_DELTA, _agent, None, text)
        try:
            # a routed alias picks its rule here; the gate then judges the chosen models
            route = self.gateway.route(
                request, lambda: self.activation(request.agent, **given))
            response = await self._abortable(
                self.gateway.complete(request, on_delta, prepare, route))
        except AllBlocked as exc:
            self.blocked_calls += 1
            self.blocked_reason = exc.reason
            return ModelResponse(
                content=f"[model call blocked by policy: {exc.reason}]",
                model=request.model,
                provider=self._provider_and_name(request.model)[0],
                finish_reason="blocked",
            )
        except ProviderError as exc:
            self._call_failed(request, exc, decisions)
            raise
        # what the answering target was sent, for the audit's digest
        request.messages = sent[0]
        if request.purpose != "selector":
            self.answered_calls += 1
        self._account(request, response, decisions, route.chosen_by)
        if response.content and request.purpose == "agent":
            response.content = self._gate_message(request.agent, response.content)
        self.check_running()
        return response

    async def _abortable(self, coro: Any) -> Any:
        """Await `coro` as a task that stopping the run cancels (an in-flight call is dropped)."""
        return await self.lifecycle.abortable(coro)

    def _redact_message(self, message: dict[str, Any]) -> dict[str, Any]:
        """A copy of one chat message with its text, its text parts and the arguments of its
        tool calls redacted: all of them reach the provider."""
        content = message.get("content")
        if isinstance(content, str):
            message = dict(message, content=self.redactor(content)[0])
        elif isinstance(content, list):
            message = dict(message, content=[
                dict(p, text=self.redactor(p["text"])[0])
                if isinstance(p, dict) and isinstance(p.get("text"), str) else p
                for p in content
            ])
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            message = dict(message, tool_calls=[self._redact_call(c) for c in calls])
        return message

    def _redact_call(self, call: Any) -> Any:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("arguments"), str):
            return call
        return dict(call, function=dict(function,
                                        arguments=self.redactor(function["arguments"])[0]))

    def _gate_message(self, source: str, text: str, to: str | None = None) -> str:
        """`text` from `source` as it may reach its recipients (`to`, or whoever the
        topology sends `source`'s messages to)."""
        if to is None:
            to = ",".join(self.topology.recipients(source))
        activation = self.activation(source, message={"text": text, "from": source, "to": to})
        decision = self._decide("message", source, activation)
        if decision.effect == "deny" or decision.effect == "require_approval":
            return f"[message withheld by policy: {decision.reason}]"
        if decision.effect == "redact":
            return self.redactor(text)[0]
        return text

    def _call_failed(self, request: ModelRequest, exc: ProviderError,
                     decisions: list[dict[str, Any]] | None = None) -> None:
        """A provider that still fails ends the run in its own words: engines may wrap the
        exception into a generic one, so the reason is kept here, where it is still exact."""
        self.emit(ev.MODEL_CALL, request.agent, None, None, **accounting.failed_call(
            request, exc, self._provider_and_name(request.model)[0], decisions))
        self.fail(str(exc))

    def _account(self, request: ModelRequest, response: ModelResponse,
                 decisions: list[dict[str, Any]] | None = None,
                 chosen_by: tuple[dict[str, Any], ...] = ()) -> None:
        # the totals count the call as the model.call event is emitted
        event = self.emit(ev.MODEL_CALL, request.agent, None, None, **accounting.answered_call(
            request, response, self._prompts, decisions, chosen_by))
        if self.on_exchange is not None:
            self.on_exchange(request, response, event)

    # -- the tool choke point -------------------------------------------------------------

    async def call_tool(
        self, agent: str, name: str, args: dict[str, Any], call_id: str = ""
    ) -> ToolOutcome:
        """Gate, maybe wait for approval, run the tool, and record both ends. Never raises
        for a tool's own failure: the agent is told, the run goes on."""
        self.check_running()
        self.emit(ev.TOOL_REQUESTED, agent, None, None, tool=name, args=args, call_id=call_id)
        try:
            tool = self.tools.get(name)
        except Exception as exc:
            return self._tool_result(agent, name, call_id, False, f"unknown tool: {exc}", args)
        activation = self.activation(
            agent, tool={"name": tool.name, "tags": sorted(tool.tags), "server": tool.server},
            args=args,
        )
        decision = self._decide("tool_call", agent, activation)
        if decision.effect == "deny":
            return self._tool_result(
                agent, name, call_id, False, f"denied by policy: {decision.reason}", args
            )
        if decision.effect == "redact":
            args = {k: self.redactor(v)[0] if isinstance(v, str) else v for k, v in args.items()}
        review = decision.effect == "require_approval" and (agent, tool.name) not in self._always
        while review:
            outcome = await self._review(agent, tool, args, decision)
            if not outcome.approved:
                why = outcome.reason or "no reason given"
                return self._tool_result(
                    agent, name, call_id, False, f"rejected by {outcome.reviewer}: {why}", args
                )
            if outcome.args is None or outcome.args == args:
                break
            # the reviewer's edit is a new call: it fits the tool and passes the policy
            # again, or it does not run
            problems = schema_problems(tool.parameters, outcome.args)
            if problems:
                return self._tool_result(
                    agent, name, call_id, False,
                    f"the arguments {outcome.reviewer} approved do not fit {tool.name}: "
                    f"{'; '.join(problems)}", outcome.args,
                )
            args = outcome.args
            approved_rules = set(decision.rule_ids)
            decision = self._decide("tool_call", agent, self.activation(
                agent, tool={"name": tool.name, "tags": sorted(tool.tags),
                             "server": tool.server}, args=args))
            if decision.effect == "deny":
                return self._tool_result(
                    agent, name, call_id, False,
                    f"denied by policy (as edited by {outcome.reviewer}): {decision.reason}",
                    args,
                )
            if decision.effect == "redact":
                args = {k: self.redactor(v)[0] if isinstance(v, str) else v
                        for k, v in args.items()}
            # the reviewer approved this very concern; a new one needs its own review
            review = (decision.effect == "require_approval"
                      and set(decision.rule_ids) != approved_rules)
        if self.before_tool is not None:
            await self.before_tool()
        self.check_running()
        try:
            output = await tool.invoke(self.tool_ctx, args)
        except ToolError as exc:
            return self._tool_result(agent, name, call_id, False, str(exc), args, ran=True)
        return self._tool_result(agent, name, call_id, True, output, args, ran=True)

    async def _review(self, agent: str, tool: Tool, args: dict[str, Any],
                      decision: Decision) -> ApprovalOutcome:
        """A held tool call, put to the run's reviewers: the request is posted where they
        find it, the run says so, waits for the decision (a stopped run stops waiting) and
        says what was decided."""
        policy = getattr(self.gate, "policy", None)  # the run's policy says who may approve
        request = ApprovalRequest(
            new_request_id(), self.session_id, agent, tool.name, args, decision.rule_ids,
            decision.reason, sorted(tool.tags), list(self.recent_messages)[-5:],
            policy.approvers(decision.rule_ids) if policy is not None else None,
            self.bus.flush)
        expires_at = await self.lifecycle.abortable(self.approvals.post(request))
        self.emit(ev.APPROVAL_REQUESTED, agent, None, decision.reason, approval_id=request.id,
                  tool=tool.name, args=args, rule_ids=decision.rule_ids, expires_at=expires_at,
                  tags=request.tags)
        if self.before_tool is not None:
            # the request is stored and audited before anyone decides: a decision that
            # comes at once (--approvals deny) never enters the chain ahead of it
            await self.before_tool()
        self.check_running()
        outcome = await self.lifecycle.abortable(self.approvals.ask(request))
        self.emit(ev.APPROVAL_DECIDED, agent, None, outcome.reason, approval_id=request.id,
                  decision=outcome.verdict.value, reviewer=outcome.reviewer, tool=tool.name,
                  args=outcome.args, always=outcome.always)
        if outcome.approved and outcome.always:
            self.approve_always(agent, tool.name)
        return outcome

    def approve_always(self, agent: str, tool: str) -> None:
        """Later calls of `tool` by `agent` in this session skip the approval."""
        self._always.add((agent, tool))

    def _tool_result(
        self, agent: str, name: str, call_id: str, ok: bool, output: str, args: dict[str, Any],
        ran: bool = False,
    ) -> ToolOutcome:
        """Record a tool call's end; `ran`: the tool was invoked (a tool call for the totals),
        as opposed to denied, rejected or unknown (written only then, as `ran: false`)."""
        self.emit(ev.TOOL_RESULT, agent, None, output, tool=name, call_id=call_id, ok=ok,
                  args=args, **({} if ran else {"ran": False}))
        return ToolOutcome(ok, output, args)

    # -- bridges for engines that run agents in worker threads ----------------------------

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The run's event loop (set when the run starts)."""
        return self.bridge.loop

    @loop.setter
    def loop(self, loop: asyncio.AbstractEventLoop | None) -> None:
        self.bridge.loop = loop

    def run_sync(self, coro: Any, timeout: float | None = None) -> Any:
        """Run a coroutine on the run's event loop from a worker thread, and wait for it."""
        return self.bridge.run_sync(coro, timeout)

    # -- what a running tool asks the gate ------------------------------------------------

    def judge_tool_args(self, agent: str, tool: Tool, args: dict[str, Any]) -> Decision:
        """The `tool_call` decision for `agent` calling `tool` with `args`, recorded as any."""
        activation = self.activation(
            agent, tool={"name": tool.name, "tags": sorted(tool.tags), "server": tool.server},
            args=args,
        )
        return self._decide("tool_call", agent, activation)

    async def _judge_tool_url(self, url: str) -> str | None:
        """A running tool's next URL (an http_get redirect) judged as a call of that tool on
        it; why it is refused, or None. A hop that needs approval is refused (the agent can
        call the tool on it, and that call is reviewed) unless the agent may always use it."""
        call = _TOOL_CALL.get()
        if call is None:
            return "no governed tool call is running here"
        agent, name = call
        try:
            tool = self.tools.get(name)
        except Exception:
            return f"unknown tool {name!r}"
        decision = self.judge_tool_args(agent, tool, {"url": url})
        if decision.effect == "deny":
            return f"denied by policy: {decision.reason}"
        if decision.effect == "require_approval" and (agent, tool.name) not in self._always:
            return f"it needs approval ({decision.reason}); call {tool.name} on it directly"
        return None
