"""Graph crews: `when` is CEL over the message, checked at validation; loops run when they can
end, are refused when they cannot; the stream names only the agents a message went to."""

from __future__ import annotations

import asyncio
import itertools
import random
from pathlib import Path

import pytest
import yaml

from tests.support import make_context
from workbench.errors import SpecError
from workbench.spec.loader import parse_crew

AGENTS = [{"name": n, "role": n.title(), "goal": f"Do the {n} part"}
          for n in ("writer", "critic", "publisher", "archivist")]


def _crew(edges: list[dict], script: list[dict] | None = None, max_turns: int = 12) -> str:
    return yaml.safe_dump({
        "name": "graph-crew", "model": "scripted/demo",
        "topology": {"kind": "graph", "edges": edges, "max_turns": max_turns},
        "agents": AGENTS, "script": script or [],
    }, sort_keys=False)


def _line_of(text: str, needle: str) -> int:
    return next(i for i, line in enumerate(text.splitlines(), 1) if needle in line)


REVIEW_LOOP = [
    {"from": "writer", "to": "critic"},
    {"from": "critic", "to": "writer", "when": '!message.text.contains("APPROVE")'},
    {"from": "critic", "to": "publisher", "when": 'message.text.contains("APPROVE")'},
]


def _run(text: str, tmp_path: Path):
    from workbench.engines.autogen import AutoGenEngine

    spec = parse_crew(text, "crew.yaml")
    ctx, events = make_context(spec, tmp_path)
    asyncio.run(AutoGenEngine().run(ctx))
    return [e for e in events if e.kind == "message"]


def test_a_review_loop_runs_until_its_exit_condition_holds(tmp_path: Path) -> None:
    script = [
        {"agent": "writer", "say": "Draft one."},
        {"agent": "critic", "say": "Too long; cut it."},
        {"agent": "writer", "say": "Draft two, shorter."},
        {"agent": "critic", "say": "APPROVE"},
        {"agent": "publisher", "say": "Published."},
    ]
    messages = _run(_crew(REVIEW_LOOP, script), tmp_path)
    assert [(m.agent, m.to) for m in messages] == [
        ("writer", "critic"), ("critic", "writer"), ("writer", "critic"),
        ("critic", "publisher"), ("publisher", None),
    ]


def test_a_loop_back_into_an_agent_that_also_has_a_way_in(tmp_path: Path) -> None:
    edges = [{"from": "archivist", "to": "writer"}, *REVIEW_LOOP]
    script = [
        {"agent": "archivist", "say": "Sources attached."},
        {"agent": "writer", "say": "Draft one."},
        {"agent": "critic", "say": "Redo."},
        {"agent": "writer", "say": "Draft two."},
        {"agent": "critic", "say": "APPROVE"},
        {"agent": "publisher", "say": "Published."},
    ]
    messages = _run(_crew(edges, script), tmp_path)
    assert [m.agent for m in messages] == ["archivist", "writer", "critic", "writer", "critic",
                                           "publisher"]


def test_a_loop_that_never_exits_stops_at_max_turns(tmp_path: Path) -> None:
    script = [{"agent": a, "say": "Again."} for _ in range(10) for a in ("writer", "critic")]
    messages = _run(_crew(REVIEW_LOOP, script, max_turns=5), tmp_path)
    assert [m.agent for m in messages] == ["writer", "critic", "writer", "critic", "writer"]


def test_conditions_see_who_sent_the_message(tmp_path: Path) -> None:
    edges = [{"from": "writer", "to": "critic", "when": 'message.from == "writer"'},
             {"from": "writer", "to": "archivist", "when": 'message.from == "nobody"'}]
    messages = _run(_crew(edges, [{"agent": "writer", "say": "Here."},
                                  {"agent": "critic", "say": "Fine."}]), tmp_path)
    assert [(m.agent, m.to) for m in messages] == [("writer", "critic"), ("critic", None)]


@pytest.mark.parametrize(("edges", "needle", "problem"), [
    ([{"from": "writer", "to": "critic"}, {"from": "critic", "to": "writer"},
      {"from": "critic", "to": "publisher"}],
     "edges:", "the loop writer -> critic -> writer has no edge with `when`"),
    ([{"from": "writer", "to": "critic", "when": 'message.text.contains("x")'},
      {"from": "critic", "to": "writer", "when": 'message.text.contains("y")'}],
     "edges:", "needs an agent with no outgoing edges"),
    ([{"from": "critic", "to": "writer", "when": 'message.text.contains("x")'},
      {"from": "critic", "to": "publisher"}],
     "edges:", "has edges with and without `when`"),
    ([{"from": "writer", "to": "critic"}, {"from": "publisher", "to": "archivist"},
      {"from": "archivist", "to": "publisher", "when": 'message.text == "x"'},
      {"from": "archivist", "to": "critic", "when": 'message.text == "y"'}],
     "edges:", "publisher, archivist can never speak"),
    ([{"from": "writer", "to": "critic", "when": "'ship' in content"}],
     "in content", "unknown name 'content'"),
    ([{"from": "writer", "to": "critic", "when": "APPROVE"}],
     "APPROVE", 'message.text.contains("APPROVE")'),
    ([{"from": "writer", "to": "critic", "when": 'message.txt.contains("a")'}],
     "message.txt", "unknown name 'message.txt'"),
    ([{"from": "writer", "to": "critic", "when": 'message.text.contains("a"'}],
     "contains", "CEL syntax error at 1:"),
    ([{"from": "writer", "to": "critic", "when": "message.text"}],
     "message.text", "must be true or false"),
])
def test_graphs_that_cannot_run_are_refused_at_validation(edges: list[dict], needle: str,
                                                          problem: str) -> None:
    text = _crew(edges)
    with pytest.raises(SpecError) as err:
        parse_crew(text, "crew.yaml")
    message = str(err.value)
    assert problem in message
    assert message.startswith(f"crew.yaml:{_line_of(text, needle)}:"), message


def _autogen_accepts(text: str, tmp_path: Path) -> bool:
    """Whether GraphFlow builds the team (with validation bypassed)."""
    from workbench.engines.autogen.teams import build_agents, build_team
    from workbench.spec.schema import CrewSpec, EdgeSpec

    data = yaml.safe_load(text)
    edges = data["topology"].pop("edges")
    spec = CrewSpec.model_validate(data)
    spec.topology.kind = "graph"
    spec.topology.edges = [EdgeSpec.model_validate(e) for e in edges]
    ctx, _ = make_context(spec, tmp_path)
    try:
        build_team(ctx, build_agents(ctx))
    except ValueError:
        return False
    return True


def test_validation_and_autogen_agree_on_random_graphs(tmp_path: Path) -> None:
    """Wherever validation lets a graph through, GraphFlow builds it."""
    rng = random.Random(7)
    names = [a["name"] for a in AGENTS]
    pairs = list(itertools.product(names, names))
    accepted = 0
    for _ in range(150):
        chosen = rng.sample(pairs, rng.randint(1, 6))
        conditional = {s for s, _ in chosen if rng.random() < 0.4}
        edges = [{"from": s, "to": t, **({"when": 'message.text.contains("go")'}
                                          if s in conditional else {})} for s, t in chosen]
        text = _crew(edges)
        try:
            parse_crew(text, "crew.yaml")
        except SpecError:
            continue
        accepted += 1
        assert _autogen_accepts(text, tmp_path), edges
    assert accepted > 20
