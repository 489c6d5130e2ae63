"""OpenTelemetry traces: each run exports one trace over OTLP/HTTP to a receiver on
127.0.0.1 (GenAI span names, attributes, parent-child structure, span events), content only
when capture is on and then redacted, and nothing imported or sent when tracing is off."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.otlp_receiver import Receiver, SpanRecord, start_receiver
from tests.support import CREWS, ROOT
from workbench.config import Settings
from workbench.governance.setup import governed
from workbench.mesh import tracing
from workbench.mesh.events import Event
from workbench.mesh.session import RunOutcome, Session, prepare
from workbench.store.db import Store

CONTENT_ATTRS = ("gen_ai.input.messages", "gen_ai.output.messages",
                 "gen_ai.tool.call.arguments", "gen_ai.tool.call.result")
#: A key of the shape OpenAI issues (made up), in the environment and in a message.
KEY = "sk-proj-Q7pLx29VbNc3Kd8sWm4Rt6Yz1Hf5Ga0J"


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A receiver, and the standard variable pointing every run at it."""
    r = start_receiver()
    # OTEL_SDK_DISABLED=true stays (conftest and the CrewAI engine set it): no switch here
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", raising=False)
    monkeypatch.delenv(tracing.CAPTURE_ENV, raising=False)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", r.url)
    monkeypatch.setattr(tracing, "_override", None)
    yield r
    r.close()


def _run(crew: Path, home: Path, engine: str | None = None) -> RunOutcome:
    settings = Settings(home=home)
    settings.ensure_home()
    store = Store(settings.database_url)
    try:
        governance = governed(settings, store, "deny", None, None)
        session = Session(prepare(crew, engine=engine), settings, store,
                          **governance.session_kwargs())
        return asyncio.run(session.execute())
    finally:
        store.close()


def _by_id(spans: list[SpanRecord]) -> dict[str, SpanRecord]:
    return {s.span_id: s for s in spans}


def _children(spans: list[SpanRecord], parent: SpanRecord) -> list[SpanRecord]:
    return sorted((s for s in spans if s.parent_id == parent.span_id), key=lambda s: s.start_ns)


def _all_text(r: Receiver) -> bytes:
    return b"".join(r.bodies)


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_a_run_is_one_trace_of_genai_spans(engine: str, receiver: Receiver,
                                            tmp_path: Path) -> None:
    outcome = _run(CREWS / "support-triage.yaml", tmp_path / "home", engine)
    assert outcome.status == "completed", outcome.error
    spans = receiver.spans
    assert len({s.trace_id for s in spans}) == 1  # the whole run is one trace
    roots = [s for s in spans if not s.parent_id]
    assert [r.name for r in roots] == ["invoke_workflow support-triage"]
    root = roots[0]
    assert root.resource["service.name"] == "workbench"
    assert root.attributes["gen_ai.operation.name"] == "invoke_workflow"
    assert root.attributes["gen_ai.conversation.id"] == outcome.session_id
    assert root.attributes["workbench.engine"] == engine
    assert root.attributes["workbench.status"] == "completed"
    assert root.attributes["gen_ai.usage.input_tokens"] == outcome.totals.prompt_tokens
    assert root.attributes["workbench.cost_usd"] == 0.0

    turns = _children(spans, root)
    assert [t.name for t in turns] == ["invoke_agent triager", "invoke_agent engineer",
                                       "invoke_agent liaison", "invoke_agent triager"]
    by_id = _by_id(spans)
    for span in spans:
        if span.parent_id:  # every span lies within its parent's time
            parent = by_id[span.parent_id]
            assert parent.start_ns <= span.start_ns <= span.end_ns <= parent.end_ns, span.name
    for turn in turns:
        agent = turn.name.split(" ", 1)[1]
        assert turn.attributes["gen_ai.operation.name"] == "invoke_agent"
        assert turn.attributes["gen_ai.agent.name"] == agent
        assert turn.attributes["gen_ai.request.model"] == "demo"
        assert turn.attributes["gen_ai.provider.name"] == "scripted"
        for child in _children(spans, turn):
            assert child.name.split(" ")[0] in ("chat", "execute_tool")
            assert child.attributes.get("gen_ai.agent.name", agent) == agent
            assert not _children(spans, child)

    chats = [s for s in spans if s.name.startswith("chat ")]
    assert len(chats) == outcome.totals.model_calls
    assert sum(c.attributes["gen_ai.usage.input_tokens"] for c in chats) == \
        outcome.totals.prompt_tokens
    for chat in chats:
        a = chat.attributes
        assert chat.name == "chat demo" and chat.kind == 3  # SPAN_KIND_CLIENT
        assert a["gen_ai.operation.name"] == "chat"
        assert a["gen_ai.provider.name"] == "scripted"
        # the model as its provider names it ("scripted/demo": provider scripted)
        assert a["gen_ai.request.model"] == a["gen_ai.response.model"] == "demo"
        assert a["gen_ai.usage.output_tokens"] > 0 and "workbench.cost_usd" in a
    engineer = turns[1]
    finish = [c.attributes["gen_ai.response.finish_reasons"]
              for c in _children(spans, engineer) if c.name.startswith("chat ")]
    assert finish == [["tool_calls"], ["tool_calls"], ["stop"]]
    assert engineer.attributes["gen_ai.usage.input_tokens"] == sum(
        c.attributes["gen_ai.usage.input_tokens"] for c in _children(spans, engineer)
        if c.name.startswith("chat "))

    tools = {s.name: s for s in spans if s.name.startswith("execute_tool ")}
    assert set(tools) == {"execute_tool http_get", "execute_tool write_file",
                          "execute_tool send_email"}
    denied = tools["execute_tool http_get"]
    assert denied.status_code == 2 and denied.attributes["error.type"] == "denied_by_policy"
    (name, _, decision), = denied.events
    assert name == "policy.decision"
    assert decision["workbench.policy.effect"] == "deny"
    assert decision["workbench.policy.rule_ids"] == ["web-only-from-allowlist"]
    email = tools["execute_tool send_email"]
    assert email.event_names() == ["policy.decision", "approval.requested", "approval.decided"]
    assert email.events[2][2]["workbench.approval.decision"] == "rejected"
    assert email.attributes["error.type"] == "rejected_by_reviewer"
    assert tools["execute_tool write_file"].status_code == 0
    assert tools["execute_tool write_file"].attributes["gen_ai.tool.call.id"]
    # the message rule's decision (redact) is on the turn that spoke
    assert "policy.decision" in turns[0].event_names()

    # capture is off: no content at all, not even redacted
    for span in spans:
        assert not set(CONTENT_ATTRS) & set(span.attributes), span.name
    raw = _all_text(receiver)
    assert b"invoices fail to export" not in raw and b"Triage an escalated" not in raw
    assert b"pastebin" not in raw


