"""Every name a condition may use has a value when it runs, taken from the one definition
the checker uses: a model route's `when` (the policies' names less model, tool and args,
request.* included) and a graph edge's `when` (the message). A name added to either
definition later is covered without touching these tests."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
import yaml

from tests.support import make_context
from workbench.cli import main
from workbench.gateway.routing import UNROUTABLE_NAMES
from workbench.governance.activation import NAMES
from workbench.spec import edges
from workbench.spec.loader import parse_crew

ENGINES = ["autogen", "crewai"]


def _every(names: dict[str, frozenset[str] | None], leave_out: set[str] = frozenset()
           ) -> list[str]:
    return sorted(n if fields is None else f"{n}.{f}" for n, fields in names.items()
                  if n not in leave_out for f in (fields or [None]))


def _all_present(names: list[str]) -> str:
    """A condition that holds only if every name has a value (a missing one is an error)."""
    return " && ".join(f"{n} == {n}" for n in names)


ROUTED_CREW = """\
name: routed-everything
model: picky
models:
  picky:
    route:
      - {{when: '{when}', use: scripted/demo}}
topology: {{kind: network, max_turns: 2}}
agents:
  - {{name: lead, role: Lead, goal: Decide, tools: [calculator]}}
  - {{name: counsel, role: Counsel, goal: Check, domain: Legal}}
script:
  - {{agent: lead, say: "Counsel, is this fine?"}}
  - {{agent: counsel, say: "It is fine."}}
"""


def test_route_names_include_request_task_bid_and_bidder() -> None:
    names = _every(NAMES, set(UNROUTABLE_NAMES))
    for name in ("request.prompt_tokens", "request.purpose", "request.tools",
                 "task.capability", "bid.cost_usd", "bidder.name", "message.to_domains",
                 "session.turns", "crew.name", "agent.domain"):
        assert name in names
    assert not any(n.split(".")[0] in UNROUTABLE_NAMES for n in names)


@pytest.mark.parametrize("engine", ENGINES)
def test_every_name_a_route_may_use_has_a_value_on_a_real_run(
        engine: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    when = _all_present(_every(NAMES, set(UNROUTABLE_NAMES)))
    crew = tmp_path / "crew.yaml"
    crew.write_text(ROUTED_CREW.format(when=when))
    assert main(["crews", "validate", str(crew)]) == 0
    capsys.readouterr()
    # the only rule: if a name had no value the condition fails, no rule holds, the call
    # is refused and the run fails
    code = main(["run", str(crew), "--engine", engine, "--approvals", "deny", "--json"])
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert code == 0, events[-1]
    calls = [e for e in events if e["kind"] == "model.call"]
    assert calls and all(e["data"].get("model") == "scripted/demo" for e in calls), calls
    said = [(e["agent"], e["content"]) for e in events if e["kind"] == "message"]
    assert ("lead", "Counsel, is this fine?") in said and ("counsel", "It is fine.") in said


AGENTS = [{"name": n, "role": n.title(), "goal": f"Do the {n} part"}
          for n in ("writer", "critic")]


def _graph(when: str) -> str:
    return yaml.safe_dump({
        "name": "graph-crew", "model": "scripted/demo",
        "topology": {"kind": "graph", "max_turns": 4,
                     "edges": [{"from": "writer", "to": "critic", "when": when}]},
        "agents": AGENTS,
        "script": [{"agent": "writer", "say": "Here."}, {"agent": "critic", "say": "Fine."}],
    }, sort_keys=False)


def test_every_name_an_edge_may_use_has_its_value_on_a_real_run(tmp_path: Path) -> None:
    from workbench.engines.autogen import AutoGenEngine

    names = _every(edges.NAMES)
    assert names == ["message.from", "message.text"]
    # present, and the message's own words and sender
    when = _all_present(names) + ' && message.text == "Here." && message.from == "writer"'
    spec = parse_crew(_graph(when), "crew.yaml")
    ctx, events = make_context(spec, tmp_path)
    asyncio.run(AutoGenEngine().run(ctx))
    messages = [(e.agent, e.to) for e in events if e.kind == "message"]
    assert messages == [("writer", "critic"), ("critic", None)]


def test_the_edge_checker_names_exactly_what_the_run_supplies() -> None:
    from workbench.errors import SpecError

    supplied = edges.facts("t", "s")
    assert {k: frozenset(v) for k, v in supplied.items()} == edges.NAMES
    with pytest.raises(SpecError, match="unknown name 'message.to'"):
        parse_crew(_graph('message.to == "critic"'), "crew.yaml")


@pytest.mark.parametrize("engine", ENGINES)
def test_every_name_an_award_condition_may_use_has_a_value_on_a_real_run(
        engine: str, tmp_path: Path, home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shipped = (Path(__file__).resolve().parents[2] / "crews" / "translation-desk.yaml")
    when = _all_present(_every(NAMES)) + ' && bidder.name != ""'
    crew = tmp_path / "translation-desk.yaml"
    crew.write_text(shipped.read_text().replace("award: balanced", f"award: '{when}'"))
    assert main(["crews", "validate", str(crew)]) == 0
    capsys.readouterr()
    assert main(["run", str(crew), "--engine", engine, "--approvals", "deny", "--json"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    awards = [e for e in events if e["kind"] == "task.awarded"]
    # a name without a value fails the condition on every bid: no task would be awarded
    assert awards and all(e["agent"] for e in awards), awards
