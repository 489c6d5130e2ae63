"""Evaluating a crew: every case of a cases file run as a governed session, concurrently,
scored by its checks, and stored as it finishes; and two stored evals compared."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.errors import SpecError, UserInputError, WorkbenchError
from workbench.mesh.cases import Case, CasesFile
from workbench.mesh.checks import (
    ERROR,
    FAILED,
    NOT_SCORED,
    PASSED,
    CheckResult,
    JudgeSetup,
    RunRecord,
    judge,
    not_evaluated,
    score,
)
from workbench.store.db import Store

CANCELLED = "cancelled"
#: A case run's status, worst first: what one word says about all its checks.
STATUS_ORDER = (FAILED, ERROR, NOT_SCORED, CANCELLED, PASSED)


@dataclass
class CaseRun:
    """One run of one case (`attempt` of `--repeat K`) and how its checks came out."""

    case_id: str
    position: int
    attempt: int
    task: str
    session_id: str | None = None
    status: str = ERROR
    error: str | None = None
    checks: list[CheckResult] = field(default_factory=list)
    turns: int = 0
    tokens: int = 0
    cost_usd: float = 0.0
    cost_unknown_calls: int = 0
    elapsed_s: float = 0.0

    @property
    def checks_passed(self) -> int:
        return sum(1 for c in self.checks if c.outcome == PASSED)

    def row(self) -> dict[str, Any]:
        """The eval_case row's values."""
        return {"case_id": self.case_id, "position": self.position, "attempt": self.attempt,
                "session_id": self.session_id, "status": self.status, "error": self.error,
                "task": self.task, "checks_passed": self.checks_passed,
                "checks_total": len(self.checks), "turns": self.turns, "tokens": self.tokens,
                "cost_usd": round(self.cost_usd, 6),
                "cost_unknown_calls": self.cost_unknown_calls,
                "elapsed_s": round(self.elapsed_s, 3)}

    def check_rows(self) -> list[dict[str, Any]]:
        return [{"idx": c.index, "kind": c.kind, "label": c.label, "outcome": c.outcome,
                 "detail": c.detail, "score": c.score, "reason": c.reason,
                 "judge_session_id": c.judge_session_id, "spec": c.spec}
                for c in self.checks]

    def to_dict(self) -> dict[str, Any]:
        return {**self.row(), "checks": [c.to_dict() for c in self.checks]}


def case_status(checks: list[CheckResult]) -> str:
    """A case run passes when every check passed; else its worst check's outcome."""
    outcomes = {c.outcome for c in checks}
    for status in STATUS_ORDER:
        if status in outcomes:
            return status
    return PASSED


@dataclass
class EvalOutcome:
    eval_id: str
    status: str
    runs: list[CaseRun]
    #: Case runs that never started (Ctrl-C came first).
    not_run: int = 0
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        """Every case run passed (and every one ran)."""
        return bool(self.runs) and not self.not_run and all(r.status == PASSED
                                                             for r in self.runs)


