"""One session: prepare a crew, run it on an engine, and keep everything it did in the store."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from workbench.config import Settings
from workbench.engines import topology_problem
from workbench.errors import ProviderError, UserInputError, WorkbenchError
from workbench.gateway.credentials import require_keys
from workbench.gateway.gateway import Gateway
from workbench.gateway.model_config import crew_profiles, with_user_profiles
from workbench.gateway.pricing import budget_warnings
from workbench.gateway.profiles import ModelProfiles
from workbench.gateway.scripted import TERMINATE, ScriptPlayer
from workbench.governance.brokers import NobodyAnswers
from workbench.governance.gate import Gate
from workbench.mesh import events as ev
from workbench.mesh import tracing
from workbench.mesh.bus import EventBus, Queued, Subscriber
from workbench.mesh.context import ApprovalBroker, RunAborted, RunContext
from workbench.mesh.human import HumanTurns
from workbench.mesh.replay import ForkSource
from workbench.mesh.replay import attach as attach_recording
from workbench.spec.inputs import apply_inputs
from workbench.spec.loader import import_custom_tools, load_crew, parse_crew
from workbench.spec.registry import resolved_text
from workbench.spec.schema import CrewSpec
from workbench.spec.topology import resolve
from workbench.store.db import RENEW_S, Store, describe_error
from workbench.store.writer import EventWriter
from workbench.tools.base import ToolContext
from workbench.tools.functions import notes as function_notes
from workbench.tools.registry import ToolRegistry

log = logging.getLogger(__name__)
#: How often a running session's row gets its totals (turns, tokens, cost) written.
PROGRESS_S = 2.0
#: How far (in events) a writer may fall behind the run before a model call waits for it.
MAX_BACKLOG = 256


@dataclass
class PreparedRun:
    """A validated crew with the run's choices applied (engine, topology, model)."""

    spec: CrewSpec
    text: str
    source: str
    engine: str
    topology: str
    task: str
    #: The crew's own `models:`, parsed once (the session lays them over the user's).
    models: ModelProfiles = field(default_factory=ModelProfiles)
    #: The crew's {placeholders} still without a value (their text stays as written).
    missing_inputs: list[str] = field(default_factory=list)
    #: The text with its `use:` agents written out (None: it has none).
    resolved_text: str | None = None

    @property
    def snapshot_text(self) -> str:
        """What the run stores as the crew it ran."""
        return self.resolved_text or self.text


@dataclass
class RunOutcome:
    session_id: str
    status: str
    result: str = ""
    error: str = ""
    elapsed_s: float = 0.0
    totals: Any = None
    events_written: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def prepare(
    crew: str | Path,
    engine: str | None = None,
    topology: str | None = None,
    task: str | None = None,
    model: str | None = None,
    text: str | None = None,
    inputs: dict[str, str] | None = None,
) -> PreparedRun:
    """Load and validate a crew for a run; every problem is a UserInputError (exit 2).

    The crew's input values, with `inputs` over them, fill its {placeholders}; those still
    without a value are in `missing_inputs` (the CLI's terminal or the TUI asks for them)."""
    source = str(crew)
    if text is None:
        spec = load_crew(crew, engine=engine, topology=topology)
        text = Path(crew).read_text(encoding="utf-8")
    else:
        spec = parse_crew(text, source, engine=engine, topology=topology)
    # loading checked the crew's `models:` (file:line); the run parses them this once, with
    # their lines: a route or fallback naming no alias is found only beside the user's file
    models = crew_profiles(spec.models, source, text)
    import_custom_tools(spec, source, text)  # runs their code: at a run, never at validation
    missing = apply_inputs(spec, inputs or {})
    if model:
        # on each agent, so that --model also beats the user's per-domain defaults
        spec.model = model
        for agent in spec.agents:
            agent.model = model
    engine = engine or spec.engine
    topology = topology or spec.topology.kind
    problem = topology_problem(engine, topology)
    if problem:
        raise UserInputError(problem)
    task = task or spec.task or spec.description or f"Run the {spec.name} crew"
    return PreparedRun(spec, text, source, engine, topology, task, models,
                       missing_inputs=missing, resolved_text=resolved_text(text, source))


async def _to_the_end(work: asyncio.Future[Any]) -> Any:
    """Await `work` whatever happens to the awaiting task: a cancellation meanwhile (the
    run is already ending, with its status decided) waits for it still, and is taken back."""
    cancels = 0
    while True:
        try:
            result = await asyncio.shield(work)
            break
        except asyncio.CancelledError:
            if work.cancelled():
                raise
            cancels += 1
    task = asyncio.current_task()
    for _ in range(cancels if task is not None else 0):
        task.uncancel()  # type: ignore[union-attr]
    return result


