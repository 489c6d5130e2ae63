"""Engine parity: a crew's scripted story plays the same on AutoGen and CrewAI: the same
speakers in the same order and the same tool calls, for every shipped crew and for generated
star, layered and network crews written the same way.

Where a topology runs agents in parallel (a layered crew's executors), the order between them
is whichever finishes first on either engine; each executor's own steps keep their order.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
import yaml

from workbench.cli import main
from workbench.spec.loader import load_crew
from workbench.spec.topology import resolve

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "crews").glob("*.yaml"))

Step = tuple[str, ...]


def _story(home: Path, crew: Path, engine: str, capsys: pytest.CaptureFixture[str]
           ) -> list[Step]:
    code = main(["--home", str(home / engine), "run", str(crew), "--engine", engine,
                 "--approvals", "deny", "--task", "Quarterly review", "--json"])
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert code == 0, out[-2000:]
    steps: list[Step] = []
    for e in events:
        if e["kind"] == "message":
            steps.append(("message", e["agent"]))
        elif e["kind"] == "tool.requested":
            steps.append(("tool", e["agent"], e["data"]["tool"]))
    return steps


def _canonical(steps: list[Step], parallel: set[str]) -> list[object]:
    """Consecutive steps of agents that run in parallel become one group: each agent's own
    steps in order, the agents in any order."""
    out: list[object] = []
    group: dict[str, list[Step]] = {}
    for step in steps:
        if step[1] in parallel:
            group.setdefault(step[1], []).append(step)
            continue
        if group:
            out.append(sorted(group.items()))
            group = {}
        out.append(step)
    if group:
        out.append(sorted(group.items()))
    return out


def _compare(crew: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> list[Step]:
    spec = load_crew(crew)
    topo = resolve(spec)
    parallel = set(topo.executors) if topo.kind == "layered" and len(topo.executors) > 1 \
        else set()
    autogen = _story(home, crew, "autogen", capsys)
    crewai = _story(home, crew, "crewai", capsys)
    assert _canonical(crewai, parallel) == _canonical(autogen, parallel), (
        f"\nautogen: {autogen}\ncrewai:  {crewai}")
    return autogen


@pytest.mark.parametrize("crew", SHIPPED, ids=[c.stem for c in SHIPPED])
def test_shipped_crews_tell_the_same_story_on_both_engines(
        crew: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    story = _compare(crew, tmp_path, capsys)
    spec = load_crew(crew)
    assert {s[1] for s in story if s[0] == "message"} == set(spec.agent_names)


# -- generated crews ------------------------------------------------------------------------

TOOLS = ["calculator", "write_file"]


def _calls(rng: random.Random, agent: str, n: int, serial: list[int]) -> list[dict]:
    entries = []
    for _ in range(n):
        serial[0] += 1
        if rng.random() < 0.5:
            entries.append({"agent": agent, "call": "calculator",
                            "args": {"expression": f"{serial[0]} * {rng.randint(2, 99)}"}})
        else:
            entries.append({"agent": agent, "call": "write_file",
                            "args": {"path": f"note-{serial[0]}.md", "content": "notes"}})
    return entries


def _agents(names: list[str]) -> list[dict]:
    return [{"name": n, "role": f"Role {n}", "goal": f"Do the {n} part", "tools": TOOLS}
            for n in names]


def _star(rng: random.Random) -> dict:
    names = ["hub", *[f"s{i}" for i in range(rng.randint(2, 3))]]
    serial = [0]
    script: list[dict] = []
    for round_ in range(rng.randint(1, 3)):
        if rng.random() < 0.3:  # the hub uses its own tools first
            script += _calls(rng, "hub", rng.randint(1, 2), serial)
        if rng.random() < 0.5:  # the hub speaks before it hands off
            script.append({"agent": "hub", "say": f"Thinking about round {round_}."})
        spoke = rng.choice(names[1:])
        if rng.random() < 0.25 and script and script[-1]["agent"] == "hub" \
                and "say" in script[-1]:
            pass  # no handoff: the hub's model picks the specialist who speaks next
        else:
            script.append({"agent": "hub", "handoff": spoke, "say": f"{spoke}, your turn."})
        script += _calls(rng, spoke, rng.randint(0, 2), serial)
        script.append({"agent": spoke, "say": f"{spoke} reports on round {round_}."})
    script.append({"agent": "hub", "say": "Decision made. TERMINATE"})
    return {"topology": {"kind": "star", "hub": "hub", "max_turns": 30},
            "agents": _agents(names), "script": script}


def _network(rng: random.Random) -> dict:
    names = [f"p{i}" for i in range(rng.randint(2, 4))]
    serial = [0]
    script: list[dict] = []
    turns = rng.randint(2, 7)
    for turn in range(turns):
        agent = names[turn % len(names)]
        if rng.random() < 0.15:
            continue  # nothing scripted for this turn: the agent answers generically
        script += _calls(rng, agent, rng.randint(0, 2), serial)
        last = turn == turns - 1 and rng.random() < 0.7
        script.append({"agent": agent, "say": f"{agent} on turn {turn}."
                                              + (" TERMINATE" if last else "")})
    return {"topology": {"kind": "network", "max_turns": turns + 2},
            "agents": _agents(names), "script": script}


def _layered(rng: random.Random) -> dict:
    executors = [f"e{i}" for i in range(rng.randint(1, 3))]
    reviewer = ["critic"] if rng.random() < 0.6 else []
    names = ["planner", *executors, *reviewer]
    serial = [0]
    script: list[dict] = [{"agent": "planner", "say": "The plan: each does their part."}]
    for agent in [*executors, *reviewer]:
        script += _calls(rng, agent, rng.randint(0, 2), serial)
        script.append({"agent": agent, "say": f"{agent} is done."})
    topology = {"kind": "layered", "planner": "planner", "executors": executors,
                "max_turns": 12}
    if reviewer:
        topology["reviewer"] = "critic"
    return {"topology": topology, "agents": _agents(names), "script": script}


GENERATED = [(kind, seed) for kind in ("star", "network", "layered") for seed in (1, 2, 3, 4)]


@pytest.mark.parametrize(("kind", "seed"), GENERATED, ids=[f"{k}-{s}" for k, s in GENERATED])
def test_generated_crews_tell_the_same_story_on_both_engines(
        kind: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(f"{kind}-{seed}")
    crew = {"name": f"gen-{kind}-{seed}", "model": "scripted/demo",
            **{"star": _star, "network": _network, "layered": _layered}[kind](rng)}
    path = tmp_path / f"{crew['name']}.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    story = _compare(path, tmp_path, capsys)
    assert story, "nothing happened"


def test_a_hub_that_speaks_before_handing_off_keeps_the_floor_on_both_engines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = {
        "name": "talkative-hub", "model": "scripted/demo",
        "topology": {"kind": "star", "hub": "lead", "max_turns": 10},
        "agents": _agents(["lead", "analyst"]),
        "script": [
            {"agent": "lead", "say": "Let me think about who should do this."},
            {"agent": "lead", "handoff": "analyst", "say": "Analyst, size it."},
            {"agent": "analyst", "call": "calculator", "args": {"expression": "6 * 7"}},
            {"agent": "analyst", "say": "It is 42."},
            {"agent": "lead", "say": "Done: 42. TERMINATE"},
        ],
    }
    path = tmp_path / "talkative-hub.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    story = _compare(path, tmp_path, capsys)
    assert story == [("message", "lead"), ("message", "lead"), ("tool", "analyst", "calculator"),
                     ("message", "analyst"), ("message", "lead")]


def test_the_hub_model_picks_the_next_speaker_the_same_way_on_both_engines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    crew = {
        "name": "open-floor", "model": "scripted/demo",
        "topology": {"kind": "star", "hub": "lead", "max_turns": 10},
        "agents": _agents(["lead", "analyst", "writer"]),
        "script": [
            {"agent": "lead", "say": "Who can size this?"},
            {"agent": "writer", "say": "I can draft, not size."},
            {"agent": "lead", "say": "Then we stop here. TERMINATE"},
        ],
    }
    path = tmp_path / "open-floor.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    story = _compare(path, tmp_path, capsys)
    assert story == [("message", "lead"), ("message", "writer"), ("message", "lead")]