class Evaluator:
    """Runs every case of `cases` on the crew at `crew_path`, `repeat` times each, at most
    `concurrency` at once, in this process and on the running event loop.

    Each case run is a `Session` prepared as `workbench run` prepares one (governance,
    approvals, audit): AutoGen teams run on the loop, CrewAI crews on worker threads. A case
    that fails or errors never stops the others. `cancel()` (Ctrl-C) stops every running
    session; what ran is stored, cases not started are counted as not run.
    """

    def __init__(self, crew_path: str | Path, cases: CasesFile, settings: Settings,
                 store: Store, *, concurrency: int = 4, repeat: int = 1,
                 model: str | None = None, approvals: str = "deny",
                 reviewer: str | None = None, human_default: str | None = None,
                 on_result: Callable[[CaseRun], None] | None = None) -> None:
        from workbench.governance.policy import load_policies
        from workbench.governance.policy_gate import PolicyGate
        from workbench.mesh.session import prepare
        from workbench.spec.inputs import used_placeholders

        if concurrency < 1 or repeat < 1:
            raise UserInputError("--concurrency and --repeat must be at least 1")
        self.crew_path = str(crew_path)
        self.crew_text = Path(crew_path).read_text(encoding="utf-8")
        # the crew is read once: an edit while the eval runs does not change it halfway
        self.prepared = prepare(self.crew_path, model=model, text=self.crew_text)
        spec = self.prepared.spec
        known = set(spec.inputs) | set(used_placeholders(spec))
        for case in cases.cases:
            for name in case.inputs:
                if name not in known:
                    raise SpecError(f"case {case.id}: the crew {spec.name} has no input "
                                    f"{name!r} (its inputs: {', '.join(sorted(known)) or 'none'})",
                                    cases.path, case.line)
        self.cases = cases
        self.settings = settings
        self.store = store
        self.concurrency = concurrency
        self.repeat = repeat
        self.model = model
        self.approvals = approvals
        self.reviewer = reviewer
        self.human_default = human_default
        self.on_result = on_result
        self.policy = load_policies(settings.policy_dir())  # a broken policy set: exit 2
        _ = settings.approval_timeout_s  # a bad WORKBENCH_APPROVAL_TIMEOUT too, not per case
        # one gate judges every case (its rules compiled once); each case gets its own
        # approvals, audit writer and totals
        self.gate = PolicyGate(self.policy)
        self.eval_id = uuid.uuid4().hex
        self.snapshot_id: int | None = None
        self._cancelled = False
        self._sessions: set[Any] = set()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._judging: set[asyncio.Task[Any]] = set()

    @property
    def crew_name(self) -> str:
        return self.prepared.spec.name

    @property
    def total_runs(self) -> int:
        return len(self.cases.cases) * self.repeat

    def cancel(self) -> None:
        """Stop everything: running sessions end as cancelled, judges are abandoned, cases
        not started never start. Safe from a signal handler on the loop."""
        self._cancelled = True
        for session in list(self._sessions):
            session.cancel()
        for task in list(self._judging):
            task.cancel()

    async def run(self) -> EvalOutcome:
        """Run the eval and store it; the outcome lists the case runs that ran."""
        from workbench.store import evals

        started = time.monotonic()
        self.snapshot_id = await asyncio.to_thread(
            self.store.snapshot_crew, self.crew_name, self.crew_path,
            self.prepared.snapshot_text)
        await asyncio.to_thread(
            evals.create_eval, self.store, self.eval_id, crew_name=self.crew_name,
            crew_snapshot_id=self.snapshot_id, cases_path=self.cases.path,
            cases_digest=self.cases.digest, model=self.model, repeat=self.repeat,
            concurrency=self.concurrency, cases=len(self.cases.cases))
        slots = asyncio.Semaphore(self.concurrency)
        # attempt-major: with --repeat, every case gets its first run before any its second
        jobs = [(position, case, attempt) for attempt in range(1, self.repeat + 1)
                for position, case in enumerate(self.cases.cases)]
        tasks = [asyncio.ensure_future(self._one(slots, position, case, attempt))
                 for position, case, attempt in jobs]
        self._tasks.update(tasks)
        results = await asyncio.gather(*tasks, return_exceptions=True)
        runs: list[CaseRun] = []
        for (position, case, attempt), result in zip(jobs, results, strict=True):
            if isinstance(result, CaseRun):
                runs.append(result)
            elif isinstance(result, BaseException) and not isinstance(
                    result, asyncio.CancelledError):
                # a bug of ours in one case must not lose the others: stored as an error
                failed = CaseRun(case.id, position, attempt, self._task_of(case),
                                 error=f"{type(result).__name__}: {result}")
                await self._store(failed)
                runs.append(failed)
        not_run = len(jobs) - len(runs)
        status = CANCELLED if self._cancelled else "completed"
        await asyncio.to_thread(evals.finish_eval, self.store, self.eval_id, status)
        runs.sort(key=lambda r: (r.position, r.attempt))
        return EvalOutcome(self.eval_id, status, runs, not_run, time.monotonic() - started)

    def _task_of(self, case: Case) -> str:
        return case.task or self.prepared.task

    async def _one(self, slots: asyncio.Semaphore, position: int, case: Case,
                   attempt: int) -> CaseRun | None:
        async with slots:
            if self._cancelled:
                return None
            run = CaseRun(case.id, position, attempt, self._task_of(case))
            started = time.monotonic()
            try:
                await self._run_case(case, run)
            finally:
                run.elapsed_s = time.monotonic() - started
            await self._store(run)
            if self.on_result is not None:
                self.on_result(run)
            return run

    def _governance(self) -> Any:
        from workbench.governance.approvals import broker_for
        from workbench.governance.human import responder
        from workbench.governance.redact import redact
        from workbench.governance.setup import Governance
        from workbench.store.audit import AuditWriter

        timeout = self.settings.approval_timeout_s
        approvals = broker_for(self.approvals or "wait", self.store, timeout, self.reviewer)
        humans = responder(self.store, timeout, self.approvals, self.reviewer,
                           self.human_default)
        return Governance(self.policy, self.gate, approvals,
                          writers=[AuditWriter(self.store, redact)], humans=humans)

    async def _run_case(self, case: Case, run: CaseRun) -> None:
        from workbench.mesh.session import Session
        from workbench.spec.inputs import apply_inputs

        try:
            # the crew as validated once, copied: each case fills in its own inputs
            prepared = dataclasses.replace(self.prepared,
                                           spec=self.prepared.spec.model_copy(deep=True),
                                           task=run.task)
            apply_inputs(prepared.spec, dict(case.inputs))
            session = Session(prepared, self.settings, self.store,
                              **self._governance().session_kwargs())
        except WorkbenchError as exc:  # a missing key, say: this case cannot run
            run.status, run.error = ERROR, str(exc)
            run.checks = [not_evaluated(c, i, f"the case did not run: {exc}")
                          for i, c in enumerate(case.checks)]
            return
        run.session_id = session.session_id
        self._sessions.add(session)
        try:
            if self._cancelled:
                session.cancel()
            outcome = await session.execute()
        finally:
            self._sessions.discard(session)
        record = await asyncio.to_thread(self._record, session.session_id)
        s = record.session
        run.turns = int(s.get("turns") or 0)
        run.tokens = int(s.get("prompt_tokens") or 0) + int(s.get("completion_tokens") or 0)
        run.cost_usd = float(s.get("cost_usd") or 0.0)
        run.cost_unknown_calls = int(s.get("cost_unknown_calls") or 0)
        if outcome.status != "completed":
            why = f"the run {outcome.status}" + (f": {outcome.error}" if outcome.error else "")
            run.error = why
            run.checks = [not_evaluated(c, i, why) for i, c in enumerate(case.checks)]
            run.status = CANCELLED if outcome.status == "cancelled" else ERROR
            return
        judge_setup = JudgeSetup(self.settings, self.store, self.policy, self.prepared.spec,
                                 self.crew_path, self.crew_text, self.snapshot_id,
                                 self.model or self.prepared.spec.model)
        for i, check in enumerate(case.checks):
            if check.kind != "judge":
                run.checks.append(score(check, i, record))
                continue
            if self._cancelled:
                run.checks.append(CheckResult(i, check.kind, check.label, NOT_SCORED,
                                              "cancelled before the judge was asked",
                                              spec=check.to_dict()))
                continue
            task = asyncio.ensure_future(judge(judge_setup, check, i, run.task, case.id,
                                               record))
            self._judging.add(task)
            try:
                result = await task
            except asyncio.CancelledError:
                result = CheckResult(i, check.kind, check.label, NOT_SCORED,
                                     "cancelled while the judge was asked",
                                     spec=check.to_dict())
            finally:
                self._judging.discard(task)
            run.cost_usd += result.cost_usd
            run.cost_unknown_calls += result.cost_unknown_calls
            run.checks.append(result)
        run.status = case_status(run.checks)
        if run.status == NOT_SCORED and self._cancelled:
            run.status = CANCELLED  # its judge was never heard: Ctrl-C, not a missing model

    def _record(self, session_id: str) -> RunRecord:
        return RunRecord(self.store.get_session(session_id),
                         list(self.store.iter_events(session_id)))

    async def _store(self, run: CaseRun) -> None:
        from workbench.store import evals

        await asyncio.to_thread(evals.add_case_result, self.store, self.eval_id, run.row(),
                                run.check_rows())