def new_session_id() -> str:
    return uuid.uuid4().hex


def _final_text(text: str) -> str:
    text = (text or "").strip()
    if text.endswith(TERMINATE):
        text = text[: -len(TERMINATE)].rstrip()
    return text


class Session:
    """A run in progress; `execute()` drives it and always leaves a stored session behind."""

    def __init__(
        self,
        prepared: PreparedRun,
        settings: Settings,
        store: Store,
        subscribers: list[Subscriber] | None = None,
        gate: Gate | None = None,
        approvals: ApprovalBroker | None = None,
        redactor: Callable[[str], tuple[str, list[str]]] | None = None,
        session_id: str | None = None,
        stream: bool = False,
        writers: list[Any] | None = None,
        humans: Any = None,
        fork: ForkSource | None = None,
    ) -> None:
        spec = prepared.spec
        profiles = with_user_profiles(settings.home, prepared.models)
        profiles.assign(spec)
        # before anything starts: a missing key is bad input, not a provider outage to retry
        require_keys(spec, profiles)
        #: Told at the start (the CLI prints them; run.started carries them): budgets this
        #: run cannot keep, such as a cost budget over models without a price.
        self.warnings = budget_warnings(
            spec, profiles, getattr(getattr(gate, "policy", None), "budgets", None) or {})
        self.warnings += function_notes(spec)  # untrusted functions agents run without
        self.prepared = prepared
        self.settings = settings
        self.store = store
        self.session_id = session_id or new_session_id()
        self.bus = EventBus(self.session_id)
        self.writer = EventWriter(store, on_error=self._store_failed(EventWriter.what))
        self.bus.subscribe(self.writer.put)
        #: More batched writers (the audit chain): fed every event, closed after the last.
        self.writers = list(writers or [])
        for w in self.writers:
            if hasattr(w, "on_error"):  # a failing writer stops the run, like the events'
                w.on_error = self._store_failed(getattr(w, "what", "a record of the run"))
            self.bus.subscribe(w.put)
        for fn in subscribers or []:
            # one that writes a terminal (the CLI's printer) says so: it gets its own thread
            self.bus.subscribe(fn, blocking=bool(getattr(fn, "blocking", False)))
        # OpenTelemetry export when it is on (env or --otel); off, nothing is imported
        tracing.attach(self.bus)
        self._progress_at = time.monotonic()
        #: The running totals go to the session's row from a thread of their own: a SQL
        #: UPDATE never runs on the engine's loop or under the bus's lock.
        self._progress_writer = Queued(self._write_progress, "session-progress")
        self.bus.subscribe(self._progress)
        folder = settings.session_dir(self.session_id)
        self.tool_ctx = ToolContext(self.session_id, folder / "workspace", folder / "outbox")
        extra: dict[str, Any] = {}
        if redactor is not None:
            extra["redactor"] = redactor
        self._engine_task: asyncio.Future[str] | None = None
        self.ctx = RunContext(
            spec,
            resolve(spec, prepared.topology),
            prepared.task,
            self.bus,
            Gateway(ScriptPlayer(spec.script), profiles),
            self.tool_ctx,
            ToolRegistry(tags=spec.tool_tags, functions=spec.functions),
            gate=gate,
            approvals=approvals,
            stream=stream,
            **extra,
        )
        self.ctx.before_tool = self._stored_so_far
        self.ctx.before_model = self._keep_up
        # human agents' turns and human_input reviews go to a person (`humans`), else skip
        self.ctx.human = HumanTurns.for_crew(spec, humans or NobodyAnswers())
        #: Every model exchange is recorded (unless settings.record is off); a fork's first
        #: calls are answered from its source's recording (mesh/replay.py).
        self.replay: Any = None
        self.forked_from = attach_recording(self, fork)
        if spec.topology.allocation == "marketplace" and self.ctx.topology.kind == "star":
            from workbench.mesh.market import open_market, past_records

            # bids weigh each agent's record: its tasks in this crew's earlier sessions
            open_market(self.ctx, past_records(store, spec.name, self.session_id))

    def cancel(self) -> None:
        """Stop the run now (in-flight model calls are abandoned); it is stored as cancelled.

        Safe to call from any thread or a signal handler.
        """
        self.ctx.cancel()
        task, loop = self._engine_task, self.ctx.loop
        if task is not None and loop is not None and not task.done():
            loop.call_soon_threadsafe(task.cancel)

    async def execute(self) -> RunOutcome:
        p = self.prepared
        started = time.time()
        # the database off the loop: other sessions on it (an eval's cases) go on meanwhile
        await asyncio.to_thread(self._create, started)
        self.ctx.loop = asyncio.get_running_loop()
        lease = asyncio.ensure_future(self._keep_lease())
        self.ctx.emit(
            ev.RUN_STARTED, None, None, p.task,
            crew=p.spec.name, engine=p.engine, topology=p.topology,
            agents=[{"name": a.name, "role": a.role, "model": p.spec.model_for(a),
                     "domain": a.domain, "tools": a.tools, "capabilities": a.capabilities,
                     **({"human": True} if a.human else {})}
                    for a in p.spec.agents],
            policy_hash=getattr(self.ctx.gate, "policy_hash", ""),
            workspace=str(self.tool_ctx.workspace),
            shape=self.ctx.topology.to_dict(),
            **({"warnings": self.warnings} if self.warnings else {}),
            **({"forked_from": self.forked_from} if self.forked_from else {}),
        )
        status, result, error = "completed", "", ""
        try:
            from workbench.engines import load_engine
            from workbench.tools.mcp import with_mcp_servers

            engine = load_engine(p.engine)
            # the crew's MCP servers run exactly as long as the engine does
            self._engine_task = asyncio.ensure_future(
                with_mcp_servers(self.ctx, engine.run, p.source, p.text))
            result = _final_text(await self._engine_task)
            if self.ctx.failure:
                status, error = "failed", self.ctx.failure
        except RunAborted as exc:
            if self.ctx.failure:
                status, error = "failed", self.ctx.failure
            else:
                status, error = "cancelled", str(exc) or "cancelled"
        except (asyncio.CancelledError, KeyboardInterrupt):
            self.ctx.cancel()
            if self.ctx.failure:  # stopping a failed run cancels its team: still a failure
                status, error = "failed", self.ctx.failure
            else:
                status, error = "cancelled", "cancelled by the user"
        except ProviderError as exc:
            status, error = "failed", str(exc)
        except WorkbenchError as exc:
            status, error = "failed", self.ctx.failure or str(exc)
        except Exception as exc:  # an engine crash is stored, never lost
            # an engine may wrap a provider's error: the context kept its exact words
            status, error = "failed", self.ctx.failure or f"{type(exc).__name__}: {exc}"
        finally:
            lease.cancel()
            # closing the writers and storing the end wait on threads and the database: off
            # the loop, and carried through to the end even if this task is cancelled again
            # (a run's end is never lost)
            outcome = await _to_the_end(
                asyncio.ensure_future(asyncio.to_thread(
                    self._finish, started, status, result, error)))
        return outcome

    def _create(self, started: float) -> None:
        p = self.prepared
        self.tool_ctx.workspace.mkdir(parents=True, exist_ok=True)
        snapshot = self.store.snapshot_crew(p.spec.name, p.source, p.snapshot_text)
        self.store.create_session(
            id=self.session_id, crew_name=p.spec.name, crew_snapshot_id=snapshot,
            engine=p.engine, topology=p.topology, task=p.task, started_at=started,
            policy_hash=getattr(self.ctx.gate, "policy_hash", ""),
            workspace=str(self.tool_ctx.workspace),
        )

    async def _keep_lease(self) -> None:
        """Renew the session's lease while it runs: a later command that finds it lapsed
        (this process killed) marks the session interrupted."""
        while True:
            await asyncio.sleep(RENEW_S)
            try:
                held = await asyncio.to_thread(self.store.renew_lease, self.session_id)
            except Exception:  # the next renewal may succeed; the lease lasts several
                log.warning("could not renew the session's lease", exc_info=True)
                continue
            if not held:
                self.ctx.fail("another process found this run's lease lapsed and marked the "
                              "session interrupted")
                return

    def _store_failed(self, what: str) -> Callable[[BaseException], None]:
        """A record that cannot be written stops the run at once: nothing goes on unrecorded
        (fail closed). Called from the writer's thread."""
        def failed(exc: BaseException) -> None:
            self.ctx.fail(f"{what} could not be stored: {describe_error(exc)}")
        return failed

    def _records(self) -> list[Any]:
        """The writers that keep the run's record (events, audit, exchanges)."""
        return [self.writer, *(w for w in self.writers if hasattr(w, "flush"))]

    async def _stored_so_far(self) -> None:
        """Before a tool acts on the world, everything that led to it is stored and audited;
        a write that failed has stopped the run by then, so the tool does not run."""
        writers = self._records()
        await asyncio.to_thread(lambda: [w.flush() for w in writers])

    async def _keep_up(self) -> None:
        """Before a model call, a writer more than MAX_BACKLOG events behind is caught up:
        a fast run never gets far ahead of its record (what a crash can lose, and how long
        a run goes on past a store that stopped taking writes, stay bounded)."""
        behind = [w for w in self._records() if getattr(w, "backlog", 0) > MAX_BACKLOG]
        if behind:
            await asyncio.to_thread(lambda: [w.flush() for w in behind])

    def _progress(self, event: Any) -> None:
        """Keep the session's row current while it runs (other terminals list it), at most
        every PROGRESS_S: the events themselves are the record. Called under the bus's lock:
        it only takes the totals as they are at this event and queues them."""
        # a run that waits for a person now gets all it did onto its row at once: killed
        # while it waits, its session still shows its turns and tokens
        waits = event.kind in (ev.APPROVAL_REQUESTED, ev.HUMAN_REQUESTED)
        if not waits and (event.kind != ev.MESSAGE
                          or time.monotonic() - self._progress_at < PROGRESS_S):
            return
        self._progress_at = time.monotonic()
        self._progress_writer.put(self.ctx.totals.as_row())

    def _write_progress(self, row: dict[str, Any]) -> None:
        try:
            self.store.update_session(self.session_id, **row)
        except Exception:  # the final update at the end still comes
            log.warning("could not update the session's running totals", exc_info=True)

    def flush_progress(self) -> bool:
        """Wait until the running totals queued so far are in the session's row."""
        return self._progress_writer.flush()

    def _finish(self, started: float, status: str, result: str, error: str) -> RunOutcome:
        t = self.ctx.totals
        elapsed = time.time() - started
        blocked = self.ctx.blocked_calls
        if status == "completed" and blocked and not self.ctx.answered_calls:
            # no agent ever got an answer from a model: the run did none of its work
            status = "failed"
            calls = "1 call" if blocked == 1 else f"{blocked:,} calls"
            error = f"every model call was blocked by policy ({calls}): {self.ctx.blocked_reason}"
        # everything put so far is stored before the end is told: a record that could not
        # be kept makes the end a failure (its run.failed says why), never "completed"
        for w in self._records():
            w.flush(30.0)  # as long as closing waits: a hung store does not hang the end
        if self.ctx.failure and status != "failed":
            status, error = "failed", self.ctx.failure
        summary = dict(
            status=status, turns=t.turns, prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens, cost_usd=round(t.cost_usd, 6),
            cost_known=t.cost_known, model_calls=t.model_calls, tool_calls=t.tool_calls,
            blocked_calls=blocked, elapsed_s=round(elapsed, 3),
            cost_by_agent=t.cost_by("agent"), cost_by_domain=t.cost_by("domain"),
        )
        if status == "completed":
            self.ctx.emit(ev.RUN_COMPLETED, None, None, result, **summary)
        else:
            self.ctx.emit(ev.RUN_FAILED, None, None, error, **summary,
                          cancelled=status == "cancelled")
        # the printer's last line is out, and no queued progress update can overwrite the
        # final totals below
        self.bus.close()
        self._progress_writer.close()
        self.writer.close()
        for w in self.writers:
            w.close()
            if w.error is not None and self.writer.error is None:
                self.writer.error = w.error
        if self.writer.error is not None:
            status = "failed"
            error = error or f"the run's records could not be stored: " \
                f"{describe_error(self.writer.error)}"
        try:
            self.ctx.approvals.close(self.session_id, status)
            if self.ctx.human is not None:
                self.ctx.human.close(self.session_id, status)
        except Exception:  # the session's own record comes first
            log.exception("could not expire the run's pending approvals")
        try:
            self.store.update_session(
                self.session_id, status=status, ended_at=time.time(), **t.as_row(),
                result=result or None, error=error or None,
            )
        except Exception as exc:  # the outcome still says what happened, and exits 1
            log.exception("could not store the session's end")
            status = "failed"
            error = error or f"the session's end could not be stored: {describe_error(exc)}"
        return RunOutcome(self.session_id, status, result, error, elapsed, t, self.writer.written)
