"""A run's events as one OpenTelemetry trace (GenAI semantic conventions), sent over OTLP/HTTP.

Imported only when tracing is on (workbench/mesh/tracing.py decides). The spans are built
after the fact from the events, with the events' own times: the session is the root
(`invoke_workflow {crew}`), each agent turn a child (`invoke_agent {agent}`), and each model
call (`chat {model}`) and tool call (`execute_tool {tool}`) a child of its turn. Policy
decisions, approvals, handoffs, human answers and any other kind (the marketplace's
`task.*`) are span events. Content (task, messages, tool arguments and results) goes in only
when capture is on, and then through the redactor, so a secret never leaves in a span.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import random
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event as SpanEvent
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from workbench.governance.redact import redact
from workbench.mesh import events as ev
from workbench.mesh.events import Event
from workbench.mesh.otlp_wire import Encoder

log = logging.getLogger(__name__)

#: How long the end of a run waits for its spans to reach the collector.
FLUSH_TIMEOUT_S = 3.0
SCOPE = "workbench"

#: LiteLLM's provider names where the GenAI conventions spell them otherwise.
PROVIDERS = {
    "azure": "azure.ai.openai", "azure_ai": "azure.ai.inference", "bedrock": "aws.bedrock",
    "vertex_ai": "gcp.vertex_ai", "gemini": "gcp.gemini", "mistral": "mistral_ai",
    "xai": "x_ai", "watsonx": "ibm.watsonx.ai",
}
#: Keys of an event's payload that hold what people or models wrote: only with capture.
CONTENT_KEYS = frozenset({
    "args", "answer", "body", "capability", "content", "context", "description", "message",
    "messages", "output", "prompt", "question", "reason", "result", "task", "text", "title",
})
#: Payload strings longer than this are prose, not identifiers: only with capture.
MAX_PLAIN = 120


def _ns(ts: float) -> int:
    return int(ts * 1e9)


def _clean(attrs: dict[str, Any]) -> dict[str, Any]:
    """Attribute values OpenTelemetry takes: no None, lists of one scalar type."""
    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if value is None:
            continue
        if isinstance(value, list | tuple):
            value = [str(v) for v in value if v is not None]
        out[key] = value
    return out


_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
#: Span and trace ids: a generator of our own, seeded from the OS, which nobody re-seeds.
_ids = random.Random()


@dataclass
class _Open:
    """A span not yet ended: what it will be made of, and what its end will add."""

    name: str
    context: SpanContext
    parent: SpanContext | None
    kind: SpanKind
    start_ns: int
    attrs: dict[str, Any]
    events: list[SpanEvent] = field(default_factory=list)
    status: Status | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    cost_known: bool = True
    calls: int = 0
    handed_off: bool = False
    handed_off_at: float = 0.0
    #: execute_tool spans of this turn by call id.
    tools: dict[str, _Open] = field(default_factory=dict)
    error_type: str | None = None

    def error(self, kind: str, description: str | None = None) -> None:
        self.attrs["error.type"] = kind
        self.status = Status(StatusCode.ERROR, description or kind)


class Pipeline:
    """Where finished spans go for one endpoint: the SDK's batch processor (a queue and a
    thread of its own) in front of the OTLP/HTTP exporter."""

    def __init__(self, processor: BatchSpanProcessor, resource: Resource,
                 scope: InstrumentationScope, exporter: Any = None) -> None:
        self.processor = processor
        self.resource = resource
        self.scope = scope
        self.exporter = exporter
        self._flushing: threading.Thread | None = None
        self._lock = threading.Lock()

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send what is queued; False when the collector has not taken it in `timeout_s`.

        The SDK's force_flush ignores its timeout (it retries for the exporter's whole
        timeout): it runs on a thread of its own, one at a time, and a run's end waits
        for it no longer than `timeout_s`."""
        with self._lock:
            thread = self._flushing
            if thread is None or not thread.is_alive():
                thread = self._flushing = threading.Thread(
                    target=self.processor.force_flush, name="otel-flush", daemon=True)
                thread.start()
        thread.join(FLUSH_TIMEOUT_S if timeout_s is None else timeout_s)
        return not thread.is_alive()

    def close(self) -> None:
        """At exit: what is queued goes if the collector takes it soon; then the exporter
        stops (a retry in progress too), so an unreachable collector never holds up exit."""
        flushing = self._flushing
        if flushing is None or not flushing.is_alive():  # else it is not answering now
            self.flush()
        if self.exporter is not None:
            self.exporter.shutdown()
        self.processor.shutdown()