# -- reading stored evals -------------------------------------------------------------------


@dataclass
class CaseSummary:
    """One case of a stored eval: its runs' pass rate and each check's pass rate."""

    case_id: str
    position: int
    runs: int
    passed: int
    statuses: list[str]
    #: check label -> (runs it passed, runs)
    checks: dict[str, tuple[int, int]]
    cost_usd: float
    elapsed_s: float
    session_ids: list[str | None]

    @property
    def pass_rate(self) -> float:
        return self.passed / self.runs if self.runs else 0.0


def summarize(eval_data: dict[str, Any]) -> list[CaseSummary]:
    """The case runs of a stored eval (`store.evals.get_eval`) folded per case, file order."""
    by_case: dict[str, CaseSummary] = {}
    for r in eval_data["case_runs"]:
        c = by_case.get(r["case_id"])
        if c is None:
            c = by_case[r["case_id"]] = CaseSummary(r["case_id"], r["position"], 0, 0, [],
                                                    {}, 0.0, 0.0, [])
        c.runs += 1
        c.passed += r["status"] == PASSED
        c.statuses.append(r["status"])
        c.cost_usd += r["cost_usd"] or 0.0
        c.elapsed_s += r["elapsed_s"] or 0.0
        c.session_ids.append(r["session_id"])
        for check in r["checks"]:
            ok, n = c.checks.get(check["label"], (0, 0))
            c.checks[check["label"]] = (ok + (check["outcome"] == PASSED), n + 1)
    return sorted(by_case.values(), key=lambda c: c.position)


