"""Engine parity: a crew's scripted story plays the same on AutoGen and CrewAI: the same
speakers in the same order and the same tool calls, for every shipped crew and for generated
star, layered and network crews written the same way.

Where a topology runs agents in parallel (a layered crew's executors), the order between them
is whichever finishes first on either engine; each executor's own steps keep their order.
"""

from __future__ import annotations

import difflib
import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from workbench.cli import main
from workbench.spec.loader import load_crew
from workbench.spec.topology import resolve

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = sorted((ROOT / "crews").glob("*.yaml"))

Step = tuple[object, ...]
#: A queued email's file name carries the time it was written.
_STAMP = re.compile(r"\d{8}-\d{6}")


def _step(e: dict[str, Any], parallel: set[str]) -> Step | None:
    """What an event tells of the story, without what legitimately differs between engines
    (ids, times, prompt sizes: each engine words its prompts its own way)."""
    kind, agent, to, content, d = e["kind"], e["agent"], e.get("to"), e.get("content"), e.get("data", {})
    if kind == "message":
        # the turn counter follows the order executors happened to finish in
        return (kind, agent, to, content, None if agent in parallel else d.get("turn"))
    if kind == "handoff":
        return (kind, agent, to, content)
    if kind == "model.call":
        return (kind, agent, d["purpose"], d["model"], tuple(d.get("tool_calls", ())),
                json.dumps(d.get("route")), d.get("ok", True), tuple(d.get("blocked", ())))
    if kind == "tool.requested":
        return (kind, agent, d["tool"], json.dumps(d["args"], sort_keys=True))
    if kind == "tool.result":
        return (kind, agent, d["tool"], d["ok"], d.get("ran", True),
                _STAMP.sub("<time>", content or ""))
    if kind == "policy.decision":
        return (kind, agent, d["action"], d["effect"], tuple(d["rule_ids"]), content,
                tuple(d["redactions"]))
    if kind == "approval.requested":
        return (kind, agent, d["tool"], tuple(d["rule_ids"]), json.dumps(d["args"]))
    if kind == "approval.decided":
        return (kind, agent, d["tool"], d["decision"])
    if kind.startswith("task."):
        keep = ("task_id", "capability", "bidders", "eligible", "load", "record", "winner",
                "award", "bids")
        return (kind, agent, to, content, json.dumps({k: d[k] for k in keep if k in d}))
    if kind in ("run.completed", "run.failed"):
        return (kind, None, content, d["status"], d["turns"], d["model_calls"], d["tool_calls"],
                d.get("blocked_calls", 0))
    if kind == "run.started":
        return (kind, None, d["crew"], d["topology"], json.dumps(d["agents"]), json.dumps(d["shape"]))
    return (kind, agent, to)


def _story(home: Path, crew: Path, engine: str, capsys: pytest.CaptureFixture[str],
           parallel: set[str] = frozenset(), policies: Path | None = None) -> list[Step]:
    """The run's story on `engine`, from `workbench run --json` (a home of its own, so that
    the other engine's run leaves no past record for marketplace bids)."""
    pre = ["--policies", str(policies)] if policies else []
    code = main(["--home", str(home / engine), *pre, "run", str(crew), "--engine", engine,
                 "--approvals", "deny", "--task", "Quarterly review", "--json"])
    out = capsys.readouterr().out
    events = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    assert code == 0, out[-2000:]
    return [s for s in (_step(e, parallel) for e in events) if s is not None]


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


def _compare(crew: Path, home: Path, capsys: pytest.CaptureFixture[str],
             policies: Path | None = None) -> list[Step]:
    spec = load_crew(crew)
    topo = resolve(spec)
    parallel = set(topo.executors) if topo.kind == "layered" and len(topo.executors) > 1 \
        else set()
    autogen = _story(home, crew, "autogen", capsys, parallel, policies)
    crewai = _story(home, crew, "crewai", capsys, parallel, policies)
    want, got = _canonical(autogen, parallel), _canonical(crewai, parallel)
    diff = "\n".join(difflib.unified_diff([repr(s) for s in want], [repr(s) for s in got],
                                           "autogen", "crewai", lineterm="", n=1))
    assert got == want, f"\n{diff}"
    return autogen