_pipelines: dict[str, Pipeline] = {}
_pipelines_lock = threading.Lock()


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("workbench")
    except Exception:  # a source tree without its metadata still traces
        return ""


def _resource() -> Resource:
    attrs: dict[str, Any] = {"service.name": "workbench"}
    # the user's own service name wins (Resource.create lets ours beat the environment's)
    if os.environ.get("OTEL_SERVICE_NAME") or "service.name=" in os.environ.get(
            "OTEL_RESOURCE_ATTRIBUTES", ""):
        attrs = {}
    if _version():
        attrs["service.version"] = _version()
    return Resource.create(attrs)


class _Exporter(OTLPSpanExporter):
    """The OTLP/HTTP exporter (endpoint, headers, TLS, compression, retries as configured
    by the standard variables), its spans encoded by otlp_wire: the SDK's encoder is most
    of what tracing costs a turn. Should a later SDK keep its HTTP client elsewhere, its
    own export is used."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(endpoint=endpoint)
        self._encoder = Encoder()

    def shutdown(self) -> None:
        if not self._shutdown:  # at exit, and again from the processor's shutdown
            super().shutdown()

    def export(self, spans: Any) -> SpanExportResult:
        client = getattr(self, "_client", None)
        if self._shutdown or not callable(getattr(client, "export", None)):
            return super().export(spans)
        try:
            data = self._encoder.encode(spans)
        except Exception:  # the SDK's own encoder still gets the spans out
            log.warning("could not encode spans; using the exporter's encoder", exc_info=True)
            return super().export(spans)
        result = client.export(data)  # type: ignore[union-attr]
        ok = getattr(result, "success", False)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE


def pipeline_for(url: str) -> Pipeline:
    """One pipeline per endpoint per process (the TUI and eval run many sessions). Not the
    global tracer provider: CrewAI and AutoGen use that one, and their spans stay out."""
    with _pipelines_lock:
        pipeline = _pipelines.get(url)
        if pipeline is None:
            exporter = _Exporter(url)
            pipeline = Pipeline(BatchSpanProcessor(exporter), _resource(),
                                InstrumentationScope(SCOPE, _version()), exporter)
            atexit.register(pipeline.close)
            _pipelines[url] = pipeline
        return pipeline


def close_all() -> None:
    """Send what every pipeline still holds and stop it: the exit hooks' work, for an exit
    that skips them (a cancelled run's `os._exit`)."""
    with _pipelines_lock:
        pipelines = list(_pipelines.values())
    for pipeline in pipelines:
        try:
            pipeline.close()
        except Exception:  # an exporter that fails on the way out must not keep the exit
            pass


class RunTracer:
    """Turns one run's events into spans; fed by the bus on a thread of its own (never
    concurrently), so it keeps its open spans without a lock."""

    def __init__(self, pipeline: Pipeline, capture: bool = False, url: str = "") -> None:
        self.pipeline = pipeline
        self.capture = capture
        self.url = url
        self.trace_id = 0
        self.root: _Open | None = None
        self.session_id = ""
        self.agents: dict[str, dict[str, Any]] = {}
        self.turns: dict[str, _Open] = {}
        self.last_ts = 0.0
        self._handlers: dict[str, Callable[[Event], None]] = {
            ev.RUN_STARTED: self._run_started,
            ev.MODEL_CALL: self._model_call,
            ev.TOOL_REQUESTED: self._tool_requested,
            ev.TOOL_RESULT: self._tool_result,
            ev.POLICY_DECISION: self._policy_decision,
            ev.APPROVAL_REQUESTED: self._approval,
            ev.APPROVAL_DECIDED: self._approval,
            ev.MESSAGE: self._message,
            ev.HANDOFF: self._handoff,
            ev.HUMAN_REQUESTED: self._human,
            ev.HUMAN_ANSWERED: self._human,
            ev.HUMAN_SKIPPED: self._human,
            ev.RUN_COMPLETED: self._run_ended,
            ev.RUN_FAILED: self._run_ended,
            ev.MESSAGE_DELTA: lambda e: None,  # the message comes whole
        }

    @classmethod
    def for_endpoint(cls, url: str, capture: bool = False) -> RunTracer:
        return cls(pipeline_for(url), capture, url=url)

    # -- dispatch -------------------------------------------------------------------------

    def handle(self, event: Event) -> None:
        """One event, in seq order."""
        self.last_ts = max(self.last_ts, event.ts)
        handler = self._handlers.get(event.kind)
        if handler is None:
            self._generic(event)
        else:
            handler(event)

    # -- content --------------------------------------------------------------------------

    def _text(self, text: Any) -> str | None:
        """`text` as a span may carry it: None without capture, redacted with it."""
        if not self.capture or text is None:
            return None
        if not isinstance(text, str):
            text = json.dumps(text, default=str, ensure_ascii=False)
        return redact(text)[0]

    def _messages(self, role: str, text: Any, **extra: Any) -> str | None:
        """The conventions' `gen_ai.*.messages` JSON for one text message (capture only)."""
        content = self._text(text)
        if content is None:
            return None
        return json.dumps([{"role": role, "parts": [{"type": "text", "content": content}],
                            **extra}], ensure_ascii=False)

    # -- spans ----------------------------------------------------------------------------

    def _root_span(self, ts: float) -> _Open:
        if self.root is None:  # events before run.started (never, but not lost)
            self._run_started(Event(ev.RUN_STARTED, ts=ts, data={"crew": "run"}))
        assert self.root is not None
        return self.root

    def _start(self, name: str, ts: float, parent: _Open | None,
               kind: SpanKind = SpanKind.INTERNAL, **attrs: Any) -> _Open:
        """A span from `ts`. Spans are built here and handed over finished (`_end`): the
        times come from the events, and the SDK's live-span machinery (a sampler, locks,
        checks on every attribute) would cost a turn more than the 0.2 ms it may."""
        if parent is None:
            self.trace_id = _ids.getrandbits(128) or 1
        context = SpanContext(self.trace_id, _ids.getrandbits(64) or 1, False, _SAMPLED)
        return _Open(name, context, parent.context if parent is not None else None, kind,
                     _ns(ts), _clean(attrs))

    def _end(self, span: _Open, ts: float) -> None:
        p = self.pipeline
        p.processor.on_end(ReadableSpan(
            span.name, span.context, span.parent, p.resource, span.attrs, span.events,
            kind=span.kind, status=span.status or Status(StatusCode.UNSET),
            start_time=span.start_ns, end_time=max(_ns(ts), span.start_ns),
            instrumentation_scope=p.scope))

    def _run_started(self, e: Event) -> None:
        d = e.data
        self.session_id = e.session_id
        self.agents = {a.get("name", ""): a for a in d.get("agents", [])}
        crew = d.get("crew", "run")
        self.root = self._start(
            f"invoke_workflow {crew}", e.ts, None,
            **{"gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": crew,
               "gen_ai.conversation.id": e.session_id,
               "workbench.session_id": e.session_id, "workbench.crew": crew,
               "workbench.engine": d.get("engine"), "workbench.topology": d.get("topology"),
               "workbench.policy_hash": d.get("policy_hash") or None,
               "workbench.agents": [a.get("name") for a in d.get("agents", [])],
               "gen_ai.input.messages": self._messages("user", e.content)})
        for warning in d.get("warnings", []):
            self._event(self.root, "workbench.warning", e.ts, {"message": str(warning)})

    def _turn(self, agent: str | None, ts: float, open_one: bool = True,
              work: bool = False) -> _Open | None:
        """The agent's turn in progress; a new one from `ts` when it has none (and
        `open_one`). A turn that handed off and then does new `work` (calls a model or a
        tool) ended with the handoff: the work is a new turn."""
        if not agent:
            return None
        turn = self.turns.get(agent)
        if turn is not None and turn.handed_off and work:
            self._end_turn(agent, turn.handed_off_at)
            turn = None
        if turn is None and open_one:
            info = self.agents.get(agent, {})
            provider, model = _split(info.get("model") or "")
            turn = self._start(
                f"invoke_agent {agent}", ts, self._root_span(ts),
                **{"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent,
                   "gen_ai.agent.description": info.get("role"),
                   "gen_ai.conversation.id": self.session_id,
                   "gen_ai.request.model": model or None,
                   "gen_ai.provider.name": PROVIDERS.get(provider, provider) if provider
                   else None,
                   "workbench.agent.domain": info.get("domain")})
            self.turns[agent] = turn
        return turn

    def _end_turn(self, agent: str, ts: float, error: str | None = None) -> None:
        turn = self.turns.pop(agent, None)
        if turn is None:
            return
        for call_id in list(turn.tools):
            self._end_tool(turn, call_id, ts, ok=False, error_type="unfinished")
        if turn.calls:
            turn.attrs.update({"gen_ai.usage.input_tokens": turn.input_tokens,
                               "gen_ai.usage.output_tokens": turn.output_tokens})
            if turn.cost_known:
                turn.attrs["workbench.cost_usd"] = round(turn.cost_usd, 8)
        if error:
            turn.error(error)
        self._end(turn, ts)

    def _model_call(self, e: Event) -> None:
        d = e.data
        latency = float(d.get("latency_ms") or 0.0) / 1000
        start = e.ts - latency
        # a turn is the agent's own work; the hub's model choosing a speaker is not
        turn = self._turn(e.agent, start, open_one=d.get("purpose", "agent") == "agent",
                          work=True)
        parent = turn if turn is not None else self._root_span(e.ts)
        prefix, model = _split(d.get("model") or "")
        provider = d.get("provider") or prefix
        ok = d.get("ok", True)
        tool_calls = d.get("tool_calls") or []
        finish = d.get("finish_reason") or ("error" if not ok else
                                            "tool_calls" if tool_calls else "stop")
        cost = d.get("cost_usd")
        attrs = {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": PROVIDERS.get(provider, provider) or None,
            "gen_ai.request.model": _split(d["requested"])[1] if d.get("requested")
            else model,
            "gen_ai.response.model": model,
            "gen_ai.usage.input_tokens": d.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": d.get("completion_tokens"),
            "gen_ai.response.finish_reasons": [finish],
            "gen_ai.conversation.id": self.session_id,
            # the agent is its parent span's; a call that is no agent's turn says what it is
            "workbench.purpose": None if turn is not None else d.get("purpose"),
            "gen_ai.agent.name": None if turn is not None else e.agent,
            "workbench.cost_usd": cost,
            "workbench.tool_calls": tool_calls or None,
            "workbench.attempts": d.get("attempts"),
            "workbench.retried": d.get("retried"),
            "workbench.fallback_from": d.get("fallback_from"),
            "workbench.blocked": d.get("blocked"),
            "workbench.route": [f"{r.get('alias')}#{r.get('index')}->{r.get('use')}"
                                for r in d.get("route") or []] or None,
        }
        chat = self._start(f"chat {model}", start, parent, SpanKind.CLIENT, **attrs)
        if not ok:
            chat.error("provider_error", redact(str(d.get("error", "")))[0][:500])
        self._end(chat, e.ts)
        if turn is not None and ok:
            turn.calls += 1
            turn.input_tokens += int(d.get("prompt_tokens") or 0)
            turn.output_tokens += int(d.get("completion_tokens") or 0)
            if cost is None:
                turn.cost_known = False
            else:
                turn.cost_usd += float(cost)

    def _tool_requested(self, e: Event) -> None:
        d = e.data
        turn = self._turn(e.agent, e.ts, work=True)
        parent = turn if turn is not None else self._root_span(e.ts)
        tool = d.get("tool", "")
        call_id = d.get("call_id") or f"seq{e.seq}"
        opened = self._start(
            f"execute_tool {tool}", e.ts, parent,
            **{"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
               "gen_ai.tool.call.id": call_id, "gen_ai.tool.type": "function",
               "gen_ai.agent.name": e.agent,
               "gen_ai.tool.call.arguments": self._text(d.get("args"))})
        if turn is not None:
            turn.tools[call_id] = opened
        else:
            self._end(opened, e.ts)  # nothing to close it later: an instant

    def _find_tool(self, agent: str | None, call_id: str | None = None,
                   tool: str | None = None) -> _Open | None:
        """The agent's open tool span with this call id, else its latest (of `tool`)."""
        turn = self.turns.get(agent or "")
        if turn is None or not turn.tools:
            return None
        if call_id and call_id in turn.tools:
            return turn.tools[call_id]
        for opened in reversed(turn.tools.values()):
            if tool is None or opened.name == f"execute_tool {tool}":
                return opened
        return None

    def _end_tool(self, turn: _Open, call_id: str, ts: float, ok: bool,
                  error_type: str | None = None, result: Any = None,
                  attrs: dict[str, Any] | None = None) -> None:
        opened = turn.tools.pop(call_id, None)
        if opened is None:
            return
        opened.attrs.update(_clean({"gen_ai.tool.call.result": self._text(result),
                                    **(attrs or {})}))
        if not ok:
            opened.error(opened.error_type or error_type or "tool_error")
        self._end(opened, ts)

    def _tool_result(self, e: Event) -> None:
        d = e.data
        turn = self.turns.get(e.agent or "")
        call_id = d.get("call_id") or ""
        if turn is None or call_id not in turn.tools:
            return
        ran = d.get("ran", True)
        self._end_tool(turn, call_id, e.ts, ok=bool(d.get("ok", True)),
                       error_type="tool_error" if ran else "not_run", result=e.content,
                       attrs={"workbench.tool.ok": bool(d.get("ok", True)),
                              "workbench.tool.ran": bool(ran)})

    def _policy_decision(self, e: Event) -> None:
        d = e.data
        attrs = _clean({
            "workbench.policy.effect": d.get("effect"),
            "workbench.policy.action": d.get("action"),
            "workbench.policy.rule_ids": d.get("rule_ids") or None,
            # the policy authors' reasons, not the run's content
            "workbench.policy.reasons": d.get("reasons") or None,
            "workbench.policy.hash": d.get("policy_hash") or None,
            "workbench.policy.redactions": d.get("redactions") or None,
            "workbench.policy.lifted": d.get("lifted") or None,
        })
        target: _Open | None = None
        if d.get("action") == "tool_call":
            target = self._find_tool(e.agent)
            if target is not None and d.get("effect") == "deny":
                target.error_type = "denied_by_policy"
        if target is None:
            target = self._turn(e.agent, e.ts) or self.root
        self._event(target, "policy.decision", e.ts, attrs)

    def _approval(self, e: Event) -> None:
        d = e.data
        target = self._find_tool(e.agent, tool=d.get("tool"))
        attrs: dict[str, Any] = {"workbench.approval.id": d.get("approval_id"),
                                 "workbench.approval.tool": d.get("tool")}
        if e.kind == ev.APPROVAL_REQUESTED:
            attrs.update({"workbench.approval.rule_ids": d.get("rule_ids") or None,
                          "workbench.approval.expires_at": d.get("expires_at"),
                          "workbench.approval.args": self._text(d.get("args"))})
        else:
            attrs.update({"workbench.approval.decision": d.get("decision"),
                          "workbench.approval.reviewer": d.get("reviewer"),
                          "workbench.approval.always": d.get("always"),
                          "workbench.approval.edited": d.get("args") is not None,
                          "workbench.approval.reason": self._text(e.content)})
            if target is not None and d.get("decision") in ("rejected", "expired"):
                target.error_type = "rejected_by_reviewer"
        self._event(target or self._turn(e.agent, e.ts, open_one=False) or self.root,
                    str(e.kind), e.ts, _clean(attrs))

    def _message(self, e: Event) -> None:
        turn = self._turn(e.agent, e.ts)
        if turn is None:  # a message with no speaker: on the session
            self._event(self.root, "message", e.ts, _clean({"workbench.message.to": e.to}))
            return
        turn.attrs.update(_clean({
            "workbench.turn": e.data.get("turn"),
            "workbench.message.to": e.to,
            "gen_ai.output.messages": self._messages("assistant", e.content),
        }))
        self._end_turn(e.agent or "", e.ts)

    def _handoff(self, e: Event) -> None:
        turn = self._turn(e.agent, e.ts)
        self._event(turn or self.root, "handoff", e.ts,
                    _clean({"workbench.handoff.to": e.to,
                            "workbench.handoff.content": self._text(e.content)}))
        if turn is not None:
            # its message usually follows, and ends the turn
            turn.handed_off, turn.handed_off_at = True, e.ts

    def _human(self, e: Event) -> None:
        d = e.data
        asked = e.kind == ev.HUMAN_REQUESTED
        turn = self._turn(e.agent, e.ts, open_one=asked, work=asked)
        self._event(turn or self.root, str(e.kind), e.ts, _clean({
            "workbench.human.question_id": d.get("question_id"),
            "workbench.human.ask": d.get("ask"),
            "workbench.human.by": d.get("by"),
            "workbench.human.how": d.get("how"),
            "workbench.human.accepted": d.get("accepted"),
            "workbench.human.text": self._text(e.content),
        }))

    def _generic(self, e: Event) -> None:
        """A kind this module does not know (the marketplace's task.*, later ones): a span
        event named by its kind, on the agent's tool call or turn in progress, else on the
        session."""
        attrs: dict[str, Any] = {}
        if e.agent:
            attrs["gen_ai.agent.name"] = e.agent
        if e.to:
            attrs["workbench.to"] = e.to
        for key, value in _flat(e.data):
            if key.split(".")[-1] in CONTENT_KEYS or (
                    isinstance(value, str) and len(value) > MAX_PLAIN):
                value = self._text(value)
            if value is not None:
                attrs[f"workbench.{key}"] = value
        if e.content is not None and self.capture:
            attrs["workbench.content"] = self._text(e.content)
        # a task posted by the hub's post_task tool goes on that tool's span
        target = self._find_tool(e.agent) or self.turns.get(e.agent or "") \
            or self._root_span(e.ts)
        self._event(target, str(e.kind), e.ts, attrs)

    @staticmethod
    def _event(target: _Open | None, name: str, ts: float, attrs: dict[str, Any]) -> None:
        if target is not None:
            target.events.append(SpanEvent(name, attrs, _ns(ts)))

    def _run_ended(self, e: Event) -> None:
        d = e.data
        failed = e.kind == ev.RUN_FAILED
        root = self._root_span(e.ts)
        for agent in list(self.turns):
            self._end_turn(agent, e.ts, error="unfinished" if failed else None)
        root.attrs.update(_clean({
            "workbench.status": d.get("status"),
            "workbench.turns": d.get("turns"),
            "gen_ai.usage.input_tokens": d.get("prompt_tokens"),
            "gen_ai.usage.output_tokens": d.get("completion_tokens"),
            "workbench.cost_usd": d.get("cost_usd") if d.get("cost_known", True) else None,
            "workbench.cost_known": d.get("cost_known"),
            "workbench.model_calls": d.get("model_calls"),
            "workbench.tool_calls": d.get("tool_calls"),
            "workbench.blocked_calls": d.get("blocked_calls"),
            "gen_ai.output.messages": None if failed else self._messages(
                "assistant", e.content, finish_reason="stop"),
        }))
        if failed:
            kind = "cancelled" if d.get("cancelled") else "run_failed"
            # why a run failed is the workbench's or a provider's words: redacted anyway
            root.error(kind, redact(e.content or kind)[0][:500])
        self._end(root, e.ts)
        self.root = None
        # the run's spans are out before it ends (a CLI process exits right after)
        if not self.pipeline.flush():
            log.warning("the run's trace could not be sent to %s in %.0f s", self.url,
                        FLUSH_TIMEOUT_S)


def _split(model: str) -> tuple[str | None, str]:
    """`openai/gpt-4o-mini` -> ("openai", "gpt-4o-mini"): the conventions name the model as
    its provider does, and the provider apart."""
    if "/" in model:
        provider, name = model.split("/", 1)
        return provider, name
    return None, model


def _flat(data: dict[str, Any], prefix: str = "") -> Iterable[tuple[str, Any]]:
    """A payload's scalar values by dotted key (one level of nesting; lists of scalars)."""
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            if not prefix:
                yield from _flat(value, f"{name}.")
        elif isinstance(value, bool | int | float | str):
            yield name, value
        elif isinstance(value, list | tuple) and all(
                isinstance(v, bool | int | float | str) for v in value):
            yield name, [str(v) for v in value]
