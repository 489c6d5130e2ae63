"""Overhead of the workbench (gateway, events, store) over the raw framework, per turn.

The same 3-agent network team on a zero-latency model: raw AutoGen on its own
ReplayChatCompletionClient against `workbench run` machinery on the scripted model, at 200
and at 1,000 turns (a cost that grows with the history shows as a higher figure at 1,000);
raw CrewAI on a minimal fake BaseLLM against the workbench's CrewAI adapter, at 200 turns.
Both sides are measured in the same run, alternately, so the machine's load falls on both.
Targets: at most 0.4 ms added per AutoGen turn at every length, 1 ms per CrewAI turn.

    python -m tests.perf.bench_overhead [--turns 200 1000] [--repeat 3] [--no-crewai]
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

TURNS = (200, 1000)
CREWAI_TURNS = 200
TARGET_ADDED_MS = {"autogen": 0.4, "crewai": 1.0}
AGENTS = ("scout", "analyst", "critic")


def _crew_yaml(engine: str, turns: int) -> str:
    agents = [{"name": n, "role": f"{n.title()} role", "goal": f"Do {n} work"} for n in AGENTS]
    script = [{"agent": AGENTS[i % 3], "say": f"Turn {i}: a short finding about the market."}
              for i in range(turns)]
    crew = {"name": "bench", "engine": engine, "model": "scripted/bench",
            "topology": {"kind": "network", "max_turns": turns}, "agents": agents,
            "script": script}
    if engine == "crewai":
        crew["tasks"] = [{"description": f"Step {i}", "expected_output": "A finding",
                          "agent": AGENTS[i % 3]} for i in range(turns)]
    return yaml.safe_dump(crew, sort_keys=False)


Timing = tuple[float, float]


def _clock() -> Timing:
    return time.perf_counter(), time.process_time()


def _since(start: Timing) -> Timing:
    """Wall seconds and this process's CPU seconds (all its threads: the store's writer
    too) since `start`; on a loaded machine the CPU figure is the steadier of the two."""
    wall, cpu = _clock()
    return wall - start[0], cpu - start[1]


def _workbench(engine: str, turns: int) -> Timing:
    from workbench.config import Settings
    from workbench.mesh.session import Session, prepare
    from workbench.store.db import Store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.yaml"
        path.write_text(_crew_yaml(engine, turns))
        settings = Settings(home=Path(tmp) / "home")
        settings.ensure_home()
        store = Store(settings.database_url)
        session = Session(prepare(path, task="Size the market"), settings, store)
        started = _clock()
        outcome = asyncio.run(session.execute())
        elapsed = _since(started)
        assert outcome.status == "completed", outcome.error
        assert outcome.totals.turns >= turns, outcome.totals.turns
        store.close()
    return elapsed


def _raw_autogen(turns: int) -> Timing:
    from autogen_agentchat.agents import AssistantAgent
    from autogen_agentchat.conditions import MaxMessageTermination
    from autogen_agentchat.teams import RoundRobinGroupChat
    from autogen_ext.models.replay import ReplayChatCompletionClient

    async def run() -> int:
        agents = [
            AssistantAgent(n, model_client=ReplayChatCompletionClient(
                [f"Turn {i}: a short finding about the market." for i in range(turns)]))
            for n in AGENTS
        ]
        team = RoundRobinGroupChat(agents, termination_condition=MaxMessageTermination(turns + 1))
        result = await team.run(task="Size the market")
        return len(result.messages) - 1

    started = _clock()
    spoken = asyncio.run(run())
    elapsed = _since(started)
    assert spoken == turns, spoken
    return elapsed


def _raw_crewai(turns: int) -> Timing:
    from workbench.engines.crewai.env import prepare_environment

    prepare_environment()
    from crewai import Agent, Crew, Process, Task
    from crewai.llms.base_llm import BaseLLM

    class FakeLLM(BaseLLM):
        def call(self, messages, tools=None, callbacks=None, available_functions=None,
                 from_task=None, from_agent=None, response_model=None):
            return "A short finding about the market."

        def supports_function_calling(self) -> bool:
            return True

        def get_input_tokens_count(self, messages, tools=None, response_model=None) -> int:
            return 1

    started = _clock()
    agents = {n: Agent(role=f"{n.title()} role", goal=f"Do {n} work", backstory=n,
                       llm=FakeLLM(model="fake"), verbose=False) for n in AGENTS}
    tasks = [Task(description=f"Step {i}", expected_output="A finding",
                  agent=agents[AGENTS[i % 3]]) for i in range(turns)]
    crew = Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential,
                verbose=False)
    crew.kickoff()
    return _since(started)


def _pairs(raw: Callable[[int], Timing], wb: Callable[[int], Timing], turns: int,
           repeat: int) -> tuple[list[Timing], list[Timing]]:
    """`repeat` timings of each side, alternating, so a load spike hits both alike."""
    raws, wbs = [], []
    for _ in range(repeat):
        raws.append(raw(turns))
        wbs.append(wb(turns))
    return raws, wbs


def _figures(name: str, raws: list[Timing], wbs: list[Timing], turns: int) -> dict:
    """Per-turn figures, wall clock and CPU, from the best run of each side (the least
    disturbed by load); `added` is the workbench's cost per turn over raw."""
    engine = name.split("_")[0]
    out: dict = {}
    for i, clock in enumerate(("wall", "cpu")):
        raw = min(r[i] for r in raws) / turns * 1000
        wb = min(w[i] for w in wbs) / turns * 1000
        out[f"{name}_{clock}_raw_ms_per_turn"] = round(raw, 3)
        out[f"{name}_{clock}_workbench_ms_per_turn"] = round(wb, 3)
        out[f"{name}_{clock}_added_ms_per_turn"] = round(wb - raw, 3)
        out[f"{name}_{clock}_ratio"] = round(wb / raw, 2) if raw else None
        out[f"{name}_{clock}_meets_target"] = wb - raw <= TARGET_ADDED_MS[engine]
    return out


def measure(turns: tuple[int, ...] = TURNS, repeat: int = 3, crewai: bool = True) -> dict:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Warm both paths once (imports, first-call caches) so the timings compare runs.
    _raw_autogen(10)
    _workbench("autogen", 10)
    out: dict = {}
    for n in turns:
        raws, wbs = _pairs(_raw_autogen, lambda t: _workbench("autogen", t), n, repeat)
        out.update(_figures(f"autogen_{n}", raws, wbs, n))
    if crewai:
        _raw_crewai(10)
        _workbench("crewai", 10)
        raws, wbs = _pairs(_raw_crewai, lambda t: _workbench("crewai", t), CREWAI_TURNS,
                           max(2, repeat - 1))
        out.update(_figures(f"crewai_{CREWAI_TURNS}", raws, wbs, CREWAI_TURNS))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, nargs="+", default=list(TURNS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-crewai", action="store_true")
    args = parser.parse_args()
    figures = measure(tuple(args.turns), args.repeat, not args.no_crewai)
    for key, value in figures.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