def test_content_is_exported_redacted_only_with_capture(
        receiver: Receiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(tracing.CAPTURE_ENV, "true")
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    crew = tmp_path / "leaky.yaml"
    crew.write_text(f"""
name: leaky
engine: autogen
model: scripted/demo
topology: {{kind: network, max_turns: 3}}
agents:
  - {{name: ops, role: Operator, goal: Deploy the service, tools: [write_file]}}
  - {{name: reviewer, role: Reviewer, goal: Review the deploy}}
script:
  - {{agent: ops, call: write_file, args: {{path: deploy.md, content: "key {KEY}"}}}}
  - {{agent: ops, say: "Deployed with OPENAI_API_KEY={KEY} and password: hunter2secret"}}
  - {{agent: reviewer, say: "Mail ops@corp.example.com the key {KEY}. TERMINATE"}}
""")
    outcome = _run(crew, tmp_path / "home")
    assert outcome.status == "completed", outcome.error
    raw = _all_text(receiver)
    assert KEY.encode() not in raw and b"hunter2secret" not in raw
    assert b"ops@corp.example.com" not in raw  # the policy's redaction, kept
    spans = {s.name: s for s in receiver.spans}
    said = json.loads(spans["invoke_agent ops"].attributes["gen_ai.output.messages"])
    assert said[0]["role"] == "assistant"
    text = said[0]["parts"][0]["content"]
    assert text.startswith("Deployed with") and "[REDACTED:api_key]" in text
    tool = spans["execute_tool write_file"].attributes
    assert "[REDACTED:api_key]" in tool["gen_ai.tool.call.arguments"]
    assert tool["gen_ai.tool.call.result"].startswith("wrote ")
    root = spans["invoke_workflow leaky"].attributes
    assert json.loads(root["gen_ai.input.messages"])[0]["role"] == "user"


def test_every_run_of_a_process_is_its_own_trace(receiver: Receiver, tmp_path: Path) -> None:
    first = _run(CREWS / "market-entry.yaml", tmp_path / "home")
    second = _run(CREWS / "contract-review.yaml", tmp_path / "home")
    assert first.status == second.status == "completed"
    roots = [s for s in receiver.spans if not s.parent_id]
    assert sorted(r.attributes["gen_ai.conversation.id"] for r in roots) == sorted(
        [first.session_id, second.session_id])
    assert len({s.trace_id for s in receiver.spans}) == 2
    for root in roots:
        assert {s.trace_id for s in receiver.spans if s.parent_id == root.span_id} == {
            root.trace_id}
    # layered fan-out: the two executors' turns run side by side, each under the session
    review = next(r for r in roots if r.name == "invoke_workflow contract-review")
    assert {t.name for t in _children(receiver.spans, review)} == {
        "invoke_agent planner", "invoke_agent legal", "invoke_agent finance",
        "invoke_agent critic"}


def test_a_failed_run_ends_its_trace_with_an_error(receiver: Receiver, tmp_path: Path) -> None:
    crew = tmp_path / "barred.yaml"
    crew.write_text((CREWS / "market-entry.yaml").read_text().replace(
        "model: scripted/demo", "model: unvetted/some-model", 1))
    outcome = _run(crew, tmp_path / "home")
    assert outcome.status == "failed"
    root, = (s for s in receiver.spans if not s.parent_id)
    assert root.status_code == 2 and root.attributes["error.type"] == "run_failed"
    assert "blocked by policy" in root.status_message
    decisions = [e for s in receiver.spans for e in s.events if e[0] == "policy.decision"]
    assert decisions and all(e[2]["workbench.policy.effect"] == "deny" for e in decisions)


@pytest.mark.parametrize("engine", ["autogen", "crewai"])
def test_marketplace_events_are_span_events(engine: str, receiver: Receiver,
                                            tmp_path: Path) -> None:
    outcome = _run(CREWS / "translation-desk.yaml", tmp_path / "home", engine)
    assert outcome.status == "completed", outcome.error
    spans = receiver.spans
    assert len({s.trace_id for s in spans}) == 1
    posts = [s for s in spans if s.name == "execute_tool post_task"]
    assert posts and all(s.event_names() == ["task.posted"] for s in posts)
    posted = [a for s in posts for _, _, a in s.events]
    # the capability is the hub model's words: content, sent only with capture
    assert posted and not any("workbench.capability" in a for a in posted)
    root, = (s for s in spans if not s.parent_id)
    names = root.event_names()
    assert names.count("task.awarded") == len(posted) and "task.bid" in names
    awards = [a for n, _, a in root.events if n == "task.awarded"]
    assert {a["workbench.winner"] for a in awards} <= {"lina", "marco", "edith"}
    bid = next(a for n, _, a in root.events if n == "task.bid")
    assert "workbench.cost_usd" in bid and "workbench.load" in bid
    assert b"release notes" not in _all_text(receiver)  # a task's text is content


def test_real_provider_calls_and_a_provider_error_in_the_trace(
        receiver: Receiver, tmp_path: Path, warm_litellm: None) -> None:
    """Over the real provider path (an OpenAI-compatible server on 127.0.0.1): the chat span
    names the provider and model and counts the usage; a call that fails for good is an
    error span, and the run's root ends in error."""
    from tests.fakeprovider import FakeProvider, Reply

    calls: list[int] = []

    def responder(payload: dict) -> Reply:
        calls.append(1)
        if len(calls) == 1:
            return Reply(content="Serviceable market: 25 million EUR.")
        return Reply(status=400, message="the provider refuses this one")

    with FakeProvider(responder=responder) as fp:
        crew = tmp_path / "loopback.yaml"
        crew.write_text(f"""
name: loopback
engine: autogen
model: openai/loopback-model
api_base: {fp.api_base}
topology: {{kind: network, max_turns: 3}}
agents:
  - {{name: analyst, role: Market analyst, goal: Answer with numbers}}
""")
        outcome = _run(crew, tmp_path / "home")
    assert outcome.status == "failed"
    chats = sorted((s for s in receiver.spans if s.name.startswith("chat ")),
                   key=lambda s: s.start_ns)
    assert [c.name for c in chats] == ["chat loopback-model"] * 2
    ok, failed = chats
    assert ok.attributes["gen_ai.provider.name"] == "openai"
    assert ok.attributes["gen_ai.request.model"] == "loopback-model"
    assert "workbench.cost_usd" not in ok.attributes  # no price: unknown, never zero
    assert ok.attributes["gen_ai.usage.input_tokens"] > 0
    assert ok.attributes["gen_ai.response.finish_reasons"] == ["stop"]
    assert ok.status_code == 0
    assert failed.status_code == 2 and failed.attributes["error.type"] == "provider_error"
    assert failed.attributes["gen_ai.response.finish_reasons"] == ["error"]
    root, = (s for s in receiver.spans if not s.parent_id)
    assert root.status_code == 2 and root.attributes["workbench.status"] == "failed"
    turns = [s for s in receiver.spans if s.name == "invoke_agent analyst"]
    assert turns[-1].status_code == 2  # the turn the failure cut short


def test_unknown_kinds_become_span_events_without_their_prose(receiver: Receiver) -> None:
    """The marketplace's task.* (or any later kind): a span event named by its kind, on the
    agent's turn when one is open, else on the session; prose only with capture."""
    from workbench.mesh.otel import RunTracer

    tracer = RunTracer.for_endpoint(tracing.traces_endpoint() or "")
    seq = iter(range(1, 100))

    def feed(kind: str, agent: str | None = None, ts: float = 0.0, **data: object) -> None:
        tracer.handle(Event(kind, agent, None, None, dict(data), "s-market", next(seq),
                            1_800_000_000.0 + ts))

    feed("run.started", None, 0, crew="market", engine="autogen", topology="star",
         agents=[{"name": "lead", "model": "scripted/demo"}], policy_hash="h")
    feed("model.call", "lead", 1, model="scripted/demo", provider="scripted", purpose="agent",
         prompt_tokens=5, completion_tokens=3, cost_usd=0.0, latency_ms=2.0)
    feed("task.posted", "lead", 1.1, task_id="t1", task="Translate the board notes",
         capability="translation")
    feed("task.bid", "translator", 1.2, task_id="t1", bid={"cost_usd": 0.002, "load": 1})
    feed("message", "lead", 1.3, turn=1)
    feed("run.completed", None, 2, status="completed", turns=1, prompt_tokens=5,
         completion_tokens=3, cost_usd=0.0, cost_known=True, model_calls=1, tool_calls=0,
         elapsed_s=2.0)
    spans = {s.name: s for s in receiver.spans}
    (posted, at, attrs), = spans["invoke_agent lead"].events
    assert posted == "task.posted" and at == int(1_800_000_001.1 * 1e9)
    assert attrs["workbench.task_id"] == "t1" and "workbench.capability" not in attrs
    assert "workbench.task" not in attrs and b"board notes" not in _all_text(receiver)
    (bid, _, attrs), = spans["invoke_workflow market"].events
    assert bid == "task.bid" and attrs["gen_ai.agent.name"] == "translator"
    assert attrs["workbench.bid.cost_usd"] == 0.002 and attrs["workbench.bid.load"] == 1


def test_an_unreachable_collector_does_not_fail_the_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    import socket

    from workbench.mesh import otel

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setattr(otel, "FLUSH_TIMEOUT_S", 0.2)
    monkeypatch.setattr(tracing, "_override", None)
    tracing.use_endpoint(f"http://127.0.0.1:{port}")
    try:
        outcome = _run(CREWS / "market-entry.yaml", tmp_path / "home")
    finally:
        tracing.use_endpoint(None)
    assert outcome.status == "completed", outcome.error
    assert any("could not be sent" in r.getMessage() for r in caplog.records)


def test_the_switches_follow_the_standard_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(tracing, "_override", None)
    assert tracing.traces_endpoint({}) is None
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/"}) == \
        "http://c:4318/v1/traces"
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://t/x"}) == \
        "http://t/x"
    # the workbench sets OTEL_SDK_DISABLED itself (CrewAI's telemetry): not a switch here
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                    "OTEL_SDK_DISABLED": "true"}) == "http://c:4318/v1/traces"
    assert tracing.traces_endpoint({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318",
                                    "OTEL_TRACES_EXPORTER": "none"}) is None
    tracing.use_endpoint(tracing.DEFAULT_URL)  # --otel wins over the environment
    assert tracing.traces_endpoint({"OTEL_TRACES_EXPORTER": "none"}) == \
        "http://localhost:4318/v1/traces"
    tracing.use_endpoint(None)
    assert not tracing.capture_content({})
    assert tracing.capture_content({tracing.CAPTURE_ENV: "True"})


