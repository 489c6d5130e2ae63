"""Overhead of the workbench (gateway, events, store) over the raw framework, per turn.

The same 3-agent network team, 200 turns on a zero-latency model: raw AutoGen on its own
ReplayChatCompletionClient against `workbench run` machinery on the scripted model; raw
CrewAI on a minimal fake BaseLLM against the workbench's CrewAI adapter. Both sides are
measured in the same run; the target is at most 1 ms added per turn.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from pathlib import Path

import yaml

TURNS = 200
TARGET_ADDED_MS = 1.0
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


def _workbench(engine: str, turns: int) -> float:
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
        started = time.perf_counter()
        outcome = asyncio.run(session.execute())
        elapsed = time.perf_counter() - started
        assert outcome.status == "completed", outcome.error
        assert outcome.totals.turns >= turns, outcome.totals.turns
        store.close()
    return elapsed


def _raw_autogen(turns: int) -> float:
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

    started = time.perf_counter()
    spoken = asyncio.run(run())
    elapsed = time.perf_counter() - started
    assert spoken == turns, spoken
    return elapsed


def _raw_crewai(turns: int) -> float:
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

    started = time.perf_counter()
    agents = {n: Agent(role=f"{n.title()} role", goal=f"Do {n} work", backstory=n,
                       llm=FakeLLM(model="fake"), verbose=False) for n in AGENTS}
    tasks = [Task(description=f"Step {i}", expected_output="A finding",
                  agent=agents[AGENTS[i % 3]]) for i in range(turns)]
    crew = Crew(agents=list(agents.values()), tasks=tasks, process=Process.sequential,
                verbose=False)
    crew.kickoff()
    return time.perf_counter() - started


def _figures(name: str, raw: float, wb: float, turns: int) -> dict:
    added = (wb - raw) / turns * 1000
    return {
        f"{name}_raw_s": round(raw, 4),
        f"{name}_workbench_s": round(wb, 4),
        f"{name}_ratio": round(wb / raw, 2) if raw else None,
        f"{name}_added_ms_per_turn": round(added, 3),
        f"{name}_meets_target": added <= TARGET_ADDED_MS,
    }


def measure(turns: int = TURNS) -> dict:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    # Warm both paths once (imports, first-call caches) so the timings compare runs.
    _raw_autogen(10)
    _workbench("autogen", 10)
    ag_raw = min(_raw_autogen(turns) for _ in range(3))
    ag_wb = min(_workbench("autogen", turns) for _ in range(3))
    _raw_crewai(10)
    _workbench("crewai", 10)
    cr_raw = min(_raw_crewai(turns) for _ in range(2))
    cr_wb = min(_workbench("crewai", turns) for _ in range(2))
    return {"turns": turns, **_figures("autogen", ag_raw, ag_wb, turns),
            **_figures("crewai", cr_raw, cr_wb, turns)}


if __name__ == "__main__":
    print(measure())
