"""Scoring one eval case's session: deterministic checks over its stored events, and judge
checks answered by a model through the same governed gateway as any agent's call."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from workbench.mesh.cases import Check

if TYPE_CHECKING:
    from workbench.config import Settings
    from workbench.governance.policy import PolicySet
    from workbench.spec.schema import CrewSpec
    from workbench.store.db import Store

PASSED, FAILED, ERROR, NOT_SCORED = "passed", "failed", "error", "not_scored"
#: How much of the transcript a judge is shown (its start and end are kept).
JUDGE_TRANSCRIPT_CHARS = 12_000


@dataclass
class CheckResult:
    """How one check of one case's run came out, and why."""

    index: int
    kind: str
    label: str
    #: passed, failed, error (it could not be evaluated), not_scored (a judge with no model)
    outcome: str
    detail: str = ""
    score: float | None = None
    reason: str | None = None
    judge_session_id: str | None = None
    spec: dict[str, Any] = field(default_factory=dict)
    #: What the judge's call cost (a call with no price counts as unknown, never as free).
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "kind": self.kind, "label": self.label,
                "outcome": self.outcome, "detail": self.detail, "score": self.score,
                "reason": self.reason, "judge_session_id": self.judge_session_id,
                "spec": self.spec, "cost_usd": self.cost_usd,
                "cost_unknown_calls": self.cost_unknown_calls}


@dataclass
class RunRecord:
    """What a finished case run left in the store: its session row and events."""

    session: dict[str, Any]
    events: list[dict[str, Any]]

    @property
    def result(self) -> str:
        return self.session.get("result") or ""

    @property
    def transcript(self) -> str:
        return "\n".join(e.get("content") or "" for e in self.events if e["kind"] == "message")


def _subset(expected: Any, actual: Any) -> bool:
    """`expected` is found in `actual`: mappings key by key (recursively), else equal."""
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            k in actual and _subset(v, actual[k]) for k, v in expected.items())
    return expected == actual


def _calls(run: RunRecord, name: str) -> list[dict[str, Any]]:
    return [e["data"].get("args") or {} for e in run.events
            if e["kind"] == "tool.requested" and e["data"].get("tool") == name]


def score(check: Check, index: int, run: RunRecord) -> CheckResult:
    """A deterministic check of a completed run (not `judge`)."""
    v = check.value

    def out(outcome: str, detail: str) -> CheckResult:
        return CheckResult(index, check.kind, check.label, outcome, detail,
                           spec=check.to_dict())

    if check.kind in ("contains", "not_contains", "regex"):
        where = v["in"]
        text = run.transcript if where == "transcript" else run.result
        place = "the transcript" if where == "transcript" else "the result"
        if check.kind == "regex":
            found = re.search(v["pattern"], text)
            if found:
                return out(PASSED, f"matched {found.group(0)!r} in {place}")
            return out(FAILED, f"no match in {place}: {_excerpt(text)}")
        present = v["text"] in text
        if check.kind == "contains":
            return out(PASSED, f"found in {place}") if present else \
                out(FAILED, f"not found in {place}: {_excerpt(text)}")
        return out(FAILED, f"found in {place}: {_excerpt(text, v['text'])}") if present else \
            out(PASSED, f"not in {place}")
    if check.kind == "tool_called":
        calls = _calls(run, v["name"])
        if not calls:
            used = sorted({e["data"].get("tool") for e in run.events
                           if e["kind"] == "tool.requested"})
            return out(FAILED, f"{v['name']} was never called (called: "
                               f"{', '.join(used) or 'no tool'})")
        if not v["args"]:
            return out(PASSED, f"called {len(calls)} time(s)")
        if any(_subset(v["args"], args) for args in calls):
            return out(PASSED, "called with the expected arguments")
        return out(FAILED, f"called, but never with {json.dumps(v['args'], ensure_ascii=False)}"
                           f" (last: {json.dumps(calls[-1], ensure_ascii=False)[:200]})")
    if check.kind == "no_tool":
        calls = _calls(run, v["name"])
        return out(FAILED, f"called {len(calls)} time(s)") if calls else \
            out(PASSED, "never called")
    if check.kind == "approval_requested":
        asked = [e for e in run.events if e["kind"] == "approval.requested"
                 and e["data"].get("tool") == v["name"]]
        if asked:
            decided = [e["data"].get("decision") for e in run.events
                       if e["kind"] == "approval.decided" and e["data"].get("tool") == v["name"]]
            return out(PASSED, f"requested {len(asked)} time(s)"
                               + (f"; decided: {', '.join(map(str, decided))}" if decided else ""))
        return out(FAILED, f"no approval was requested for {v['name']}")
    if check.kind == "max_cost_usd":
        cost = float(run.session.get("cost_usd") or 0.0)
        unknown = int(run.session.get("cost_unknown_calls") or 0)
        if unknown:
            # a call with no price could have cost anything: never a pass
            return out(ERROR, f"cost unknown: {unknown} model call(s) have no price "
                              f"({_usd(cost)} known)")
        if cost <= v["limit"]:
            return out(PASSED, f"{_usd(cost)} ≤ {_usd(v['limit'])}")
        return out(FAILED, f"{_usd(cost)} > {_usd(v['limit'])}")
    if check.kind == "max_turns":
        from workbench.mesh.format import plural

        turns = int(run.session.get("turns") or 0)
        if turns <= v["limit"]:
            return out(PASSED, f"{plural(turns, 'turn')} ≤ {v['limit']}")
        return out(FAILED, f"{plural(turns, 'turn')} > {v['limit']}")
    raise ValueError(f"not a deterministic check: {check.kind}")