def test_run_otel_flag_sends_the_trace(receiver: Receiver, home: Path,
                                        monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    monkeypatch.delenv("OTEL_EXPORTER_OTLP_ENDPOINT")
    # as after a CrewAI run in this process (engines/crewai/env.py sets it)
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    code = main(["--home", str(home), "run", "market-entry", "--approvals", "deny",
                 "--otel", receiver.url])
    assert code == 0, capsys.readouterr().err
    assert [s.name for s in receiver.spans if not s.parent_id] == [
        "invoke_workflow market-entry"]
    assert {"execute_tool calculator", "invoke_agent analyst"} <= {
        s.name for s in receiver.spans}


def test_otel_before_the_crew_is_bad_input(home: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    from workbench.cli import main

    try:
        code = main(["--home", str(home), "run", "--otel", "market-entry"])
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    assert "'market-entry' is not a URL" in capsys.readouterr().err


def test_eval_traces_each_case_run(receiver: Receiver, home: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    """`workbench eval` decides as every run does (the environment here): one trace a case."""
    from workbench.cli import main

    code = main(["--home", str(home), "eval", "market-entry", "--cases",
                 str(CREWS / "cases" / "market-entry.yaml")])
    assert code == 0, capsys.readouterr().out
    roots = [s for s in receiver.spans if not s.parent_id]
    assert len(roots) == 2 and {r.name for r in roots} == {"invoke_workflow market-entry"}
    assert len({s.trace_id for s in receiver.spans}) == 2


_OFF = """
import asyncio, sys, tempfile
from pathlib import Path
from workbench.config import Settings
from workbench.mesh.session import Session, prepare
from workbench.store.db import Store
with tempfile.TemporaryDirectory() as tmp:
    settings = Settings(home=Path(tmp) / "home")
    settings.ensure_home()
    store = Store(settings.database_url)
    outcome = asyncio.run(Session(prepare(sys.argv[1]), settings, store).execute())
    assert outcome.status == "completed", outcome.error
    store.close()
loaded = [m for m in sys.modules if m.startswith(("opentelemetry.sdk", "opentelemetry.exporter",
                                                  "opentelemetry.proto", "workbench.mesh.otel"))]
print(",".join(loaded))
"""


@pytest.mark.parametrize("switch", ["unset", "exporter-none"])
def test_tracing_off_imports_no_exporter_and_sends_nothing(switch: str,
                                                           receiver: Receiver) -> None:
    """AutoGen imports the OpenTelemetry API by itself (CrewAI even the exporter): what the
    workbench must not bring in is the SDK, the exporter and its own tracing module."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OTEL_")}
    if switch == "exporter-none":  # an endpoint set, and the standard off switch
        env.update(OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url, OTEL_TRACES_EXPORTER="none")
    out = subprocess.run([sys.executable, "-c", _OFF, str(CREWS / "support-triage.yaml")],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
    assert receiver.bodies == []


def test_the_wire_encoding_is_what_the_sdk_encoder_writes() -> None:
    """otlp_wire writes the request the exporter's own encoder would (decoded, compared)."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event as SpanEvent
    from opentelemetry.sdk.trace import ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

    from workbench.mesh.otlp_wire import Encoder

    resource = Resource.create({"service.name": "workbench", "service.version": "0.1"})
    scope = InstrumentationScope("workbench", "0.1")
    flags = TraceFlags(TraceFlags.SAMPLED)
    root = SpanContext(0xABC << 100, 0x1234, False, flags)
    spans = [
        ReadableSpan("invoke_workflow crew", root, None, resource,
                     {"gen_ai.operation.name": "invoke_workflow", "workbench.turns": 3},
                     kind=SpanKind.INTERNAL, start_time=1, end_time=10**18,
                     instrumentation_scope=scope),
        ReadableSpan("chat m", SpanContext(root.trace_id, 0xFFFFFFFFFFFFFFFF, False, flags),
                     root, resource,
                     {"gen_ai.response.finish_reasons": ["stop", "length"], "n": -5,
                      "cost": 0.25, "ok": False, "yes": True, "text": "naïve ✓ 日本",
                      "big": 2**62},
                     [SpanEvent("policy.decision", {"rule_ids": ["a", "b"], "e": "deny"}, 5),
                      SpanEvent("empty", None, 6)],
                     kind=SpanKind.CLIENT, status=Status(StatusCode.ERROR, "denied"),
                     start_time=2, end_time=3, instrumentation_scope=scope),
    ]
    ours, theirs = ExportTraceServiceRequest(), ExportTraceServiceRequest()
    encoder = Encoder()
    encoder.encode(spans)  # a second pass reads the cached attributes
    ours.ParseFromString(encoder.encode(spans))
    theirs.ParseFromString(encode_spans(spans).SerializeToString())
    assert ours == theirs
    # and the exporter takes these bytes: this SDK keeps its HTTP client where it looks
    from workbench.mesh.otel import _Exporter

    assert callable(getattr(_Exporter("http://127.0.0.1:9/v1/traces")._client, "export", None))