@dataclass
class CaseDelta:
    """A case in two evals: its pass rate in each (None: not in that eval)."""

    case_id: str
    before: float | None
    after: float | None
    #: check label -> (pass rate before, pass rate after), for checks whose rate changed
    checks: dict[str, tuple[float | None, float | None]]

    @property
    def change(self) -> str:
        if self.before is None:
            return "new"
        if self.after is None:
            return "removed"
        if self.after < self.before:
            return "regressed"
        if self.after > self.before:
            return "improved"
        return "unchanged"


#: How `compare_evals` orders cases: regressions first.
CHANGE_ORDER = ("regressed", "removed", "new", "improved", "unchanged")


def compare_evals(first: dict[str, Any], second: dict[str, Any]) -> list[CaseDelta]:
    """Each case's pass rate in two stored evals, regressions first (then biggest drop)."""
    a = {c.case_id: c for c in summarize(first)}
    b = {c.case_id: c for c in summarize(second)}
    out = []
    for case_id in list(dict.fromkeys([*a, *b])):
        ca, cb = a.get(case_id), b.get(case_id)
        checks: dict[str, tuple[float | None, float | None]] = {}
        for label in dict.fromkeys([*(ca.checks if ca else {}), *(cb.checks if cb else {})]):
            ra = _rate(ca.checks.get(label)) if ca else None
            rb = _rate(cb.checks.get(label)) if cb else None
            if ra != rb:
                checks[label] = (ra, rb)
        out.append(CaseDelta(case_id, ca.pass_rate if ca else None,
                             cb.pass_rate if cb else None, checks))
    out.sort(key=lambda d: (CHANGE_ORDER.index(d.change),
                            (d.after or 0.0) - (d.before or 0.0)))
    return out


def _rate(pair: tuple[int, int] | None) -> float | None:
    if pair is None or not pair[1]:
        return None
    return pair[0] / pair[1]
