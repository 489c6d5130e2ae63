"""What OpenTelemetry tracing costs a run, per agent turn.

A 3-agent network crew on the scripted model (AutoGen, 200 turns: one model call and one
message each), run in turn as the baseline (the session without any tracing hook), with
tracing off (the hook finds no endpoint) and with tracing on (spans batched and exported
over OTLP/HTTP to a no-op collector on 127.0.0.1 in this process). Alternated, best of
`repeat`, wall clock and CPU. Also the tracer's own work per turn, fed the events directly.
Targets: off, no measurable cost; on, at most 0.2 ms added per agent turn. On a shared,
loaded machine whole runs differ by more than that from one to the next (the baseline and
"off" run the same code per turn): the tracer's own figure is the steady one.

    python -m tests.perf.bench_tracing [--turns 200] [--repeat 5]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

TURNS = 200
TARGET_ON_MS = 0.2
#: Below this a difference per turn is noise on this machine (runs of the same code differ
#: by about as much).
NOISE_MS = 0.05
AGENTS = ("scout", "analyst", "critic")

Timing = tuple[float, float]


def _crew_yaml(turns: int) -> str:
    agents = [{"name": n, "role": f"{n.title()} role", "goal": f"Do {n} work"} for n in AGENTS]
    script = [{"agent": AGENTS[i % 3], "say": f"Turn {i}: a short finding about the market."}
              for i in range(turns)]
    return yaml.safe_dump({"name": "bench", "engine": "autogen", "model": "scripted/bench",
                           "topology": {"kind": "network", "max_turns": turns},
                           "agents": agents, "script": script}, sort_keys=False)


def _clock() -> Timing:
    return time.perf_counter(), time.process_time()


def _run(turns: int, attach: Callable | None) -> Timing:
    """One session; `attach` replaces the tracing hook (None: the real one, as configured)."""
    from workbench.config import Settings
    from workbench.mesh import tracing
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    real = tracing.attach
    if attach is not None:
        tracing.attach = attach
    try:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "bench.yaml"
            path.write_text(_crew_yaml(turns))
            settings = Settings(home=Path(tmp) / "home")
            settings.ensure_home()
            store = Store(settings.database_url)
            session = Session(prepare(path, task="Size the market"), settings, store)
            start = _clock()
            outcome = asyncio.run(session.execute())  # ends after the spans are exported
            wall, cpu = _clock()
            assert outcome.status == "completed", outcome.error
            assert outcome.totals.turns >= turns
            store.close()
    finally:
        tracing.attach = real
    return wall - start[0], cpu - start[1]


def _tracer_only(turns: int) -> tuple[float, float]:
    """CPU seconds the tracer spends on `turns` turns' events: building the spans, then
    exporting them (encoding, the HTTP request, the in-process receiver reading it)."""
    from tests.otlp_receiver import start_receiver
    from workbench.mesh import events as ev
    from workbench.mesh.events import Event
    from workbench.mesh.otel import RunTracer

    receiver = start_receiver(decode=False)
    tracer = RunTracer.for_endpoint(f"{receiver.url}/v1/traces")
    agents = [{"name": n, "model": "scripted/bench", "role": n, "domain": "default"}
              for n in AGENTS]
    events = [Event(ev.RUN_STARTED, None, None, "task", {"crew": "bench", "agents": agents})]
    for i in range(turns):
        agent = AGENTS[i % 3]
        events.append(Event(ev.MODEL_CALL, agent, None, None, {
            "model": "scripted/bench", "provider": "scripted", "purpose": "agent",
            "prompt_tokens": 100, "completion_tokens": 20, "cost_usd": 0.0,
            "latency_ms": 0.05, "tool_calls": []}))
        events.append(Event(ev.MESSAGE, agent, "all", f"Turn {i}", {"turn": i + 1}))
    events.append(Event(ev.RUN_COMPLETED, None, None, "done", {"status": "completed"}))
    t0 = time.time()
    for n, e in enumerate(events):
        e.session_id, e.seq, e.ts = "bench", n + 1, t0 + n * 1e-3
    start = time.process_time()
    for e in events[:-1]:
        tracer.handle(e)
    build = time.process_time() - start
    tracer.handle(events[-1])  # the run's end: every span is exported before it returns
    total = time.process_time() - start
    assert receiver.bodies
    receiver.close()
    return build, total - build


def measure(turns: int = TURNS, repeat: int = 5) -> dict:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    from tests.otlp_receiver import start_receiver
    from workbench.mesh import tracing

    receiver = start_receiver(decode=False)
    for var in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                "OTEL_TRACES_EXPORTER"):
        os.environ.pop(var, None)

    def baseline(bus: object) -> None:  # the session as it was before the hook
        return None

    attach = tracing.attach

    def on(bus: object) -> object:
        tracing.use_endpoint(receiver.url)
        try:
            return attach(bus)
        finally:
            tracing.use_endpoint(None)

    sides: dict[str, Callable | None] = {"baseline": baseline, "off": None, "on": on}
    for hook in sides.values():  # warm imports and first-call caches
        _run(20, hook)
    timings: dict[str, list[Timing]] = {name: [] for name in sides}
    order = list(sides)
    for i in range(repeat):  # a different side first each round: no side always warms up
        for name in order[i % 3:] + order[:i % 3]:
            timings[name].append(_run(turns, sides[name]))
    out: dict = {}
    best = {name: (min(t[0] for t in ts) / turns * 1000, min(t[1] for t in ts) / turns * 1000)
            for name, ts in timings.items()}
    for name, (wall, cpu) in best.items():
        out[f"{name}_wall_ms_per_turn"] = round(wall, 3)
        out[f"{name}_cpu_ms_per_turn"] = round(cpu, 3)
    for i, clock in enumerate(("wall", "cpu")):
        off = best["off"][i] - best["baseline"][i]
        added = best["on"][i] - best["off"][i]
        out[f"off_{clock}_added_ms_per_turn"] = round(off, 3)
        out[f"on_{clock}_added_ms_per_turn"] = round(added, 3)
        out[f"off_{clock}_within_noise"] = off <= NOISE_MS
        out[f"on_{clock}_meets_target"] = added <= TARGET_ON_MS
    out["spans_exported_requests"] = len(receiver.bodies)
    # off: what a run pays at all, the hook that finds no endpoint (once, at its start),
    # and what it adds to the per-turn path (subscribers on the bus: none)
    from workbench.mesh.bus import EventBus

    bus = EventBus("off")
    n = 20000
    start = time.perf_counter()
    for _ in range(n):
        attach(bus)
    out["off_hook_us_per_run"] = round((time.perf_counter() - start) / n * 1e6, 2)
    out["off_subscribers_added"] = len(bus._subscribers)
    alone = [_tracer_only(turns) for _ in range(repeat)]
    build = min(a[0] for a in alone) / turns * 1000
    export = min(a[1] for a in alone) / turns * 1000
    out["tracer_build_cpu_ms_per_turn"] = round(build, 4)
    out["tracer_export_cpu_ms_per_turn"] = round(export, 4)
    out["tracer_cpu_ms_per_turn"] = round(build + export, 4)
    out["tracer_meets_target"] = build + export <= TARGET_ON_MS
    receiver.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=TURNS)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    for key, value in measure(args.turns, args.repeat).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