def _speakers(story: list[Step]) -> list[Step]:
    """Who spoke and which tools they called, in order."""
    return [("message", s[1]) if s[0] == "message" else ("tool", s[1], s[2])
            for s in story if s[0] in ("message", "tool.requested")]


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


def _agents(names: list[str], tools: list[str] = TOOLS) -> list[dict]:
    return [{"name": n, "role": f"Role {n}", "goal": f"Do the {n} part", "tools": tools}
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


def _marketplace(rng: random.Random) -> dict:
    """A star whose hub posts tasks: the workers with the capability bid, the award rule
    picks, the winners report back (a capability nobody has leaves its task unawarded)."""
    caps = ["translation", "proofreading", "sizing"]
    workers = [f"w{i}" for i in range(rng.randint(2, 4))]
    held = {w: rng.choice(caps) for w in workers}
    agents = _agents(["lead", *workers])
    for agent in agents:
        agent["capabilities"] = [held.get(agent["name"], "planning")]
    serial = [0]
    script: list[dict] = []
    for round_ in range(rng.randint(1, 2)):
        if rng.random() < 0.3:
            script += _calls(rng, "lead", 1, serial)
        reports: list[dict] = []
        for k in range(rng.randint(1, 2)):
            cap = rng.choice(sorted(set(held.values()))) if rng.random() < 0.85 else "astrology"
            script.append({"agent": "lead",
                           "post": {"task": f"Task {round_}.{k}", "capability": cap}})
            holders = [w for w in workers if held[w] == cap]
            if holders:
                worker = rng.choice(holders)
                reports += _calls(rng, worker, rng.randint(0, 1), serial)
                reports.append({"agent": worker, "say": f"{worker} did task {round_}.{k}."})
        script += reports
    script.append({"agent": "lead", "say": "All tasks are done. TERMINATE"})
    award = rng.choice(["cheapest", "best", "balanced", 'bidder.name != "w0"'])
    return {"topology": {"kind": "star", "hub": "lead", "allocation": "marketplace",
                         "award": award, "max_turns": 16},
            "agents": agents, "script": script}


def _routed(rng: random.Random) -> dict:
    """A star or network crew whose agents are on a routed alias: the rules read the agent,
    the call's purpose and how many tools it offers, so both engines must ask alike."""
    crew = rng.choice([_star, _network])(rng)
    for agent in crew["agents"]:
        agent["domain"] = rng.choice(["research", "finance", "default"])
        agent["model"] = "smart"
    crew["models"] = {"smart": {"route": [
        {"when": 'agent.domain == "finance"', "use": "scripted/careful"},
        {"when": 'request.purpose == "selector"', "use": "scripted/picker"},
        {"when": "request.tools > 2", "use": "scripted/tooled"},
        {"use": "scripted/demo"},
    ]}}
    return crew


#: Message and tool rules for the gated crews: what the gate withholds, redacts, denies and
#: sends for approval must be the same on both engines.
GATE_POLICY = {
    "version": 1, "default": "allow",
    "rules": [
        {"id": "no-secrets", "on": "message", "when": 'message.text.contains("SECRET")',
         "effect": "deny", "reason": "Secrets stay with who has them"},
        {"id": "contacts", "on": "message", "when": 'message.text.contains("@")',
         "effect": "redact", "reason": "Contact data stays out of agent traffic"},
        {"id": "not-to-the-hub", "on": "message",
         "when": '"hub" in message.to && message.text.contains("draft")',
         "effect": "deny", "reason": "Drafts do not go to the hub"},
        {"id": "unlucky", "on": "tool_call",
         "when": 'tool.name == "calculator" && args.expression.contains("3")',
         "effect": "deny", "reason": "No threes"},
        {"id": "notes-reviewed", "on": "tool_call",
         "when": 'tool.name == "write_file" && args.path.endsWith("2.md")',
         "effect": "require_approval", "reason": "Second notes are reviewed"},
    ],
}


def _gated(rng: random.Random) -> dict:
    """A star, network or layered crew whose messages carry secrets, addresses and drafts."""
    crew = rng.choice([_star, _network, _layered])(rng)
    for entry in crew["script"]:
        if "say" in entry and rng.random() < 0.5:
            entry["say"] += rng.choice([" SECRET: the code is 1234.", " Mail ana@corp.example.",
                                        " Here is the draft."])
    return crew


def _cut(rng: random.Random) -> dict:
    """Crews cut short by `max_turns`, with tools that fail, early TERMINATEs and specialists
    that try to hand off (only the hub has transfer tools)."""
    kind = rng.choice(["star", "network", "layered"])
    names = {"star": ["hub", "s0", "s1"], "network": ["p0", "p1", "p2"],
             "layered": ["planner", "e0", "e1", "critic"]}[kind]
    script: list[dict] = []
    for i in range(rng.randint(2, 7)):
        agent, r = rng.choice(names), rng.random()
        if r < 0.2 and kind == "star":
            script.append({"agent": agent, "handoff": rng.choice(names), "say": f"Pass {i}."})
        elif r < 0.4:
            script.append({"agent": agent, "call": "read_file", "args": {"path": "missing.md"}})
        elif r < 0.5:
            script.append({"agent": agent, "call": "calculator", "args": {"expression": "1/0"}})
        elif r < 0.6:
            script.append({"agent": agent, "say": f"{agent} ends it at {i}. TERMINATE"})
        else:
            script.append({"agent": agent, "say": f"{agent} talks at {i}."})
    topology: dict[str, Any] = {"kind": kind, "max_turns": rng.randint(1, 5)}
    if kind == "star":
        topology["hub"] = "hub"
    elif kind == "layered":
        topology.update(planner="planner", executors=["e0", "e1"])
        if rng.random() < 0.5:
            topology["reviewer"] = "critic"
        else:
            names = names[:-1]
            script = [e for e in script if e["agent"] != "critic"]
    return {"topology": topology, "agents": _agents(names, ["calculator", "read_file"]),
            "script": script or [{"agent": names[0], "say": "Nothing to add."}]}


GENERATORS = {"star": _star, "network": _network, "layered": _layered,
              "marketplace": _marketplace, "routed": _routed, "gated": _gated, "cut": _cut}
GENERATED = [(kind, seed) for kind in GENERATORS for seed in (1, 2, 3, 4)]


@pytest.mark.parametrize(("kind", "seed"), GENERATED, ids=[f"{k}-{s}" for k, s in GENERATED])
def test_generated_crews_tell_the_same_story_on_both_engines(
        kind: str, seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = random.Random(f"{kind}-{seed}")
    crew = {"name": f"gen-{kind}-{seed}", "model": "scripted/demo", **GENERATORS[kind](rng)}
    path = tmp_path / f"{crew['name']}.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    policies = None
    if kind == "gated":
        policies = tmp_path / "policies"
        policies.mkdir()
        (policies / "central.yaml").write_text(yaml.safe_dump(GATE_POLICY, sort_keys=False))
    story = _compare(path, tmp_path, capsys, policies)
    assert any(s[0] == "message" for s in story), "nobody spoke"


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
    assert _speakers(story) == [("message", "lead"), ("message", "lead"),
                                ("tool", "analyst", "calculator"), ("message", "analyst"),
                                ("message", "lead")]
    assert [s[:3] for s in story if s[0] == "handoff"] == [("handoff", "lead", "analyst")]


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
    assert _speakers(story) == [("message", "lead"), ("message", "writer"), ("message", "lead")]


def _write(tmp_path: Path, crew: dict) -> Path:
    path = tmp_path / f"{crew['name']}.yaml"
    path.write_text(yaml.safe_dump(crew, sort_keys=False))
    return path


def _end(story: list[Step]) -> Step:
    return next(s for s in story if s[0] in ("run.completed", "run.failed"))


def test_a_layered_crew_cut_by_max_turns_runs_the_same_turns_on_both_engines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Two turns: the planner and the first executor. GraphFlow counts one message of a
    # parallel fan-out, so a count would have let both executors and the critic run.
    path = _write(tmp_path, {
        "name": "cut-layers", "model": "scripted/demo",
        "topology": {"kind": "layered", "planner": "planner", "executors": ["e0", "e1"],
                     "reviewer": "critic", "max_turns": 2},
        "agents": _agents(["planner", "e0", "e1", "critic"]),
        "script": [{"agent": n, "say": f"{n} done."} for n in ("planner", "e0", "e1", "critic")],
    })
    story = _compare(path, tmp_path, capsys)
    assert _speakers(story) == [("message", "planner"), ("message", "e0")]
    assert _end(story)[2] == "e0 done."


def test_a_layered_crew_without_a_reviewer_answers_with_its_last_executor(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # e1 calls a tool first, so on AutoGen it usually finishes after e2: the answer is still
    # the last executor's in the crew's order, as CrewAI's last task is.
    path = _write(tmp_path, {
        "name": "no-reviewer", "model": "scripted/demo",
        "topology": {"kind": "layered", "planner": "planner", "executors": ["e1", "e2"]},
        "agents": _agents(["planner", "e1", "e2"]),
        "script": [{"agent": "planner", "say": "Split it."},
                   {"agent": "e1", "call": "calculator", "args": {"expression": "6 * 7"}},
                   {"agent": "e1", "call": "calculator", "args": {"expression": "6 * 8"}},
                   {"agent": "e1", "say": "e1: 42 and 48."},
                   {"agent": "e2", "say": "e2: done."}],
    })
    story = _compare(path, tmp_path, capsys)
    assert _end(story)[2] == "e2: done."


def test_the_last_allowed_turn_asks_nobody_who_speaks_next(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, {
        "name": "short-star", "model": "scripted/demo",
        "topology": {"kind": "star", "hub": "lead", "max_turns": 3},
        "agents": _agents(["lead", "analyst"]),
        "script": [{"agent": "lead", "handoff": "analyst", "say": "Analyst, go."},
                   {"agent": "analyst", "say": "Done."},
                   {"agent": "lead", "say": "Noted; who is next?"},
                   {"agent": "analyst", "say": "Never said."}],
    })
    story = _compare(path, tmp_path, capsys)
    # the hub's plain message was the last turn: its model is not asked to pick a speaker
    assert not [s for s in story if s[0] == "model.call" and s[2] == "selector"]
    assert _end(story)[2:5] == ("Noted; who is next?", "completed", 3)


def test_a_failed_or_denied_tool_reads_the_same_to_the_model_on_both_engines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # With its script spent, the scripted model repeats the tool's output: what it was given.
    path = _write(tmp_path, {
        "name": "failing-tools", "model": "scripted/demo",
        "topology": {"kind": "network", "max_turns": 2},
        "agents": _agents(["p0", "p1"], ["read_file", "calculator"]),
        "script": [{"agent": "p0", "call": "read_file", "args": {"path": "missing.md"}},
                   {"agent": "p1", "call": "calculator", "args": {"expression": "3 * 3"}},
                   {"agent": "p1", "say": "p1 gives up."}],
    })
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "central.yaml").write_text(yaml.safe_dump(GATE_POLICY, sort_keys=False))
    story = _compare(path, tmp_path, capsys, policies)
    said = [s[3] for s in story if s[0] == "message"]
    assert said[0] == "Done. The tool reported: no such file in the workspace: missing.md"
    assert said[1] == "p1 gives up."
    assert ("policy.decision", "p1", "tool_call", "deny", ("unlucky",), "No threes", ()) in story


def test_crews_that_use_agents_of_shipped_crews_tell_the_same_story(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `use:` brings another crew's agent (role, tools, domain, capabilities) with overrides;
    # the agents are on a routed alias whose rules read their domain.
    path = _write(tmp_path, {
        "name": "borrowed", "model": "scripted/demo",
        "models": {"smart": {"route": [
            {"when": 'agent.domain == "research"', "use": "scripted/research"},
            {"use": "scripted/demo"}]}},
        "topology": {"kind": "star", "hub": "lead", "max_turns": 10},
        "agents": [{"use": "market-entry/lead", "model": "smart"},
                   {"use": "market-entry/analyst", "model": "smart"},
                   {"use": "support-triage/liaison", "goal": "Tell the customer"}],
        "script": [
            {"agent": "lead", "handoff": "analyst", "say": "Analyst, size it."},
            {"agent": "analyst", "call": "calculator", "args": {"expression": "2 * 21"}},
            {"agent": "analyst", "say": "42; ask bob@corp.example for the sources."},
            {"agent": "lead", "handoff": "liaison", "say": "Liaison, tell them."},
            {"agent": "liaison", "call": "send_email",
             "args": {"to": "dana@acme.example.com", "subject": "Size", "body": "42"}},
            {"agent": "liaison", "say": "Told them at dana@acme.example.com."},
            {"agent": "lead", "say": "Done. TERMINATE"},
        ],
    })
    story = _compare(path, tmp_path, capsys)
    assert _speakers(story) == [
        ("message", "lead"), ("tool", "analyst", "calculator"), ("message", "analyst"),
        ("message", "lead"), ("tool", "liaison", "send_email"), ("message", "liaison"),
        ("message", "lead")]
    assert {s[3] for s in story if s[0] == "model.call" and s[1] != "liaison"} == {
        "scripted/research"}
    assert ("approval.decided", "liaison", "send_email", "rejected") in story
    assert ("policy.decision", "analyst", "message", "redact", ("personal-data-in-messages",),
            "Personal contact data stays out of agent-to-agent traffic", ()) in story


def _graph(rng: random.Random) -> dict:
    """A writer/critic loop whose way out is a condition, with optional side branches."""
    names = ["writer", "critic", "publisher"]
    edges = [{"from": "writer", "to": "critic"},
             {"from": "critic", "to": "writer", "when": 'message.text.contains("REVISE")'},
             {"from": "critic", "to": "publisher", "when": 'message.text.contains("APPROVE")'}]
    if rng.random() < 0.5:
        names.append("archivist")
        edges.append({"from": "publisher", "to": "archivist"})
    script: list[dict] = []
    for round_ in range(rng.randint(0, 2)):
        script += [{"agent": "writer", "say": f"Draft {round_}."},
                   {"agent": "critic", "say": f"REVISE draft {round_}."}]
    script += [{"agent": "writer", "say": "Final draft."}, {"agent": "critic", "say": "APPROVE."},
               {"agent": "publisher", "say": "Published."}]
    return {"topology": {"kind": "graph", "edges": edges, "max_turns": 12},
            "agents": _agents(names), "script": script}


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_graph_crews_run_on_autogen_and_are_refused_on_crewai_before_the_run(
        seed: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """CrewAI does not offer graphs (README: AutoGen only): asked for it, by --engine or by
    the crew's own `engine:`, it refuses up front, the same way, naming the engine that
    does, and records no run."""
    crew = {"name": f"gen-graph-{seed}", "model": "scripted/demo", **_graph(random.Random(seed))}
    path = _write(tmp_path, crew)
    story = _story(tmp_path, path, "autogen", capsys)
    spoke = [s[1] for s in story if s[0] == "message"]
    assert spoke[:2] == ["writer", "critic"] and "publisher" in spoke
    assert ("message", "critic", "publisher", "APPROVE.", spoke.index("publisher")) in story
    (tmp_path / "pinned").mkdir()
    pinned = _write(tmp_path / "pinned", {**crew, "engine": "crewai"})
    for args in (["run", str(path), "--engine", "crewai"], ["run", str(pinned)]):
        home = tmp_path / "crewai-home"
        code = main(["--home", str(home), *args, "--approvals", "deny", "--json"])
        out, err = capsys.readouterr()
        assert code == 2
        assert "engine 'crewai' does not offer topology 'graph'; use --engine autogen" in err
        assert "Traceback" not in err and '"run.started"' not in out
        assert main(["--home", str(home), "sessions", "list", "--json"]) == 0
        assert capsys.readouterr().out.strip() in ("", "[]")