def _usd(amount: float) -> str:
    """Dollars with as many decimals as a small cost needs (never `$0.0000 > $0.0000`)."""
    return "$" + (f"{amount:.8f}".rstrip("0").rstrip(".") or "0")


def _excerpt(text: str, around: str | None = None, width: int = 120) -> str:
    """A short, one-line piece of `text` (around `around` when given) for a report."""
    flat = " ".join(text.split())
    if not flat:
        return "(empty)"
    start = 0
    if around:
        at = flat.find(" ".join(around.split()))
        start = max(0, at - width // 3) if at >= 0 else 0
    piece = flat[start:start + width]
    return ("…" if start else "") + repr(piece)[1:-1] + ("…" if start + width < len(flat) else "")


def not_evaluated(check: Check, index: int, why: str) -> CheckResult:
    """A check that could not be looked at: its run did not complete."""
    return CheckResult(index, check.kind, check.label, ERROR, why, spec=check.to_dict())


# -- the judge --------------------------------------------------------------------------------

JUDGE_AGENT = "judge"
JUDGE_SYSTEM = (
    "You are an impartial evaluator of the work of a team of AI agents. You are given the "
    "task they worked on, their final answer, their conversation, and a rubric. Judge the "
    "final answer against the rubric only. Reply with one JSON object and nothing else: "
    '{"score": <a number from 0 to 1, 1 meaning the rubric is fully met>, '
    '"reason": "<one or two sentences>"}'
)


def judge_prompt(rubric: str, task: str, run: RunRecord) -> list[dict[str, Any]]:
    """The messages a judge is sent: the task, the answer, the conversation and the rubric."""
    transcript = "\n".join(f"[{e.get('agent')} → {e.get('to') or 'no one'}] {e.get('content')}"
                           for e in run.events if e["kind"] == "message")
    if len(transcript) > JUDGE_TRANSCRIPT_CHARS:
        half = JUDGE_TRANSCRIPT_CHARS // 2
        transcript = transcript[:half] + "\n[…]\n" + transcript[-half:]
    tools = [f"{e.get('agent')}: {e['data'].get('tool')}" for e in run.events
             if e["kind"] == "tool.requested"]
    user = (f"Task:\n{task}\n\nFinal answer:\n{run.result or '(none)'}\n\n"
            f"Tools called: {', '.join(tools) or 'none'}\n\nConversation:\n{transcript}\n\n"
            f"Rubric:\n{rubric}")
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(text: str) -> tuple[float, str]:
    """A judge's answer as (score, reason); ValueError when it holds no score from 0 to 1."""
    score: Any = None
    reason = ""
    for match in re.finditer(r"\{.*?\}", text, re.DOTALL):
        try:
            data = json.loads(match.group(0))
        except ValueError:
            continue
        if isinstance(data, dict) and "score" in data:
            score, reason = data["score"], str(data.get("reason") or "")
            break
    if score is None:
        found = re.search(r"score\W{0,4}([0-9]*\.?[0-9]+)", text, re.IGNORECASE)
        if found:
            score, reason = found.group(1), text.strip()
    try:
        value = float(score)
    except (TypeError, ValueError):
        raise ValueError(f"the judge gave no score: {_excerpt(text)}") from None
    if not 0 <= value <= 1:
        raise ValueError(f"the judge's score {value:g} is not from 0 to 1")
    return value, reason.strip()


@dataclass
class JudgeSetup:
    """What every judge call of an eval shares: where it is recorded, the policies that
    govern it, the crew it judges (its name and model aliases), and the default model."""

    settings: Settings
    store: Store
    policy: PolicySet
    crew: CrewSpec
    crew_source: str
    crew_text: str
    snapshot_id: int | None
    #: The judge's model when a check names none: --model, else the crew's model.
    default_model: str


async def judge(setup: JudgeSetup, check: Check, index: int, task: str, case_id: str,
                run: RunRecord) -> CheckResult:
    """Ask a model to score the run against the check's rubric.

    The call is a governed call like any agent's: it passes the policy gate as the agent
    `judge` of the judged crew (redacted, budgeted, blocked as the policies say) and is
    recorded as a session of its own (engine `judge`), linked from the result. A judge that
    has no model to ask (no key, the scripted model, a provider error, a policy that blocks
    it) leaves the check not scored, never passed.
    """
    from workbench.errors import ProviderError, WorkbenchError
    from workbench.gateway.credentials import missing_keys_for
    from workbench.gateway.model_config import load_profiles
    from workbench.spec.schema import CrewSpec

    v = check.value

    recorder: _JudgeSession | None = None

    def out(outcome: str, detail: str, **extra: Any) -> CheckResult:
        if recorder is not None:
            extra.update(judge_session_id=recorder.session_id, cost_usd=recorder.cost_usd,
                         cost_unknown_calls=recorder.cost_unknown_calls)
        return CheckResult(index, check.kind, check.label, outcome, detail,
                           spec=check.to_dict(), **extra)

    model = v["model"] or setup.default_model
    crew = setup.crew
    try:
        spec = CrewSpec.model_validate({
            "name": crew.name, "model": model, "models": crew.models,
            # the crew's own server serves the judge only when it judges on the crew's model
            "api_base": crew.api_base if model == crew.model else None,
            "topology": {"kind": "network", "max_turns": 1},
            "agents": [{"name": JUDGE_AGENT, "role": "Evaluator",
                        "goal": "Score a crew's answer against a rubric"}],
        })
        profiles = load_profiles(setup.settings.home, spec, setup.crew_source, setup.crew_text)
    except (WorkbenchError, ValueError) as exc:
        return out(NOT_SCORED, f"no judge model: {exc}")
    agent = spec.agents[0]
    route = profiles.resolve(profiles.model_for(spec, agent), spec.api_base_for(agent))
    if route.primary.provider == "scripted":
        return out(NOT_SCORED, f"no judge model: {model} is the scripted offline model, which "
                               "cannot judge; give the judge a model (judge: {model: ...}) "
                               "or run with --model")
    missing = missing_keys_for(spec, profiles)
    if missing:
        return out(NOT_SCORED, f"no judge model: {'; '.join(missing)}")
    recorder = _JudgeSession(setup, spec, profiles, f"judge {case_id}: {v['rubric']}")
    try:
        answer = await recorder.ask(judge_prompt(v["rubric"], task, run))
    except ProviderError as exc:
        return out(NOT_SCORED, f"the judge's model failed: {exc}")
    except _NotAnswered as exc:
        return out(NOT_SCORED, str(exc))
    try:
        value, reason = parse_verdict(answer)
    except ValueError as exc:
        return out(ERROR, str(exc))
    outcome = PASSED if value >= v["pass_at"] else FAILED
    relation = "≥" if outcome == PASSED else "<"
    return out(outcome, f"score {value:g} {relation} {v['pass_at']:g} ({model})", score=value,
               reason=reason)


class _NotAnswered(Exception):
    """The judge's call was refused or stopped before any model answered."""


class _JudgeSession:
    """One judge call, run and stored as a session: events, audit entries, totals."""

    def __init__(self, setup: JudgeSetup, spec: CrewSpec, profiles: Any, task: str) -> None:
        from workbench.mesh.session import new_session_id

        self.setup = setup
        self.spec = spec
        self.profiles = profiles
        self.task = task
        self.session_id = new_session_id()
        self.cost_usd = 0.0
        self.cost_unknown_calls = 0
        #: Why the judgement's records could not be stored (then it counts for nothing).
        self.lost: str | None = None

    async def ask(self, messages: list[dict[str, Any]]) -> str:
        import asyncio

        from workbench.errors import ProviderError
        from workbench.gateway.gateway import Gateway
        from workbench.gateway.scripted import ScriptPlayer
        from workbench.gateway.types import ModelRequest
        from workbench.governance.policy_gate import PolicyGate
        from workbench.governance.redact import redact
        from workbench.mesh import events as ev
        from workbench.mesh.bus import EventBus
        from workbench.mesh.context import RunAborted, RunContext
        from workbench.spec.topology import resolve
        from workbench.store.audit import AuditWriter
        from workbench.store.writer import EventWriter
        from workbench.tools.base import ToolContext

        setup, spec = self.setup, self.spec
        store = setup.store
        gate = PolicyGate(setup.policy)
        started = time.time()
        await asyncio.to_thread(
            store.create_session, id=self.session_id, crew_name=spec.name,
            crew_snapshot_id=setup.snapshot_id, engine="judge", topology="judge",
            task=self.task, started_at=started, policy_hash=gate.policy_hash)
        bus = EventBus(self.session_id)
        writers = [EventWriter(store), AuditWriter(store, redact)]
        for w in writers:
            bus.subscribe(w.put)
        folder = setup.settings.session_dir(self.session_id)
        ctx = RunContext(spec, resolve(spec, "network"), self.task, bus,
                         Gateway(ScriptPlayer([]), self.profiles),
                         ToolContext(self.session_id, folder / "workspace", folder / "outbox"),
                         gate=gate, redactor=redact)
        ctx.loop = asyncio.get_running_loop()
        agent = spec.agents[0]
        model = spec.model_for(agent)
        ctx.emit(ev.RUN_STARTED, None, None, self.task, crew=spec.name, engine="judge",
                 topology="judge", agents=[{"name": agent.name, "role": agent.role,
                                            "model": model, "domain": agent.domain,
                                            "tools": [], "capabilities": []}],
                 policy_hash=gate.policy_hash)
        status, error, answer = "completed", "", ""
        try:
            response = await ctx.complete(ModelRequest(
                agent=agent.name, model=model, messages=messages,
                api_base=spec.api_base_for(agent)))
            if response.finish_reason == "blocked" or ctx.blocked_calls:
                status, error = "failed", f"the judge's call was blocked by policy: " \
                                          f"{ctx.blocked_reason}"
                raise _NotAnswered(error)
            answer = response.content
            ctx.message(agent.name, answer, to="eval")
        except RunAborted as exc:
            status, error = "failed", ctx.failure or str(exc) or "stopped"
            raise _NotAnswered(f"the judge's call was stopped: {error}") from None
        except ProviderError as exc:
            status, error = "failed", str(exc)
            raise
        except asyncio.CancelledError:
            status, error = "cancelled", "cancelled by the user"
            raise
        finally:
            t = ctx.totals
            summary = dict(status=status, turns=t.turns, prompt_tokens=t.prompt_tokens,
                           completion_tokens=t.completion_tokens, cost_usd=round(t.cost_usd, 6),
                           cost_known=t.cost_known, model_calls=t.model_calls, tool_calls=0,
                           elapsed_s=round(time.time() - started, 3))
            if status == "completed":
                ctx.emit(ev.RUN_COMPLETED, None, None, answer, **summary)
            else:
                ctx.emit(ev.RUN_FAILED, None, None, error, **summary,
                         cancelled=status == "cancelled")
            self.cost_usd, self.cost_unknown_calls = t.cost_usd, t.cost_unknown_calls
            await asyncio.to_thread(self._close, writers, status, t, answer, error)
        if self.lost:
            # an unrecorded judgement is no judgement (fail closed)
            raise _NotAnswered(self.lost)
        return answer

    def _close(self, writers: list[Any], status: str, totals: Any, answer: str,
               error: str) -> None:
        from workbench.store.db import describe_error

        for w in writers:
            w.close()
        lost = next((w.error for w in writers if w.error is not None), None)
        if lost is not None:
            self.lost = f"the judge's records could not be stored: {describe_error(lost)}"
            status, error = "failed", error or self.lost
        self.setup.store.update_session(self.session_id, status=status, ended_at=time.time(),
                                        **totals.as_row(), result=answer or None,
                                        error=error or None)
