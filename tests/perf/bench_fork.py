"""Forking a recorded session: how long the replayed part of a 2,000-event session takes.

A 2-agent network crew on the scripted model runs 1,000 turns (a model call and a message
each: about 2,000 events), governed and audited as `workbench run` does, with every exchange
recorded. Then the same crew is forked from it with no step, so every call is answered from
the recording. Target: the fork's run under 2 s. Also printed: the source run with the
recording off, for what recording costs a turn.

    python -m tests.perf.bench_fork [--turns 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

TURNS = 1000
TARGET_FORK_S = 2.0
AGENTS = ("analyst", "critic")


def _crew_yaml(turns: int) -> str:
    agents = [{"name": n, "role": f"{n.title()} role", "goal": f"Do {n} work"} for n in AGENTS]
    script = [{"agent": AGENTS[i % 2], "say": f"Turn {i}: a short finding about the market."}
              for i in range(turns)]
    return yaml.safe_dump({"name": "bench-fork", "model": "scripted/bench",
                           "topology": {"kind": "network", "max_turns": turns},
                           "agents": agents, "script": script}, sort_keys=False)


def _run(path: Path, settings: Any, store: Any, fork: Any = None
         ) -> tuple[Any, tuple[float, float], Any]:
    """One governed, audited run; its outcome, (wall s, CPU s) from the session's creation
    (a fork reads its source's recording there) to its end, and the session."""
    from workbench.governance.setup import governed
    from workbench.mesh.session import Session, prepare

    prepared = prepare(path, task="Size the market")
    governance = governed(settings, store, "deny")
    started, cpu = time.perf_counter(), time.process_time()
    session = Session(prepared, settings, store, fork=fork, **governance.session_kwargs())
    outcome = asyncio.run(session.execute())
    elapsed = (time.perf_counter() - started, time.process_time() - cpu)
    assert outcome.status == "completed", outcome.error
    return outcome, elapsed, session


class _Stopwatch:
    """Time spent in one function (the replay layer's own share of a fork)."""

    def __init__(self, owner: Any, name: str) -> None:
        self.seconds = 0.0
        inner = getattr(owner, name)

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return inner(*args, **kwargs)
            finally:
                self.seconds += time.perf_counter() - started

        self.restore = lambda: setattr(owner, name, inner)
        setattr(owner, name, timed)


def measure(turns: int = TURNS) -> dict[str, Any]:
    from workbench.config import Settings
    from workbench.mesh import replay
    from workbench.mesh.replay import ForkSource
    from workbench.store.db import Store
    from workbench.store.recordings import count_exchanges

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(_crew_yaml(turns))
        # a policy of its own: the shipped one's turn budget would stop a 1,000-turn run
        policies = Path(tmp) / "policies"
        policies.mkdir()
        (policies / "central.yaml").write_text("version: 1\ndefault: allow\nrules: []\n")
        settings = Settings(home=Path(tmp) / "home", policies=policies)
        settings.ensure_home()
        store = Store(settings.database_url)
        settings.record = False
        _, unrecorded, _ = _run(path, settings, store)
        settings.record = True
        source, recorded, _ = _run(path, settings, store)
        events = store.count_events(source.session_id)
        exchanges = count_exchanges(store, source.session_id)
        answering = _Stopwatch(replay.Replay, "answer")
        loading = _Stopwatch(replay, "load_answers")
        try:
            fork, forked, session = _run(path, settings, store, ForkSource(source.session_id))
        finally:
            answering.restore()
            loading.restore()
        replayed = session.replay.replayed
        diverged = session.replay.diverged
        same = ([e["content"] for e in store.iter_events(fork.session_id)
                 if e["kind"] == "message"]
                == [e["content"] for e in store.iter_events(source.session_id)
                    if e["kind"] == "message"])
        store.close()
    return {
        "turns": turns,
        "source_events": events,
        "source_exchanges": exchanges,
        "source_run_s": round(recorded[0], 3),
        "source_run_cpu_s": round(recorded[1], 3),
        "source_run_unrecorded_s": round(unrecorded[0], 3),
        "source_run_unrecorded_cpu_s": round(unrecorded[1], 3),
        "recording_cpu_ms_per_turn": round((recorded[1] - unrecorded[1]) * 1000 / turns, 3),
        "fork_s": round(forked[0], 3),
        "fork_cpu_s": round(forked[1], 3),
        # reading the recording, and answering each call from it (the gate's judging too)
        "fork_load_recording_s": round(loading.seconds, 3),
        "fork_answering_s": round(answering.seconds, 3),
        "fork_replayed_calls": replayed,
        "fork_diverged": diverged,
        "fork_transcript_identical": same,
        "target_fork_s": TARGET_FORK_S,
        "meets_target": forked[0] < TARGET_FORK_S and replayed == exchanges and same,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--turns", type=int, default=TURNS)
    print(measure(parser.parse_args().turns))
